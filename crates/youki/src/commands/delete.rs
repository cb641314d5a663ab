use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use libcontainer::config::YoukiConfig;
use libcontainer::container::ContainerStatus;
use liboci_cli::Delete;

use super::{container_exists, container_root, load_container, saved_state};
use crate::cgroup_files;

pub fn delete(args: Delete, root_path: PathBuf) -> Result<()> {
    tracing::debug!("deleting container {}", args.container_id);
    // `delete --force` of a container that is already gone is not an error,
    // so that managers can retry a cleanup.
    if args.force && !container_exists(&root_path, &args.container_id)? {
        return Ok(());
    }
    let dir = container_root(&root_path, &args.container_id)?;
    let failed = || format!("failed to delete container {}", args.container_id);
    if args.force {
        // No state libcontainer can act on: an unreadable state file, or a
        // create that is still running or was killed (no pid was saved).
        match saved_state(&dir) {
            Err(_) => return remove_by_hand(&dir, &args.container_id, false).with_context(failed),
            Ok(state) if state.status == ContainerStatus::Creating && state.pid.is_none() => {
                return remove_by_hand(&dir, &args.container_id, state.use_systemd)
                    .with_context(failed);
            }
            Ok(_) => {}
        }
    }
    let mut container = load_container(&root_path, &args.container_id)?;
    let systemd = container.systemd();
    match container.delete(args.force) {
        Ok(()) => Ok(()),
        Err(err) if args.force => {
            // libcontainer retries the cgroup's removal for a moment only:
            // wait until the cgroup is empty, then once more.
            tracing::debug!(
                ?err,
                "delete failed; waiting for the container's cgroup to empty"
            );
            if let Some(cgroup) = cgroup_files::ContainerCgroup::open(
                &cgroup_path(&dir, &args.container_id),
                &args.container_id,
                systemd,
            ) {
                cgroup.wait_until_empty();
            }
            load_container(&root_path, &args.container_id)?
                .delete(true)
                .with_context(failed)
        }
        Err(err) => Err(err).with_context(failed),
    }
}

/// The cgroup path of the container in `dir`, from the configuration youki
/// saves before its first process starts (else the default path).
fn cgroup_path(dir: &Path, id: &str) -> PathBuf {
    YoukiConfig::load(dir)
        .map(|config| config.cgroup_path)
        .unwrap_or_else(|_| libcontainer::utils::get_cgroup_path(&None, id))
}

/// Kills whatever is left in the container's cgroup, removes the cgroup
/// once it is empty, then the state directory.
fn remove_by_hand(dir: &Path, id: &str, systemd: bool) -> Result<()> {
    let kill = true;
    cgroup_files::remove_when_empty(&cgroup_path(dir, id), id, systemd, kill)?;
    std::fs::remove_dir_all(dir).with_context(|| format!("could not remove {}", dir.display()))
}
