//! `youki info`: the same report as upstream youki 0.7, row for row, then
//! the Wasm handlers of this build and whether their guests are confined.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;
use procfs::Current;

use crate::{version, workload};

/// Show information about the system
#[derive(Debug, Args)]
pub struct Info {}

pub fn info(_: Info) -> Result<()> {
    print!("{}", version::long_version());
    print_kernel()?;
    print_os();
    print_hardware();
    print_cgroups();
    print_namespaces();
    print_capabilities();
    let handlers = workload::handler_names();
    if !handlers.is_empty() {
        row("Wasm handlers", handlers.join(", "));
    }
    if let Some(confinement) = workload::guest_confinement() {
        row("Wasm guests", confinement);
    }
    Ok(())
}

/// A row: a name padded to 18 columns, then the value.
fn row(name: &str, value: impl std::fmt::Display) {
    println!("{name:<18}{value}");
}

/// An indented row under a heading.
fn sub_row(name: &str, value: impl std::fmt::Display) {
    println!("  {name:<16}{value}");
}

fn print_kernel() -> Result<()> {
    let uts = nix::sys::utsname::uname().context("uname failed")?;
    row("Kernel-Release", uts.release().to_string_lossy());
    row("Kernel-Version", uts.version().to_string_lossy());
    row("Architecture", uts.machine().to_string_lossy());
    Ok(())
}

fn print_os() {
    let os = ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|path| os_name(&std::fs::read_to_string(path).ok()?));
    row("Operating System", os.as_deref().unwrap_or("UNKNOWN"));
}

/// `PRETTY_NAME` of an os-release file, else `NAME VERSION`.
fn os_name(os_release: &str) -> Option<String> {
    let unquoted = |key| kernel_config_value(os_release, key).map(|v| v.trim_matches('"'));
    if let Some(pretty) = unquoted("PRETTY_NAME") {
        return Some(pretty.to_owned());
    }
    Some(format!("{} {}", unquoted("NAME")?, unquoted("VERSION")?))
}

/// The value of `key=value` in a file of such lines (os-release, kernel config).
fn kernel_config_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .find_map(|(name, value)| (name == key).then_some(value))
}

fn print_hardware() {
    if let Ok(cpus) = procfs::CpuInfo::current() {
        row("Cores", cpus.num_cores());
    }
    if let Ok(memory) = procfs::Meminfo::current() {
        // In MiB, without a unit, as upstream prints it.
        row("Total Memory", memory.mem_total / (1024 * 1024));
    }
}

fn print_cgroups() {
    if let Ok(setup) = libcgroups::common::get_cgroup_setup() {
        row("Cgroup setup", setup);
    }
    println!("Cgroup mounts");
    #[cfg(feature = "v1")]
    if let Ok(mounts) = libcgroups::v1::util::list_supported_mount_points() {
        let mut lines: Vec<String> = mounts
            .iter()
            .map(|(controller, path)| format!("  {:<16}{}", controller.to_string(), path.display()))
            .collect();
        lines.sort();
        for line in lines {
            println!("{line}");
        }
    }
    #[cfg(feature = "v2")]
    {
        let unified = libcgroups::v2::util::get_unified_mount_point();
        if let Ok(path) = &unified {
            sub_row("unified", path.display());
        }
        let setup = libcgroups::common::get_cgroup_setup();
        let has_v2 = matches!(
            setup,
            Ok(libcgroups::common::CgroupSetup::Hybrid | libcgroups::common::CgroupSetup::Unified)
        );
        if let (true, Ok(unified)) = (has_v2, unified) {
            print_v2_controllers(&unified);
        }
    }
}

#[cfg(feature = "v2")]
fn print_v2_controllers(unified: &Path) {
    use libcgroups::v2::controller_type::CONTROLLER_TYPES;
    if let Ok(available) = libcgroups::v2::util::get_available_controllers(unified) {
        println!("CGroup v2 controllers");
        let available: HashSet<_> = available.into_iter().collect();
        for controller in CONTROLLER_TYPES {
            let state = if available.contains(controller) {
                "attached"
            } else {
                "detached"
            };
            sub_row(&controller.to_string(), state);
        }
    }
    if let Some(config) = kernel_config() {
        print_config_flag(
            &config,
            "CONFIG_CGROUP_BPF",
            "device",
            ("attached", "detached"),
        );
    }
}

/// The running kernel's build config, where the distribution installs it.
fn kernel_config() -> Option<String> {
    let release = nix::sys::utsname::uname().ok()?;
    let path = Path::new("/boot").join(format!("config-{}", release.release().to_string_lossy()));
    std::fs::read_to_string(path).ok()
}

/// A sub-row saying whether the kernel was built with `flag` (`=y`).
fn print_config_flag(config: &str, flag: &str, name: &str, (on, off): (&str, &str)) {
    match kernel_config_value(config, flag) {
        Some("y") => sub_row(name, on),
        Some(_) => sub_row(name, off),
        None => sub_row(name, "UNKNOWN"),
    }
}

fn print_namespaces() {
    let Some(config) = kernel_config() else {
        return;
    };
    match kernel_config_value(&config, "CONFIG_NAMESPACES") {
        Some("y") => row("Namespaces", "enabled"),
        Some(_) => return row("Namespaces", "disabled"),
        None => row("Namespaces", "UNKNOWN"),
    }
    sub_row("mount", "enabled");
    let enabled = ("enabled", "disabled");
    print_config_flag(&config, "CONFIG_UTS_NS", "uts", enabled);
    print_config_flag(&config, "CONFIG_IPC_NS", "ipc", enabled);
    let user = match libcontainer::user_ns::unprivileged_user_ns_enabled() {
        Ok(false) => ("enabled (root only)", "disabled"),
        _ => enabled,
    };
    print_config_flag(&config, "CONFIG_USER_NS", "user", user);
    print_config_flag(&config, "CONFIG_PID_NS", "pid", enabled);
    print_config_flag(&config, "CONFIG_NET_NS", "network", enabled);
    print_config_flag(&config, "CONFIG_CGROUPS", "cgroup", enabled);
}

fn print_capabilities() {
    println!("Capabilities");
    let Ok(bounding) = caps::read(None, caps::CapSet::Bounding) else {
        println!("<cannot find cap info>");
        return;
    };
    for cap in [
        caps::Capability::CAP_BPF,
        caps::Capability::CAP_PERFMON,
        caps::Capability::CAP_CHECKPOINT_RESTORE,
    ] {
        let state = if bounding.contains(&cap) {
            "available"
        } else {
            "unavailable"
        };
        println!("{:<17} {state}", format!("{cap:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_name_prefers_pretty_name() {
        assert_eq!(
            os_name("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n").as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(
            os_name("NAME=Ubuntu\nVERSION=\"24.04 LTS\"\n").as_deref(),
            Some("Ubuntu 24.04 LTS")
        );
        assert_eq!(os_name("ID=x\n"), None);
        // A key that ends like another is not it.
        assert_eq!(kernel_config_value("XNAME=a\nNAME=b\n", "NAME"), Some("b"));
    }
}
