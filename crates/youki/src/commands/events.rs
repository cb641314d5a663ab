use std::path::PathBuf;

use anyhow::{Context, Result};
use liboci_cli::Events;

use super::load_container;

/// Prints resource statistics: once with `--stats`, else every `--interval` seconds.
pub fn events(args: Events, root_path: PathBuf) -> Result<()> {
    let mut container = load_container(&root_path, &args.container_id)?;
    container
        .events(args.interval, args.stats)
        .with_context(|| format!("failed to get events of container {}", args.container_id))
}
