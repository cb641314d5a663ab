use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use liboci_cli::Create;
use oci_spec::runtime::Spec;

use crate::workload::executor::default_executor;

/// Creates a container and leaves its init process waiting for `start`.
pub fn create(args: Create, root_path: PathBuf, systemd_cgroup: bool) -> Result<()> {
    build_container(&args, root_path, systemd_cgroup, true)?;
    Ok(())
}

/// Builds the container `create` and `run` start from.
pub(super) fn build_container(
    args: &Create,
    root_path: PathBuf,
    systemd_cgroup: bool,
    detach: bool,
) -> Result<Container> {
    let failed = || format!("failed to create container {}", args.container_id);
    check_kernel().with_context(failed)?;
    check_process(&args.bundle).with_context(failed)?;
    // A create that fails because the id is taken must not touch the
    // container that has it.
    let taken = super::container_exists(&root_path, &args.container_id).unwrap_or(true);
    if !taken {
        crate::workload::executor::prepare_on_host(&args.bundle);
    }
    let built = ContainerBuilder::new(args.container_id.clone(), SyscallType::default())
        .with_executor(default_executor())
        .with_pid_file(args.pid_file.as_ref())?
        .with_console_socket(args.console_socket.as_ref())
        .with_root_path(root_path.clone())?
        .with_preserved_fds(args.preserve_fds)
        .validate_id()?
        .as_init(&args.bundle)
        .with_systemd(systemd_cgroup)
        .with_detach(detach)
        .with_no_pivot(args.no_pivot)
        .build();
    built
        .map_err(|err| {
            if taken {
                return err.into();
            }
            let err =
                after_failed_create(&args.bundle, &args.container_id, systemd_cgroup, err.into());
            remove_torn_state(&root_path, &args.container_id);
            err
        })
        .with_context(failed)
}

/// What a failed `create` leaves to do: say whether the memory limit killed
/// the init, and remove the cgroup if libcontainer could not (it retries for
/// a moment only, while a killed init may take longer to release its memory).
fn after_failed_create(
    bundle: &Path,
    id: &str,
    systemd: bool,
    err: anyhow::Error,
) -> anyhow::Error {
    let Ok(spec) = Spec::load(bundle.join("config.json")) else {
        return err;
    };
    let cgroups_path = spec
        .linux()
        .as_ref()
        .and_then(|linux| linux.cgroups_path().clone());
    let cgroup_path = libcontainer::utils::get_cgroup_path(&cgroups_path, id);
    let oom_killed = crate::cgroup_files::oom_kills(&cgroup_path).is_some_and(|kills| kills > 0);
    let init_died = format!("{err:#}").contains("BrokenChannel");
    let limit = spec
        .linux()
        .as_ref()
        .and_then(|linux| linux.resources().as_ref())
        .and_then(|resources| resources.memory().as_ref())
        .and_then(|memory| memory.limit())
        .filter(|&limit| limit > 0);
    // Nothing is killed: the cgroup may be shared (a cgroupsPath given twice).
    let kill = false;
    if let Err(cleanup) = crate::cgroup_files::remove_when_empty(&cgroup_path, id, systemd, kill) {
        tracing::warn!(%cleanup, "could not remove the cgroup of a failed create");
    }
    let entrypoint = spec
        .process()
        .as_ref()
        .and_then(|process| process.args().as_ref()?.first().cloned())
        .unwrap_or_default();
    match (oom_killed, init_died, limit) {
        (true, _, Some(limit)) => err.context(format!(
            "the container's memory limit ({} MiB) was exceeded while loading {entrypoint}",
            limit / (1024 * 1024)
        )),
        (false, true, Some(limit)) => err.context(format!(
            "the container's init process died while loading {entrypoint}: most likely the \
             container's memory limit ({} MiB) was exceeded",
            limit / (1024 * 1024)
        )),
        _ => err,
    }
}

/// A create that failed on a full file system can leave the container's
/// state file empty, which libcontainer's cleanup does not remove: the
/// container never existed, so its directory goes.
fn remove_torn_state(root_path: &Path, id: &str) {
    let Ok(dir) = super::container_root(root_path, id) else {
        return;
    };
    if dir.exists() && super::saved_state(&dir).is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// libcontainer 0.7 mounts every file system of a container with the
/// fd-based mount API, `mount_setattr(2)` included, which Linux has from
/// 5.12: on an older kernel (Debian 11's 5.10) each create would fail with
/// only "failed to prepare rootfs". Asked of the kernel, not its version
/// string, so that a backport counts.
fn check_kernel() -> Result<()> {
    // SAFETY: mount_setattr with an invalid descriptor, an empty path and
    // no attributes changes nothing; only the error it returns is read.
    let result = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1,
            c"".as_ptr(),
            0,
            std::ptr::null_mut::<libc::c_void>(),
            0,
        )
    };
    if result == -1 && nix::errno::Errno::last() == nix::errno::Errno::ENOSYS {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let release = release.trim();
        bail!(
            "this kernel ({release}) has no mount_setattr(2), which youki uses to mount the \
             container's file systems: youki needs Linux 5.12 or later"
        );
    }
    Ok(())
}

/// What libcontainer's init would otherwise panic on (an empty `args`, a
/// NUL byte in `env`) or silently truncate (a NUL byte in an argument):
/// refused before any process exists, with runc's kind of one-line error.
/// A config.json that does not parse is left to libcontainer to report.
fn check_process(bundle: &Path) -> Result<()> {
    let Ok(spec) = Spec::load(bundle.join("config.json")) else {
        return Ok(());
    };
    let Some(process) = spec.process() else {
        return Ok(());
    };
    let args = process.args().as_deref().unwrap_or_default();
    if args.is_empty() {
        bail!("process.args must not be empty: it names the program to run");
    }
    for (index, arg) in args.iter().enumerate() {
        if arg.contains('\0') {
            bail!("process.args[{index}] contains a NUL byte: {arg:?}");
        }
    }
    for (index, var) in process.env().iter().flatten().enumerate() {
        if var.contains('\0') {
            bail!("process.env[{index}] contains a NUL byte: {var:?}");
        }
    }
    Ok(())
}
