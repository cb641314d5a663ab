//! One file per subcommand, each exposing a function named after it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use libcgroups::common::{AnyCgroupManager, CgroupConfig, CgroupManager};
use libcontainer::config::YoukiConfig;
use libcontainer::container::state::State;
use libcontainer::container::{Container, ContainerStatus};
use nix::unistd::Pid;

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
    if let Err(reason) = saved_state(&dir) {
        bail!(
            "container {container_id} has an unreadable state file ({reason}); \
             `youki delete --force {container_id}` removes it"
        );
    }
    retrying_torn_reads(|| Container::load(dir.clone()))
        .with_context(|| format!("could not load state for container {container_id}"))
}

/// How long a read of a container's state is tried again: libcontainer
/// saves a state by truncating its file and writing it again, so a reader
/// can meet it empty or half-written for a moment (a `youki state` while a
/// `youki run` saves "running", say). A file still unreadable after this is
/// broken.
const TORN_STATE_PATIENCE: Duration = Duration::from_millis(200);

/// `read`, tried again for at most [`TORN_STATE_PATIENCE`] while it fails.
fn retrying_torn_reads<T, E>(
    mut read: impl FnMut() -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    let deadline = Instant::now() + TORN_STATE_PATIENCE;
    loop {
        match read() {
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            result => return result,
        }
    }
}

/// Runs `change`, which has libcontainer save the container's state. That
/// save truncates the file and writes it again, so a full file system would
/// leave it empty (and the container unlisted and undeletable): a copy is
/// made first, which fails early on a full file system, and put back if the
/// change fails and leaves the state unreadable.
pub fn keeping_state<T>(
    root_path: &Path,
    container_id: &str,
    change: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let dir = container_root(root_path, container_id)?;
    let state_file = State::file_path(&dir);
    let copy = dir.join("state.json.before");
    std::fs::copy(&state_file, &copy).with_context(|| {
        format!("could not copy the state of container {container_id} before changing it")
    })?;
    let result = change();
    if result.is_err() && saved_state(&dir).is_err() {
        // A rename needs no space.
        let _ = std::fs::rename(&copy, &state_file);
    }
    let _ = std::fs::remove_file(&copy);
    result
}

/// The state as saved in the container's directory, without looking at its
/// processes (libcontainer's load reports a container still being created
/// as stopped), or why it cannot be read.
pub fn saved_state(dir: &Path) -> Result<State, String> {
    retrying_torn_reads(|| {
        let bytes = std::fs::read(State::file_path(dir)).map_err(|err| err.to_string())?;
        serde_json::from_slice(&bytes).map_err(|err| err.to_string())
    })
}

/// The processes in a container's cgroup, found through the configuration
/// youki saves before the container's first process starts; empty when
/// there is no such configuration or cgroup.
pub fn cgroup_pids(dir: &Path, container_id: &str, systemd: bool) -> Vec<Pid> {
    let Ok(config) = YoukiConfig::load(dir) else {
        return Vec::new();
    };
    libcgroups::common::create_cgroup_manager(CgroupConfig {
        cgroup_path: config.cgroup_path,
        systemd_cgroup: systemd,
        container_name: container_id.to_owned(),
    })
    .ok()
    .and_then(|manager| manager.get_all_pids().ok())
    .unwrap_or_default()
}

/// A container whose `create` is still running: its state says "creating"
/// (with no pid yet) and its cgroup has processes. (A create that was killed
/// leaves "creating" and an empty cgroup: that container is stopped.)
pub fn still_creating(dir: &Path, container_id: &str) -> Option<(State, Vec<Pid>)> {
    let state = saved_state(dir).ok()?;
    if state.status != ContainerStatus::Creating {
        return None;
    }
    let systemd = state.use_systemd;
    let pids = cgroup_pids(dir, container_id, systemd);
    (!pids.is_empty()).then_some((state, pids))
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
