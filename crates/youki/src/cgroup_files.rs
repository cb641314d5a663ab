//! A container's cgroup where libcontainer's own handling stops short: a
//! bounded wait for it to empty (on cgroup v2, for its last process to have
//! released its memory) before it is removed, and whether the memory limit
//! killed a process in it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;
use libcgroups::common::{AnyCgroupManager, CgroupConfig, CgroupManager, CgroupSetup};
use nix::sys::signal::{self, Signal};

/// How long to wait for a cgroup's processes to be gone: a killed process
/// that held gigabytes takes a while to release them, and its cgroup cannot
/// be removed before. Generous, for a loaded or slow node; the wait ends as
/// soon as the cgroup is empty.
const EMPTY_TIMEOUT: Duration = Duration::from_secs(60);

/// A container's cgroup, to wait for it to empty and remove it.
pub struct ContainerCgroup {
    manager: AnyCgroupManager,
    /// `cgroup.events` where the host is cgroup v2 and youki manages the
    /// cgroup itself (not through systemd).
    events: Option<PathBuf>,
}

impl ContainerCgroup {
    /// The cgroup at `cgroup_path` (as in the spec or youki's saved
    /// configuration), if libcgroups can manage it here.
    pub fn open(cgroup_path: &Path, id: &str, systemd: bool) -> Option<Self> {
        let manager = libcgroups::common::create_cgroup_manager(CgroupConfig {
            cgroup_path: cgroup_path.to_path_buf(),
            systemd_cgroup: systemd,
            container_name: id.to_owned(),
        })
        .ok()?;
        let events = (!systemd)
            .then(|| unified_dir(cgroup_path))
            .flatten()
            .map(|dir| dir.join("cgroup.events"));
        Some(Self { manager, events })
    }

    /// Whether no process is left in the cgroup. On cgroup v2 a killed
    /// process leaves `cgroup.procs` as it starts to exit, but the cgroup
    /// stays populated (and cannot be removed) until it has released its
    /// memory: `cgroup.events` says when.
    fn is_empty(&self) -> bool {
        let listed = self
            .manager
            .get_all_pids()
            .is_ok_and(|pids| !pids.is_empty());
        let populated = self.events.as_ref().is_some_and(|events| {
            std::fs::read_to_string(events)
                .is_ok_and(|text| text.lines().any(|line| line == "populated 1"))
        });
        !listed && !populated
    }

    /// Waits, at most [`EMPTY_TIMEOUT`], until the cgroup has no process.
    pub fn wait_until_empty(&self) {
        let deadline = Instant::now() + EMPTY_TIMEOUT;
        while !self.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Removes the cgroup once it is empty, first killing what is in it when
/// `kill` says so, trying again for at most [`EMPTY_TIMEOUT`]: a process of
/// a container whose youki was killed may still be setting up, and join
/// the cgroup late.
pub fn remove_when_empty(cgroup_path: &Path, id: &str, systemd: bool, kill: bool) -> Result<()> {
    let Some(cgroup) = ContainerCgroup::open(cgroup_path, id, systemd) else {
        return Ok(());
    };
    let deadline = Instant::now() + EMPTY_TIMEOUT;
    loop {
        if kill {
            for pid in cgroup.manager.get_all_pids().unwrap_or_default() {
                let _ = signal::kill(pid, Signal::SIGKILL);
            }
        }
        cgroup.wait_until_empty();
        match cgroup.manager.remove() {
            Ok(()) => return Ok(()),
            Err(err) if Instant::now() > deadline => {
                anyhow::bail!(
                    "could not remove the cgroup {}: {err}",
                    cgroup_path.display()
                )
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The directory of the cgroup at `cgroup_path` on a cgroup v2 (unified)
/// host, cgroupfs layout; `None` on a v1 or hybrid host.
fn unified_dir(cgroup_path: &Path) -> Option<PathBuf> {
    let relative = cgroup_path.strip_prefix("/").unwrap_or(cgroup_path);
    matches!(
        libcgroups::common::get_cgroup_setup().ok()?,
        CgroupSetup::Unified
    )
    .then(|| Path::new("/sys/fs/cgroup").join(relative))
}

/// How many processes the memory limit killed in the cgroup (cgroupfs
/// layout), if it still exists: `oom_kill` of `memory.events` (v2) or of
/// `memory.oom_control` (v1).
pub fn oom_kills(cgroup_path: &Path) -> Option<u64> {
    let file: PathBuf = match libcgroups::common::get_cgroup_setup().ok()? {
        CgroupSetup::Unified => unified_dir(cgroup_path)?.join("memory.events"),
        CgroupSetup::Legacy | CgroupSetup::Hybrid => {
            #[cfg(feature = "v1")]
            {
                let relative = cgroup_path.strip_prefix("/").unwrap_or(cgroup_path);
                let memory = libcgroups::v1::util::get_subsystem_mount_point(
                    &libcgroups::v1::ControllerType::Memory,
                )
                .ok()?;
                memory.join(relative).join("memory.oom_control")
            }
            #[cfg(not(feature = "v1"))]
            return None;
        }
    };
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("oom_kill "))
        .and_then(|count| count.trim().parse().ok())
}
