use std::fs::OpenOptions;
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;
use libcgroups::common::{CgroupSetup, get_cgroup_setup};
use nix::unistd::{getegid, geteuid};
use oci_spec::runtime::{
    LinuxBuilder, LinuxDeviceCgroupBuilder, LinuxIdMappingBuilder, LinuxNamespaceBuilder,
    LinuxNamespaceType, Spec, get_default_mounts, get_default_namespaces,
};

/// Writes a default `config.json` into the bundle (the current directory by
/// default), the one upstream youki 0.7 writes; `--rootless` maps the
/// caller's user into a user namespace. An existing config.json is kept.
pub fn spec(args: liboci_cli::Spec) -> Result<()> {
    let spec = if args.rootless {
        rootless_spec(geteuid().as_raw(), getegid().as_raw())?
    } else {
        default_spec()?
    };
    let path = args.bundle.unwrap_or_default().join("config.json");
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|err| match err.kind() {
            ErrorKind::AlreadyExists => anyhow::anyhow!("{} already exists", path.display()),
            _ => anyhow::Error::new(err).context(format!("failed to create {}", path.display())),
        })?;
    let mut writer = BufWriter::new(file);
    serde_json::to_writer_pretty(&mut writer, &spec)?;
    writer.flush()?;
    Ok(())
}

fn default_spec() -> Result<Spec> {
    adjust_for_youki(Spec::default())
}

/// oci-spec's default, with what youki changes in it: no inheritable or
/// ambient capabilities, a device cgroup that denies what the spec does not
/// allow, and a cgroup namespace only where the host is cgroup v2 only.
fn adjust_for_youki(mut spec: Spec) -> Result<Spec> {
    if let Some(process) = spec.process_mut()
        && let Some(mut capabilities) = process.capabilities().clone()
    {
        capabilities.set_inheritable(None).set_ambient(None);
        process.set_capabilities(Some(capabilities));
    }
    if let Some(linux) = spec.linux_mut() {
        if let Some(resources) = linux.resources_mut() {
            let deny_all = LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()?;
            resources.set_devices(Some(vec![deny_all]));
        }
        let unified = matches!(get_cgroup_setup(), Ok(CgroupSetup::Unified));
        if let Some(namespaces) = linux.namespaces_mut()
            && !unified
        {
            namespaces.retain(|ns| ns.typ() != LinuxNamespaceType::Cgroup);
        }
    }
    Ok(spec)
}

/// The default spec for a container of an unprivileged user: a user
/// namespace mapping `uid`/`gid` to root, no network namespace, and mounts
/// an unprivileged user can make.
fn rootless_spec(uid: u32, gid: u32) -> Result<Spec> {
    let mut namespaces: Vec<_> = get_default_namespaces()
        .into_iter()
        .filter(|ns| {
            !matches!(
                ns.typ(),
                LinuxNamespaceType::Network | LinuxNamespaceType::User
            )
        })
        .collect();
    namespaces.push(
        LinuxNamespaceBuilder::default()
            .typ(LinuxNamespaceType::User)
            .build()?,
    );
    let map_to_root = |host_id: u32| {
        LinuxIdMappingBuilder::default()
            .host_id(host_id)
            .container_id(0_u32)
            .size(1_u32)
            .build()
    };
    let linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .uid_mappings(vec![map_to_root(uid)?])
        .gid_mappings(vec![map_to_root(gid)?])
        .build()?;

    let mut mounts = get_default_mounts();
    for mount in &mut mounts {
        if mount.destination() == Path::new("/sys") {
            // sysfs cannot be mounted in a user namespace: bind the host's.
            mount
                .set_source(Some(PathBuf::from("/sys")))
                .set_typ(Some("none".to_owned()))
                .set_options(Some(
                    ["rbind", "nosuid", "noexec", "nodev", "ro"]
                        .map(String::from)
                        .to_vec(),
                ));
        } else {
            // Only the mapped ids exist in the namespace.
            let options = mount.options().clone().unwrap_or_default();
            mount.set_options(Some(
                options
                    .into_iter()
                    .filter(|o| !o.starts_with("uid=") && !o.starts_with("gid="))
                    .collect(),
            ));
        }
    }
    let mut spec = Spec::default();
    spec.set_linux(Some(linux)).set_mounts(Some(mounts));
    adjust_for_youki(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_spec_drops_inheritable_and_ambient_and_denies_devices() {
        let spec = default_spec().unwrap();
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert!(caps.inheritable().is_none() && caps.ambient().is_none());
        assert!(caps.bounding().as_ref().is_some_and(|b| !b.is_empty()));
        let linux = spec.linux().as_ref().unwrap();
        let devices = linux
            .resources()
            .as_ref()
            .unwrap()
            .devices()
            .as_ref()
            .unwrap();
        assert_eq!(devices.len(), 1);
        assert!(!devices[0].allow());
    }

    #[test]
    fn the_rootless_spec_maps_the_user_and_binds_sys() {
        let spec = rootless_spec(1000, 1001).unwrap();
        let linux = spec.linux().as_ref().unwrap();
        let types: Vec<_> = linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|ns| ns.typ())
            .collect();
        assert!(types.contains(&LinuxNamespaceType::User));
        assert!(!types.contains(&LinuxNamespaceType::Network));
        assert_eq!(linux.uid_mappings().as_ref().unwrap()[0].host_id(), 1000);
        assert_eq!(linux.gid_mappings().as_ref().unwrap()[0].host_id(), 1001);
        let mounts = spec.mounts().as_ref().unwrap();
        let sys = mounts
            .iter()
            .find(|m| m.destination() == Path::new("/sys"))
            .unwrap();
        assert_eq!(sys.typ().as_deref(), Some("none"));
        assert!(
            mounts
                .iter()
                .flat_map(|m| m.options().iter().flatten())
                .all(|o| !o.starts_with("gid="))
        );
    }
}
