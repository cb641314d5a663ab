//! Engine selection in a youki built with several engines
//! (`--features wasm-wamr,wasm-wasmtime,wasm-wasmer`): `run.oci.handler` picks
//! an engine by name, and WAMR is the default for `wasm` and `compat`.
//! Run by scripts/test.sh against that build (YOUKI_BIN).

use youki_e2e::{Bundle, Youki, unique_id};

fn youki() -> Youki {
    let youki = Youki::new();
    let version = youki.ok(&["--version"]);
    for feature in ["+wasm-wamr", "+wasm-wasmtime", "+wasm-wasmer"] {
        assert!(
            version.contains(feature),
            "{} lacks {feature}: build with --features wasm-wamr,wasm-wasmtime,wasm-wasmer\n{version}",
            youki.bin.display()
        );
    }
    youki
}

/// Runs the bundle with debug logging and returns (exit code, stdout, the
/// engine the log says ran it).
fn run_logged(youki: &Youki, bundle: &Bundle) -> (i32, String, String) {
    let log = tempfile::NamedTempFile::new().unwrap();
    let id = unique_id("engine");
    let out = youki.output(&[
        "--log",
        log.path().to_str().unwrap(),
        "--log-level",
        "debug",
        "run",
        "--bundle",
        bundle.path_str(),
        &id,
    ]);
    let text = std::fs::read_to_string(log.path()).unwrap();
    let engine = text
        .lines()
        .find_map(|line| line.split("engine=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("none")
        .to_owned();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        engine,
    )
}

#[test]
fn each_engine_runs_when_named_and_wamr_by_default() {
    let youki = youki();
    for (annotation, value, engine) in [
        ("run.oci.handler", "wamr", "wamr"),
        ("run.oci.handler", "wasmtime", "wasmtime"),
        ("run.oci.handler", "wasmer", "wasmer"),
        ("run.oci.handler", "wasm", "wamr"),
        ("module.wasm.image/variant", "compat", "wamr"),
    ] {
        let bundle = Bundle::empty(&youki, &["/hello.wasm"]);
        bundle.add_fixture("hello.wasm", "hello.wasm");
        bundle.annotate(annotation, value);
        let (code, stdout, ran) = run_logged(&youki, &bundle);
        assert_eq!(
            (code, stdout.as_str(), ran.as_str()),
            (0, "Hello from WebAssembly!\n", engine),
            "{annotation}={value}"
        );
    }
}

#[test]
fn every_engine_keeps_the_exit_code_and_reports_traps() {
    let youki = youki();
    for engine in ["wamr", "wasmtime", "wasmer"] {
        let exit = Bundle::empty(&youki, &["/exit42.wasm"]);
        exit.add_fixture("exit42.wasm", "exit42.wasm");
        exit.annotate("run.oci.handler", engine);
        assert_eq!(run_logged(&youki, &exit).0, 42, "{engine}");

        let trap = Bundle::empty(&youki, &["/trap.wat"]);
        trap.add_fixture("trap.wat", "trap.wat");
        trap.annotate("run.oci.handler", engine);
        assert_eq!(run_logged(&youki, &trap).0, 134, "{engine}");
    }
}

/// As PID 1 of its PID namespace a Wasm init sees SIGTERM and SIGINT only if
/// it handles them: every engine must end at once with 128 + the signal, so
/// that `podman stop` and pod deletion do not wait for SIGKILL.
#[test]
fn every_engine_ends_at_once_on_sigterm_and_sigint() {
    use nix::sys::signal::Signal;
    let youki = youki();
    for engine in ["wamr", "wasmtime", "wasmer"] {
        for (signal, expected) in [(Signal::SIGTERM, 143), (Signal::SIGINT, 130)] {
            let bundle = Bundle::empty(&youki, &["/thesis.wasm"]);
            bundle.add_fixture("thesis.wasm", "thesis.wasm");
            bundle.annotate("run.oci.handler", engine);
            let (code, elapsed) = youki.signal_sleeping_module(&bundle, signal);
            assert_eq!(code, expected, "{engine} {signal}");
            assert!(
                elapsed < youki_e2e::scaled(youki_e2e::PROMPT_SECONDS),
                "{engine} {signal}: took {elapsed:?}"
            );
        }
    }
}

/// Every engine hands the init to the guest the same way: what youki held
/// while the container was created (its log file, its sockets) is closed
/// once the module runs. The engine's own descriptors may be new.
#[test]
fn every_engine_closes_youkis_descriptors_before_the_guest_runs() {
    let youki = youki();
    for engine in ["wamr", "wasmtime", "wasmer"] {
        let bundle = Bundle::empty(&youki, &["/thesis.wasm"]);
        bundle.add_fixture("thesis.wasm", "thesis.wasm");
        bundle.annotate("run.oci.handler", engine);
        bundle.edit(|spec| spec["process"]["env"] = serde_json::json!(["SLEEP_TIME=60"]));
        let log = tempfile::NamedTempFile::new().unwrap();
        let log_path = log.path().to_str().unwrap();
        let id = unique_id("fds");
        youki.ok(&[
            "--log",
            log_path,
            "create",
            "--bundle",
            bundle.path_str(),
            &id,
        ]);
        let pid = youki.pid(&id);
        let youkis = descriptors_above_stdio(pid);
        assert!(
            youkis.iter().any(|target| target == log_path),
            "{engine}: {youkis:?}"
        );
        assert!(
            youkis.iter().any(|target| target.starts_with("socket:")),
            "{youkis:?}"
        );

        youki.ok(&["start", &id]);
        let deadline = std::time::Instant::now() + youki_e2e::scaled(10);
        let left = loop {
            let now = descriptors_above_stdio(pid);
            let left: Vec<&String> = youkis
                .iter()
                .filter(|target| now.contains(target))
                .collect();
            if left.is_empty() || std::time::Instant::now() > deadline {
                break left.into_iter().cloned().collect::<Vec<_>>();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert_eq!(youki.status(&id), "running", "{engine}");
        youki.ok(&["delete", "--force", &id]);
        assert_eq!(left, Vec::<String>::new(), "{engine}");
    }
}

/// What the descriptors above 2 of a process name, read from the host; but
/// the container's root ("/"), which youki and every engine hold a handle of.
fn descriptors_above_stdio(pid: i32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let fd: i32 = entry.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            let target = target.to_string_lossy().into_owned();
            (fd > 2 && target != "/").then_some(target)
        })
        .collect()
}

/// The guest cannot open the process's own memory through `/proc` (the
/// confinement is shared: guest.rs). Not on wasmer: its WASI opens no host
/// file from the `/` preopen at all here ("No such file or directory" for
/// the module itself, with or without the confinement).
#[test]
fn no_engine_lets_the_guest_open_its_runtimes_memory() {
    let youki = youki();
    for engine in ["wamr", "wasmtime"] {
        let bundle = Bundle::empty(
            &youki,
            &["/procself.wasm", "/proc/self/mem", "/procself.wasm"],
        );
        bundle.add_fixture("procself.wasm", "procself.wasm");
        // Writable: wasi-common traps on EROFS instead of returning it.
        bundle.edit(|spec| spec["root"]["readonly"] = serde_json::json!(false));
        bundle.annotate("run.oci.handler", engine);
        let (code, stdout, _) = run_logged(&youki, &bundle);
        assert_eq!(
            (code, stdout.as_str()),
            (
                0,
                "/proc/self/mem: Permission denied\n/procself.wasm: opened\n"
            ),
            "{engine}"
        );
    }
}
