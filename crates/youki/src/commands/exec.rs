use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use liboci_cli::Exec;
use nix::sys::wait::{WaitStatus, waitpid};

use libcgroups::common::CgroupManager;

use crate::workload::executor::{MemoryUse, exec_executor};

/// Runs a new process inside a running container; unless detached, waits for
/// it and returns its exit code (128 + signal when a signal killed it).
pub fn exec(args: Exec, root_path: PathBuf) -> Result<i32> {
    let (user, group) = match args.user {
        Some((uid, gid)) => (Some(uid), gid),
        None => (None, None),
    };
    let pid = ContainerBuilder::new(args.container_id.clone(), SyscallType::default())
        .with_executor(exec_executor(memory_use(&root_path, &args.container_id)))
        .with_root_path(root_path)?
        .with_console_socket(args.console_socket.as_ref())
        .with_pid_file(args.pid_file.as_ref())?
        .with_preserved_fds(args.preserve_fds)
        .validate_id()?
        .as_tenant()
        .with_detach(args.detach)
        .with_cwd(args.cwd.as_ref())
        .with_env(args.env.clone().into_iter().collect())
        .with_process(args.process.as_ref())
        .with_no_new_privs(args.no_new_privs)
        .with_container_args(args.command.clone())
        .with_capabilities(args.cap.clone())
        .with_user(user)
        .with_group(group)
        .with_additional_gids(args.additional_gids.clone())
        .with_ignore_paused(args.ignore_paused)
        .with_sub_cgroup(args.cgroup.clone())
        .with_process_label(args.process_label.clone())
        .with_apparmor(args.apparmor.clone())
        .build()
        .with_context(|| format!("failed to exec in container {}", args.container_id))?;

    // Errors starting the process were reported by build(); a detached
    // process is not ours to wait for.
    if args.detach {
        return Ok(0);
    }
    match waitpid(pid, None).context("failed to wait for the exec process")? {
        WaitStatus::Exited(_, code) => Ok(code),
        WaitStatus::Signaled(_, sig, _) => Ok(128 + sig as i32),
        _ => Ok(0),
    }
}

/// The container cgroup's memory limit and use now, when it has a limit: a
/// Wasm engine started by exec caps its memory at what is left. None when
/// unknown (the builder reports a missing container itself).
fn memory_use(root_path: &Path, container_id: &str) -> Option<MemoryUse> {
    // Above this, a cgroup v1 limit means "no limit" (it is rounded down
    // from i64::MAX to a page multiple).
    const NO_LIMIT: u64 = 1 << 62;
    let container = super::load_container(root_path, container_id).ok()?;
    let memory = super::cgroup_manager(&container)
        .ok()?
        .stats()
        .ok()?
        .memory
        .memory;
    (memory.limit > 0 && memory.limit < NO_LIMIT).then_some(MemoryUse {
        limit: memory.limit,
        in_use: memory.usage,
    })
}
