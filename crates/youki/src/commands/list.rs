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
    status: ContainerStatus,
    bundle: String,
    created: String,
    owner: String,
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
        let container = Container::load(dir.clone())
            .with_context(|| format!("could not load container state from {}", dir.display()))?;
        let created = container
            .created()
            .map(|utc| DateTime::<Local>::from(utc).to_rfc3339_opts(SecondsFormat::Secs, false))
            .unwrap_or_default();
        rows.push(Row {
            id: container.id().to_owned(),
            pid: container.pid().map(|pid| pid.as_raw()),
            status: container.status(),
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
                    row.id, pid, row.status, row.bundle, row.created, row.owner
                )?;
            }
            table.flush()?;
        }
        other => bail!("unknown format {other:?}: expected table or json"),
    }
    Ok(())
}
