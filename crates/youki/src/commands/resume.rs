use std::path::PathBuf;

use anyhow::{Context, Result};
use liboci_cli::Resume;

use super::{keeping_state, load_container};

pub fn resume(args: Resume, root_path: PathBuf) -> Result<()> {
    let mut container = load_container(&root_path, &args.container_id)?;
    keeping_state(&root_path, &args.container_id, || {
        container.resume().map_err(Into::into)
    })
    .with_context(|| format!("failed to resume container {}", args.container_id))
}
