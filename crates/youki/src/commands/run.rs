use std::path::PathBuf;

use anyhow::{Context, Result};
use liboci_cli::{Create, Run};
use nix::sys::signal::{self, SigSet, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::create::build_container;

/// Creates and starts a container; unless detached, waits for it, forwards
/// signals to it, deletes it and returns its exit code.
pub fn run(args: Run, root_path: PathBuf, systemd_cgroup: bool) -> Result<i32> {
    let create = Create {
        bundle: args.bundle.clone(),
        console_socket: args.console_socket.clone(),
        pid_file: args.pid_file.clone(),
        no_pivot: args.no_pivot,
        no_new_keyring: args.no_new_keyring,
        preserve_fds: args.preserve_fds,
        container_id: args.container_id.clone(),
    };
    let mut container = build_container(&create, root_path, systemd_cgroup, args.detach)?;

    // Block signals before the workload can run, so that a signal sent once
    // the container is up is forwarded rather than killing youki. The init
    // process already exists and keeps its own signal mask.
    let forwarded = SigSet::all();
    if !args.detach {
        forwarded
            .thread_block()
            .context("failed to block signals")?;
    }
    if let Err(err) = container.start() {
        // Nothing else will ever clean up a container that failed to start.
        let _ = container.delete(true);
        return Err(err)
            .with_context(|| format!("failed to start container {}", args.container_id));
    }
    if args.detach {
        return Ok(0);
    }

    let init_pid = container
        .pid()
        .context("the started container has no init process")?;
    let exit_code = wait_forwarding_signals(init_pid, &forwarded);
    if !args.keep {
        container
            .delete(true)
            .with_context(|| format!("failed to delete container {}", args.container_id))?;
    }
    exit_code
}

/// Waits for the container's init process (a child of ours), forwarding every
/// signal we receive to it, and returns its exit code the way a shell does:
/// the status it exited with, or 128 + the signal that killed it.
fn wait_forwarding_signals(init_pid: Pid, blocked: &SigSet) -> Result<i32> {
    loop {
        // Reap before waiting: a SIGCHLD that arrived before the mask was set
        // has been discarded already.
        if let Some(code) = reap_children(init_pid)? {
            return Ok(code);
        }
        match blocked.wait().context("failed to wait for a signal")? {
            Signal::SIGCHLD => {}
            // Terminal resizes are the console's business; SIGURG is noise
            // from Go runtimes (runc does not forward it either).
            Signal::SIGWINCH | Signal::SIGURG => {}
            sig => {
                tracing::debug!(?sig, "forwarding signal to container init process");
                if let Err(err) = signal::kill(init_pid, sig) {
                    tracing::warn!(?err, ?sig, "failed to forward signal");
                }
            }
        }
    }
}

/// Reaps every exited child; returns the init process's exit code once it is gone.
fn reap_children(init_pid: Pid) -> Result<Option<i32>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == init_pid => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == init_pid => {
                return Ok(Some(128 + sig as i32));
            }
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Err(nix::errno::Errno::ECHILD) => {
                anyhow::bail!("container init process {init_pid} is not a child of youki")
            }
            Ok(_) => continue,
            Err(err) => return Err(err).context("failed to wait for the container init process"),
        }
    }
}
