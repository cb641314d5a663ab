//! youki's command line against real busybox containers: what upstream youki
//! 0.7 does, subcommand by subcommand.

use serde_json::Value;
use youki_e2e::{Bundle, COMMAND_SECONDS, Cgroup, Youki, unique_id, within};

#[test]
fn help_lists_every_subcommand_and_version_lists_features() {
    let youki = Youki::new();
    let help = youki.ok(&["--help"]);
    for sub in [
        "create",
        "start",
        "state",
        "kill",
        "delete",
        "run",
        "exec",
        "ps",
        "list",
        "pause",
        "resume",
        "events",
        "update",
        "spec",
        "features",
        "checkpoint",
        "info",
        "completion",
    ] {
        assert!(
            help.contains(&format!("  {sub}")) || help.contains(&format!(" {sub}]")),
            "{sub} missing:\n{help}"
        );
    }
    for flag in [
        "--root",
        "--log",
        "--log-format",
        "--debug",
        "--log-level",
        "--systemd-cgroup",
        "--systemd-log",
    ] {
        assert!(help.contains(flag), "{flag} missing:\n{help}");
    }
    // One line on Wasm containers, for the whole CLI and for run and create.
    for args in [&["--help"][..], &["run", "--help"], &["create", "--help"]] {
        let help = youki.ok(args);
        assert!(
            help.contains("Wasm: a container annotated run.oci.handler=wasm")
                && help.contains("`youki info` lists the Wasm handlers"),
            "{args:?}:\n{help}"
        );
    }
    let version = youki.ok(&["--version"]);
    assert!(version.contains("0.7.0"), "{version}");
    assert!(version.contains("commit: "), "{version}");
    assert!(version.contains("spec: 1."), "{version}");
    assert!(
        version.contains("+v1") && version.contains("+seccomp"),
        "{version}"
    );
}

#[test]
fn create_start_state_kill_delete_round_trip() {
    let youki = Youki::new();
    let bundle = Bundle::busybox(&youki, &["sleep", "1000"]);
    let id = unique_id("round");

    youki.ok(&["create", "--bundle", bundle.path_str(), &id]);
    let state = youki.state(&id);
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["status"], "created");
    assert_eq!(
        state["bundle"],
        bundle.path().canonicalize().unwrap().to_str().unwrap()
    );
    assert!(state["ociVersion"].as_str().unwrap().starts_with("1."));
    let pid = state["pid"]
        .as_i64()
        .expect("a created container has a pid");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());

    youki.ok(&["start", &id]);
    assert_eq!(youki.status(&id), "running");

    youki.ok(&["kill", &id, "SIGKILL"]);
    youki.wait_status(&id, "stopped", 5).unwrap();

    youki.ok(&["delete", &id]);
    assert!(!youki.has_state(&id));
    let err = youki.fails(&["state", &id]);
    assert!(
        err.contains(&format!("container {id} does not exist")),
        "{err}"
    );
}

#[test]
fn run_propagates_the_exit_code() {
    let youki = Youki::new();
    let bundle = Bundle::busybox(&youki, &["sh", "-c", "echo out; echo err >&2; exit 7"]);
    let id = unique_id("exit");
    let out = youki.output(&["run", "--bundle", bundle.path_str(), &id]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("err\n"));
    // A foreground run deletes its container.
    assert!(!youki.has_state(&id));
}

#[test]
fn run_detach_leaves_a_running_container() {
    let youki = Youki::new();
    let bundle = Bundle::busybox(&youki, &["sleep", "1000"]);
    let id = unique_id("detach");
    youki.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    assert_eq!(youki.status(&id), "running");
    youki.ok(&["delete", "--force", &id]);
    assert!(!youki.has_state(&id));
}

#[test]
fn exec_runs_in_the_container_with_env_cwd_and_exit_code() {
    let youki = Youki::new();
    let bundle = Bundle::busybox(&youki, &["sleep", "1000"]);
    let id = unique_id("exec");
    youki.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);

    let out = youki.output(&[
        "exec",
        "--env",
        "GREETING=hi",
        "--cwd",
        "/bin",
        &id,
        "sh",
        "-c",
        "echo $GREETING; pwd; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n/bin\n");

    // The exec'd process sees the container's root, not the host's.
    std::fs::write(bundle.rootfs().join("marker"), "inside").unwrap();
    assert_eq!(youki.ok(&["exec", &id, "cat", "/marker"]), "inside");

    // --user, and --detach returning at once.
    assert_eq!(
        youki.ok(&["exec", "--user", "1000:1000", &id, "id", "-u"]),
        "1000\n"
    );
    youki.ok(&["exec", "--detach", &id, "sleep", "1"]);

    // --process reads the process from a JSON file.
    let process = bundle.path().join("process.json");
    let spec: Value =
        serde_json::from_slice(&std::fs::read(bundle.path().join("config.json")).unwrap()).unwrap();
    let mut proc_spec = spec["process"].clone();
    proc_spec["args"] = serde_json::json!(["sh", "-c", "echo from-process-file"]);
    std::fs::write(&process, serde_json::to_vec(&proc_spec).unwrap()).unwrap();
    assert_eq!(
        youki.ok(&["exec", "--process", process.to_str().unwrap(), &id]),
        "from-process-file\n"
    );
}

#[test]
fn ps_lists_the_container_processes() {
    let youki = Youki::new();
    let bundle = Bundle::busybox(&youki, &["sleep", "1000"]);
    let id = unique_id("ps");
    youki.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let pid = youki.pid(&id);

    let pids: Vec<i32> = serde_json::from_str(&youki.ok(&["ps", "--format", "json", &id])).unwrap();
    assert_eq!(pids, vec![pid]);
    let table = youki.ok(&["ps", &id]);
    let mut lines = table.lines();
    assert!(lines.next().unwrap().contains("PID"));
    let row = lines.next().expect("one process row");
    assert!(
        row.contains(&pid.to_string()) && row.contains("sleep 1000"),
        "{table}"
    );
    assert!(lines.next().is_none(), "{table}");
}

#[test]
fn pause_and_resume_show_in_state() {
    let youki = Youki::new();
    let bundle = Bundle::busybox(&youki, &["sleep", "1000"]);
    let id = unique_id("pause");
    youki.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    youki.ok(&["pause", &id]);
    assert_eq!(youki.status(&id), "paused");
    let cgroup = Cgroup::of(youki.pid(&id));
    assert!(cgroup.frozen());
    youki.ok(&["resume", &id]);
    assert_eq!(youki.status(&id), "running");
    assert!(!cgroup.frozen());
}

#[test]
fn update_changes_the_cgroup_limits() {
    let youki = Youki::new();
    let bundle = Bundle::busybox(&youki, &["sleep", "1000"]);
    let id = unique_id("update");
    youki.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let pid = youki.pid(&id);

    let cgroup = Cgroup::of(pid);
    youki.ok(&["update", "--memory", "104857600", &id]);
    assert_eq!(cgroup.memory_limit(), "104857600");

    youki.ok(&["update", "--pids-limit", "42", &id]);
    assert_eq!(cgroup.pids_limit(), "42");

    // A resources file replaces the flags.
    let resources = bundle.path().join("resources.json");
    std::fs::write(&resources, r#"{"memory": {"limit": 209715200}}"#).unwrap();
    youki.ok(&["update", "--resources", resources.to_str().unwrap(), &id]);
    assert_eq!(cgroup.memory_limit(), "209715200");

    let err = youki.fails(&["update", "--blkio-weight", "5", &id]);
    assert!(err.contains("invalid --blkio-weight 5"), "{err}");
}

#[test]
fn events_stats_prints_one_sample() {
    let youki = Youki::new();
    let bundle = Bundle::busybox(&youki, &["sleep", "1000"]);
    let id = unique_id("events");
    youki.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let out = youki.ok(&["events", "--stats", &id]);
    let sample: Value = serde_json::from_str(&out).expect("one JSON sample");
    assert!(sample["memory"].is_object(), "{out}");
    assert!(sample["pids"]["current"].as_u64().unwrap() >= 1, "{out}");
}

#[test]
fn list_shows_containers_as_table_and_json() {
    let youki = Youki::new();
    let bundle = Bundle::busybox(&youki, &["sleep", "1000"]);
    let id = unique_id("list");
    youki.ok(&["create", "--bundle", bundle.path_str(), &id]);

    let table = youki.ok(&["list"]);
    assert!(table.starts_with("ID"), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with(&id))
        .expect("row for the container");
    assert!(
        row.contains("Created")
            && row.contains(bundle.path().canonicalize().unwrap().to_str().unwrap()),
        "{row}"
    );

    let json: Value = serde_json::from_str(&youki.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(json[0]["id"], id.as_str());
    assert_eq!(json[0]["status"], "created");
    assert_eq!(youki.ok(&["list", "--quiet"]), format!("{id}\n"));
}

#[test]
fn spec_writes_a_valid_runnable_config() {
    let youki = Youki::new();
    let bundle = Bundle::busybox(&youki, &["true"]);
    // Start from a fresh default spec, as a user would.
    std::fs::remove_file(bundle.path().join("config.json")).unwrap();
    youki.ok(&["spec", "--bundle", bundle.path_str()]);
    let spec: Value =
        serde_json::from_slice(&std::fs::read(bundle.path().join("config.json")).unwrap()).unwrap();
    assert!(spec["ociVersion"].as_str().unwrap().starts_with("1."));
    assert_eq!(spec["root"]["path"], "rootfs");
    assert_eq!(spec["process"]["args"], serde_json::json!(["sh"]));

    // The default process is an interactive shell: with no input it exits 0.
    let id = unique_id("spec");
    let out = youki.output(&["run", "--bundle", bundle.path_str(), &id]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let rootless = tempfile::tempdir().unwrap();
    youki.ok(&[
        "spec",
        "--rootless",
        "--bundle",
        rootless.path().to_str().unwrap(),
    ]);
    let spec: Value =
        serde_json::from_slice(&std::fs::read(rootless.path().join("config.json")).unwrap())
            .unwrap();
    assert!(spec["linux"]["uidMappings"].is_array(), "{spec}");
}

#[test]
fn features_prints_the_runtime_spec_document() {
    let youki = Youki::new();
    let features: Value = serde_json::from_str(&youki.ok(&["features"])).unwrap();
    assert_eq!(features["ociVersionMin"], "1.0.0");
    assert!(
        features["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h == "createRuntime")
    );
    assert!(
        features["mountOptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "rbind")
    );
    let linux = &features["linux"];
    assert!(
        linux["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "pid")
    );
    assert!(
        linux["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "CAP_SYS_ADMIN")
    );
    assert_eq!(linux["cgroup"]["v1"], true);
    assert_eq!(linux["cgroup"]["v2"], true);
    // As upstream youki 0.7: seccomp support is not reported (parity.rs).
    assert_eq!(linux["seccomp"], serde_json::Value::Null);
}

#[test]
fn info_and_completion_print() {
    let youki = Youki::new();
    let info = youki.ok(&["info"]);
    for row in [
        "youki version: ",
        "Kernel-Release",
        "Cgroup setup",
        "Cgroup mounts",
        "Capabilities",
    ] {
        assert!(info.contains(row), "{row} missing:\n{info}");
    }
    let bash = youki.ok(&["completion", "--shell", "bash"]);
    assert!(bash.contains("_youki()"), "{bash}");
}

#[test]
fn kill_of_a_stopped_container_is_a_clear_error() {
    let youki = Youki::new();
    let bundle = Bundle::busybox(&youki, &["true"]);
    let id = unique_id("stopped");
    youki.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    youki.wait_status(&id, "stopped", 5).unwrap();
    let err = youki.fails(&["kill", &id, "TERM"]);
    assert!(
        err.contains(&format!("container {id} is not running")),
        "{err}"
    );
    let err = youki.fails(&["kill", &id, "NOTASIGNAL"]);
    assert!(err.contains("invalid signal"), "{err}");
}

#[test]
fn delete_of_an_unknown_container_is_a_clear_error() {
    let youki = Youki::new();
    let err = youki.fails(&["delete", "no-such-container"]);
    assert!(
        err.contains("container no-such-container does not exist"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // --force makes deleting what is already gone a success, for retries.
    youki.ok(&["delete", "--force", "no-such-container"]);
}

#[test]
fn a_malformed_config_is_rejected_and_leaves_nothing_behind() {
    let youki = Youki::new();
    let bundle = Bundle::busybox(&youki, &["true"]);
    std::fs::write(
        bundle.path().join("config.json"),
        r#"{"ociVersion": "1.0.2", "process": {"#,
    )
    .unwrap();
    let id = unique_id("malformed");
    let err = youki.create_fails_cleanly(&bundle, &id);
    assert!(
        err.contains(&format!("failed to create container {id}")),
        "{err}"
    );
    assert!(err.contains("EOF while parsing"), "{err}");

    // A well-formed config whose entrypoint does not exist: same cleanliness.
    let bundle = Bundle::busybox(&youki, &["/no/such/binary"]);
    let err = youki.create_fails_cleanly(&bundle, &unique_id("noexec"));
    assert!(err.contains("/no/such/binary"), "{err}");
}

#[test]
fn checkpoint_without_criu_is_a_clear_error() {
    let youki = Youki::new();
    let bundle = Bundle::busybox(&youki, &["sleep", "1000"]);
    let id = unique_id("criu");
    youki.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    // Hide criu, which podman's packages may have installed.
    let empty = tempfile::tempdir().unwrap();
    let mut checkpoint = youki.command(&["checkpoint", &id]);
    checkpoint.env("PATH", empty.path());
    let out = within(COMMAND_SECONDS, checkpoint);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("checkpoint needs criu"), "{err}");
}

#[test]
fn json_log_uses_runc_keys_for_managers() {
    let youki = Youki::new();
    let log = tempfile::NamedTempFile::new().unwrap();
    let out = youki.output(&[
        "--log",
        log.path().to_str().unwrap(),
        "--log-format",
        "json",
        "delete",
        "ghost",
    ]);
    assert!(!out.status.success());
    let text = std::fs::read_to_string(log.path()).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().expect("a log line")).unwrap();
    assert_eq!(last["level"], "error");
    assert!(
        last["msg"]
            .as_str()
            .unwrap()
            .contains("container ghost does not exist"),
        "{text}"
    );
}
