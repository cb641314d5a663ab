use std::path::PathBuf;

use anyhow::{Context, Result};
use liboci_cli::Start;

use super::{keeping_state, load_container};

pub fn start(args: Start, root_path: PathBuf) -> Result<()> {
    let mut container = load_container(&root_path, &args.container_id)?;
    keeping_state(&root_path, &args.container_id, || {
        container.start().map_err(Into::into)
    })
    .with_context(|| format!("failed to start container {}", args.container_id))
}
