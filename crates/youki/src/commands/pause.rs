use std::path::PathBuf;

use anyhow::{Context, Result};
use liboci_cli::Pause;

use super::{keeping_state, load_container};

/// Freezes every process of the container through the freezer cgroup.
pub fn pause(args: Pause, root_path: PathBuf) -> Result<()> {
    let mut container = load_container(&root_path, &args.container_id)?;
    keeping_state(&root_path, &args.container_id, || {
        container.pause().map_err(Into::into)
    })
    .with_context(|| format!("failed to pause container {}", args.container_id))
}
