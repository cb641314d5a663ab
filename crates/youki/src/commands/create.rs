use std::path::PathBuf;

use anyhow::{Context, Result};
use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use liboci_cli::Create;

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
    ContainerBuilder::new(args.container_id.clone(), SyscallType::default())
        .with_executor(default_executor())
        .with_pid_file(args.pid_file.as_ref())?
        .with_console_socket(args.console_socket.as_ref())
        .with_root_path(root_path)?
        .with_preserved_fds(args.preserve_fds)
        .validate_id()?
        .as_init(&args.bundle)
        .with_systemd(systemd_cgroup)
        .with_detach(detach)
        .with_no_pivot(args.no_pivot)
        .build()
        .with_context(|| format!("failed to create container {}", args.container_id))
}
