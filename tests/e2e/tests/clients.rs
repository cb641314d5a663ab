//! youki under the programs that really call it: containerd's runc shim
//! (through `ctr`), podman, and containerd's CRI plugin driven like the
//! kubelet drives it. scripts/test-clients.sh builds the images, starts a
//! private containerd with youki registered, runs these tests and tears down.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use youki_e2e::cri;
use youki_e2e::cri::v1::{
    ContainerConfig, ContainerState, ContainerStatusRequest, CreateContainerRequest,
    PodSandboxConfig, PodSandboxState, PodSandboxStatusRequest, RunPodSandboxRequest,
    StartContainerRequest,
};
use youki_e2e::{require_root, scaled, unique_id, within, youki_bin};

/// The thesis workload; it sleeps SLEEP_TIME seconds (60 when unset: the
/// image sets none, because containerd 1.6's CRI appends container env after
/// the image's instead of replacing it, and getenv finds the image's first).
const WASM_IMAGE: &str = "localhost/youki-e2e-wasm:latest";
const EXIT42_IMAGE: &str = "localhost/youki-e2e-exit42:latest";
const NATIVE_IMAGE: &str = "localhost/youki-e2e-native:latest";

/// The environment scripts/test-clients.sh sets up; without it these tests
/// would test nothing, so they fail.
#[derive(Clone)]
struct Env {
    containerd: PathBuf,
    workdir: PathBuf,
}

fn env() -> Env {
    require_root();
    let var = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                panic!("{name} is not set: run these tests through scripts/test-clients.sh")
            })
    };
    Env {
        containerd: var("CONTAINERD_ADDRESS"),
        workdir: var("CLIENTS_WORKDIR"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------- ctr

/// A `ctr` or `podman` command's deadline, in seconds on the reference host.
const CLIENT_SECONDS: u64 = 120;

fn ctr(env: &Env, args: &[&str]) -> Output {
    let mut ctr = Command::new("ctr");
    ctr.arg("--address").arg(&env.containerd).args(args);
    within(CLIENT_SECONDS, ctr)
}

/// `ctr run --rm` with youki as the runc binary of the runc v2 shim.
fn ctr_run(env: &Env, image: &str, extra: &[&str]) -> Output {
    let youki = youki_bin();
    let id = unique_id("ctr");
    let mut args = vec![
        "run",
        "--rm",
        "--runtime",
        "io.containerd.runc.v2",
        "--runc-binary",
        youki.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(image);
    args.push(&id);
    ctr(env, &args)
}

#[test]
fn ctr_runs_the_wasm_image_with_its_output_and_exit_code() {
    let env = env();
    let out = ctr_run(
        &env,
        WASM_IMAGE,
        &[
            "--annotation",
            "module.wasm.image/variant=compat",
            "--env",
            "SLEEP_TIME=1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "Hello, World!\nSleeping for 1 seconds\nGoodbye after 1 seconds\n"
    );

    let out = ctr_run(
        &env,
        EXIT42_IMAGE,
        &["--annotation", "run.oci.handler=wasm"],
    );
    assert_eq!(out.status.code(), Some(42), "{}", text(&out.stderr));
}

#[test]
fn ctr_task_kill_stops_a_sleeping_module_promptly() {
    let env = env();
    let youki = youki_bin();
    let id = unique_id("ctr-kill");
    let out = ctr(
        &env,
        &[
            "run",
            "--detach",
            "--runtime",
            "io.containerd.runc.v2",
            "--runc-binary",
            youki.to_str().unwrap(),
            "--annotation",
            "module.wasm.image/variant=compat",
            "--env",
            "SLEEP_TIME=600",
            WASM_IMAGE,
            &id,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_for(|| {
        text(&ctr(&env, &["tasks", "ls"]).stdout)
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("RUNNING"))
    });

    let sent = Instant::now();
    assert!(
        ctr(&env, &["tasks", "kill", "--signal", "SIGTERM", &id])
            .status
            .success()
    );
    wait_for(|| {
        text(&ctr(&env, &["tasks", "ls"]).stdout)
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("STOPPED"))
    });
    assert!(sent.elapsed() < scaled(2), "took {:?}", sent.elapsed());
    let _ = ctr(&env, &["tasks", "rm", "-f", &id]);
    let _ = ctr(&env, &["containers", "rm", &id]);
}

#[test]
fn ctr_runs_a_native_image_through_the_same_runtime() {
    let env = env();
    let out = ctr_run(&env, NATIVE_IMAGE, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "native\n");
}

/// Polls `done` every 50 ms for at most 20 s (scaled).
fn wait_for(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + scaled(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------- podman

fn podman(args: &[&str]) -> Output {
    let mut podman = Command::new("podman");
    podman.args(args);
    within(CLIENT_SECONDS, podman)
}

/// `podman run` options for youki and this machine's rlimits, and the Wasm
/// annotation unless the container is native.
fn podman_run_args<'a>(youki: &'a str, name: &'a str, wasm: bool) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        "--runtime",
        youki,
        "--name",
        name,
        "--label",
        "youki-e2e=1",
        // the sandbox's hard limit for open files is below podman's default
        "--ulimit",
        "nofile=20000:20000",
        "--ulimit",
        "nproc=4096:4096",
    ];
    if wasm {
        args.extend_from_slice(&["--annotation", "module.wasm.image/variant=compat"]);
    }
    args
}

#[test]
fn podman_runs_the_wasm_image_with_logs_and_exit_code() {
    let youki = youki_bin();
    let youki = youki.to_str().unwrap();
    let name = unique_id("podman");
    let mut args = podman_run_args(youki, &name, true);
    args.extend_from_slice(&["--env", "SLEEP_TIME=1", WASM_IMAGE]);
    let out = podman(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "Hello, World!\nSleeping for 1 seconds\nGoodbye after 1 seconds\n"
    );
    let logs = podman(&["logs", &name]);
    assert_eq!(
        text(&logs.stdout),
        "Hello, World!\nSleeping for 1 seconds\nGoodbye after 1 seconds\n"
    );
    assert!(podman(&["rm", &name]).status.success());

    let name = unique_id("podman42");
    let mut args = podman_run_args(youki, &name, true);
    args.extend_from_slice(&["--rm", EXIT42_IMAGE]);
    assert_eq!(podman(&args).status.code(), Some(42));
}

#[test]
fn podman_stop_ends_a_sleeping_module_without_waiting_for_sigkill() {
    let youki = youki_bin();
    let youki = youki.to_str().unwrap();
    let name = unique_id("podman-stop");
    let mut args = podman_run_args(youki, &name, true);
    args.extend_from_slice(&["--detach", "--env", "SLEEP_TIME=600", WASM_IMAGE]);
    let out = podman(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_for(|| text(&podman(&["logs", &name]).stdout).contains("Sleeping for 600 seconds"));

    let sent = Instant::now();
    // podman waits --time seconds before SIGKILL; a module ignoring SIGTERM
    // would take that long, twice the deadline.
    let grace = (scaled(5) * 2).as_secs().to_string();
    let out = podman(&["stop", "--time", &grace, &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(sent.elapsed() < scaled(5), "took {:?}", sent.elapsed());
    let code = text(&podman(&["inspect", "--format", "{{.State.ExitCode}}", &name]).stdout);
    assert_eq!(code.trim(), "143");
    assert!(podman(&["rm", &name]).status.success());
}

#[test]
fn podman_runs_a_native_image_through_youki() {
    let youki = youki_bin();
    let name = unique_id("podman-native");
    let mut args = podman_run_args(youki.to_str().unwrap(), &name, false);
    args.extend_from_slice(&["--rm", NATIVE_IMAGE]);
    let out = podman(&args);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(3), "native\n".to_owned())
    );
}

// ---------------------------------------------------------------- CRI

async fn cri(env: &Env) -> cri::Client {
    cri::connect(&env.containerd, scaled(CLIENT_SECONDS))
        .await
        .unwrap()
}

/// The pod annotations of a Wasm pod.
const WASM_POD: &[(&str, &str)] = &[("module.wasm.image/variant", "compat")];

/// A host-network pod with these annotations, for RuntimeClass handler `youki`.
fn pod_config(name: &str, log_dir: &Path, annotations: &[(&str, &str)]) -> PodSandboxConfig {
    cri::pod_config(name, &unique_id("uid"), log_dir, annotations)
}

/// The pod's one container, "app": the Wasm image, logging to app.log.
fn app_container(envs: &[(&str, &str)]) -> ContainerConfig {
    cri::app_container(WASM_IMAGE, envs)
}

struct PodRun {
    sandbox_pid: i64,
    saw_running: bool,
    exit_code: i32,
    log: String,
    /// The annotations youki saw on the app container, read while it ran.
    app_annotations: Option<serde_json::Value>,
}

/// One Wasm pod, the kubelet's way (see [`run_pod`]).
async fn run_wasm_pod(env: &Env, name: &str, sleep_seconds: u32) -> PodRun {
    run_pod(env, name, sleep_seconds, WASM_POD).await
}

/// One pod, the kubelet's way: RunPodSandbox, CreateContainer, StartContainer,
/// ContainerStatus until exited, the CRI log file, StopPodSandbox, RemovePodSandbox.
async fn run_pod(
    env: &Env,
    name: &str,
    sleep_seconds: u32,
    pod_annotations: &[(&str, &str)],
) -> PodRun {
    let mut client = cri(env).await;
    let log_dir = env.workdir.join("pods").join(name);
    std::fs::create_dir_all(&log_dir).unwrap();
    let config = pod_config(name, &log_dir, pod_annotations);

    let pod = cri::start_pod(
        &mut client,
        "youki",
        &config,
        app_container(&[("SLEEP_TIME", &sleep_seconds.to_string())]),
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    let ready = client
        .pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: pod.sandbox_id.clone(),
            verbose: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ready.status.as_ref().unwrap().state,
        PodSandboxState::SandboxReady as i32
    );
    let sandbox_pid = cri::sandbox_pid(&mut client, &pod.sandbox_id)
        .await
        .expect("sandbox pid");
    let (sandbox, container) = (pod.sandbox_id, pod.container_id);

    let mut saw_running = false;
    let mut app_annotations = None;
    // youki's state of the app container, under the runtime's Root/<namespace>;
    // the shim deletes it once the container has exited.
    let state_file = env
        .workdir
        .join("youki-root/k8s.io")
        .join(&container)
        .join("state.json");
    let deadline = Instant::now() + scaled(120);
    let exit_code = loop {
        let status = client
            .container_status(ContainerStatusRequest {
                container_id: container.clone(),
                verbose: false,
            })
            .await
            .unwrap()
            .into_inner()
            .status
            .unwrap();
        if status.state == ContainerState::ContainerRunning as i32 {
            saw_running = true;
            app_annotations = app_annotations.or_else(|| {
                let state = std::fs::read_to_string(&state_file).ok()?;
                let state: serde_json::Value = serde_json::from_str(&state).ok()?;
                Some(state["annotations"].clone())
            });
        }
        if status.state == ContainerState::ContainerExited as i32 {
            break status.exit_code;
        }
        assert!(Instant::now() < deadline, "{name} did not exit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let log = std::fs::read_to_string(log_dir.join("app.log")).unwrap_or_default();

    cri::remove_pod(&mut client, &sandbox)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    PodRun {
        sandbox_pid,
        saw_running,
        exit_code,
        log,
        app_annotations,
    }
}

/// The message part of CRI log lines ("<time> stdout F <message>").
fn cri_log_messages(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.splitn(4, ' ').nth(3))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn cri_runs_a_wasm_pod_with_a_native_sandbox() {
    let env = env();
    let name = unique_id("pod-native");
    let watch = {
        let env = env.clone();
        let name = name.clone();
        tokio::spawn(async move { run_wasm_pod(&env, &name, 3).await })
    };
    // Find the sandbox through its state in youki's root while it runs.
    // The runc shim keeps each namespace's state under Root/<namespace>.
    let youki_root = env.workdir.join("youki-root/k8s.io");
    // A native sandbox soon execs its pause process; a Wasm one would stay youki.
    let deadline = Instant::now() + scaled(20);
    let mut sandbox_exe: Option<PathBuf> = None;
    while !sandbox_exe
        .as_ref()
        .is_some_and(|exe| exe.ends_with("busybox"))
        && Instant::now() < deadline
    {
        for entry in std::fs::read_dir(&youki_root)
            .into_iter()
            .flatten()
            .flatten()
        {
            let state =
                std::fs::read_to_string(entry.path().join("state.json")).unwrap_or_default();
            let Ok(state) = serde_json::from_str::<serde_json::Value>(&state) else {
                continue;
            };
            let annotations = &state["annotations"];
            let ours = annotations["io.kubernetes.cri.container-type"] == "sandbox"
                && annotations["io.kubernetes.cri.sandbox-name"] == name.as_str();
            if let (true, "running", Some(pid)) = (
                ours,
                state["status"].as_str().unwrap_or_default(),
                state["pid"].as_i64(),
            ) {
                sandbox_exe = std::fs::read_link(format!("/proc/{pid}/exe"))
                    .ok()
                    .or(sandbox_exe);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pod = watch.await.unwrap();
    assert!(pod.saw_running);
    assert_eq!(pod.exit_code, 0);
    assert!(pod.sandbox_pid > 0);
    assert_eq!(
        cri_log_messages(&pod.log),
        [
            "Hello, World!",
            "Sleeping for 3 seconds",
            "Goodbye after 3 seconds"
        ]
    );
    let exe = sandbox_exe.expect("the pod's sandbox container was never seen running");
    assert!(
        exe.ends_with("busybox"),
        "the sandbox runs {exe:?}, not the native pause process"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cri_runs_twenty_wasm_pods_at_once() {
    let env = env();
    let pods: Vec<_> = (0..20)
        .map(|i| {
            let env = env.clone();
            tokio::spawn(async move { run_wasm_pod(&env, &unique_id(&format!("pod{i}")), 3).await })
        })
        .collect();
    let mut sandboxes = std::collections::BTreeSet::new();
    for pod in pods {
        let pod = pod.await.unwrap();
        assert!(pod.saw_running, "a pod never reached Running");
        assert_eq!(pod.exit_code, 0);
        assert_eq!(
            cri_log_messages(&pod.log).first().map(String::as_str),
            Some("Hello, World!")
        );
        sandboxes.insert(pod.sandbox_pid);
    }
    // Twenty pods, each with a sandbox of its own.
    assert_eq!(sandboxes.len(), 20, "{sandboxes:?}");
}

/// A Pod's spec cannot set container annotations: `io.youki.wamr.*` on the
/// pod must reach youki (through `pod_annotations`, which install.sh writes).
#[tokio::test(flavor = "multi_thread")]
async fn cri_passes_a_pod_level_wamr_annotation_to_youki() {
    let env = env();
    let annotations = [
        ("module.wasm.image/variant", "compat"),
        ("io.youki.wamr.stack-size", "256K"),
    ];
    let pod = run_pod(&env, &unique_id("pod-stack"), 2, &annotations).await;
    assert_eq!(pod.exit_code, 0);
    let seen = pod
        .app_annotations
        .expect("the app container was never seen running");
    assert_eq!(seen["io.youki.wamr.stack-size"], "256K", "{seen}");
}

/// The most common mistake, a Wasm image run without the annotation, gets
/// a message naming the fix, through ctr and through the CRI.
#[tokio::test(flavor = "multi_thread")]
async fn a_wasm_image_without_the_annotation_fails_naming_the_fix() {
    const FIX: &str = "is a wasm module, but the container has no wasm annotation: set \
                       module.wasm.image/variant=compat";
    let env = env();
    let out = ctr_run(&env, WASM_IMAGE, &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains(FIX), "{}", text(&out.stderr));

    let mut client = cri(&env).await;
    let name = unique_id("pod-plain");
    let log_dir = env.workdir.join("pods").join(&name);
    std::fs::create_dir_all(&log_dir).unwrap();
    let config = pod_config(&name, &log_dir, &[]);
    let sandbox = client
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: "youki".to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .pod_sandbox_id;
    let container = client
        .create_container(CreateContainerRequest {
            pod_sandbox_id: sandbox.clone(),
            config: Some(app_container(&[])),
            sandbox_config: Some(config),
        })
        .await;
    let started = match container {
        Ok(created) => client
            .start_container(StartContainerRequest {
                container_id: created.into_inner().container_id,
            })
            .await
            .map(drop),
        Err(status) => Err(status),
    };
    cri::remove_pod(&mut client, &sandbox).await.unwrap();
    let status = started.expect_err("a Wasm image without the annotation started");
    assert!(status.message().contains(FIX), "{}", status.message());
}
