//! CVE-2019-5736: no process in a container can write the binary youki runs
//! from, whichever protection is in force; and a Wasm container's init, which
//! never calls execve, keeps nothing of youki's that a container process
//! could reach (docs/security.md).

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use nix::errno::Errno;

use youki_e2e::deadline::status_within;
use youki_e2e::{Bundle, COMMAND_SECONDS, Youki, scaled, unique_id};

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

    // CAP_SYS_PTRACE lets the shell past the init's non-dumpable flag, so
    // that what refuses the write is the binary protection itself: EROFS
    // from the overlay, ETXTBSY (or EPERM) from the sealed memfd.
    let out = youki_output(
        &youki,
        force_memfd,
        &[
            "exec",
            "--cap",
            "CAP_SYS_PTRACE",
            &id,
            "sh",
            "-c",
            "echo pwned >> /proc/1/exe",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "writing /proc/1/exe succeeded");
    let expected: &[&str] = if force_memfd {
        &["Text file busy", "Operation not permitted"]
    } else {
        &["Read-only file system"]
    };
    assert!(
        expected
            .iter()
            .any(|reason| stderr.contains(&format!("can't create /proc/1/exe: {reason}"))),
        "force_memfd={force_memfd}: {stderr}"
    );

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
        // Started, it exec's its workload and youki's code is gone from it
        // (`start` returns once the init is told to go, not once it has).
        youki.ok(&["start", &id]);
        let deadline = std::time::Instant::now() + scaled(5);
        while !std::fs::read_link(format!("/proc/{pid}/exe"))
            .unwrap()
            .ends_with("busybox")
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the init did not exec busybox"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(host_binary(&youki), before);
    }
}

/// youki trusts an overlay only if it made it: run from a read-only overlay
/// mounted by someone else (here, the test), it still re-executes from its
/// own detached one.
#[test]
fn an_overlay_youki_did_not_make_is_not_trusted() {
    let youki = Youki::new();
    let foreign = ForeignOverlay::mount(youki.bin.parent().unwrap());
    let foreign_bin = foreign.mountpoint.join(youki.bin.file_name().unwrap());
    let bundle = Bundle::busybox(&youki, &["sleep", "60"]);
    let id = unique_id("foreign");
    let mut create = std::process::Command::new(&foreign_bin);
    create
        .args(["--root", youki.root().to_str().unwrap()])
        .args(["create", "--bundle", bundle.path_str(), &id]);
    let status = status_of(create);
    assert!(
        status.success(),
        "youki create from the foreign overlay failed"
    );
    let pid = youki.pid(&id);
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    youki.ok(&["delete", "--force", &id]);
    assert!(
        !exe.starts_with(&foreign.mountpoint),
        "youki kept running from the test's overlay: {}",
        exe.display()
    );
    assert_file_is_youkis_own(&exe);
}

/// Runs a youki command that leaves a container's init behind, and returns
/// its status. Not through pipes: the init holds youki's stdio open.
fn status_of(mut command: std::process::Command) -> std::process::ExitStatus {
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    status_within(COMMAND_SECONDS, command)
}

/// A read-only overlay of `dir` mounted at a temporary mount point, in the
/// test's mount namespace, unmounted on drop.
struct ForeignOverlay {
    mountpoint: PathBuf,
    _dirs: tempfile::TempDir,
}

impl ForeignOverlay {
    fn mount(dir: &Path) -> Self {
        let dirs = tempfile::tempdir().unwrap();
        let (empty, mountpoint) = (dirs.path().join("empty"), dirs.path().join("mnt"));
        std::fs::create_dir(&empty).unwrap();
        std::fs::create_dir(&mountpoint).unwrap();
        let options = format!("lowerdir={}:{}", dir.display(), empty.display());
        nix::mount::mount(
            Some("overlay"),
            &mountpoint,
            Some("overlay"),
            nix::mount::MsFlags::MS_RDONLY,
            Some(options.as_str()),
        )
        .expect("mount -t overlay");
        Self {
            mountpoint,
            _dirs: dirs,
        }
    }
}

impl Drop for ForeignOverlay {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.mountpoint, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// The path `/proc/<pid>/exe` names for a youki on its own detached overlay:
/// the binary's name at the root of a mount reachable from nowhere.
fn assert_file_is_youkis_own(exe: &Path) {
    assert_eq!(
        exe.parent(),
        Some(Path::new("/")),
        "not on youki's detached overlay: {}",
        exe.display()
    );
}

/// The running Wasm container's init process and the host log file youki wrote.
struct WasmInit {
    youki: Youki,
    id: String,
    pid: i32,
    log: tempfile::NamedTempFile,
    _bundle: Bundle,
}

/// Starts the thesis module (sleeping) in a busybox root file system with the
/// `compat-smart` annotation, so that an exec'd shell runs natively, with
/// youki logging to a host file, as containerd's shim has it.
fn start_wasm_init(preserve: &[&std::fs::File]) -> WasmInit {
    let youki = Youki::new();
    let bundle = Bundle::busybox(&youki, &["/thesis.wasm"]);
    bundle.add_fixture("thesis.wasm", "thesis.wasm");
    bundle.annotate("module.wasm.image/variant", "compat-smart");
    bundle.edit(|spec| spec["process"]["env"] = serde_json::json!(["PATH=/bin", "SLEEP_TIME=60"]));
    let log = tempfile::NamedTempFile::new().unwrap();
    let id = unique_id("fds");
    let mut command = youki.command(&[
        "--log",
        log.path().to_str().unwrap(),
        "--log-level",
        "debug",
        "run",
        "--detach",
        "--preserve-fds",
        "1",
        "--bundle",
        bundle.path_str(),
        &id,
    ]);
    // The descriptors a caller hands over stand at 3, 4, ...: one through
    // --preserve-fds, the rest through LISTEN_FDS (systemd socket activation).
    if !preserve.is_empty() {
        command.env("LISTEN_FDS", (preserve.len() - 1).to_string());
    }
    let sources: Vec<i32> = preserve
        .iter()
        .map(|file| {
            nix::fcntl::fcntl(file.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD(100)).unwrap()
        })
        .collect();
    // SAFETY: the closure only calls dup2, which is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            for (index, fd) in sources.iter().enumerate() {
                nix::unistd::dup2(*fd, 3 + index as i32)?;
            }
            Ok(())
        });
    }
    let status = status_of(command);
    assert!(
        status.success(),
        "youki run failed: see {}",
        log.path().display()
    );
    youki.wait_status(&id, "running", 5).unwrap();
    // Wait until the module has started (it has printed), so that everything
    // the init does before guest code is done.
    let pid = youki.pid(&id);
    let deadline = std::time::Instant::now() + scaled(5);
    while descriptors(pid)
        .values()
        .any(|target| target.starts_with("socket:"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "youki's sockets stay open"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    WasmInit {
        youki,
        id,
        pid,
        log,
        _bundle: bundle,
    }
}

/// The open descriptors of a process and what each names, read from the host.
fn descriptors(pid: i32) -> BTreeMap<i32, String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let fd = entry.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            Some((fd, target.to_string_lossy().into_owned()))
        })
        .collect()
}

/// Before guest code runs, the Wasm init closes every descriptor execve would
/// have closed: what is left is stdio, what the caller handed over on purpose
/// and WAMR's preopen of the container's root, and never youki's log file or
/// its channel sockets.
#[test]
fn a_wasm_init_keeps_only_the_descriptors_the_container_is_given() {
    let handed_over = [
        tempfile::NamedTempFile::new().unwrap(),
        tempfile::NamedTempFile::new().unwrap(),
    ];
    let files: Vec<&std::fs::File> = handed_over.iter().map(|file| file.as_file()).collect();
    let init = start_wasm_init(&files);
    let fds = descriptors(init.pid);
    let log = init.log.path().to_string_lossy().into_owned();
    assert!(
        std::fs::read_to_string(init.log.path())
            .unwrap()
            .contains("wasm engine"),
        "youki did not log to {log}"
    );
    let mut expected: Vec<i32> = vec![0, 1, 2, 3, 4];
    assert_eq!(fds[&3], handed_over[0].path().to_string_lossy(), "{fds:?}");
    assert_eq!(fds[&4], handed_over[1].path().to_string_lossy(), "{fds:?}");
    // WAMR's preopened root: the container's "/".
    let preopens: Vec<i32> = fds
        .iter()
        .filter(|(fd, target)| **fd > 4 && target.as_str() == "/")
        .map(|(fd, _)| *fd)
        .collect();
    assert_eq!(preopens.len(), 1, "{fds:?}");
    expected.extend(preopens);
    assert_eq!(fds.keys().copied().collect::<Vec<_>>(), expected, "{fds:?}");
    assert!(!fds.values().any(|target| *target == log), "{fds:?}");
    init.youki.ok(&["delete", "--force", &init.id]);
}

/// A process in the container, even one with the init's own capabilities,
/// cannot open the host log file (or anything else) through the init's
/// `/proc/1/fd`: the init is non-dumpable, and the descriptor is closed.
#[test]
fn a_container_process_cannot_reach_the_host_log_through_the_init() {
    let init = start_wasm_init(&[]);
    let attack = "for fd in /proc/1/fd/*; do echo pwned >> $fd || echo refused $fd; done";
    // The shell has the init's capabilities: only non-dumpability stops it.
    let out = init.youki.output(&["exec", &init.id, "sh", "-c", attack]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let refusals = stderr
        .lines()
        .filter(|line| line.contains("can't create /proc/1/fd/"))
        .collect::<Vec<_>>();
    assert!(!refusals.is_empty(), "{stderr}");
    assert!(
        refusals
            .iter()
            .all(|line| line.ends_with("Permission denied")),
        "{stderr}"
    );
    // With CAP_SYS_PTRACE it passes that check, and finds no log to write.
    let out = init.youki.output(&[
        "exec",
        "--cap",
        "CAP_SYS_PTRACE",
        &init.id,
        "sh",
        "-c",
        "ls /proc/1/fd",
    ]);
    let listed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        listed,
        ["0", "1", "2", "3"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    init.youki.ok(&["delete", "--force", &init.id]);
    assert!(
        !std::fs::read_to_string(init.log.path())
            .unwrap()
            .contains("pwned")
    );
}

/// The guest's `/` preopen reaches the container's `/proc`, and a process
/// may always open its own `/proc/self/mem`: without a confinement the Wasm
/// guest could read and write the init's memory, an escape from the Wasm
/// sandbox into native code. A native process exec'd into the same container
/// keeps its `/proc`.
#[test]
fn a_wasm_guest_cannot_reach_the_init_processes_own_handles() {
    let youki = Youki::new();
    let bundle = Bundle::busybox(&youki, &[]);
    bundle.add_fixture("procself.wasm", "procself.wasm");
    std::fs::create_dir_all(bundle.rootfs().join("data")).unwrap();
    std::fs::write(bundle.rootfs().join("data/in.txt"), "x").unwrap();
    let targets = [
        "/proc/self/mem",
        "/proc/1/mem",
        "/proc/self/environ",
        "/proc/self/status",
        "/data/in.txt",
    ];
    bundle.edit(|spec| {
        let mut args = vec!["/procself.wasm"];
        args.extend(targets);
        spec["process"]["args"] = serde_json::json!(args);
        spec["process"]["env"] = serde_json::json!(["PATH=/bin", "HOLD=60"]);
    });
    // compat-smart: the module runs on WAMR, an exec'd shell natively.
    bundle.annotate("module.wasm.image/variant", "compat-smart");
    let output = tempfile::NamedTempFile::new().unwrap();
    let id = unique_id("procself");
    let mut run = youki.command(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    run.stdout(output.reopen().unwrap())
        .stderr(std::process::Stdio::null());
    assert!(status_within(COMMAND_SECONDS, run).success());
    let deadline = std::time::Instant::now() + scaled(10);
    let printed = loop {
        let text = std::fs::read_to_string(output.path()).unwrap();
        if text.lines().count() == targets.len() || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let expected: Vec<String> = targets
        .iter()
        .map(|path| match *path {
            "/data/in.txt" => format!("{path}: opened"),
            _ => format!("{path}: Permission denied"),
        })
        .collect();
    assert_eq!(printed.lines().collect::<Vec<_>>(), expected, "{printed}");

    // The same container's native processes keep /proc.
    let status = youki.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "head -1 /proc/self/status; ls /proc/1 >/dev/null && echo listed",
    ]);
    assert!(
        status.starts_with("Name:") && status.ends_with("listed\n"),
        "{status}"
    );
    youki.ok(&["delete", "--force", &id]);
}

/// Under a seccomp profile that denies Landlock's system calls the module
/// still runs (unconfined, as under other runtimes) rather than not at all,
/// and youki's log says it is unconfined. Where the node requires
/// confinement (`YOUKI_WASM_REQUIRE_CONFINEMENT=1` in youki's environment)
/// `create` fails with that line instead and leaves nothing behind, while a
/// confined module still runs; the container's own environment can neither
/// require nor waive it.
#[test]
fn a_seccomp_profile_without_landlock_warns_and_the_node_can_refuse_it() {
    let youki = Youki::new();
    let bundle = Bundle::wasm(&youki, "hello.wasm", &[]);
    bundle.edit(|spec| {
        spec["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{
                "names": ["landlock_create_ruleset"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 1
            }]
        });
        spec["process"]["env"] = serde_json::json!(["YOUKI_WASM_REQUIRE_CONFINEMENT=1"]);
    });
    let unconfined = "Landlock is unavailable to the container process (EPERM";
    let log = tempfile::NamedTempFile::new().unwrap();
    let out = youki.output(&[
        "--log",
        log.path().to_str().unwrap(),
        "--log-level",
        "warn",
        "run",
        "--bundle",
        bundle.path_str(),
        &unique_id("nolandlock"),
    ]);
    youki_e2e::assert_printed(&out, "Hello from WebAssembly!\n");
    let logged = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        logged.contains(unconfined) && logged.contains("WARN"),
        "no warning that the guest runs unconfined:\n{logged}"
    );

    let require = [("YOUKI_WASM_REQUIRE_CONFINEMENT", "1")];
    let id = unique_id("nolandlock");
    let out = youki.output_env(&["create", "--bundle", bundle.path_str(), &id], &require);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an unconfined guest was created");
    assert!(
        err.contains(unconfined)
            && err.contains("this node requires confinement (YOUKI_WASM_REQUIRE_CONFINEMENT=1)"),
        "{err}"
    );
    assert!(!youki.has_state(&id), "state left for {id}");
    assert_eq!(
        youki_e2e::cgroups_named(&id),
        Vec::<PathBuf>::new(),
        "cgroups left for {id}"
    );

    let confined = Bundle::wasm(&youki, "hello.wasm", &[]);
    let out = youki.output_env(
        &[
            "run",
            "--bundle",
            confined.path_str(),
            &unique_id("landlock"),
        ],
        &require,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "a confined guest under the requirement: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
