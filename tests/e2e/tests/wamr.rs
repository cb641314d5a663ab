//! Wasm containers on WAMR through the built youki (feature `wasm-wamr`):
//! every behaviour docs/wamr.md promises.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use youki_e2e::{
    Bundle, PROMPT_SECONDS, WAMR_MODE_ANNOTATION, Youki, rss_mib, scaled, status_mib, unique_id,
    wamr_mode, within,
};

/// The deadline of one `youki-wamrc` run, in seconds on the reference host
/// (the compiler's own wall-clock limit is 120 s).
const COMPILE_SECONDS: u64 = 300;

/// Set by hack/upstream-pr/test.sh, which runs some of these tests on
/// upstream youki's binary with our upstream patch series applied: the
/// executor is ours, the CLI around it upstream's (no `features:` line in
/// `--version`, errors as anyhow's multi-line report).
fn upstream_pr() -> bool {
    std::env::var_os("YOUKI_E2E_UPSTREAM_PR").is_some()
}

/// The line of `err` that reports a failure containing `what`: ours is one
/// line starting with `error:`; upstream's report has it on some line.
fn error_line<'a>(err: &'a str, what: &str) -> &'a str {
    err.lines()
        .find(|line| {
            if upstream_pr() {
                line.contains(what)
            } else {
                line.starts_with("error:")
            }
        })
        .unwrap_or_else(|| panic!("no error line:\n{err}"))
}

/// A youki that must have WAMR built in: without it these tests would test
/// nothing. (Upstream's binary does not say; the tests it runs fail without.)
fn youki() -> Youki {
    let youki = Youki::new();
    if upstream_pr() {
        return youki;
    }
    let version = youki.ok(&["--version"]);
    assert!(
        version.contains("+wasm-wamr"),
        "{} was built without wasm-wamr: cargo build --features wasm-wamr\n{version}",
        youki.bin.display()
    );
    youki
}

/// `youki run` in the foreground: (exit code, stdout, stderr). In the AOT
/// mode of the suite (scripts/test.sh) a binary module must have run
/// compiled: youki logs why whenever it falls back to the interpreter.
fn run(youki: &Youki, bundle: &Bundle) -> (i32, String, String) {
    let log = tempfile::NamedTempFile::new().unwrap();
    let log_path = log.path().to_str().unwrap();
    let aot = wamr_mode() == "aot" && !upstream_pr();
    let mut args = vec!["run", "--bundle", bundle.path_str()];
    if aot {
        args.splice(0..0, ["--debug", "--log", log_path]);
    }
    let id = unique_id("wamr");
    args.push(&id);
    let out = youki.output(&args);
    let logged = std::fs::read_to_string(log.path()).unwrap_or_default();
    if let Some(line) = logged
        .lines()
        .find(|l| l.contains("wamr: interpreting the module"))
    {
        panic!("AOT mode, but the module was interpreted:\n{line}");
    }
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
    let out = youki.output_env(
        &["run", "--bundle", bundle.path_str(), &unique_id("echo")],
        &[("HOST_ONLY_VARIABLE", "leaked")],
    );
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

    // Also through create and start, as containerd's shim drives it.
    let id = unique_id("exit42");
    assert_eq!(youki.create_start_and_wait(&bundle, &id), 42);
    assert_eq!(youki.status(&id), "stopped");
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
fn an_out_of_bounds_read_traps_interpreted_and_compiled() {
    let youki = youki();
    let bundle = Bundle::wasm(&youki, "oob.wasm", &[]);
    let (code, stdout, stderr) = run(&youki, &bundle);
    assert_eq!(code, 134, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("out of bounds memory access"), "{stderr}");
}

// The aot_cache_ tests need youki-wamrc beside youki (cargo build -p
// youki-wamrc); the portable bundle, which has no LLVM, leaves them out.

/// `youki --debug --log <file> run` of the thesis module in AOT mode with the
/// cache at `cache` and extra environment; returns youki's log.
fn run_compiled(youki: &Youki, cache: &std::path::Path, env: &[(&str, &str)]) -> String {
    let bundle = Bundle::wasm(youki, "thesis.wasm", &[]);
    bundle.annotate(WAMR_MODE_ANNOTATION, "aot");
    bundle.edit(|spec| {
        spec["process"]["env"] = json!(["SLEEP_TIME=0"]);
    });
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut all_env = vec![("YOUKI_WAMR_AOT_CACHE", cache.to_str().unwrap())];
    all_env.extend_from_slice(env);
    let id = unique_id("aot");
    let out = youki.output_env(
        &[
            "--debug",
            "--log",
            log.path().to_str().unwrap(),
            "run",
            "--bundle",
            bundle.path_str(),
            &id,
        ],
        &all_env,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Goodbye after 0 seconds"), "{stdout}");
    std::fs::read_to_string(log.path()).unwrap()
}

fn cache_entries(cache: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut entries: Vec<_> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "aot"))
        .collect();
    entries.sort();
    entries
}

#[test]
fn aot_cache_compiled_code_is_cached_a_bad_entry_replaced_and_no_compiler_interprets() {
    if upstream_pr() {
        return;
    }
    let youki = youki();
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path();

    // a miss: compiled into the cache, run compiled
    let log = run_compiled(&youki, cache, &[]);
    assert!(log.contains("compiled=true"), "{log}");
    let entries = cache_entries(cache);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let name = entries[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.contains("-wamr2.") && name.contains("-aot6-"),
        "{name}"
    );
    let modified = std::fs::metadata(&entries[0]).unwrap().modified().unwrap();

    // a hit: the same entry, not compiled again
    let log = run_compiled(&youki, cache, &[("YOUKI_WAMRC", "/nonexistent")]);
    assert!(log.contains("compiled=true"), "{log}");
    assert_eq!(
        std::fs::metadata(&entries[0]).unwrap().modified().unwrap(),
        modified
    );

    // a corrupt entry is compiled again
    let good = std::fs::read(&entries[0]).unwrap();
    std::fs::write(&entries[0], b"not aot code").unwrap();
    let log = run_compiled(&youki, cache, &[]);
    assert!(log.contains("compiled=true"), "{log}");
    assert_eq!(std::fs::read(&entries[0]).unwrap(), good);

    // so is one with a byte flipped in its body: never run as it is
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x40;
    std::fs::write(&entries[0], &flipped).unwrap();
    let log = run_compiled(&youki, cache, &[]);
    assert!(
        log.contains("do not have the digest recorded"),
        "the flipped entry was not refused: {log}"
    );
    assert!(log.contains("compiled=true"), "{log}");
    assert_eq!(std::fs::read(&entries[0]).unwrap(), good);

    // youki-wamrc --precompile fills a cache with the entry youki looks for
    let warmed = tempfile::tempdir().unwrap();
    let printed = precompile(&youki, "thesis.wasm", warmed.path());
    assert_eq!(printed, cache_entries(warmed.path())[0]);
    assert_eq!(
        cache_entries(warmed.path())[0].file_name(),
        entries[0].file_name()
    );
    let log = run_compiled(&youki, warmed.path(), &[("YOUKI_WAMRC", "/nonexistent")]);
    assert!(log.contains("compiled=true"), "{log}");

    // no compiler and an empty cache: interpreted, and the container runs
    let empty = tempfile::tempdir().unwrap();
    let log = run_compiled(&youki, empty.path(), &[("YOUKI_WAMRC", "/nonexistent")]);
    assert!(
        log.contains("wamr: interpreting the module: no youki-wamrc"),
        "{log}"
    );
    assert!(log.contains("compiled=false"), "{log}");
    assert!(cache_entries(empty.path()).is_empty());
}

#[test]
fn an_unknown_mode_fails_create_naming_the_annotation() {
    let youki = youki();
    let bundle = Bundle::wasm(&youki, "hello.wasm", &[]);
    bundle.annotate(WAMR_MODE_ANNOTATION, "jit");
    let err = youki.create_fails_cleanly(&bundle, &unique_id("mode"));
    assert!(
        error_line(&err, "io.youki.wamr.mode")
            .contains("io.youki.wamr.mode=\"jit\" is not a mode: use \"interp\" or \"aot\""),
        "{err}"
    );
}

/// `youki-wamrc --precompile` of the fixture `module` into `cache` (the one
/// beside the youki under test): the cache entry it printed.
fn precompile(youki: &Youki, module: &str, cache: &std::path::Path) -> std::path::PathBuf {
    let compiler = youki.bin.with_file_name("youki-wamrc");
    assert!(
        compiler.exists(),
        "{} is missing: cargo build -p youki-wamrc",
        compiler.display()
    );
    let mut precompile = std::process::Command::new(&compiler);
    precompile
        .arg("--precompile")
        .arg(youki_e2e::fixture(module))
        .env("YOUKI_WAMR_AOT_CACHE", cache);
    let out = within(COMPILE_SECONDS, precompile);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// An entrypoint that is WAMR AOT code (an `.aot` file in the image) is
/// native code the Wasm sandbox does not check: refused unless the node
/// allows it in youki's environment, never allowed by the container's own
/// environment (which a pod controls), and refused under `mode=interp`.
#[test]
fn aot_cache_an_aot_entrypoint_runs_only_where_the_node_allows_it() {
    let youki = youki();
    let cache = tempfile::tempdir().unwrap();
    let code = precompile(&youki, "hello.wasm", cache.path());
    let bundle = Bundle::empty(&youki, &["/hello.aot"]);
    std::fs::copy(&code, bundle.rootfs().join("hello.aot")).unwrap();
    bundle.annotate("module.wasm.image/variant", "compat");
    let allow = [("YOUKI_WAMR_ALLOW_AOT_FILES", "1")];
    let refused = |env: &[(&str, &str)], why: &str| {
        let id = unique_id("aotfile");
        let out = youki.output_env(&["create", "--bundle", bundle.path_str(), &id], env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{why}: the .aot entrypoint was created"
        );
        assert!(
            error_line(&err, "hello.aot")
                .contains("could not load wasm module /hello.aot: it is WAMR AOT code"),
            "{why}: {err}"
        );
        assert!(!youki.has_state(&id), "{why}: state left");
    };

    refused(&[], "by default");
    bundle.edit(|spec| spec["process"]["env"] = json!(["YOUKI_WAMR_ALLOW_AOT_FILES=1"]));
    refused(&[], "allowed by the container's env");
    bundle.annotate(WAMR_MODE_ANNOTATION, "interp");
    refused(&allow, "mode=interp");

    bundle.annotate(WAMR_MODE_ANNOTATION, "aot");
    let out = youki.output_env(
        &["run", "--bundle", bundle.path_str(), &unique_id("aotfile")],
        &allow,
    );
    youki_e2e::assert_printed(&out, "Hello from WebAssembly!\n");
}

#[test]
fn aot_cache_two_creates_of_one_module_on_a_cold_cache_both_run_compiled() {
    if upstream_pr() {
        return;
    }
    let youki = youki();
    let cache = tempfile::tempdir().unwrap();
    let logs: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| run_compiled(&youki, cache.path(), &[])))
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    for log in &logs {
        assert!(log.contains("compiled=true"), "{log}");
    }
    assert_eq!(cache_entries(cache.path()).len(), 1);
    let leftovers: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| {
            let name = name.to_string_lossy();
            ![".aot", ".lock", ".sha256"]
                .iter()
                .any(|kept| name.ends_with(kept))
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A compiler script that logs each run to `counter` in `dir`, then runs
/// the real youki-wamrc (or fails, when `fail`): how many compiles a cache
/// saw.
fn counting_compiler(
    youki: &Youki,
    dir: &std::path::Path,
    fail: bool,
) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let counter = dir.join("runs");
    let script = dir.join("youki-wamrc");
    let then = if fail {
        "echo 'refused by the test' >&2; exit 1".to_owned()
    } else {
        format!(
            "exec {} \"$@\"",
            youki.bin.with_file_name("youki-wamrc").display()
        )
    };
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho run >>{}\n{then}\n", counter.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, counter)
}

fn runs(counter: &std::path::Path) -> usize {
    std::fs::read_to_string(counter).map_or(0, |text| text.lines().count())
}

/// Concurrent creates of a new module wait for one compile; a compile that
/// failed is remembered and not run again for the same compiler identity;
/// a module the interpreter would refuse never reaches the compiler.
#[test]
fn aot_cache_one_compile_per_module_a_failed_one_remembered_a_malformed_one_never() {
    if upstream_pr() {
        return;
    }
    let youki = youki();

    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (compiler, counter) = counting_compiler(&youki, dir.path(), false);
    let env = [("YOUKI_WAMRC", compiler.to_str().unwrap())];
    let logs: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| run_compiled(&youki, cache.path(), &env)))
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    for log in &logs {
        assert!(log.contains("compiled=true"), "{log}");
    }
    assert_eq!(runs(&counter), 1, "compiles for 4 concurrent creates");

    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (failing, counter) = counting_compiler(&youki, dir.path(), true);
    let env = [("YOUKI_WAMRC", failing.to_str().unwrap())];
    let first = run_compiled(&youki, cache.path(), &env);
    assert!(first.contains("refused by the test"), "{first}");
    let second = run_compiled(&youki, cache.path(), &env);
    assert!(
        second.contains("an earlier compile of this module failed"),
        "{second}"
    );
    assert_eq!(
        runs(&counter),
        1,
        "compiles of a module whose compile failed"
    );

    // 8 MB of zeros after a header: the interpreter refuses it at once.
    let dir = tempfile::tempdir().unwrap();
    let (compiler, counter) = counting_compiler(&youki, dir.path(), false);
    let zeros = Bundle::wasm(&youki, "hello.wasm", &[]);
    zeros.annotate(WAMR_MODE_ANNOTATION, "aot");
    let mut bytes = b"\0asm\x01\0\0\0".to_vec();
    bytes.resize(8 << 20, 0);
    std::fs::write(zeros.rootfs().join("hello.wasm"), &bytes).unwrap();
    let started = Instant::now();
    let id = unique_id("zeros");
    let out = youki.output_env(
        &["create", "--bundle", zeros.path_str(), &id],
        &[("YOUKI_WAMRC", compiler.to_str().unwrap())],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("WASM module load failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(runs(&counter), 0, "the malformed module was compiled");
    assert!(
        started.elapsed() < scaled(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(!youki.has_state(&id));
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
    let expected = format!("could not load wasm module {module}: {reason}");
    assert!(error_line(&err, &expected).contains(&expected), "{err}");
}

#[test]
fn bad_modules_are_rejected_cleanly() {
    let youki = youki();

    let missing = Bundle::wasm(&youki, "hello.wasm", &[]);
    missing.edit(|spec| spec["process"]["args"] = json!(["/missing.wasm"]));
    assert_rejected(
        &youki,
        &missing,
        "/missing.wasm",
        "no such file in the container's root file system",
    );

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
    // One line, naming the file, line and column.
    let err = youki.create_fails_cleanly(&bad_text, &unique_id("badwat"));
    let expected = "could not load wasm module /hello.wat: /hello.wat:1:19: unknown operator";
    assert!(error_line(&err, expected).contains(expected), "{err}");

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
        "unknown imports: env.launch_missiles",
    );

    let no_args = Bundle::wasm(&youki, "hello.wasm", &[]);
    no_args.edit(|spec| spec["process"]["args"] = json!([]));
    youki.create_fails_cleanly(&no_args, &unique_id("noargs"));
}

/// `Youki::signal_sleeping_module` on WAMR.
fn signal_sleeping_module(signal: nix::sys::signal::Signal) -> (i32, Duration) {
    let youki = youki();
    let bundle = Bundle::wasm(&youki, "thesis.wasm", &[]);
    youki.signal_sleeping_module(&bundle, signal)
}

#[test]
fn sigterm_ends_a_sleeping_module_promptly() {
    let (code, elapsed) = signal_sleeping_module(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(code, 143);
    assert!(elapsed < scaled(PROMPT_SECONDS), "took {elapsed:?}");
}

#[test]
fn sigint_ends_a_sleeping_module_promptly() {
    let (code, elapsed) = signal_sleeping_module(nix::sys::signal::Signal::SIGINT);
    assert_eq!(code, 130);
    assert!(elapsed < scaled(PROMPT_SECONDS), "took {elapsed:?}");
}

#[test]
fn kill_term_stops_a_detached_module() {
    let youki = youki();
    let bundle = Bundle::wasm(&youki, "thesis.wasm", &[]);
    // an hour: longer than any scaled deadline of a prompt end
    bundle.edit(|spec| spec["process"]["env"] = json!(["SLEEP_TIME=3600"]));
    let id = unique_id("term");
    youki.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    youki.wait_status(&id, "running", 5).unwrap();
    kill_term_stops_it_promptly(&youki, &id);
}

/// `youki kill TERM` ends the container within [`PROMPT_SECONDS`] (scaled);
/// the module it runs would not end by itself for longer than that.
fn kill_term_stops_it_promptly(youki: &Youki, id: &str) {
    let sent = Instant::now();
    youki.ok(&["kill", id, "TERM"]);
    youki.wait_status(id, "stopped", PROMPT_SECONDS).unwrap();
    assert!(
        sent.elapsed() < scaled(PROMPT_SECONDS),
        "took {:?}",
        sent.elapsed()
    );
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
    let mib = allocated_mib(&stdout);
    assert!(
        (40..64).contains(&mib),
        "allocated {mib} MiB under a 64 MiB limit"
    );
}

#[test]
fn a_module_initial_memory_above_the_limit_is_refused_at_create() {
    let youki = youki();
    // Without a limit, its 100 MiB of initial memory are there.
    let free = Bundle::wasm(&youki, "bigmem.wat", &[]);
    assert_eq!(run(&youki, &free).0, 0);

    // WAMR never caps memory below a module's initial size: under a 64 MiB
    // limit the module would be OOM-killed when it touches it. It is refused.
    let limited = Bundle::wasm(&youki, "bigmem.wat", &[]);
    limited.edit(|spec| spec["linux"]["resources"]["memory"] = json!({"limit": 64 * 1024 * 1024}));
    let err = youki.create_fails_cleanly(&limited, &unique_id("bigmem"));
    assert!(
        err.contains(
            "could not load wasm module /bigmem.wat: its initial memory (100.0 MiB) does not fit \
             under the container's memory limit (64.0 MiB"
        ),
        "{err}"
    );
}

/// A module `youki exec` runs in a memory-limited container gets what the
/// container's processes leave of the limit, so that its `memory.grow` fails
/// before the kernel OOM-kills either instance.
#[test]
fn an_exec_instance_shares_the_memory_limit_with_the_init() {
    let youki = youki();
    let limit_mib = 64;
    // The init holds 32 MiB for a minute.
    let bundle = Bundle::wasm(&youki, "grow.wasm", &["32", "60"]);
    bundle.edit(|spec| {
        spec["linux"]["resources"]["memory"] = json!({"limit": limit_mib * 1024 * 1024})
    });
    let id = unique_id("shared");
    youki.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    youki.wait_status(&id, "running", 5).unwrap();
    // Wait until the init holds its memory (it prints once it does).
    let deadline = Instant::now() + scaled(10);
    let pid = youki.pid(&id);
    while Instant::now() < deadline && rss_mib(pid) < 32 {
        std::thread::sleep(Duration::from_millis(50));
    }

    let out = youki.output(&["exec", &id, "/grow.wasm", "96"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the exec'd module was killed instead of failing malloc: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mib = allocated_mib(&stdout);
    assert!(
        (1..limit_mib - 32).contains(&mib),
        "the exec'd module allocated {mib} MiB beside the init's 32 MiB under {limit_mib} MiB"
    );
    assert_eq!(youki.status(&id), "running", "the init was OOM-killed");
}

/// A module's memory costs the 4 KiB pages it touches: the init runs
/// without transparent huge pages, which WAMR asks for on linear memories of
/// 2 MiB or more (guest.rs). On a host whose THP setting is `never` this
/// passes either way; on `madvise` or `always` it fails without that (65 MiB
/// instead of 4 on this project's machine).
#[test]
fn a_sparse_memory_costs_the_pages_it_touches_not_huge_pages() {
    let youki = youki();
    // 64 MiB of initial memory, one byte touched per 64 KiB: 4 MiB of 4 KiB pages.
    let bundle = Bundle::wasm(&youki, "sparse.wasm", &["60"]);
    let id = unique_id("sparse");
    let mut run = youki.run_reading_stdout(&bundle, &id);
    assert_eq!(run.next_line(), "touched 64 MiB, one byte per 64 KiB");
    let anon_mib = status_mib(youki.pid(&id), "RssAnon").expect("RssAnon of the init");
    youki.ok(&["kill", &id, "TERM"]);
    run.wait();
    assert!(
        (4..32).contains(&anon_mib),
        "the init holds {anon_mib} MiB of anonymous memory for 4 MiB touched"
    );
}

/// The MiB grow.wasm reports it allocated.
fn allocated_mib(stdout: &str) -> u64 {
    stdout
        .trim_start_matches("allocated ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output {stdout:?}"))
}

/// `youki create` runs no guest code: a start section that never returns
/// does not hang it; after `youki start` SIGTERM ends the module at once.
#[test]
fn a_looping_start_section_runs_at_start_and_sigterm_ends_it() {
    let youki = youki();
    let bundle = Bundle::wasm(&youki, "startloop.wat", &[]);
    let id = unique_id("startloop");
    let create = youki
        .try_output(
            &["create", "--bundle", bundle.path_str(), &id],
            &[],
            scaled(10),
        )
        .unwrap_or_else(|hung| panic!("youki create ran the start section: {hung}"));
    assert!(create.status.success());
    assert_eq!(youki.status(&id), "created");

    youki.ok(&["start", &id]);
    youki.wait_status(&id, "running", 5).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        youki.status(&id),
        "running",
        "the start section must still spin"
    );
    kill_term_stops_it_promptly(&youki, &id);
}

#[test]
fn a_start_section_trap_is_a_trap_at_start() {
    let youki = youki();
    let bundle = Bundle::wasm(&youki, "starttrap.wat", &[]);
    let (code, stdout, stderr) = run(&youki, &bundle);
    assert_eq!(code, 134, "{stderr}");
    assert_eq!(stdout, "start section ran\n");
    assert!(
        stderr.contains("wasm trap in /starttrap.wat: unreachable"),
        "{stderr}"
    );

    // Through create and start: create prints nothing, the trap comes at start.
    let id = unique_id("starttrap");
    let out = youki.output(&["create", "--bundle", bundle.path_str(), &id]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "guest code ran at create"
    );
    youki.ok(&["start", &id]);
    youki.wait_status(&id, "stopped", 5).unwrap();
}

/// `youki exec` (and `kubectl exec`) into a Wasm container: a native program
/// runs natively, a module on the container's engine, decided by content.
#[test]
fn exec_runs_native_programs_natively_and_modules_on_wamr() {
    let youki = youki();
    let bundle = Bundle::busybox(&youki, &["/thesis.wasm"]);
    bundle.add_fixture("thesis.wasm", "thesis.wasm");
    bundle.add_fixture("hello.wasm", "apps/hello");
    bundle.annotate("module.wasm.image/variant", "compat");
    bundle.edit(|spec| spec["process"]["env"] = json!(["PATH=/bin:/apps", "SLEEP_TIME=60"]));
    let id = unique_id("exec");
    youki.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    youki.wait_status(&id, "running", 5).unwrap();

    assert_eq!(
        youki.ok(&["exec", &id, "sh", "-c", "echo native"]),
        "native\n"
    );
    // A module without a .wasm name, found on PATH, is still a module.
    assert_eq!(
        youki.ok(&["exec", &id, "hello"]),
        "Hello from WebAssembly!\n"
    );
    assert_eq!(
        youki.ok(&["exec", &id, "/apps/hello"]),
        "Hello from WebAssembly!\n"
    );
}

#[test]
fn every_annotation_form_selects_wamr() {
    let youki = youki();
    for (key, value) in [
        ("run.oci.handler", "wasm"),
        ("run.oci.handler", "wamr"),
        ("run.oci.handler", "wasm-smart"),
        ("module.wasm.image/variant", "compat"),
        ("module.wasm.image/variant", "compat-smart"),
    ] {
        let bundle = Bundle::empty(&youki, &["/hello.wasm"]);
        bundle.add_fixture("hello.wasm", "hello.wasm");
        bundle.annotate(key, value);
        let (code, stdout, stderr) = run(&youki, &bundle);
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
        err.contains(
            "run.oci.handler=wasmedge names a wasm engine this youki was not built with; it \
             accepts wasm, wasm-smart, wamr (or no handler, for a native container)"
        ),
        "{err}"
    );
}

/// The most common mistake: a Wasm image run without the annotation. The
/// kernel could not execute the module; `create` says what to set instead.
#[test]
fn a_module_without_an_annotation_fails_create_saying_what_to_set() {
    let youki = youki();
    for entrypoint in ["/hello.wasm", "/app"] {
        let bundle = Bundle::empty(&youki, &[entrypoint]);
        // By content: "/app" has no .wasm name but is a module.
        bundle.add_fixture("hello.wasm", entrypoint.trim_start_matches('/'));
        bundle.edit(|spec| spec["process"]["env"] = json!(["PATH=/"]));
        let err = youki.create_fails_cleanly(&bundle, &unique_id("noannotation"));
        assert!(
            err.contains(&format!(
                "{entrypoint} is a wasm module, but the container has no wasm annotation: set \
                 module.wasm.image/variant=compat (or run.oci.handler=wasm) to run it"
            )),
            "{err}"
        );
    }
}

#[test]
fn the_stack_annotation_sets_the_stack_and_the_heap_annotation_refuses_a_heap() {
    let youki = youki();
    let bundle = Bundle::wasm(&youki, "hello.wasm", &[]);
    bundle.annotate("io.youki.wamr.stack-size", "256K");
    bundle.annotate("io.youki.wamr.heap-size", "0");
    assert_eq!(run(&youki, &bundle).1, "Hello from WebAssembly!\n");

    // No module can use a host-managed heap in this build, and one would
    // overlap wasi-libc's malloc: a non-zero heap is refused, not ignored.
    bundle.annotate("io.youki.wamr.heap-size", "1Mi");
    let err = youki.create_fails_cleanly(&bundle, &unique_id("heap"));
    assert!(
        err.contains("io.youki.wamr.heap-size=\"1Mi\" cannot work"),
        "{err}"
    );

    bundle.annotate("io.youki.wamr.heap-size", "0");
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
