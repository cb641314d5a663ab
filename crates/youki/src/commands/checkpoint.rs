use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use libcontainer::container::CheckpointOptions;
use liboci_cli::Checkpoint;
use rust_criu::CgMode;

use super::load_container;

/// Checkpoints a running container with CRIU.
pub fn checkpoint(args: Checkpoint, root_path: PathBuf) -> Result<()> {
    let mut container = load_container(&root_path, &args.container_id)?;
    if !criu_installed() {
        bail!("checkpoint needs criu (3.15 or later) in PATH, and it is not installed");
    }
    let manage_cgroups_mode = match args.manage_cgroups_mode.as_str() {
        "ignore" => CgMode::IGNORE,
        "full" => CgMode::FULL,
        "strict" => CgMode::STRICT,
        // clap accepts only the four values; "soft" is its default.
        _ => CgMode::SOFT,
    };
    let options = CheckpointOptions {
        ext_unix_sk: args.ext_unix_sk,
        file_locks: args.file_locks,
        image_path: args.image_path,
        leave_running: args.leave_running,
        shell_job: args.shell_job,
        tcp_established: args.tcp_established,
        work_path: args.work_path,
        manage_cgroups_mode,
        link_remap: args.link_remap,
    };
    container
        .checkpoint(&options)
        .with_context(|| format!("failed to checkpoint container {}", args.container_id))
}

fn criu_installed() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("criu").is_file()))
}
