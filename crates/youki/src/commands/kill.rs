use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use libcontainer::container::ContainerStatus;
use libcontainer::signal::Signal;
use liboci_cli::Kill;

use super::load_container;

pub fn kill(args: Kill, root_path: PathBuf) -> Result<()> {
    let mut container = load_container(&root_path, &args.container_id)?;
    let signal: Signal = args
        .signal
        .as_str()
        .try_into()
        .map_err(|err| anyhow!("invalid signal {:?}: {err}", args.signal))?;
    if let Err(err) = container.kill(signal, args.all) {
        // crun and runc say this plainly instead of a low-level error.
        if container.status() == ContainerStatus::Stopped {
            bail!("container {} is not running", args.container_id);
        }
        return Err(anyhow!(err).context(format!("failed to kill container {}", args.container_id)));
    }
    Ok(())
}
