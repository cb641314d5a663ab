//! Differential test against upstream youki 0.7.0's own binary
//! (`$UPSTREAM_YOUKI_BIN`, installed by scripts/test.sh with
//! `cargo install youki --version 0.7.0 --locked --features v1,v2,seccomp`):
//! both binaries run on the same inputs, and every difference found must be
//! one of [`DIFFERENCES`], each listed with its reason in README.md's
//! "Differences from upstream youki". A new difference, or a listed one that
//! is gone, fails the test.
//!
//! With `YOUKI_PARITY_EXPECTED=none`, no difference is allowed:
//! hack/upstream-pr/test.sh runs it so on upstream's binary with our
//! upstream patch series applied, which must behave exactly as upstream.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use youki_e2e::deadline::wait_within;
use youki_e2e::{Bundle, COMMAND_SECONDS, Youki, scaled, unique_id, within};

/// Every intended difference, by the name README.md gives it.
const DIFFERENCES: &[&str] = &[
    "version-commit",
    "version-features",
    "info-wasm-handlers",
    "features-systemd",
    "features-annotations",
    "help-wasm",
    "checkpoint-alias",
    "list-format",
    "signal-exit-code",
    "error-text",
    "wasm-without-annotation",
];

/// The differences this run expects: [`DIFFERENCES`], or none.
fn expected() -> &'static [&'static str] {
    match std::env::var("YOUKI_PARITY_EXPECTED").as_deref() {
        Err(_) => DIFFERENCES,
        Ok("none") => &[],
        Ok(other) => panic!("YOUKI_PARITY_EXPECTED={other:?}: only \"none\" is known"),
    }
}

fn upstream_bin() -> PathBuf {
    let path = std::env::var_os("UPSTREAM_YOUKI_BIN")
        .map(PathBuf::from)
        .expect(
            "UPSTREAM_YOUKI_BIN is not set: scripts/test.sh installs upstream youki 0.7.0 \
         (cargo install youki --version 0.7.0 --locked --features v1,v2,seccomp)",
        );
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// The two binaries, each with its own state root.
struct Pair {
    ours: Youki,
    upstream: Youki,
    found: BTreeSet<&'static str>,
}

impl Pair {
    fn new() -> Self {
        let mut upstream = Youki::new();
        upstream.bin = upstream_bin();
        Self {
            ours: Youki::new(),
            upstream,
            found: BTreeSet::new(),
        }
    }

    /// Both outputs of `args`, run through files (a detached container
    /// would hold pipes open), each under the suites' deadline.
    fn both(&self, args: &[&str]) -> (Output, Output) {
        (
            self.ours.output_env(args, NO_BACKTRACE),
            self.upstream.output_env(args, NO_BACKTRACE),
        )
    }

    /// Records difference `name` when `same` is false; a difference not in
    /// [`DIFFERENCES`] fails at once, with what differs.
    fn expect(&mut self, name: &'static str, same: bool, what: impl std::fmt::Debug) {
        if !same {
            assert!(
                expected().contains(&name),
                "undocumented difference {name}: {what:#?}"
            );
            self.found.insert(name);
        }
    }

    /// Asserts equality outright, for what must never differ.
    fn equal<T: PartialEq + std::fmt::Debug>(&self, what: &str, ours: T, upstream: T) {
        assert_eq!(
            ours, upstream,
            "{what}: ours (left) differs from upstream (right)"
        );
    }
}

/// Without backtraces, whose frames depend on how each binary was built.
const NO_BACKTRACE: &[(&str, &str)] = &[("RUST_BACKTRACE", "0"), ("RUST_LIB_BACKTRACE", "0")];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `name: value` lines of `--version`, by name.
fn version_lines(out: &[u8]) -> BTreeMap<String, String> {
    text(out)
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The long and short flags a `--help` text offers, and its subcommands.
fn help_words(help: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut flags = BTreeSet::new();
    let mut commands = BTreeSet::new();
    let mut in_commands = false;
    for line in help.lines() {
        if line.ends_with(':') && !line.starts_with(' ') {
            in_commands = line == "Commands:";
            continue;
        }
        let trimmed = line.trim_start();
        if in_commands && line.starts_with("  ") {
            if let Some(word) = trimmed.split_whitespace().next() {
                commands.insert(word.to_owned());
            }
        } else if trimmed.starts_with('-') {
            for word in trimmed.split_whitespace().take(3) {
                let word = word.trim_end_matches(',');
                if word.starts_with('-') && !word.contains('<') {
                    flags.insert(word.to_owned());
                }
            }
        }
    }
    (flags, commands)
}

#[test]
fn ours_behaves_like_upstream_youki_0_7_or_the_difference_is_listed() {
    let mut pair = Pair::new();
    version_and_help(&mut pair);
    spec_and_features(&mut pair);
    containers(&mut pair);
    errors(&mut pair);

    // Every listed difference is still there: the list stays true.
    let listed: BTreeSet<&str> = expected().iter().copied().collect();
    assert_eq!(
        pair.found, listed,
        "a listed difference is gone: update the list and README.md"
    );
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .or_else(|_| std::fs::read_to_string("README.md"))
            .unwrap_or_default();
    if !readme.is_empty() {
        for name in DIFFERENCES {
            assert!(
                readme.contains(&format!("`{name}`")),
                "README.md does not list {name}"
            );
        }
    }
}

fn version_and_help(pair: &mut Pair) {
    for flag in ["--version", "-v"] {
        let (ours, upstream) = pair.both(&[flag]);
        pair.equal(flag, ours.status.code(), upstream.status.code());
        let (mut ours, upstream) = (version_lines(&ours.stdout), version_lines(&upstream.stdout));
        for key in ["youki version", "spec", "rustc", "libseccomp"] {
            pair.equal(key, ours.get(key), upstream.get(key));
        }
        let commit = |lines: &BTreeMap<String, String>| {
            lines["commit"].split_once('-').map(|(v, _)| v.to_owned())
        };
        pair.equal("commit version", commit(&ours), commit(&upstream));
        pair.expect(
            "version-commit",
            ours["commit"] == upstream["commit"],
            &ours["commit"],
        );
        let features = ours.remove("features");
        pair.expect("version-features", features.is_none(), features);
        pair.equal(
            "--version keys",
            ours.keys().collect::<Vec<_>>(),
            upstream.keys().collect(),
        );
    }

    // No subcommand: the help, and success.
    let (ours, upstream) = pair.both(&[]);
    pair.equal(
        "exit code without a subcommand",
        ours.status.code(),
        upstream.status.code(),
    );
    let (ours_help, upstream_help) = (text(&ours.stdout), text(&upstream.stdout));
    let (ours_flags, ours_commands) = help_words(&ours_help);
    let (upstream_flags, upstream_commands) = help_words(&upstream_help);
    pair.equal("global flags", &ours_flags, &upstream_flags);
    pair.equal("subcommands", &ours_commands, &upstream_commands);
    pair.expect(
        "help-wasm",
        !ours_help.contains("Wasm:"),
        "the help's Wasm line",
    );
    pair.expect(
        "checkpoint-alias",
        !ours_help.contains("[alias: checkpoint]"),
        "checkpointt's alias",
    );

    for command in &upstream_commands {
        if command == "help" {
            continue;
        }
        let (ours, upstream) = pair.both(&[command, "--help"]);
        pair.equal(
            &format!("{command} --help exit code"),
            ours.status.code(),
            upstream.status.code(),
        );
        pair.equal(
            &format!("{command} --help flags"),
            help_words(&text(&ours.stdout)).0,
            help_words(&text(&upstream.stdout)).0,
        );
    }

    let (ours, upstream) = pair.both(&["info"]);
    let rows = |out: &Output| -> Vec<String> {
        text(&out.stdout)
            .lines()
            .map(|line| line.split(':').next().unwrap_or(line))
            .map(|line| {
                line.chars()
                    .take(18)
                    .collect::<String>()
                    .trim_end()
                    .to_owned()
            })
            .collect()
    };
    let mut ours_rows = rows(&ours);
    let handlers = ours_rows.iter().position(|row| row == "Wasm handlers");
    pair.expect(
        "info-wasm-handlers",
        handlers.is_none(),
        "Wasm handlers row",
    );
    ours_rows.retain(|row| !["Wasm handlers", "Wasm guests", "features"].contains(&row.as_str()));
    pair.equal("info rows", ours_rows, rows(&upstream));
}

fn sort_array(value: &mut Value) {
    if let Some(items) = value.as_array_mut() {
        items.sort_by_key(|item| item.to_string());
    }
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|err| panic!("not JSON ({err}): {}", text(&out.stdout)))
}

fn spec_and_features(pair: &mut Pair) {
    for extra in [&[][..], &["--rootless"][..]] {
        let specs: Vec<Value> = [&pair.ours.bin, &pair.upstream.bin]
            .into_iter()
            .map(|bin| {
                let dir = tempfile::tempdir().unwrap();
                let mut spec = Command::new(bin);
                spec.arg("spec").args(extra).current_dir(dir.path());
                assert!(within(COMMAND_SECONDS, spec).status.success());
                let mut spec: Value =
                    serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                        .unwrap();
                // Capability sets are hash sets: in no fixed order.
                if let Some(sets) = spec["process"]["capabilities"].as_object_mut() {
                    sets.values_mut().for_each(sort_array);
                }
                spec
            })
            .collect();
        pair.equal(&format!("spec {extra:?}"), &specs[0], &specs[1]);
    }

    let (ours, upstream) = pair.both(&["features"]);
    let (mut ours, mut upstream) = (json(&ours), json(&upstream));
    for features in [&mut ours, &mut upstream] {
        // Both list caps::all(), a hash set: in no fixed order.
        sort_array(&mut features["linux"]["capabilities"]);
    }
    let systemd = ours["linux"]["cgroup"]["systemd"].clone();
    pair.expect(
        "features-systemd",
        systemd == upstream["linux"]["cgroup"]["systemd"],
        &systemd,
    );
    ours["linux"]["cgroup"] = upstream["linux"]["cgroup"].clone();
    let annotations = ours["annotations"].take();
    pair.expect("features-annotations", annotations.is_null(), &annotations);
    pair.equal("features", ours, upstream);
}

/// A busybox bundle running `args`, for both binaries.
fn busybox(pair: &Pair, args: &[&str]) -> Bundle {
    Bundle::busybox(&pair.ours, args)
}

fn containers(pair: &mut Pair) {
    let bundle = busybox(pair, &["sleep", "60"]);
    let id = unique_id("parity");
    let (ours, upstream) = pair.both(&["create", "--bundle", bundle.path_str(), &id]);
    assert!(
        ours.status.success() && upstream.status.success(),
        "{}",
        text(&upstream.stderr)
    );

    let (ours, upstream) = pair.both(&["state", &id]);
    let keys =
        |out: &Output| -> Vec<String> { json(out).as_object().unwrap().keys().cloned().collect() };
    pair.equal("state keys", keys(&ours), keys(&upstream));
    let stable = |out: &Output| {
        let state = json(out);
        [
            &state["ociVersion"],
            &state["id"],
            &state["status"],
            &state["bundle"],
            &state["owner"],
        ]
        .map(Value::clone)
    };
    pair.equal("state values", stable(&ours), stable(&upstream));
    // Key order, too: tools read the text.
    let order = |out: &Output| {
        text(&out.stdout)
            .lines()
            .filter_map(|line| line.trim().split('"').nth(1).map(str::to_owned))
            .collect::<Vec<_>>()
    };
    pair.equal("state key order", order(&ours), order(&upstream));

    let (ours, upstream) = pair.both(&["list"]);
    let header = |out: &Output| text(&out.stdout).lines().next().map(str::to_owned);
    pair.equal("list header", header(&ours), header(&upstream));
    // JSON, or the table (whose PID and CREATED columns differ between any
    // two runs).
    let (ours, upstream) = pair.both(&["list", "--format", "json"]);
    let is_json = |out: &Output| serde_json::from_slice::<Value>(&out.stdout).is_ok();
    pair.expect(
        "list-format",
        is_json(&ours) == is_json(&upstream),
        "list --format json",
    );

    // kill of a created container, then start of a killed one.
    let (ours, upstream) = pair.both(&["kill", &id, "KILL"]);
    pair.equal("kill exit code", ours.status.code(), upstream.status.code());
    let (ours, upstream) = pair.both(&["delete", "--force", &id]);
    pair.equal(
        "delete exit code",
        ours.status.code(),
        upstream.status.code(),
    );

    // run's exit code: the process's own, and for a signal.
    let exit7 = busybox(pair, &["sh", "-c", "exit 7"]);
    let codes = [(&pair.ours, false), (&pair.upstream, true)]
        .map(|(youki, upstream)| run_exit_code(youki, &exit7, upstream));
    pair.equal("run exit 7", codes[0], codes[1]);
    let killed = busybox(pair, &["sleep", "60"]);
    let codes = [&pair.ours, &pair.upstream].map(|youki| run_killed(youki, &killed));
    pair.expect("signal-exit-code", codes[0] == codes[1], codes);
}

/// The exit code of `youki run` of `bundle`, whose process exits at once.
///
/// Upstream youki 0.7.0's `run` has a race (the one upstream/0004 fixes):
/// when the container's process exits before `run` blocks the signals it
/// waits for, `run` waits forever for a SIGCHLD that has come and gone, and
/// ignores SIGTERM. For `upstream`, a `run` that hangs with its container
/// exited is that race: it is killed, the container deleted, and the run
/// tried once more. Any other hang fails the test, naming the command.
fn run_exit_code(youki: &Youki, bundle: &Bundle, upstream: bool) -> Option<i32> {
    let mut tries = if upstream { 2 } else { 1 };
    loop {
        let id = unique_id("exit7");
        let args = ["run", "--bundle", bundle.path_str(), &id];
        let hung = match youki.try_output(&args, NO_BACKTRACE, scaled(30)) {
            Ok(out) => return out.status.code(),
            Err(hung) => hung,
        };
        // Nothing killed the container: if it has stopped, it exited.
        let status = youki.output(&["state", &id]);
        let stopped = serde_json::from_slice::<Value>(&status.stdout)
            .is_ok_and(|state| state["status"] == "stopped");
        tries -= 1;
        assert!(
            upstream && stopped && tries > 0,
            "{hung} (its container: {}){}",
            text(&status.stdout).trim(),
            if upstream && stopped {
                "; upstream youki 0.7.0's run race, twice in a row"
            } else {
                ""
            }
        );
        eprintln!(
            "parity: {hung}, its container already exited: upstream youki 0.7.0's \
             `run` race (a SIGCHLD before its signals are blocked); trying once more"
        );
        youki.ok(&["delete", "--force", &id]);
    }
}

/// The exit code of `youki run` when its container's init is SIGKILLed
/// from the host (from inside, PID 1 ignores signals it has no handler for).
fn run_killed(youki: &Youki, bundle: &Bundle) -> Option<i32> {
    let id = unique_id("killed");
    let args = ["run", "--bundle", bundle.path_str(), &id];
    let mut run = youki
        .command(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    youki.wait_status(&id, "running", 5).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(youki.pid(&id)),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let what = format!("{} {args:?}", youki.bin.display());
    wait_within(&mut run, COMMAND_SECONDS, &what).code()
}

fn errors(pair: &mut Pair) {
    let missing = unique_id("missing");
    for args in [
        vec!["state", missing.as_str()],
        vec!["kill", missing.as_str(), "TERM"],
        vec!["delete", missing.as_str()],
        vec!["start", missing.as_str()],
    ] {
        let (ours, upstream) = pair.both(&args);
        pair.equal(
            &format!("{args:?} exit code"),
            ours.status.code(),
            upstream.status.code(),
        );
        // Ours: one line naming the container; upstream: anyhow's report.
        let (ours, upstream) = (text(&ours.stderr), text(&upstream.stderr));
        assert!(ours.contains(&missing), "{ours}");
        pair.expect(
            "error-text",
            ours.trim() == upstream.trim(),
            (&ours, &upstream),
        );
    }
    // A Wasm module as a native entrypoint: upstream creates the container
    // (execve fails after start); ours refuses at create, saying why.
    let module = Bundle::empty(&pair.ours, &["/hello.wasm"]);
    module.add_fixture("hello.wasm", "hello.wasm");
    module.edit(|spec| spec["process"]["env"] = serde_json::json!(["PATH=/"]));
    let (ours, upstream) =
        pair.both(&["create", "--bundle", module.path_str(), &unique_id("wasm")]);
    pair.expect(
        "wasm-without-annotation",
        ours.status.code() == upstream.status.code(),
        (
            ours.status.code(),
            upstream.status.code(),
            text(&ours.stderr),
        ),
    );
    // run of a bundle that cannot be created.
    let broken = busybox(pair, &["/no/such/program"]);
    let (ours, upstream) = pair.both(&["run", "--bundle", broken.path_str(), &unique_id("broken")]);
    pair.equal(
        "run failure exit code",
        ours.status.code(),
        upstream.status.code(),
    );
}
