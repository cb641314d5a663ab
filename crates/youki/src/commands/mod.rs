//! One file per subcommand, each exposing a function named after it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use libcgroups::common::{AnyCgroupManager, CgroupConfig};
use libcontainer::container::Container;

pub mod checkpoint;
pub mod completion;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod info;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod resume;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

/// The state directory of a container: `<root>/<id>`.
fn container_root(root_path: &Path, container_id: &str) -> Result<PathBuf> {
    // An id is a single path component; anything else would escape the root.
    if container_id.is_empty() || container_id.contains('/') || container_id.starts_with('.') {
        bail!("invalid container id {container_id:?}");
    }
    let root = root_path
        .canonicalize()
        .with_context(|| format!("failed to resolve state root {}", root_path.display()))?;
    Ok(root.join(container_id))
}

pub fn container_exists(root_path: &Path, container_id: &str) -> Result<bool> {
    Ok(container_root(root_path, container_id)?.exists())
}

pub fn load_container(root_path: &Path, container_id: &str) -> Result<Container> {
    let dir = container_root(root_path, container_id)?;
    if !dir.exists() {
        bail!("container {container_id} does not exist");
    }
    Container::load(dir)
        .with_context(|| format!("could not load state for container {container_id}"))
}

/// The cgroup manager of an existing container.
pub fn cgroup_manager(container: &Container) -> Result<AnyCgroupManager> {
    let config = container.spec().with_context(|| {
        format!(
            "could not load the saved config of container {}",
            container.id()
        )
    })?;
    libcgroups::common::create_cgroup_manager(CgroupConfig {
        cgroup_path: config.cgroup_path,
        systemd_cgroup: container.systemd(),
        container_name: container.id().to_owned(),
    })
    .with_context(|| format!("could not open the cgroup of container {}", container.id()))
}
