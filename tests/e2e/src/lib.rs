//! Helpers for the end-to-end suites: they run real containers, as root,
//! through the built youki binary, the way containerd's shim calls it.
//!
//! Every test gets its own state root and bundle in a temporary directory,
//! and its containers are force-deleted when the test ends, pass or fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tempfile::TempDir;

/// The youki under test: `$YOUKI_BIN`, else the workspace's debug build.
pub fn youki_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("YOUKI_BIN") {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/youki");
    assert!(
        path.exists(),
        "{} is missing: build youki first (cargo build) or set YOUKI_BIN",
        path.display()
    );
    path
}

/// These suites create namespaces and cgroups: without root they cannot test
/// anything, so they fail instead of passing vacuously.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the end-to-end tests run containers and must run as root"
    );
}

/// A container id unique within this test run.
pub fn unique_id(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A youki with a private state root.
pub struct Youki {
    pub bin: PathBuf,
    state: TempDir,
    created: std::sync::Mutex<Vec<String>>,
}

impl Default for Youki {
    fn default() -> Self {
        Self::new()
    }
}

impl Youki {
    pub fn new() -> Self {
        require_root();
        Self {
            bin: youki_bin(),
            state: tempfile::Builder::new()
                .prefix("youki-state")
                .tempdir()
                .expect("state dir"),
            created: Default::default(),
        }
    }

    pub fn root(&self) -> &Path {
        self.state.path()
    }

    /// `youki --root <state> <args>`, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root").arg(self.state.path()).args(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs `youki <args>` and returns its output, whatever its exit code.
    ///
    /// Output goes through files, not pipes: a detached container inherits
    /// youki's stdio and would hold a pipe open long after youki exits.
    pub fn output(&self, args: &[&str]) -> Output {
        self.output_env(args, &[])
    }

    /// [`Youki::output`] with extra environment variables for youki.
    pub fn output_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.remember(args);
        let stdout = tempfile::tempfile().expect("stdout file");
        let stderr = tempfile::tempfile().expect("stderr file");
        let status = self
            .command(args)
            .envs(env.iter().copied())
            .stdout(stdout.try_clone().unwrap())
            .stderr(stderr.try_clone().unwrap())
            .status()
            .expect("failed to spawn youki");
        Output {
            status,
            stdout: read_all(stdout),
            stderr: read_all(stderr),
        }
    }

    /// Runs `youki <args>` and fails the test unless it exits 0.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "youki {args:?} failed with {}:\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `youki <args>`, expects a non-zero exit, and returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            !out.status.success(),
            "youki {args:?} should have failed:\nstdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `youki create` of `bundle` as `id` must fail without a panic and leave
    /// no state directory and no cgroup behind; returns youki's stderr.
    pub fn create_fails_cleanly(&self, bundle: &Bundle, id: &str) -> String {
        let err = self.fails(&["create", "--bundle", bundle.path_str(), id]);
        assert!(!err.contains("panicked"), "{err}");
        assert!(!self.has_state(id), "state left behind for {id}");
        assert_eq!(
            cgroups_named(id),
            Vec::<PathBuf>::new(),
            "cgroups left behind for {id}"
        );
        err
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).expect("state prints JSON")
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn pid(&self, id: &str) -> i32 {
        self.state(id)["pid"].as_i64().expect("state has a pid") as i32
    }

    /// Polls until the container reaches `status`, for at most `seconds`.
    pub fn wait_status(&self, id: &str, status: &str, seconds: u64) -> Result<()> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        loop {
            let now = self.status(id);
            if now == status {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                bail!("container {id} is {now}, not {status}, after {seconds}s");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// `youki create` then `youki start` of `bundle` as `id`, as containerd's
    /// shim drives youki; waits for the container's init and returns its exit
    /// status the way a shell reports it (128 + signal for a killed one).
    ///
    /// The test process becomes a child subreaper, as the shim is, so that
    /// the init, orphaned when `youki create` exits, is reparented to it.
    pub fn create_start_and_wait(&self, bundle: &Bundle, id: &str) -> i32 {
        nix::sys::prctl::set_child_subreaper(true).expect("become a child subreaper");
        self.ok(&["create", "--bundle", bundle.path_str(), id]);
        let pid = nix::unistd::Pid::from_raw(self.pid(id));
        self.ok(&["start", id]);
        match nix::sys::wait::waitpid(pid, None).expect("wait for the container's init") {
            nix::sys::wait::WaitStatus::Exited(_, code) => code,
            nix::sys::wait::WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
            other => panic!("unexpected wait status {other:?}"),
        }
    }

    /// Starts `youki run` of `bundle`, whose module is the thesis workload
    /// told to sleep 60 s, waits for its "Sleeping" line, sends `signal` to
    /// youki (which forwards it to the container, as a shell or shim would),
    /// and returns the exit code and how long the container took to end.
    pub fn signal_sleeping_module(
        &self,
        bundle: &Bundle,
        signal: nix::sys::signal::Signal,
    ) -> (i32, std::time::Duration) {
        use std::io::{BufRead, BufReader};
        bundle.edit(|spec| spec["process"]["env"] = serde_json::json!(["SLEEP_TIME=60"]));
        let id = unique_id("signal");
        let mut child = self
            .command(&["run", "--bundle", bundle.path_str(), &id])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn youki run");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "Hello, World!");
        assert_eq!(lines.next().unwrap().unwrap(), "Sleeping for 60 seconds");
        let sent = std::time::Instant::now();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
        let status = child.wait().unwrap();
        (
            status.code().expect("youki exited normally"),
            sent.elapsed(),
        )
    }

    /// Whether the state directory of `id` exists.
    pub fn has_state(&self, id: &str) -> bool {
        self.state.path().join(id).exists()
    }

    /// Remembers container ids passed to create/run, to delete them on drop.
    fn remember(&self, args: &[&str]) {
        if let (Some(&"create" | &"run"), Some(id)) = (args.first(), args.last()) {
            self.created.lock().unwrap().push(id.to_string());
        }
    }
}

impl Drop for Youki {
    fn drop(&mut self) {
        for id in self.created.lock().unwrap().iter() {
            let _ = self.command(&["delete", "--force", id]).output();
        }
    }
}

fn read_all(mut file: std::fs::File) -> Vec<u8> {
    use std::io::{Read, Seek};
    let mut bytes = Vec::new();
    file.rewind().expect("rewind output file");
    file.read_to_end(&mut bytes).expect("read output file");
    bytes
}

/// An OCI bundle with a busybox-static root file system.
pub struct Bundle {
    dir: TempDir,
}

impl Bundle {
    /// A bundle whose process runs `args`, with youki's default spec otherwise.
    pub fn busybox(youki: &Youki, args: &[&str]) -> Self {
        let bundle = Self::empty(youki, args);
        let bin = bundle.rootfs().join("bin");
        std::fs::create_dir_all(&bin).expect("rootfs/bin");
        install_busybox(&bin).expect("busybox in rootfs");
        bundle
    }

    /// A Wasm bundle: the fixture `module` at `/<module>` of an otherwise empty
    /// root file system (like an image built `FROM scratch`), run with `args`
    /// after it, and the `module.wasm.image/variant=compat` annotation.
    pub fn wasm(youki: &Youki, module: &str, args: &[&str]) -> Self {
        let entrypoint = format!("/{module}");
        let mut all = vec![entrypoint.as_str()];
        all.extend_from_slice(args);
        let bundle = Self::empty(youki, &all);
        bundle.add_fixture(module, module);
        bundle.annotate("module.wasm.image/variant", "compat");
        bundle
    }

    /// Copies the fixture `name` to `dest` (relative to the root file system).
    pub fn add_fixture(&self, name: &str, dest: &str) {
        let target = self.rootfs().join(dest);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(fixture(name), &target)
            .unwrap_or_else(|err| panic!("copy fixture {name}: {err}"));
    }

    /// A bundle with an empty root file system and youki's default spec,
    /// running `args` without a terminal.
    pub fn empty(youki: &Youki, args: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bundle")
            .tempdir()
            .expect("bundle dir");
        std::fs::create_dir_all(dir.path().join("rootfs")).expect("rootfs");
        let out = Command::new(&youki.bin)
            .arg("spec")
            .current_dir(dir.path())
            .output()
            .expect("youki spec");
        assert!(out.status.success(), "youki spec failed");
        let bundle = Self { dir };
        bundle.edit(|spec| {
            spec["process"]["terminal"] = Value::Bool(false);
            spec["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect();
        });
        bundle
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn path_str(&self) -> &str {
        self.dir.path().to_str().expect("utf-8 temp path")
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Changes config.json in place.
    pub fn edit(&self, change: impl FnOnce(&mut Value)) {
        let path = self.dir.path().join("config.json");
        let mut spec: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read config.json"))
                .expect("config.json is JSON");
        change(&mut spec);
        std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap())
            .expect("write config.json");
    }

    pub fn annotate(&self, key: &str, value: &str) {
        self.edit(|spec| {
            if !spec["annotations"].is_object() {
                spec["annotations"] = Value::Object(Default::default());
            }
            spec["annotations"][key] = Value::from(value);
        });
    }
}

/// The path of a compiled WASI fixture (see build.rs), such as `hello.wasm`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("FIXTURES_DIR")).join(name)
}

/// Copies the host's static busybox and links the applets tests use.
fn install_busybox(bin: &Path) -> Result<()> {
    let source = Path::new("/bin/busybox");
    let kind = Command::new("file").arg("-L").arg(source).output();
    if !source.exists() {
        bail!("/bin/busybox is missing: install busybox-static");
    }
    if let Ok(kind) = kind
        && String::from_utf8_lossy(&kind.stdout).contains("dynamically linked")
    {
        bail!("/bin/busybox is dynamically linked: install busybox-static");
    }
    std::fs::copy(source, bin.join("busybox")).context("copy busybox")?;
    for applet in [
        "sh", "sleep", "cat", "echo", "ls", "true", "env", "id", "dd",
    ] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).context("link applet")?;
    }
    Ok(())
}

/// The host path of a container process's cgroup for a v1 controller.
pub fn v1_cgroup_dir(pid: i32, controller: &str) -> PathBuf {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read cgroup");
    let path = cgroups
        .lines()
        .find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            controllers
                .split(',')
                .any(|c| c == controller)
                .then(|| path.to_owned())
        })
        .unwrap_or_else(|| panic!("process {pid} has no {controller} cgroup"));
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(path.trim_start_matches('/'))
}

/// Every cgroup directory named after `id`, anywhere in the v1 and v2 trees.
fn cgroups_named(id: &str) -> Vec<PathBuf> {
    let out = Command::new("find")
        .args(["/sys/fs/cgroup", "-maxdepth", "4", "-type", "d", "-name"])
        .arg(format!("*{id}*"))
        .output()
        .expect("find");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .collect()
}
