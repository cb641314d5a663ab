//! CVE-2019-5736: a process in a container must never be able to write the
//! binary youki runs from, or it could replace the host's runtime. youki
//! therefore re-executes itself, first thing, from a file nothing can write:
//!
//! 1. **A read-only overlayfs** (runc 1.2's approach): the directory holding
//!    the binary and an empty root-only directory become the two lower layers
//!    of an overlay mounted with the new mount API (fsopen/fsconfig/fsmount)
//!    as a *detached* mount, attached to no mount namespace, and youki
//!    re-executes from a file descriptor into it. The overlay has no upper
//!    layer and is mounted read-only, so opening `/proc/<pid>/exe` for
//!    writing fails with EROFS; and because overlayfs maps the lower file's
//!    pages, every container shares the host binary's page cache instead of
//!    holding a copy. Both layers are real directories of the mount
//!    namespace: overlayfs accepts a layer on a detached mount (an anonymous
//!    tmpfs, say) only from Linux 6.15, and this must work from 5.2 on.
//! 2. **A sealed memfd copy** (what youki did before), where the kernel or
//!    the privileges do not allow the overlay (before Linux 5.2, no overlayfs,
//!    rootless). Safe, but each process that keeps running youki's code, such
//!    as a Wasm container's init, keeps a private copy of the whole binary.
//!
//! See docs/security.md.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use rustix::fs::{Mode, OFlags, StatVfsMountFlags};
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, fsconfig_create, fsconfig_set_string, fsmount,
    fsopen,
};

/// Forces the sealed-memfd path, for tests and for comparing the two.
pub const FORCE_MEMFD_ENV: &str = "YOUKI_FORCE_MEMFD_EXE";
/// Set on the overlay re-exec: if the new process does not find itself on the
/// overlay, it falls back instead of trying again (no exec loop).
const OVERLAY_TRIED_ENV: &str = "_YOUKI_EXE_OVERLAY_TRIED";
/// Why the overlay was not used, carried across the memfd re-exec for the log.
const OVERLAY_ERROR_ENV: &str = "_YOUKI_EXE_OVERLAY_ERROR";

/// The overlay's second lower layer: an empty directory only root can write,
/// created once and kept (it holds nothing and is shared by every youki),
/// under the first of these directories that exists.
const EMPTY_LAYER_NAME: &str = "youki-exe-empty-layer";
const EMPTY_LAYER_PARENTS: [&str; 2] = ["/run", "/tmp"];

const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;

/// How the running binary is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    ReadOnlyOverlay,
    SealedMemfd,
}

/// Re-executes youki from a protected file unless it already runs from one.
/// Set on either re-exec: the directory of the binary youki was started
/// from, which the re-executed process cannot tell from `/proc/self/exe`.
const EXE_DIR_ENV: &str = "_YOUKI_EXE_DIR";
static EXE_DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// The directory of the binary youki was started from (where youki-wamrc
/// is looked for first), once [`ensure`] has run.
pub fn exe_dir() -> Option<&'static Path> {
    EXE_DIR.get().map(|dir| dir.as_path())
}

/// Returns only when the running binary is protected.
pub fn ensure() -> Result<Protection> {
    if let Some(protection) = current() {
        if let Some(dir) = std::env::var_os(EXE_DIR_ENV) {
            let _ = EXE_DIR.set(dir.into());
        }
        // SAFETY: main calls this first, while the process has one thread.
        // The markers are for this process only, not for what youki starts.
        unsafe {
            std::env::remove_var(OVERLAY_TRIED_ENV);
            std::env::remove_var(EXE_DIR_ENV);
        }
        return Ok(protection);
    }
    if let Some(dir) = std::fs::read_link("/proc/self/exe")
        .ok()
        .and_then(|binary| binary.parent().map(Path::to_path_buf))
    {
        // SAFETY: as above, one thread; a value the caller set is replaced.
        unsafe { std::env::set_var(EXE_DIR_ENV, dir) };
    }
    let forced = std::env::var_os(FORCE_MEMFD_ENV).is_some_and(|v| v == "1");
    let overlay_error = if forced {
        format!("{FORCE_MEMFD_ENV}=1")
    } else if std::env::var_os(OVERLAY_TRIED_ENV).is_some() {
        "the overlay re-exec did not yield a read-only binary".to_owned()
    } else {
        // Returns only if the overlay could not be set up.
        format!("{:#}", reexec_from_overlay().unwrap_err())
    };
    reexec_from_memfd(&overlay_error)
}

/// How the running binary is protected, if it is. An overlay counts only if
/// it is one youki made: read-only, detached (mounted nowhere in this mount
/// namespace, which only a holder of its mount fd can arrange), and entered
/// through youki's own re-exec.
pub fn current() -> Option<Protection> {
    if pentacle::is_sealed() {
        return Some(Protection::SealedMemfd);
    }
    // Only youki's own re-exec sets the marker.
    std::env::var_os(OVERLAY_TRIED_ENV)?;
    let exe = rustix::fs::open(
        "/proc/self/exe",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let on_overlay = rustix::fs::fstatfs(&exe).ok()?.f_type as i64 == OVERLAYFS_SUPER_MAGIC;
    let read_only = rustix::fs::fstatvfs(&exe)
        .ok()?
        .f_flag
        .contains(StatVfsMountFlags::RDONLY);
    let detached = !is_attached(exe.as_fd()).ok()?;
    (on_overlay && read_only && detached).then_some(Protection::ReadOnlyOverlay)
}

/// Whether the mount `fd` is on is attached to this process's mount namespace.
fn is_attached(fd: BorrowedFd<'_>) -> Result<bool> {
    let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
        .context("cannot read fdinfo")?;
    let mount_id = fdinfo
        .lines()
        .find_map(|line| line.strip_prefix("mnt_id:"))
        .map(str::trim)
        .context("fdinfo has no mnt_id")?;
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").context("cannot read mountinfo")?;
    Ok(mountinfo
        .lines()
        .any(|line| line.split(' ').next() == Some(mount_id)))
}

/// Logs, once logging is set up, which protection is in force.
pub fn log(protection: Protection) {
    match protection {
        Protection::ReadOnlyOverlay => {
            tracing::debug!("running from a read-only detached overlayfs (CVE-2019-5736)");
        }
        Protection::SealedMemfd => {
            let reason = std::env::var(OVERLAY_ERROR_ENV).unwrap_or_default();
            tracing::debug!(%reason, "running from a sealed memfd copy (CVE-2019-5736)");
        }
    }
}

/// Mounts the binary's directory as a detached read-only overlay and execs
/// the binary from it. Returns only on failure.
fn reexec_from_overlay() -> Result<std::convert::Infallible> {
    let binary = std::fs::read_link("/proc/self/exe").context("cannot resolve /proc/self/exe")?;
    let (dir, name) = match (binary.parent(), binary.file_name()) {
        (Some(dir), Some(name)) => (dir, name),
        _ => bail!("unexpected binary path {}", binary.display()),
    };
    let exe = open_on_readonly_overlay(dir, Path::new(name))?;

    let args: Vec<CString> = std::env::args_os().map(c_string).collect::<Result<_>>()?;
    let mut env: Vec<CString> = std::env::vars_os()
        .map(|(key, value)| {
            let mut pair = key;
            pair.push("=");
            pair.push(value);
            c_string(pair)
        })
        .collect::<Result<_>>()?;
    env.push(CString::new(format!("{OVERLAY_TRIED_ENV}=1"))?);

    let err = nix::unistd::fexecve(exe.as_raw_fd(), &args, &env).unwrap_err();
    bail!("fexecve from the overlay failed: {err}")
}

/// Opens `dir/name` through a new read-only overlay whose only content is `dir`.
fn open_on_readonly_overlay(dir: &Path, name: &Path) -> Result<OwnedFd> {
    let [binary_dir, empty] = lower_layers(dir)?;
    let lowerdir = format!(
        "/proc/self/fd/{}:/proc/self/fd/{}",
        binary_dir.as_raw_fd(),
        empty.as_raw_fd()
    );
    // xino=off: the overlay needs no inode numbers of its own, and the
    // default may fail or warn where the layers' file systems differ.
    let overlay = detached_mount("overlay", &[("lowerdir", &lowerdir), ("xino", "off")])?;
    let exe = rustix::fs::openat(
        overlay.as_fd(),
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open {} on the overlay", name.display()))?;
    let flags = rustix::fs::fstatvfs(&exe)?.f_flag;
    if !flags.contains(StatVfsMountFlags::RDONLY) {
        bail!("the overlay is not read-only");
    }
    Ok(exe)
}

/// The overlay's lower layers, as `O_PATH` descriptors of real directories:
/// the binary's directory, then the empty layer. overlayfs without an upper
/// layer needs two.
fn lower_layers(binary_dir: &Path) -> Result<[OwnedFd; 2]> {
    let binary_dir = rustix::fs::open(
        binary_dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open {}", binary_dir.display()))?;
    let parent = EMPTY_LAYER_PARENTS
        .iter()
        .map(Path::new)
        .find(|parent| parent.is_dir())
        .context("no directory for the empty overlay layer")?;
    Ok([binary_dir, empty_layer(&parent.join(EMPTY_LAYER_NAME))?])
}

/// Opens the empty layer at `path`, creating it if needed, and checks that
/// it is what it must be: a real directory (not a link), owned by root,
/// writable by root alone, and empty. Anything in it would show through the
/// overlay next to the binary.
fn empty_layer(path: &Path) -> Result<OwnedFd> {
    match rustix::fs::mkdir(path, Mode::RWXU) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(err) => return Err(err).with_context(|| format!("cannot create {}", path.display())),
    }
    let dir = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open {}", path.display()))?;
    let stat = rustix::fs::fstat(&dir)?;
    if stat.st_uid != 0 || stat.st_mode & 0o022 != 0 {
        bail!(
            "{} must be owned by root and writable by root alone",
            path.display()
        );
    }
    let mut entries = rustix::fs::Dir::read_from(&dir)?;
    let is_empty = entries
        .all(|entry| entry.is_ok_and(|entry| matches!(entry.file_name().to_bytes(), b"." | b"..")));
    if !is_empty {
        bail!("{} must be empty", path.display());
    }
    Ok(dir)
}

/// A new file system of type `fs`, mounted read-only, nosuid and nodev at no
/// place in any mount namespace; the returned fd is its root.
fn detached_mount(fs: &str, options: &[(&str, &str)]) -> Result<OwnedFd> {
    let context =
        fsopen(fs, FsOpenFlags::FSOPEN_CLOEXEC).with_context(|| format!("fsopen({fs})"))?;
    for (key, value) in options {
        fsconfig_set_string(&context, *key, *value)
            .with_context(|| format!("fsconfig({fs}, {key})"))?;
    }
    fsconfig_create(&context).with_context(|| format!("creating the {fs} file system"))?;
    fsmount(
        &context,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_RDONLY
            | MountAttrFlags::MOUNT_ATTR_NOSUID
            | MountAttrFlags::MOUNT_ATTR_NODEV,
    )
    .with_context(|| format!("fsmount({fs})"))
}

/// Copies the binary into a sealed memfd and execs it. Returns only on failure.
fn reexec_from_memfd(overlay_error: &str) -> Result<Protection> {
    let mut exe = File::open("/proc/self/exe").context("cannot open /proc/self/exe")?;
    let mut command =
        pentacle::SealedCommand::new(&mut exe).context("cannot make a sealed copy of youki")?;
    let mut args = std::env::args_os();
    if let Some(arg0) = args.next() {
        std::os::unix::process::CommandExt::arg0(&mut *command, arg0);
    }
    command.args(args).env(OVERLAY_ERROR_ENV, overlay_error);
    let err = std::os::unix::process::CommandExt::exec(&mut *command);
    Err(err).context("cannot exec the sealed copy of youki")
}

fn c_string(value: OsString) -> Result<CString> {
    CString::new(value.as_bytes()).context("argument or environment contains a nul byte")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// overlayfs takes layers on detached mounts only from Linux 6.15: both
    /// layers must be directories attached to the mount namespace, so that
    /// the overlay works on the LTS kernels (5.15, 6.1, 6.8) too.
    #[test]
    fn lower_layers_are_attached_directories() {
        let dir = tempfile::tempdir().unwrap();
        for layer in lower_layers(dir.path()).unwrap() {
            assert!(is_attached(layer.as_fd()).unwrap());
        }
        // A detached mount, as the layer used to be, is told apart (this
        // needs root, as the whole suite does).
        let detached = detached_mount("tmpfs", &[]).unwrap();
        assert!(!is_attached(detached.as_fd()).unwrap());
    }

    #[test]
    fn the_empty_layer_must_be_empty_and_root_only() {
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("layer");
        empty_layer(&path).unwrap();
        // Created once, then reused.
        empty_layer(&path).unwrap();
        std::fs::write(path.join("youki"), "not the binary").unwrap();
        let err = empty_layer(&path).unwrap_err().to_string();
        assert!(err.contains("must be empty"), "{err}");
        std::fs::remove_file(path.join("youki")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = empty_layer(&path).unwrap_err().to_string();
        assert!(err.contains("writable by root alone"), "{err}");
        // A link is not followed.
        let link = parent.path().join("link");
        std::os::unix::fs::symlink(parent.path(), &link).unwrap();
        assert!(empty_layer(&link).is_err());
    }
}
