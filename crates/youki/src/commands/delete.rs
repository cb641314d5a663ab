use std::path::PathBuf;

use anyhow::{Context, Result};
use liboci_cli::Delete;

use super::{container_exists, load_container};

pub fn delete(args: Delete, root_path: PathBuf) -> Result<()> {
    tracing::debug!("deleting container {}", args.container_id);
    // `delete --force` of a container that is already gone is not an error,
    // so that managers can retry a cleanup.
    if args.force && !container_exists(&root_path, &args.container_id)? {
        return Ok(());
    }
    let mut container = load_container(&root_path, &args.container_id)?;
    container
        .delete(args.force)
        .with_context(|| format!("failed to delete container {}", args.container_id))
}
