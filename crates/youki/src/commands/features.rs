use std::collections::HashMap;

use anyhow::Result;
use libcontainer::syscall::linux::MountOption;
use oci_spec::runtime::{
    ApparmorBuilder, CgroupBuilder, FeaturesBuilder, IDMapBuilder, IntelRdtBuilder,
    LinuxFeatureBuilder, LinuxNamespaceType, MountExtensionsBuilder, SelinuxBuilder,
};

use crate::{version, workload};

const HOOKS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Prints the runtime-spec "features" document, as upstream youki 0.7 does
/// for the same build; a build with Wasm engines adds annotations naming
/// them (README.md, "Differences from upstream youki").
pub fn features(_: liboci_cli::Features) -> Result<()> {
    let namespaces = vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::User,
        LinuxNamespaceType::Cgroup,
        LinuxNamespaceType::Time,
    ];
    let capabilities: Vec<String> = caps::all().iter().map(|cap| format!("{cap:?}")).collect();
    let cgroup = CgroupBuilder::default()
        .v1(cfg!(feature = "v1"))
        .v2(cfg!(feature = "v2"))
        .systemd(cfg!(feature = "systemd"))
        .systemd_user(cfg!(feature = "systemd"))
        // libcgroups has no rdma controller.
        .rdma(false)
        .build()?;
    // Seccomp support is not reported (null), as upstream 0.7 does not;
    // SELinux and idmapped mounts are not supported by libcontainer 0.7.
    let linux = LinuxFeatureBuilder::default()
        .namespaces(namespaces)
        .capabilities(capabilities)
        .cgroup(cgroup)
        .apparmor(ApparmorBuilder::default().enabled(true).build()?)
        .mount_extensions(
            MountExtensionsBuilder::default()
                .idmap(IDMapBuilder::default().enabled(false).build()?)
                .build()?,
        )
        .selinux(SelinuxBuilder::default().enabled(false).build()?)
        .intel_rdt(IntelRdtBuilder::default().enabled(true).build()?)
        .build()?;

    let mut features = FeaturesBuilder::default()
        .oci_version_max(oci_spec::runtime::VERSION)
        .oci_version_min("1.0.0")
        .hooks(HOOKS.map(String::from).to_vec())
        .mount_options(MountOption::known_options())
        .linux(linux);
    let handlers = workload::handler_names();
    if !handlers.is_empty() {
        // What `run.oci.handler` accepts in this build, besides native.
        features = features.annotations(HashMap::from([
            ("org.youki.wasm.handlers".to_owned(), handlers.join(",")),
            (
                "org.youki.features".to_owned(),
                version::features().join(" "),
            ),
            (
                "org.youki.wasm.confinement".to_owned(),
                workload::guest_confinement().unwrap_or_default(),
            ),
        ]));
    }
    println!("{}", serde_json::to_string_pretty(&features.build()?)?);
    Ok(())
}
