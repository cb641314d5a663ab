//! Wasm containers on WAMR through the built youki (feature `wasm-wamr`):
//! every behaviour docs/wamr.md promises.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use youki_e2e::{Bundle, Youki, unique_id};

/// A youki that must have WAMR built in: without it these tests would test nothing.
fn youki() -> Youki {
    let youki = Youki::new();
    let version = youki.ok(&["--version"]);
    assert!(
        version.contains("+wasm-wamr"),
        "{} was built without wasm-wamr: cargo build --features wasm-wamr\n{version}",
        youki.bin.display()
    );
    youki
}

/// `youki run` in the foreground: (exit code, stdout, stderr).
fn run(youki: &Youki, bundle: &Bundle) -> (i32, String, String) {
    let out = youki.output(&["run", "--bundle", bundle.path_str(), &unique_id("wamr")]);
    (
        out.status.code().expect("youki exited"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn hello_reaches_stdout() {
    let youki = youki();
    let bundle = Bundle::wasm(&youki, "hello.wasm", &[]);
    assert_eq!(
        run(&youki, &bundle),
        (0, "Hello from WebAssembly!\n".to_owned(), String::new())
    );
}

#[test]
fn args_are_passed_whole_and_env_is_exactly_process_env() {
    let youki = youki();
    let bundle = Bundle::wasm(&youki, "echo.wasm", &["one two", "--flag"]);
    bundle.edit(|spec| spec["process"]["env"] = json!(["GREETING=hello", "EMPTY=", "EQ=a=b"]));
    let out = youki
        .command(&["run", "--bundle", bundle.path_str(), &unique_id("echo")])
        .env("HOST_ONLY_VARIABLE", "leaked")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let expected = "arg[0]=/echo.wasm\narg[1]=one two\narg[2]=--flag\n\
                    env:GREETING=hello\nenv:EMPTY=\nenv:EQ=a=b\ncwd=/\n";
    assert_eq!(stdout, expected);
}

#[test]
fn thesis_workload_runs_to_its_goodbye() {
    let youki = youki();
    let bundle = Bundle::wasm(&youki, "thesis.wasm", &[]);
    bundle.edit(|spec| spec["process"]["env"] = json!(["SLEEP_TIME=1"]));
    let started = Instant::now();
    let (code, stdout, _) = run(&youki, &bundle);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "Hello, World!\nSleeping for 1 seconds\nGoodbye after 1 seconds\n"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[test]
fn reads_the_image_and_writes_a_tmpfs_mount() {
    let youki = youki();
    let bundle = Bundle::wasm(&youki, "files.wasm", &["/data/in.txt", "/scratch/out.txt"]);
    std::fs::create_dir_all(bundle.rootfs().join("data")).unwrap();
    std::fs::create_dir_all(bundle.rootfs().join("scratch")).unwrap();
    std::fs::write(bundle.rootfs().join("data/in.txt"), "from the image\n").unwrap();
    bundle.edit(|spec| {
        spec["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "mode=1777"]
        }));
    });
    let (code, stdout, stderr) = run(&youki, &bundle);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "read /data/in.txt: from the image\nwrote /scratch/out.txt: FROM THE IMAGE\n"
    );
    // The root file system is read-only, as youki's default spec has it.
    let readonly = Bundle::wasm(&youki, "files.wasm", &["/data/in.txt", "/out.txt"]);
    std::fs::create_dir_all(readonly.rootfs().join("data")).unwrap();
    std::fs::write(readonly.rootfs().join("data/in.txt"), "x\n").unwrap();
    let (code, _, stderr) = run(&youki, &readonly);
    assert_eq!(code, 4);
    assert!(
        stderr.contains("/out.txt: Read-only file system"),
        "{stderr}"
    );
    // The write went to the tmpfs, not to the bundle's root file system.
    assert!(!bundle.rootfs().join("scratch/out.txt").exists());
}

#[test]
fn module_path_is_resolved_like_a_native_entrypoint() {
    let youki = youki();
    // Relative to cwd...
    let bundle = Bundle::wasm(&youki, "hello.wasm", &[]);
    bundle.add_fixture("hello.wasm", "apps/hello.wasm");
    bundle.edit(|spec| {
        spec["process"]["args"] = json!(["hello.wasm"]);
        spec["process"]["cwd"] = json!("/apps");
    });
    assert_eq!(run(&youki, &bundle).1, "Hello from WebAssembly!\n");
    // ...and absolute paths from the container's root, never the host's.
    let host_path = bundle.rootfs().join("apps/hello.wasm");
    bundle.edit(|spec| spec["process"]["args"] = json!([host_path.to_str().unwrap()]));
    let (code, _, stderr) = run(&youki, &bundle);
    assert_ne!(code, 0);
    assert!(stderr.contains("no such file"), "{stderr}");
}

#[test]
fn proc_exit_code_is_the_container_exit_code() {
    let youki = youki();
    let bundle = Bundle::wasm(&youki, "exit42.wasm", &[]);
    assert_eq!(run(&youki, &bundle).0, 42);

    // Also through create/start/state, as containerd's shim drives it.
    let id = unique_id("exit42");
    youki.ok(&["create", "--bundle", bundle.path_str(), &id]);
    youki.ok(&["start", &id]);
    youki.wait_status(&id, "stopped", 5).unwrap();
}

#[test]
fn a_trap_exits_134_with_the_reason_on_stderr() {
    let youki = youki();
    let bundle = Bundle::wasm(&youki, "trap.wat", &[]);
    let (code, stdout, stderr) = run(&youki, &bundle);
    assert_eq!(code, 134);
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("wasm trap in /trap.wat: unreachable"),
        "{stderr}"
    );
}

#[test]
fn wat_modules_run() {
    let youki = youki();
    let bundle = Bundle::wasm(&youki, "hello.wat", &[]);
    assert_eq!(run(&youki, &bundle).1, "hello from wat\n");
}

/// `create` must fail with one line naming the module and the reason, and
/// leave no state and no cgroup behind.
fn assert_rejected(youki: &Youki, bundle: &Bundle, module: &str, reason: &str) {
    let err = youki.create_fails_cleanly(bundle, &unique_id("bad"));
    let line = err
        .lines()
        .find(|line| line.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line:\n{err}"));
    assert!(
        line.contains(&format!("could not load wasm module {module}: {reason}")),
        "{err}"
    );
}

#[test]
fn bad_modules_are_rejected_cleanly() {
    let youki = youki();

    let missing = Bundle::wasm(&youki, "hello.wasm", &[]);
    missing.edit(|spec| spec["process"]["args"] = json!(["/missing.wasm"]));
    assert_rejected(&youki, &missing, "/missing.wasm", "no such file");

    let not_wasm = Bundle::wasm(&youki, "hello.wasm", &[]);
    std::fs::write(
        not_wasm.rootfs().join("hello.wasm"),
        "#!/bin/sh\necho not wasm\n",
    )
    .unwrap();
    assert_rejected(
        &youki,
        &not_wasm,
        "/hello.wasm",
        "WASM module load failed: magic header not detected",
    );

    let corrupt = Bundle::wasm(&youki, "hello.wasm", &[]);
    let bytes = std::fs::read(corrupt.rootfs().join("hello.wasm")).unwrap();
    std::fs::write(
        corrupt.rootfs().join("hello.wasm"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    assert_rejected(&youki, &corrupt, "/hello.wasm", "WASM module load failed");

    let bad_text = Bundle::wasm(&youki, "hello.wat", &[]);
    std::fs::write(
        bad_text.rootfs().join("hello.wat"),
        "(module (func $f (bogus)))",
    )
    .unwrap();
    assert_rejected(&youki, &bad_text, "/hello.wat", "unknown operator");

    let library = Bundle::wasm(&youki, "nostart.wat", &[]);
    assert_rejected(
        &youki,
        &library,
        "/nostart.wat",
        "the module exports no _start function",
    );

    let unlinkable = Bundle::wasm(&youki, "badimport.wat", &[]);
    assert_rejected(
        &youki,
        &unlinkable,
        "/badimport.wat",
        "instantiation failed: unknown imports: env.launch_missiles",
    );

    let no_args = Bundle::wasm(&youki, "hello.wasm", &[]);
    no_args.edit(|spec| spec["process"]["args"] = json!([]));
    youki.create_fails_cleanly(&no_args, &unique_id("noargs"));
}

/// Starts `youki run` with the thesis workload sleeping 60 s, waits for its
/// "Sleeping" line, sends `signal` to youki (which forwards it to the
/// container, as a shell or shim would), and returns (exit code, elapsed).
fn signal_sleeping_module(signal: nix::sys::signal::Signal) -> (i32, Duration) {
    let youki = youki();
    let bundle = Bundle::wasm(&youki, "thesis.wasm", &[]);
    bundle.edit(|spec| spec["process"]["env"] = json!(["SLEEP_TIME=60"]));
    let id = unique_id("signal");
    let mut child = youki
        .command(&["run", "--bundle", bundle.path_str(), &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "Hello, World!");
    assert_eq!(lines.next().unwrap().unwrap(), "Sleeping for 60 seconds");
    let sent = Instant::now();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let status = child.wait().unwrap();
    (
        status.code().expect("youki exited normally"),
        sent.elapsed(),
    )
}

#[test]
fn sigterm_ends_a_sleeping_module_promptly() {
    let (code, elapsed) = signal_sleeping_module(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(code, 143);
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

#[test]
fn sigint_ends_a_sleeping_module_promptly() {
    let (code, elapsed) = signal_sleeping_module(nix::sys::signal::Signal::SIGINT);
    assert_eq!(code, 130);
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

#[test]
fn kill_term_stops_a_detached_module() {
    let youki = youki();
    let bundle = Bundle::wasm(&youki, "thesis.wasm", &[]);
    let id = unique_id("term");
    youki.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    youki.wait_status(&id, "running", 5).unwrap();
    let sent = Instant::now();
    youki.ok(&["kill", &id, "TERM"]);
    youki.wait_status(&id, "stopped", 1).unwrap();
    assert!(sent.elapsed() < Duration::from_secs(1));
}

#[test]
fn memory_limit_makes_memory_grow_fail_instead_of_oom() {
    let youki = youki();
    // Without a limit, 96 blocks of 1 MiB fit.
    let free = Bundle::wasm(&youki, "grow.wasm", &["96"]);
    let (code, stdout, _) = run(&youki, &free);
    assert_eq!(
        (code, stdout.as_str()),
        (0, "allocated 96 MiB before malloc failed\n")
    );

    // Under a 64 MiB limit, malloc fails before the kernel would OOM-kill.
    let limited = Bundle::wasm(&youki, "grow.wasm", &["96"]);
    limited.edit(|spec| spec["linux"]["resources"]["memory"] = json!({"limit": 64 * 1024 * 1024}));
    let (code, stdout, stderr) = run(&youki, &limited);
    assert_eq!(code, 0, "killed instead of failing malloc: {stderr}");
    let mib: u32 = stdout
        .trim_start_matches("allocated ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output {stdout:?}"));
    assert!(
        (40..64).contains(&mib),
        "allocated {mib} MiB under a 64 MiB limit"
    );
}

#[test]
fn every_annotation_form_selects_wamr() {
    let youki = youki();
    for (key, value, entrypoint_ok) in [
        ("run.oci.handler", "wasm", true),
        ("run.oci.handler", "wamr", true),
        ("run.oci.handler", "wasm-smart", true),
        ("module.wasm.image/variant", "compat", true),
        ("module.wasm.image/variant", "compat-smart", true),
    ] {
        let bundle = Bundle::empty(&youki, &["/hello.wasm"]);
        bundle.add_fixture("hello.wasm", "hello.wasm");
        bundle.annotate(key, value);
        let (code, stdout, stderr) = run(&youki, &bundle);
        assert!(entrypoint_ok);
        assert_eq!(
            (code, stdout.as_str()),
            (0, "Hello from WebAssembly!\n"),
            "{key}={value}: {stderr}"
        );
    }
}

#[test]
fn smart_forms_and_sandboxes_run_natively() {
    let youki = youki();
    for (key, value) in [
        ("run.oci.handler", "wasm-smart"),
        ("module.wasm.image/variant", "compat-smart"),
    ] {
        let bundle = Bundle::busybox(&youki, &["sh", "-c", "echo native"]);
        bundle.annotate(key, value);
        assert_eq!(run(&youki, &bundle).1, "native\n", "{key}={value}");
    }
    // A Kubernetes sandbox carries the pod's annotations but runs natively.
    let pause = Bundle::busybox(&youki, &["sh", "-c", "echo pause"]);
    pause.annotate("module.wasm.image/variant", "compat");
    pause.annotate("io.kubernetes.cri.container-type", "sandbox");
    assert_eq!(run(&youki, &pause).1, "pause\n");
}

#[test]
fn a_native_container_still_runs_from_the_wamr_build() {
    let youki = youki();
    let bundle = Bundle::busybox(&youki, &["sh", "-c", "echo native; exit 5"]);
    let (code, stdout, _) = run(&youki, &bundle);
    assert_eq!((code, stdout.as_str()), (5, "native\n"));
}

#[test]
fn an_engine_not_built_in_is_a_clear_error() {
    let youki = youki();
    let bundle = Bundle::wasm(&youki, "hello.wasm", &[]);
    bundle.annotate("run.oci.handler", "wasmedge");
    let err = youki.create_fails_cleanly(&bundle, &unique_id("noengine"));
    assert!(
        err.contains("run.oci.handler=wasmedge names a wasm engine this youki was not built with"),
        "{err}"
    );
}

#[test]
fn stack_and_heap_annotations() {
    let youki = youki();
    let bundle = Bundle::wasm(&youki, "hello.wasm", &[]);
    bundle.annotate("io.youki.wamr.stack-size", "256K");
    bundle.annotate("io.youki.wamr.heap-size", "1Mi");
    assert_eq!(run(&youki, &bundle).1, "Hello from WebAssembly!\n");

    bundle.annotate("io.youki.wamr.stack-size", "lots");
    let err = youki.create_fails_cleanly(&bundle, &unique_id("stack"));
    assert!(
        err.contains("invalid io.youki.wamr.stack-size=\"lots\""),
        "{err}"
    );
}

#[test]
fn version_and_features_report_wamr() {
    let youki = youki();
    let features: Value = serde_json::from_str(&youki.ok(&["features"])).unwrap();
    let annotations = &features["annotations"];
    assert!(
        annotations["org.youki.features"]
            .as_str()
            .unwrap()
            .contains("+wasm-wamr")
    );
    let handlers = annotations["org.youki.wasm.handlers"].as_str().unwrap();
    assert!(handlers.split(',').any(|h| h == "wamr"), "{handlers}");
    assert!(youki.ok(&["info"]).contains("wamr"));
}
