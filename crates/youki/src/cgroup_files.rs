//! A container's cgroup where libcontainer's own handling stops short: a
//! bounded wait for it to empty before it is removed, and whether the
//! memory limit killed a process in it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;
use libcgroups::common::{AnyCgroupManager, CgroupConfig, CgroupManager, CgroupSetup};
use nix::sys::signal::{self, Signal};

/// How long to wait for a cgroup's processes to be gone: a killed process
/// that held gigabytes takes a while to release them, and its cgroup cannot
/// be removed before.
const EMPTY_TIMEOUT: Duration = Duration::from_secs(10);

/// The manager of the cgroup at `cgroup_path` (as in the spec or youki's
/// saved configuration).
pub fn manager(cgroup_path: &Path, id: &str, systemd: bool) -> Option<AnyCgroupManager> {
    libcgroups::common::create_cgroup_manager(CgroupConfig {
        cgroup_path: cgroup_path.to_path_buf(),
        systemd_cgroup: systemd,
        container_name: id.to_owned(),
    })
    .ok()
}

/// Waits, at most [`EMPTY_TIMEOUT`], until the cgroup has no process.
pub fn wait_until_empty(manager: &AnyCgroupManager) {
    let deadline = Instant::now() + EMPTY_TIMEOUT;
    while manager.get_all_pids().is_ok_and(|pids| !pids.is_empty()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes the cgroup once it is empty, first killing what is in it when
/// `kill` says so, trying again for at most [`EMPTY_TIMEOUT`]: a process of
/// a container whose youki was killed may still be setting up, and join
/// the cgroup late.
pub fn remove_when_empty(cgroup_path: &Path, id: &str, systemd: bool, kill: bool) -> Result<()> {
    let Some(manager) = manager(cgroup_path, id, systemd) else {
        return Ok(());
    };
    let deadline = Instant::now() + EMPTY_TIMEOUT;
    loop {
        if kill {
            for pid in manager.get_all_pids().unwrap_or_default() {
                let _ = signal::kill(pid, Signal::SIGKILL);
            }
        }
        wait_until_empty(&manager);
        match manager.remove() {
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

/// How many processes the memory limit killed in the cgroup (cgroupfs
/// layout), if it still exists: `oom_kill` of `memory.events` (v2) or of
/// `memory.oom_control` (v1).
pub fn oom_kills(cgroup_path: &Path) -> Option<u64> {
    let relative = cgroup_path.strip_prefix("/").unwrap_or(cgroup_path);
    let file: PathBuf = match libcgroups::common::get_cgroup_setup().ok()? {
        CgroupSetup::Unified => Path::new("/sys/fs/cgroup")
            .join(relative)
            .join("memory.events"),
        CgroupSetup::Legacy | CgroupSetup::Hybrid => {
            #[cfg(feature = "v1")]
            {
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
