use std::path::PathBuf;

use anyhow::{Context, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use liboci_cli::Exec;
use nix::sys::wait::{WaitStatus, waitpid};

use crate::workload::executor::default_executor;

/// Runs a new process inside a running container; unless detached, waits for
/// it and returns its exit code (128 + signal when a signal killed it).
pub fn exec(args: Exec, root_path: PathBuf) -> Result<i32> {
    let (user, group) = match args.user {
        Some((uid, gid)) => (Some(uid), gid),
        None => (None, None),
    };
    let pid = ContainerBuilder::new(args.container_id.clone(), SyscallType::default())
        .with_executor(default_executor())
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
