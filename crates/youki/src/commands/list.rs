use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Local, SecondsFormat};
use libcontainer::container::{Container, ContainerStatus, state::State};
use liboci_cli::List;
use serde::Serialize;
use tabwriter::TabWriter;

/// One row of `youki list`; also the JSON shape of `--format json`.
#[derive(Serialize)]
struct Row {
    id: String,
    pid: Option<i32>,
    /// `unknown` for a container whose state file cannot be read.
    status: String,
    bundle: String,
    created: String,
    owner: String,
}

impl Row {
    /// The status as the table shows it, capitalised as upstream's.
    fn table_status(&self) -> String {
        let mut chars = self.status.chars();
        chars
            .next()
            .map(|first| first.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    }
}

fn status_name(status: ContainerStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_else(|| status.to_string().to_lowercase())
}

/// Lists the containers under the state root.
pub fn list(args: List, root_path: PathBuf) -> Result<()> {
    let mut rows = Vec::new();
    for entry in fs::read_dir(&root_path)
        .with_context(|| format!("failed to read state root {}", root_path.display()))?
    {
        let dir = entry?.path();
        if !State::file_path(&dir).exists() {
            continue;
        }
        let id = dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A container whose state cannot be read is listed, and named on
        // stderr, instead of hiding every other one.
        if let Err(reason) = super::saved_state(&dir) {
            eprintln!(
                "warning: container {id} has an unreadable state file ({reason}); \
                 `youki delete --force {id}` removes it"
            );
            rows.push(Row {
                id,
                pid: None,
                status: "unknown".to_owned(),
                bundle: String::new(),
                created: String::new(),
                owner: String::new(),
            });
            continue;
        }
        let creating = super::still_creating(&dir, &id).is_some();
        let container = Container::load(dir.clone())
            .with_context(|| format!("could not load container state from {}", dir.display()))?;
        let created = container
            .created()
            .map(|utc| DateTime::<Local>::from(utc).to_rfc3339_opts(SecondsFormat::Secs, false))
            .unwrap_or_default();
        let status = if creating {
            ContainerStatus::Creating
        } else {
            container.status()
        };
        rows.push(Row {
            id: container.id().to_owned(),
            pid: container.pid().map(|pid| pid.as_raw()),
            status: status_name(status),
            bundle: container.bundle().display().to_string(),
            created,
            owner: container
                .creator()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
        });
    }
    rows.sort_by(|a, b| a.id.cmp(&b.id));

    let stdout = io::stdout();
    let mut out = stdout.lock();
    if args.quiet {
        for row in &rows {
            writeln!(out, "{}", row.id)?;
        }
        return Ok(());
    }
    match args.format.as_str() {
        "json" => writeln!(out, "{}", serde_json::to_string(&rows)?)?,
        "table" => {
            let mut table = TabWriter::new(out);
            writeln!(table, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tCREATOR")?;
            for row in &rows {
                let pid = row.pid.map(|pid| pid.to_string()).unwrap_or_default();
                writeln!(
                    table,
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    row.id,
                    pid,
                    row.table_status(),
                    row.bundle,
                    row.created,
                    row.owner
                )?;
            }
            table.flush()?;
        }
        other => bail!("unknown format {other:?}: expected table or json"),
    }
    Ok(())
}
