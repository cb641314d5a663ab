//! CVE-2019-5736: no process in a container can write the binary youki runs
//! from, whichever protection is in force (docs/security.md).

use std::process::Output;

use nix::errno::Errno;

use youki_e2e::{Bundle, Youki, unique_id};

/// The host binary's bytes, to prove it unchanged afterwards.
fn host_binary(youki: &Youki) -> Vec<u8> {
    std::fs::read(&youki.bin).unwrap()
}

/// `youki <args>` with the memfd fallback forced or not.
fn youki_output(youki: &Youki, force_memfd: bool, args: &[&str]) -> Output {
    let env: &[(&str, &str)] = if force_memfd {
        &[("YOUKI_FORCE_MEMFD_EXE", "1")]
    } else {
        &[]
    };
    youki.output_env(args, env)
}

/// The protection youki reports at debug level.
fn protection_in_log(youki: &Youki, force_memfd: bool) -> String {
    let out = youki_output(youki, force_memfd, &["--log-level", "debug", "list"]);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    log.lines()
        .find(|line| line.contains("CVE-2019-5736"))
        .unwrap_or_else(|| panic!("no protection line in:\n{log}"))
        .to_owned()
}

#[test]
fn youki_runs_from_a_read_only_overlay_and_falls_back_to_a_sealed_memfd() {
    let youki = Youki::new();
    assert!(protection_in_log(&youki, false).contains("read-only detached overlayfs"));
    let fallback = protection_in_log(&youki, true);
    assert!(fallback.contains("sealed memfd copy"), "{fallback}");
    assert!(fallback.contains("YOUKI_FORCE_MEMFD_EXE=1"), "{fallback}");
}

/// Opening the init process's binary for writing, from the host as root
/// (which passes the ptrace checks a container process fails), must be
/// refused by the file itself: EROFS on the overlay; EPERM (sealed) or
/// ETXTBSY (running) for the memfd.
fn assert_file_refuses_writes(pid: i32, force_memfd: bool) {
    // Not the host binary (which would refuse with ETXTBSY too, while running):
    // a memfd, or a path on the detached overlay.
    let target = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    let target = target.to_string_lossy();
    if force_memfd {
        assert!(target.starts_with("/memfd:"), "{target}");
    } else {
        assert!(
            !target.contains("target/"),
            "runs from the host path {target}"
        );
    }
    let err = std::fs::OpenOptions::new()
        .append(true)
        .open(format!("/proc/{pid}/exe"))
        .expect_err("the init binary is writable");
    let refused: &[Errno] = if force_memfd {
        &[Errno::EPERM, Errno::ETXTBSY]
    } else {
        &[Errno::EROFS]
    };
    let code = err.raw_os_error();
    assert!(
        refused.iter().any(|e| code == Some(*e as i32)),
        "force_memfd={force_memfd}: {err}"
    );
}

/// A running Wasm container: its init process is youki running the module.
/// From inside (a `youki exec` shell) writing `/proc/1/exe` fails; from the
/// host the file refuses writes; the host binary is unchanged.
fn wasm_container_cannot_write_init_exe(force_memfd: bool) {
    let youki = Youki::new();
    let before = host_binary(&youki);
    // compat-smart: the .wasm entrypoint runs on WAMR, the exec'd shell natively.
    let bundle = Bundle::busybox(&youki, &["/thesis.wasm"]);
    bundle.add_fixture("thesis.wasm", "thesis.wasm");
    bundle.annotate("module.wasm.image/variant", "compat-smart");
    bundle.edit(|spec| spec["process"]["env"] = serde_json::json!(["PATH=/bin", "SLEEP_TIME=60"]));
    let id = unique_id("cve");
    let out = youki_output(
        &youki,
        force_memfd,
        &["run", "--detach", "--bundle", bundle.path_str(), &id],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    youki.wait_status(&id, "running", 5).unwrap();

    let out = youki_output(
        &youki,
        force_memfd,
        &["exec", &id, "sh", "-c", "echo pwned >> /proc/1/exe"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "writing /proc/1/exe succeeded");
    assert!(stderr.contains("can't create /proc/1/exe"), "{stderr}");

    let pid = youki.pid(&id);
    assert_file_refuses_writes(pid, force_memfd);
    // The init process runs youki's code, not a drifted copy.
    assert_eq!(std::fs::read(format!("/proc/{pid}/exe")).unwrap(), before);
    assert_eq!(host_binary(&youki), before, "the host binary changed");
}

#[test]
fn overlay_wasm_container_cannot_write_its_init_binary() {
    wasm_container_cannot_write_init_exe(false);
}

#[test]
fn memfd_wasm_container_cannot_write_its_init_binary() {
    wasm_container_cannot_write_init_exe(true);
}

#[test]
fn a_native_container_init_runs_from_the_protected_binary() {
    for force_memfd in [false, true] {
        let youki = Youki::new();
        let before = host_binary(&youki);
        let bundle = Bundle::busybox(&youki, &["sleep", "60"]);
        let id = unique_id("cve-native");
        // Created, not started: the init process is still youki, waiting.
        let out = youki_output(
            &youki,
            force_memfd,
            &["create", "--bundle", bundle.path_str(), &id],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pid = youki.pid(&id);
        assert_file_refuses_writes(pid, force_memfd);
        // Started, it exec's its workload and youki's code is gone from it.
        youki.ok(&["start", &id]);
        assert!(
            std::fs::read_link(format!("/proc/{pid}/exe"))
                .unwrap()
                .ends_with("busybox")
        );
        assert_eq!(host_binary(&youki), before);
    }
}
