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
