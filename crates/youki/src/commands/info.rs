use std::fs;

use anyhow::{Context, Result};
use clap::Args;
use nix::sys::utsname::uname;
use procfs::Current;

use crate::{version, workload};

/// Show information about the system youki runs on
#[derive(Debug, Args)]
pub struct Info {}

pub fn info(_: Info) -> Result<()> {
    print_youki();
    print_kernel()?;
    print_os();
    print_hardware();
    print_cgroups();
    print_namespaces();
    Ok(())
}

fn row(name: &str, value: impl std::fmt::Display) {
    println!("{name:<18}{value}");
}

fn print_youki() {
    row("Version", env!("CARGO_PKG_VERSION"));
    row("Commit", version::GIT_COMMIT);
    row("Spec", oci_spec::runtime::VERSION);
    row("Features", version::features().join(" "));
    let handlers = workload::handler_names();
    row(
        "Wasm handlers",
        if handlers.is_empty() {
            "none".to_owned()
        } else {
            handlers.join(", ")
        },
    );
}

fn print_kernel() -> Result<()> {
    let uts = uname().context("uname failed")?;
    row("Kernel-Release", uts.release().to_string_lossy());
    row("Kernel-Version", uts.version().to_string_lossy());
    row("Architecture", uts.machine().to_string_lossy());
    Ok(())
}

fn print_os() {
    let os = fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|release| {
            release.lines().find_map(|line| {
                line.strip_prefix("PRETTY_NAME=")
                    .map(|name| name.trim_matches('"').to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".to_owned());
    row("Operating System", os);
}

fn print_hardware() {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    row("Cores", cores);
    if let Ok(meminfo) = procfs::Meminfo::current() {
        row(
            "Total Memory",
            format!("{} MiB", meminfo.mem_total / 1024 / 1024),
        );
    }
}

fn print_cgroups() {
    match libcgroups::common::get_cgroup_setup() {
        Ok(setup) => row("Cgroup setup", setup),
        Err(err) => row("Cgroup setup", format!("unknown ({err})")),
    }
    let Ok(mounts) = procfs::process::Process::myself().and_then(|me| me.mountinfo()) else {
        return;
    };
    println!("Cgroup mounts");
    for mount in mounts {
        if mount.fs_type == "cgroup" || mount.fs_type == "cgroup2" {
            let name = mount
                .mount_point
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            row(
                &format!("  {}", name.unwrap_or_default()),
                mount.mount_point.display(),
            );
        }
    }
}

fn print_namespaces() {
    println!("Namespaces");
    for (name, file) in [
        ("cgroup", "cgroup"),
        ("ipc", "ipc"),
        ("mount", "mnt"),
        ("network", "net"),
        ("pid", "pid"),
        ("time", "time"),
        ("user", "user"),
        ("uts", "uts"),
    ] {
        let state = if fs::metadata(format!("/proc/self/ns/{file}")).is_ok() {
            "enabled"
        } else {
            "disabled"
        };
        row(&format!("  {name}"), state);
    }
}
