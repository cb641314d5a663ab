use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use libcontainer::container::ContainerStatus;
use libcontainer::signal::Signal;
use liboci_cli::Kill;

use super::{container_root, load_container, still_creating};

pub fn kill(args: Kill, root_path: PathBuf) -> Result<()> {
    let signal: Signal = args
        .signal
        .as_str()
        .try_into()
        .map_err(|err| anyhow!("invalid signal {:?}: {err}", args.signal))?;
    // While `create` runs no pid is saved yet: the signal goes to every
    // process of the container's cgroup (its init, and the process setting
    // it up), which is how a manager stops a create that hangs.
    let dir = container_root(&root_path, &args.container_id)?;
    if let Some((_, pids)) = still_creating(&dir, &args.container_id) {
        let signal = nix_signal(&args.signal)?;
        for pid in pids {
            // One that exits meanwhile is not an error.
            let _ = nix::sys::signal::kill(pid, signal);
        }
        return Ok(());
    }
    let mut container = load_container(&root_path, &args.container_id)?;
    if let Err(err) = container.kill(signal, args.all) {
        // crun and runc say this plainly instead of a low-level error.
        if container.status() == ContainerStatus::Stopped {
            bail!("container {} is not running", args.container_id);
        }
        return Err(anyhow!(err).context(format!("failed to kill container {}", args.container_id)));
    }
    Ok(())
}

/// The signal libcontainer's `Signal` parses (`TERM`, `SIGTERM` or `15`), as
/// nix's, to send it to processes with no container state yet.
fn nix_signal(name: &str) -> Result<nix::sys::signal::Signal> {
    use std::str::FromStr;
    let parsed = match name.parse::<i32>() {
        Ok(number) => nix::sys::signal::Signal::try_from(number).ok(),
        Err(_) => {
            let upper = name.to_ascii_uppercase();
            let full = if upper.starts_with("SIG") {
                upper
            } else {
                format!("SIG{upper}")
            };
            nix::sys::signal::Signal::from_str(&full).ok()
        }
    };
    parsed.ok_or_else(|| anyhow!("invalid signal {name:?}"))
}
