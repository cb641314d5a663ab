use std::collections::HashMap;

use anyhow::Result;
use caps::Capability;
use oci_spec::runtime::{
    ApparmorBuilder, CgroupBuilder, FeaturesBuilder, IDMapBuilder, IntelRdtBuilder,
    LinuxFeatureBuilder, MountExtensionsBuilder, SeccompBuilder, SelinuxBuilder,
};
use oci_spec::runtime::{Arch, LinuxNamespaceType, LinuxSeccompAction};

use crate::{version, workload};

const HOOKS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Seccomp filter flags youki knows, and supports: the same list.
const SECCOMP_FLAGS: [&str; 3] = [
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_TSYNC",
];

const MOUNT_OPTIONS: [&str; 48] = [
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "slave",
    "unbindable",
];

/// Prints the runtime-spec "features" document: what this build supports.
pub fn features(_: liboci_cli::Features) -> Result<()> {
    let namespaces = vec![
        LinuxNamespaceType::Cgroup,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::User,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Time,
    ];
    let mut capabilities: Vec<String> = caps::all().iter().map(Capability::to_string).collect();
    capabilities.sort();

    let cgroup = CgroupBuilder::default()
        .v1(cfg!(feature = "v1"))
        .v2(cfg!(feature = "v2"))
        .systemd(cfg!(feature = "systemd"))
        .systemd_user(cfg!(feature = "systemd"))
        .rdma(false)
        .build()?;

    let seccomp = if cfg!(feature = "seccomp") {
        SeccompBuilder::default()
            .enabled(true)
            .actions(vec![
                LinuxSeccompAction::ScmpActAllow,
                LinuxSeccompAction::ScmpActErrno,
                LinuxSeccompAction::ScmpActKill,
                LinuxSeccompAction::ScmpActKillProcess,
                LinuxSeccompAction::ScmpActKillThread,
                LinuxSeccompAction::ScmpActLog,
                LinuxSeccompAction::ScmpActNotify,
                LinuxSeccompAction::ScmpActTrace,
                LinuxSeccompAction::ScmpActTrap,
            ])
            .operators(
                [
                    "SCMP_CMP_EQ",
                    "SCMP_CMP_GE",
                    "SCMP_CMP_GT",
                    "SCMP_CMP_LE",
                    "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ",
                    "SCMP_CMP_NE",
                ]
                .map(String::from)
                .to_vec(),
            )
            .archs(vec![
                Arch::ScmpArchAarch64,
                Arch::ScmpArchArm,
                Arch::ScmpArchX86,
                Arch::ScmpArchX86_64,
                Arch::ScmpArchX32,
            ])
            .known_flags(SECCOMP_FLAGS.map(String::from).to_vec())
            .supported_flags(SECCOMP_FLAGS.map(String::from).to_vec())
            .build()?
    } else {
        SeccompBuilder::default().enabled(false).build()?
    };

    let linux = LinuxFeatureBuilder::default()
        .namespaces(namespaces)
        .capabilities(capabilities)
        .cgroup(cgroup)
        .seccomp(seccomp)
        .apparmor(ApparmorBuilder::default().enabled(true).build()?)
        .selinux(SelinuxBuilder::default().enabled(true).build()?)
        .intel_rdt(IntelRdtBuilder::default().enabled(true).build()?)
        .mount_extensions(
            MountExtensionsBuilder::default()
                .idmap(IDMapBuilder::default().enabled(true).build()?)
                .build()?,
        )
        .build()?;

    let mut annotations = HashMap::from([
        (
            "org.opencontainers.runc.checkpoint.enabled".to_owned(),
            "true".to_owned(),
        ),
        (
            "org.youki.version".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
        (
            "org.youki.commit".to_owned(),
            version::GIT_COMMIT.to_owned(),
        ),
        (
            "org.youki.features".to_owned(),
            version::features().join(" "),
        ),
        // What `run.oci.handler` accepts in this build, besides the native default.
        (
            "org.youki.wasm.handlers".to_owned(),
            workload::handler_names().join(","),
        ),
    ]);
    #[cfg(feature = "seccomp")]
    if let Ok(v) = libseccomp::ScmpVersion::current() {
        annotations.insert(
            "io.github.seccomp.libseccomp.version".to_owned(),
            format!("{}.{}.{}", v.major, v.minor, v.micro),
        );
    }

    let features = FeaturesBuilder::default()
        .oci_version_min("1.0.0")
        .oci_version_max(oci_spec::runtime::VERSION)
        .hooks(HOOKS.map(String::from).to_vec())
        .mount_options(MOUNT_OPTIONS.map(String::from).to_vec())
        .linux(linux)
        .annotations(annotations)
        .potentially_unsafe_config_annotations(
            ["bundle", "org.systemd.property.", "org.criu.config"]
                .map(String::from)
                .to_vec(),
        )
        .build()?;
    println!("{}", serde_json::to_string_pretty(&features)?);
    Ok(())
}
