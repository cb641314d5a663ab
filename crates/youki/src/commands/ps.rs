use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use libcgroups::common::CgroupManager;
use liboci_cli::Ps;

use super::{cgroup_manager, load_container};

/// Lists the processes of a container: as a JSON array of host pids, or as
/// the host's `ps` output (default `ps -ef`) limited to those pids.
pub fn ps(args: Ps, root_path: PathBuf) -> Result<()> {
    let container = load_container(&root_path, &args.container_id)?;
    let pids: Vec<i32> = cgroup_manager(&container)?
        .get_all_pids()
        .with_context(|| {
            format!(
                "failed to list the processes of container {}",
                args.container_id
            )
        })?
        .into_iter()
        .map(|pid| pid.as_raw())
        .collect();

    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&pids)?),
        "table" => {
            let options = if args.ps_options.is_empty() {
                vec!["-ef".to_owned()]
            } else {
                args.ps_options.clone()
            };
            let output = Command::new("ps")
                .args(&options)
                .output()
                .context("failed to run ps")?;
            if !output.status.success() {
                bail!(
                    "ps {} failed: {}",
                    options.join(" "),
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
            print!(
                "{}",
                filter_ps_table(&String::from_utf8_lossy(&output.stdout), &pids)?
            );
        }
        other => bail!("unknown format {other:?}: expected table or json"),
    }
    Ok(())
}

/// Keeps the header and the rows whose PID column is one of `pids`.
fn filter_ps_table(table: &str, pids: &[i32]) -> Result<String> {
    let mut lines = table.lines();
    let header = lines.next().context("ps printed nothing")?;
    let pid_column = header
        .split_whitespace()
        .position(|name| name == "PID")
        .context("ps output has no PID column")?;
    let mut out = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(pid_column)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|pid| pids.contains(&pid)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_header_and_container_rows() {
        let table = "UID PID PPID CMD\nroot 1 0 init\nroot 42 1 sleep\nroot 43 1 sh\n";
        assert_eq!(
            filter_ps_table(table, &[42]).unwrap(),
            "UID PID PPID CMD\nroot 42 1 sleep\n"
        );
        assert!(filter_ps_table("UID CMD\n", &[1]).is_err());
    }
}
