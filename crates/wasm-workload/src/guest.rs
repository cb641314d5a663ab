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
//! - transparent huge pages are turned off for the process, so that a module
//!   costs the pages it touches (see [`no_transparent_huge_pages`]);
//! - the process is made non-dumpable, as runc's init is, so that no other
//!   process in the container (a `youki exec` shell, a sidecar sharing the PID
//!   namespace) can open its `/proc/<pid>/fd`, `environ` or `mem`;
//! - the process confines its own file system access (Landlock) to the
//!   container's files but procfs: the guest's `/` preopen would otherwise
//!   reach `/proc/self/mem`, which a process may always open for itself, and
//!   with it the init's own memory: an escape from the Wasm sandbox into
//!   native code. `youki exec` processes are not the init's children and
//!   keep their `/proc` (docs/security.md);
//! - SIGTERM and SIGINT end the container with 128 + the signal, at once: as
//!   PID 1 of its PID namespace the process would otherwise never see them.

use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use landlock::{
    ABI, Access, AccessFs, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus,
};

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::signal::{SigSet, Signal};

/// The exit code of a container whose guest could not be started after
/// `youki start` (say, its instance could not be allocated): what a shell
/// returns for a command it found but could not execute.
pub const START_FAILURE_EXIT_CODE: i32 = 126;

/// The node-level setting that makes a Wasm container fail, instead of
/// running its guest unconfined, where Landlock cannot confine it: `1` in
/// youki's own environment. Read on the host ([`crate::read_node_settings`]):
/// the container process's environment is the container's, which a pod sets.
pub const REQUIRE_CONFINEMENT_ENV: &str = "YOUKI_WASM_REQUIRE_CONFINEMENT";

static CONFINEMENT_REQUIRED: AtomicBool = AtomicBool::new(false);

/// Reads [`REQUIRE_CONFINEMENT_ENV`] (see [`crate::read_node_settings`]).
pub(crate) fn read_node_settings() {
    CONFINEMENT_REQUIRED.store(crate::node_flag(REQUIRE_CONFINEMENT_ENV), Ordering::Relaxed);
}

/// The Landlock ABI version this process can use now, asked of the kernel:
/// an error where the kernel lacks Landlock (`ENOSYS`), has it disabled
/// (`EOPNOTSUPP`), or a seccomp filter denies it (the filter's errno).
pub fn landlock_abi() -> Result<i64, nix::errno::Errno> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with no attributes and the VERSION flag, the call creates
    // nothing and only returns the ABI version.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    nix::errno::Errno::result(version)
}

/// Whether Wasm guests are confined on this node, for `youki info` and
/// `youki features`: `confined (Landlock ABI 3)`, or `unconfined: ...`, and
/// whether the node refuses unconfined guests. Asked in the calling process,
/// without a container's seccomp filter.
pub fn confinement() -> String {
    let state = match landlock_abi() {
        Ok(abi) => format!("confined (Landlock ABI {abi})"),
        Err(errno) => format!("unconfined: Landlock is unavailable ({errno})"),
    };
    if CONFINEMENT_REQUIRED.load(Ordering::Relaxed) {
        format!("{state}; unconfined guests are refused ({REQUIRE_CONFINEMENT_ENV}=1)")
    } else {
        state
    }
}

/// Each Wasm executor's `validate` calls this, at `create`, before the
/// process waits for `start` and while youki still logs: makes the process
/// non-dumpable, and says whether the guest will be confined: a warning in
/// youki's log when it will not, an error when the node requires it
/// ([`REQUIRE_CONFINEMENT_ENV`]). Runs after the container's seccomp
/// filter is in place, so it sees what the guest will get.
pub fn prepare_process() -> Result<(), String> {
    mark_non_dumpable()?;
    if let Err(errno) = landlock_abi() {
        let unconfined = format!(
            "Landlock is unavailable to the container process ({errno}): the Wasm guest \
             would run unconfined, able to reach its own memory through /proc/self/mem"
        );
        if CONFINEMENT_REQUIRED.load(Ordering::Relaxed) {
            return Err(format!(
                "{unconfined}, and this node requires confinement ({REQUIRE_CONFINEMENT_ENV}=1)"
            ));
        }
        tracing::warn!("{unconfined} (set {REQUIRE_CONFINEMENT_ENV}=1 to refuse to)");
    }
    Ok(())
}

/// Makes the process non-dumpable: at `create` ([`prepare_process`]), and
/// again in [`run`].
pub fn mark_non_dumpable() -> Result<(), String> {
    nix::sys::prctl::set_dumpable(false)
        .map_err(|err| format!("could not make the container process non-dumpable: {err}"))
}

/// Drops what execve would have dropped, runs `guest` and exits with the
/// code it returns. `stop_logging` ends the caller's logging first: its log
/// file's descriptor is about to close, and the guest may reuse the number.
/// On an error, before or from `guest`, prints it to the container's stderr
/// and exits with [`START_FAILURE_EXIT_CODE`].
///
/// Never returns: once youki's descriptors are closed, nothing may return
/// into libcontainer, whose objects still own some of them.
pub fn run(stop_logging: fn(), guest: impl FnOnce() -> Result<i32, String>) -> ! {
    stop_logging();
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
    mark_non_dumpable()?;
    no_transparent_huge_pages();
    close_on_exec_descriptors()?;
    confine_to_the_container_without_procfs()?;
    end_on_termination_signals()
}

/// Keeps the guest's memory in 4 KiB pages. WAMR asks for transparent huge
/// pages (`madvise`) on every linear memory of 2 MiB or more, and a module
/// that touches one byte of each 64 KiB Wasm page would be charged the whole
/// 2 MiB around it: 64 MiB for a sparse 64 MiB heap instead of 4 (kernels
/// with THP `madvise` or `always`; see experiment/README.md). Best effort:
/// without it the module only costs more.
fn no_transparent_huge_pages() {
    let _ = nix::sys::prctl::set_thp_disable(true);
}

/// Procfs mounts: what the guest must not reach.
const PROC_FS: &str = "proc";

/// Restricts the process, and any thread it starts, to the container's file
/// system but procfs mounts, with Landlock (Linux 5.13+; best effort: where
/// the kernel lacks it, nothing is restricted, see docs/security.md).
///
/// Landlock only allows, beneath a directory; so the rules allow everything
/// beneath every entry of `/` except the procfs mounts, descending into an
/// entry only where a procfs mount lies below it, and allow listing (no
/// more) for `/` and such entries themselves. Symbolic links are not
/// followed: the file they lead to is allowed or not on its own path.
fn confine_to_the_container_without_procfs() -> Result<(), String> {
    let fail =
        |err: &dyn std::fmt::Display| format!("could not confine the container process: {err}");
    // Without a readable mountinfo there is no procfs at /proc.
    let excluded = procfs_mounts().unwrap_or_default();
    let all = AccessFs::from_all(ABI::V5);
    // Best effort: where the kernel has no Landlock, or a seccomp profile
    // denies its system calls (the crate then finds no Landlock ABI),
    // nothing is enforced and the module runs unconfined, as under other
    // runtimes, rather than not at all (docs/security.md).
    let mut ruleset = Ruleset::default()
        .handle_access(all)
        .and_then(|ruleset| ruleset.create())
        .map_err(|err| fail(&err))?;
    for (path, access) in allowed_beneath(Path::new("/"), &excluded) {
        let access = if access == Allow::List {
            AccessFs::ReadDir.into()
        } else {
            all
        };
        let Ok(fd) = PathFd::new(&path) else {
            continue; // gone since it was listed
        };
        let rule = PathBeneath::new(fd, access);
        ruleset = ruleset.add_rule(rule).map_err(|err| fail(&err))?;
    }
    // Without CAP_SYS_ADMIN, which the container process has dropped,
    // Landlock needs no_new_privs; a Wasm init never calls execve anyway.
    nix::sys::prctl::set_no_new_privs().map_err(|err| fail(&err))?;
    let status = ruleset.restrict_self().map_err(|err| fail(&err))?;
    if status.ruleset == RulesetStatus::NotEnforced && CONFINEMENT_REQUIRED.load(Ordering::Relaxed)
    {
        return Err(fail(&format!(
            "Landlock enforced nothing, and this node requires confinement \
             ({REQUIRE_CONFINEMENT_ENV}=1)"
        )));
    }
    Ok(())
}

/// The mount points of procfs mounts in this mount namespace.
fn procfs_mounts() -> std::io::Result<Vec<PathBuf>> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(mountinfo
        .lines()
        .filter(|line| {
            line.split(" - ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                == Some(PROC_FS)
        })
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mountinfo)
        .collect())
}

/// A mountinfo path with its octal escapes (`\040` for a space) undone.
fn unescape_mountinfo(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Allow {
    /// Listing the directory, nothing beneath it.
    List,
    /// Everything beneath the path.
    Everything,
}

/// The rules that allow `dir`'s hierarchy but `excluded` paths and what is
/// beneath them.
fn allowed_beneath(dir: &Path, excluded: &[PathBuf]) -> Vec<(PathBuf, Allow)> {
    let mut rules = vec![(dir.to_path_buf(), Allow::List)];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return rules;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_link = entry.file_type().is_ok_and(|kind| kind.is_symlink());
        if is_link || excluded.contains(&path) {
            continue;
        }
        if excluded.iter().any(|ex| ex.starts_with(&path)) {
            rules.extend(allowed_beneath(&path, excluded));
        } else {
            rules.push((path, Allow::Everything));
        }
    }
    rules
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_allowed_but_procfs_mounts() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for dir in ["proc/self", "data/sub", "host/proc/1", "host/keep"] {
            std::fs::create_dir_all(r.join(dir)).unwrap();
        }
        std::fs::write(r.join("app.wasm"), "").unwrap();
        std::os::unix::fs::symlink("proc/self", r.join("self")).unwrap();
        let excluded = [r.join("proc"), r.join("host/proc")];
        let mut rules = allowed_beneath(r, &excluded);
        rules.sort();
        let mut expected = vec![
            (r.to_path_buf(), Allow::List),
            (r.join("app.wasm"), Allow::Everything),
            (r.join("data"), Allow::Everything),
            (r.join("host"), Allow::List),
            (r.join("host/keep"), Allow::Everything),
        ];
        expected.sort();
        assert_eq!(rules, expected);
    }

    #[test]
    fn mountinfo_paths_are_unescaped() {
        assert_eq!(unescape_mountinfo("/a\\040b"), PathBuf::from("/a b"));
        assert_eq!(unescape_mountinfo("/proc"), PathBuf::from("/proc"));
    }
}
