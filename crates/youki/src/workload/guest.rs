//! Handing a container process over to a Wasm guest, the same way for every
//! engine.
//!
//! A native container's process ends youki's part with execve, which closes
//! every close-on-exec descriptor and leaves nothing of youki behind. A Wasm
//! container's process never calls execve: youki's code goes on running and
//! hosts the guest, so it keeps whatever execve would have shed unless it
//! drops it by hand. [`run`] does that before any guest code runs:
//!
//! - youki stops logging: the log file's descriptor is about to close, and
//!   stderr belongs to the guest;
//! - every close-on-exec descriptor is closed, exactly the set execve would
//!   close (youki's `--log` file, libcontainer's channel sockets, ...); what a
//!   container is handed on purpose (stdio, `--preserve-fds`, `LISTEN_FDS`) is
//!   not close-on-exec, because it came through execve into youki, and stays;
//! - the process is made non-dumpable, as runc's init is, so that no other
//!   process in the container (a `youki exec` shell, a sidecar sharing the PID
//!   namespace) can open its `/proc/<pid>/fd`, `environ` or `mem`;
//! - SIGTERM and SIGINT end the container with 128 + the signal, at once: as
//!   PID 1 of its PID namespace the process would otherwise never see them.

use std::os::fd::RawFd;

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::signal::{SigSet, Signal};

/// The exit code of a container whose guest could not be started after
/// `youki start` (say, its instance could not be allocated): what a shell
/// returns for a command it found but could not execute.
pub const START_FAILURE_EXIT_CODE: i32 = 126;

/// Makes the process non-dumpable. Called once the container is known to be
/// a Wasm container (at `create`, before it waits for `start`), and again by [`run`].
pub fn mark_non_dumpable() -> Result<(), String> {
    nix::sys::prctl::set_dumpable(false)
        .map_err(|err| format!("could not make the container process non-dumpable: {err}"))
}

/// Drops what execve would have dropped, runs `guest` and exits with the
/// code it returns. On an error, before or from `guest`, prints it to the
/// container's stderr and exits with [`START_FAILURE_EXIT_CODE`].
///
/// Never returns: once youki's descriptors are closed, nothing may return
/// into libcontainer, whose objects still own some of them.
pub fn run(guest: impl FnOnce() -> Result<i32, String>) -> ! {
    let code = match hand_over().and_then(|()| guest()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            START_FAILURE_EXIT_CODE
        }
    };
    std::process::exit(code)
}

fn hand_over() -> Result<(), String> {
    crate::observability::end();
    mark_non_dumpable()?;
    close_on_exec_descriptors()?;
    end_on_termination_signals()
}

/// Closes every descriptor above stderr that is marked close-on-exec.
fn close_on_exec_descriptors() -> Result<(), String> {
    for fd in open_descriptors()?.into_iter().filter(|&fd| fd > 2) {
        // EBADF: already closed (read_dir's own descriptor, listed above).
        let Ok(flags) = fcntl(fd, FcntlArg::F_GETFD) else {
            continue;
        };
        if FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC) {
            nix::unistd::close(fd)
                .map_err(|err| format!("could not close file descriptor {fd}: {err}"))?;
        }
    }
    Ok(())
}

/// The process's descriptors: from `/proc/self/fd`, or, where the container
/// has no `/proc`, every number below the open-files limit.
fn open_descriptors() -> Result<Vec<RawFd>, String> {
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        return Ok(entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            .collect());
    }
    let (soft, _) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_err(|err| format!("could not read the open-files limit: {err}"))?;
    let limit = RawFd::try_from(soft).unwrap_or(RawFd::MAX);
    Ok((0..limit).collect())
}

/// Blocks SIGTERM and SIGINT and starts a thread that waits for them and
/// ends the process the way a native program killed by the signal ends (exit
/// 128 + signal). Called before the engine starts threads of its own, which
/// inherit the mask, so the thread is the only receiver.
fn end_on_termination_signals() -> Result<(), String> {
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    signals
        .thread_block()
        .map_err(|err| format!("could not block termination signals: {err}"))?;
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            if let Ok(signal) = signals.wait() {
                // _exit: the guest is killed mid-flight, as a native process
                // would be; nothing of it may run or flush any more.
                // SAFETY: _exit only ends the process.
                unsafe { nix::libc::_exit(128 + signal as i32) };
            }
        })
        .map_err(|err| format!("could not start the signal thread: {err}"))?;
    Ok(())
}
