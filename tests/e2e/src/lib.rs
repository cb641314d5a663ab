//! Helpers for the end-to-end suites: they run real containers, as root,
//! through the built youki binary, the way containerd's shim calls it.
//!
//! Every test gets its own state root and bundle in a temporary directory,
//! and its containers are force-deleted when the test ends, pass or fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tempfile::TempDir;

pub mod cri;
pub mod deadline;

pub use deadline::{Hung, Watchdog, scaled, within};

/// The deadline of one youki command, in seconds on the reference host
/// (scaled by [`deadline::slowness`]): far more than any command of the
/// suites takes, so that one that hangs fails the test instead of holding
/// it forever.
pub const COMMAND_SECONDS: u64 = 60;

/// How soon a signalled Wasm container must have ended, in seconds on the
/// reference host (where it takes about 0.1 s): youki's own work after the
/// signal (deleting the container, a `state` to see it stopped) slows down
/// under TCG more than the reference spawn does. The modules the signal
/// tests run sleep an hour, so a youki that does not forward the signal
/// misses this however slow the host.
pub const PROMPT_SECONDS: u64 = 3;

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
    /// A state root elsewhere than `state` (see [`Youki::set_root`]).
    root: Option<PathBuf>,
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
            root: None,
        }
    }

    pub fn root(&self) -> &Path {
        self.root.as_deref().unwrap_or(self.state.path())
    }

    /// Uses `root` as the state root from now on.
    pub fn set_root(&mut self, root: &Path) {
        self.root = Some(root.to_path_buf());
    }

    /// The containers under the state root: directories with a state file.
    pub fn list_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.root())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| entry.path().join("state.json").exists())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        ids.sort();
        ids
    }

    /// `youki --root <state> <args>`, not yet run. A container it creates is
    /// deleted when the `Youki` is dropped.
    pub fn command(&self, args: &[&str]) -> Command {
        self.remember(args);
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root").arg(self.root()).args(args);
        // the suite's own cache of compiled modules, never the node's
        cmd.env("YOUKI_WAMR_AOT_CACHE", aot_cache_dir());
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
        self.try_output(args, env, scaled(COMMAND_SECONDS))
            .unwrap_or_else(|hung| panic!("{hung}"))
    }

    /// [`Youki::output_env`] within `limit` (already scaled): [`Hung`] if
    /// youki had not ended by then (it is killed).
    pub fn try_output(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        limit: std::time::Duration,
    ) -> Result<Output, Hung> {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        deadline::try_within(limit, command)
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

    /// Polls until the container reaches `status`, for at most `seconds`
    /// (scaled); a container not created yet is "absent".
    pub fn wait_status(&self, id: &str, status: &str, seconds: u64) -> Result<()> {
        let deadline = std::time::Instant::now() + scaled(seconds);
        loop {
            let out = self.output(&["state", id]);
            let now = serde_json::from_slice::<Value>(&out.stdout)
                .ok()
                .and_then(|state| state["status"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "absent".to_owned());
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
    /// A helper process (src/bin/shim-wait.rs) is the subreaper that reaps it.
    pub fn create_start_and_wait(&self, bundle: &Bundle, id: &str) -> i32 {
        self.remember(&["create", id]);
        // Cargo puts the crate's binaries beside deps/, where tests run from.
        let helper = std::env::var_os("YOUKI_E2E_SHIM_WAIT")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let exe = std::env::current_exe().expect("the test executable");
                exe.parent()
                    .and_then(Path::parent)
                    .unwrap()
                    .join("shim-wait")
            });
        let mut command = Command::new(helper);
        command
            .arg(&self.bin)
            .arg(self.root())
            .arg(bundle.path())
            .arg(id);
        let out = within(COMMAND_SECONDS, command);
        assert!(
            out.status.success(),
            "shim-wait failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("shim-wait prints an exit code")
    }

    /// Starts `youki run` of `bundle`, whose module is the thesis workload
    /// told to sleep an hour, waits for its "Sleeping" line, sends `signal`
    /// to youki (which forwards it to the container, as a shell or shim
    /// would), and returns the exit code and how long the container took to
    /// end. A youki that does not forward the signal takes the hour, or its
    /// watchdog's limit: longer than any scaled deadline of a prompt end.
    pub fn signal_sleeping_module(
        &self,
        bundle: &Bundle,
        signal: nix::sys::signal::Signal,
    ) -> (i32, std::time::Duration) {
        bundle.edit(|spec| spec["process"]["env"] = serde_json::json!(["SLEEP_TIME=3600"]));
        let mut run = self.run_reading_stdout(bundle, &unique_id("signal"));
        assert_eq!(run.next_line(), "Hello, World!");
        assert_eq!(run.next_line(), "Sleeping for 3600 seconds");
        let sent = std::time::Instant::now();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(run.child.id() as i32), signal).unwrap();
        let status = run.wait();
        (
            status.code().expect("youki exited normally"),
            sent.elapsed(),
        )
    }

    /// `youki run` of `bundle` in the foreground, its container's stdout
    /// read line by line as it comes (stderr discarded), under a watchdog
    /// that ends youki and deletes the container after
    /// [`COMMAND_SECONDS`] (scaled).
    pub fn run_reading_stdout(&self, bundle: &Bundle, id: &str) -> ForegroundRun {
        use std::io::BufRead;
        let args = ["run", "--bundle", bundle.path_str(), id];
        let mut child = self
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn youki run");
        let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let (bin, root, owned_id) = (self.bin.clone(), self.root().to_path_buf(), id.to_owned());
        let watchdog = Watchdog::new(
            child.id(),
            format!("youki {args:?}"),
            scaled(COMMAND_SECONDS),
            move || deadline::force_delete(bin, root, owned_id),
        );
        ForegroundRun {
            child,
            lines,
            watchdog,
        }
    }

    /// Whether the state directory of `id` exists.
    pub fn has_state(&self, id: &str) -> bool {
        self.root().join(id).exists()
    }

    /// Remembers container ids passed to create/run, to delete them on drop.
    fn remember(&self, args: &[&str]) {
        let creates = args.iter().any(|arg| matches!(*arg, "create" | "run"));
        if let (true, Some(id)) = (creates, args.last()) {
            self.created.lock().unwrap().push(id.to_string());
        }
    }
}

impl Drop for Youki {
    fn drop(&mut self) {
        let created = std::mem::take(&mut *self.created.lock().unwrap());
        for id in created {
            let _ = self.try_output(&["delete", "--force", &id], &[], scaled(COMMAND_SECONDS));
        }
    }
}

/// A foreground `youki run` (see [`Youki::run_reading_stdout`]).
pub struct ForegroundRun {
    pub child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
    watchdog: Watchdog,
}

impl ForegroundRun {
    /// The container's next line of stdout; fails the test at its end, or
    /// if the watchdog had to end youki.
    pub fn next_line(&mut self) -> String {
        let line = self.lines.next();
        self.watchdog.check();
        line.expect("the container's stdout ended")
            .expect("read the container's stdout")
    }

    /// Waits for youki to end; fails the test if the watchdog ended it.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        let status = self.child.wait().expect("wait for youki run");
        self.watchdog.check();
        status
    }
}

/// How WAMR runs the suite's modules: `interp` (the default) or `aot`,
/// from `$YOUKI_E2E_WAMR_MODE`; scripts/test.sh runs the WAMR suite in both.
pub fn wamr_mode() -> &'static str {
    static MODE: OnceLock<&'static str> = OnceLock::new();
    MODE.get_or_init(|| match std::env::var("YOUKI_E2E_WAMR_MODE").as_deref() {
        Err(_) | Ok("interp") => "interp",
        Ok("aot") => "aot",
        Ok(other) => panic!("YOUKI_E2E_WAMR_MODE={other:?}: use interp or aot"),
    })
}

pub const WAMR_MODE_ANNOTATION: &str = "io.youki.wamr.mode";

/// The cache of compiled modules all of this test process's youki commands
/// share (`$YOUKI_WAMR_AOT_CACHE`), so each module compiles once per run.
pub fn aot_cache_dir() -> &'static Path {
    static DIR: OnceLock<TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        // mode 0700, as youki wants it
        tempfile::Builder::new()
            .prefix("youki-aot")
            .tempdir()
            .expect("aot cache dir")
    })
    .path()
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
        bundle.annotate(WAMR_MODE_ANNOTATION, wamr_mode());
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
        let mut spec = Command::new(&youki.bin);
        spec.arg("spec").current_dir(dir.path());
        let out = within(COMMAND_SECONDS, spec);
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

/// The path of a compiled WASI fixture (see build.rs), such as `hello.wasm`:
/// under `$YOUKI_E2E_FIXTURES` where the suite runs from the portable bundle
/// (scripts/e2e-bundle.sh), else where the build put them.
pub fn fixture(name: &str) -> PathBuf {
    match std::env::var_os("YOUKI_E2E_FIXTURES") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => Path::new(env!("FIXTURES_DIR")).join(name),
    }
}

/// The static busybox that root file systems get: `$YOUKI_E2E_BUSYBOX`
/// (the bundle's), else the host's `/bin/busybox` (Debian's busybox-static).
pub(crate) fn busybox() -> Result<PathBuf> {
    let source = std::env::var_os("YOUKI_E2E_BUSYBOX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/bin/busybox"));
    let elf = std::fs::read(&source)
        .with_context(|| format!("{} is missing: install busybox-static", source.display()))?;
    if elf_has_interpreter(&elf) {
        bail!(
            "{} is dynamically linked: install busybox-static",
            source.display()
        );
    }
    Ok(source)
}

/// Whether a 64-bit little-endian ELF file names a program interpreter
/// (a `PT_INTERP` program header): a dynamically linked executable does.
fn elf_has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let field = |at: usize, len: usize| -> Option<u64> {
        let bytes = elf.get(at..at + len)?;
        Some(
            bytes
                .iter()
                .rev()
                .fold(0, |acc, &b| acc << 8 | u64::from(b)),
        )
    };
    let headers = || -> Option<bool> {
        if elf.get(..5)? != b"\x7fELF\x02" {
            return None;
        }
        let (offset, size, count) = (field(0x20, 8)?, field(0x36, 2)?, field(0x38, 2)?);
        Some((0..count).any(|index| {
            let at = usize::try_from(offset + index * size).unwrap_or(usize::MAX);
            field(at, 4) == Some(u64::from(PT_INTERP))
        }))
    };
    headers().unwrap_or(false)
}

/// Copies the static busybox and links the applets tests use.
fn install_busybox(bin: &Path) -> Result<()> {
    std::fs::copy(busybox()?, bin.join("busybox")).context("copy busybox")?;
    for applet in [
        "sh", "sleep", "cat", "echo", "ls", "true", "env", "id", "dd", "head",
    ] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).context("link applet")?;
    }
    Ok(())
}

/// Fails the test unless `out` is of a command that exited 0 and printed
/// exactly `stdout`; shows its stderr otherwise.
pub fn assert_printed(out: &Output, stdout: &str) {
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).as_ref()
        ),
        (Some(0), stdout),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Resident memory of a process, in MiB (0 once it is gone).
pub fn rss_mib(pid: i32) -> u64 {
    status_mib(pid, "VmRSS").unwrap_or(0)
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `RssAnon`, ...) in MiB;
/// `None` when the process or the field is not there.
pub fn status_mib(pid: i32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|kb| kb.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .map(|kb| kb / 1024)
}

/// How the host mounts cgroups, as libcgroups tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// v1 controllers only (`/sys/fs/cgroup/<controller>`).
    Legacy,
    /// v1 controllers, and a v2 tree at `/sys/fs/cgroup/unified` without them:
    /// youki uses the v1 controllers.
    Hybrid,
    /// One v2 tree at `/sys/fs/cgroup` (Debian 12, Ubuntu 22.04+, RHEL 9).
    Unified,
}

impl CgroupMode {
    /// This host's mode.
    pub fn of_host() -> Self {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
        Self::from_mountinfo(&mountinfo)
    }

    /// The mode from the text of `/proc/<pid>/mountinfo`.
    pub fn from_mountinfo(mountinfo: &str) -> Self {
        // Each line: id parent major:minor root mount-point options ... - fstype source options
        let mounts: Vec<(&str, &str)> = mountinfo
            .lines()
            .filter_map(|line| {
                let mount_point = line.split(' ').nth(4)?;
                let fstype = line.split(" - ").nth(1)?.split(' ').next()?;
                Some((mount_point, fstype))
            })
            .collect();
        let has = |point: &str, fstype: &str| mounts.contains(&(point, fstype));
        if has("/sys/fs/cgroup", "cgroup2") {
            CgroupMode::Unified
        } else if has("/sys/fs/cgroup/unified", "cgroup2") {
            CgroupMode::Hybrid
        } else {
            CgroupMode::Legacy
        }
    }
}

/// A container process's cgroup, and the files youki's commands change,
/// wherever the host's cgroup mode puts them.
pub struct Cgroup {
    mode: CgroupMode,
    proc_cgroup: String,
}

impl Cgroup {
    /// The cgroup of process `pid`, read from `/proc/<pid>/cgroup`.
    pub fn of(pid: i32) -> Self {
        Self {
            mode: CgroupMode::of_host(),
            proc_cgroup: std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .expect("read /proc/<pid>/cgroup"),
        }
    }

    /// The directory that holds `controller`'s files for this cgroup.
    pub fn dir(&self, controller: &str) -> PathBuf {
        cgroup_dir(self.mode, &self.proc_cgroup, controller)
            .unwrap_or_else(|| panic!("no {controller} cgroup in:\n{}", self.proc_cgroup))
    }

    fn read(&self, controller: &str, file: &str) -> String {
        let path = self.dir(controller).join(file);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("read {}: {err}", path.display()))
            .trim()
            .to_owned()
    }

    /// Whether the cgroup is frozen: `freezer.state` (v1) or `cgroup.freeze` (v2).
    pub fn frozen(&self) -> bool {
        match self.mode {
            CgroupMode::Unified => self.read("freezer", "cgroup.freeze") == "1",
            _ => self.read("freezer", "freezer.state") == "FROZEN",
        }
    }

    /// The memory limit in bytes: `memory.limit_in_bytes` (v1) or `memory.max` (v2).
    pub fn memory_limit(&self) -> String {
        match self.mode {
            CgroupMode::Unified => self.read("memory", "memory.max"),
            _ => self.read("memory", "memory.limit_in_bytes"),
        }
    }

    /// `pids.max`, the same file in both versions.
    pub fn pids_limit(&self) -> String {
        self.read("pids", "pids.max")
    }
}

/// Where `controller`'s files are for the cgroup `/proc/<pid>/cgroup`
/// describes: v2 has one line, `0::/path`, and one tree; v1 has a line per
/// hierarchy, `N:controller[,controller]:/path`, and a tree per controller.
pub fn cgroup_dir(mode: CgroupMode, proc_cgroup: &str, controller: &str) -> Option<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (hierarchy, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let relative = path.trim_start_matches('/');
        match mode {
            CgroupMode::Unified => {
                (hierarchy == "0" && controllers.is_empty()).then(|| root.join(relative))
            }
            CgroupMode::Legacy | CgroupMode::Hybrid => controllers
                .split(',')
                .any(|c| c == controller)
                .then(|| root.join(controller).join(relative)),
        }
    })
}

/// Every cgroup directory named after `id`, at any depth of every cgroup
/// tree under `/sys/fs/cgroup` (v1, hybrid and v2).
pub fn cgroups_named(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::from("/sys/fs/cgroup")];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            // Cgroup directories are real directories; links (cpu -> cpu,cpuacct) are not followed.
            if !entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                continue;
            }
            let path = entry.path();
            if entry.file_name().to_string_lossy().contains(id) {
                found.push(path.clone());
            }
            pending.push(path);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This project's CI host (Debian 12 userland, kernel 6.18): v1
    /// controllers, and a v2 tree at /sys/fs/cgroup/unified.
    const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    /// Ubuntu 24.04 and every systemd distribution of the last years.
    const UNIFIED_MOUNTINFO: &str = "\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
    /// RHEL 7 and other hosts without a v2 tree.
    const LEGACY_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
";

    #[test]
    fn a_dynamic_executable_is_told_from_a_static_one() {
        // This test binary is dynamically linked (it names ld.so).
        let me = std::fs::read("/proc/self/exe").unwrap();
        assert!(elf_has_interpreter(&me));
        assert!(!elf_has_interpreter(b"\x7fELF\x02 too short"));
        assert!(!elf_has_interpreter(b"#!/bin/sh"));
    }

    #[test]
    fn modes_from_mountinfo() {
        assert_eq!(
            CgroupMode::from_mountinfo(HYBRID_MOUNTINFO),
            CgroupMode::Hybrid
        );
        assert_eq!(
            CgroupMode::from_mountinfo(UNIFIED_MOUNTINFO),
            CgroupMode::Unified
        );
        assert_eq!(
            CgroupMode::from_mountinfo(LEGACY_MOUNTINFO),
            CgroupMode::Legacy
        );
    }

    #[test]
    fn v1_dirs_per_controller() {
        let proc_cgroup = "\
9:name=systemd:/
8:pids:/:youki:c1
6:freezer:/:youki:c1
4:memory:/:youki:c1
2:cpu,cpuacct:/:youki:c1
0::/
";
        let dir = |controller| cgroup_dir(CgroupMode::Hybrid, proc_cgroup, controller);
        assert_eq!(
            dir("memory"),
            Some(PathBuf::from("/sys/fs/cgroup/memory/:youki:c1"))
        );
        assert_eq!(
            dir("freezer"),
            Some(PathBuf::from("/sys/fs/cgroup/freezer/:youki:c1"))
        );
        assert_eq!(
            dir("cpuacct"),
            Some(PathBuf::from("/sys/fs/cgroup/cpuacct/:youki:c1"))
        );
        assert_eq!(dir("hugetlb"), None);
        assert_eq!(
            cgroup_dir(CgroupMode::Legacy, "4:memory:/youki/c2\n", "memory"),
            Some(PathBuf::from("/sys/fs/cgroup/memory/youki/c2"))
        );
    }

    #[test]
    fn v2_has_one_dir_for_every_controller() {
        let proc_cgroup = "0::/system.slice/youki-c3.scope\n";
        for controller in ["memory", "pids", "freezer"] {
            assert_eq!(
                cgroup_dir(CgroupMode::Unified, proc_cgroup, controller),
                Some(PathBuf::from("/sys/fs/cgroup/system.slice/youki-c3.scope"))
            );
        }
        // A v1 line is no v2 cgroup.
        assert_eq!(
            cgroup_dir(CgroupMode::Unified, "4:memory:/x\n", "memory"),
            None
        );
    }
}
