//! Deadlines that fit the host the suites run on, and commands that never
//! run past theirs.
//!
//! Every deadline in the suites is written in seconds of the reference host
//! (this project's 2-core CI machine) and scaled by [`slowness`]: how much
//! slower this host spawns a static program than the reference host does.
//! A kernel under QEMU's TCG is 20-36 times slower, a loaded node a few
//! times. The reference operation does not involve youki, so a youki that
//! is really slow or stuck still misses its scaled deadline.
//!
//! Every external command a suite runs ends by its deadline: it is killed
//! then, and the test fails naming the command (or, with [`try_within`],
//! decides what to do about it).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The median time of the reference operation (one spawn and wait of a
/// static busybox `true`) on the reference host, idle.
const REFERENCE_SPAWN: Duration = Duration::from_micros(700);

/// Set to a factor of at least 1 to use it instead of measuring one.
pub const SLOWNESS_VARIABLE: &str = "YOUKI_E2E_SLOWNESS";

/// How many times slower than the reference host this host is, at least 1:
/// `$YOUKI_E2E_SLOWNESS` if set, else measured once per test process.
pub fn slowness() -> f64 {
    static FACTOR: OnceLock<f64> = OnceLock::new();
    *FACTOR.get_or_init(|| {
        let (factor, how) = match std::env::var(SLOWNESS_VARIABLE) {
            Ok(value) => match value.parse::<f64>() {
                Ok(factor) if factor >= 1.0 => (factor, "from $".to_owned() + SLOWNESS_VARIABLE),
                _ => panic!("{SLOWNESS_VARIABLE}={value:?}: give a number of at least 1"),
            },
            Err(_) => {
                let spawn = median_spawn_time();
                let factor = (spawn.as_secs_f64() / REFERENCE_SPAWN.as_secs_f64()).max(1.0);
                (factor, format!("measured: a static spawn takes {spawn:?}"))
            }
        };
        // Straight to stderr, past the test harness's capture: a run's log
        // says what its deadlines were.
        let _ = writeln!(
            std::io::stderr(),
            "youki-e2e: deadlines scaled by {factor:.1} ({how})"
        );
        factor
    })
}

/// The median of 15 spawns of the suites' static busybox running `true`.
fn median_spawn_time() -> Duration {
    let busybox = crate::busybox().unwrap_or_else(|err| panic!("{err:#}"));
    let mut times: Vec<Duration> = (0..15)
        .map(|_| {
            let started = Instant::now();
            let status = Command::new(&busybox)
                .arg("true")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("spawn busybox true");
            assert!(status.success(), "busybox true failed");
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// `seconds` on the reference host, on this host.
pub fn scaled(seconds: u64) -> Duration {
    scaled_duration(Duration::from_secs(seconds))
}

/// `duration` on the reference host, on this host.
pub fn scaled_duration(duration: Duration) -> Duration {
    duration.mul_f64(slowness())
}

/// A command that had not ended by its deadline; it was killed.
#[derive(Debug)]
pub struct Hung {
    /// The command, as `Command`'s `Debug` shows it (program and arguments).
    pub command: String,
    pub limit: Duration,
}

impl std::fmt::Display for Hung {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} hung: it had not ended after {:.1} s and was killed",
            self.command,
            self.limit.as_secs_f64()
        )
    }
}

impl std::error::Error for Hung {}

/// Runs `command` with no input and its output in files (a detached
/// container inherits them and would hold a pipe open long after the
/// command ends), and fails the test if it has not ended within `seconds`
/// (scaled).
pub fn within(seconds: u64, command: Command) -> Output {
    try_within(scaled(seconds), command).unwrap_or_else(|hung| panic!("{hung}"))
}

/// [`within`] with a limit already scaled, returning [`Hung`] instead of
/// failing when the command is still running at `limit`.
pub fn try_within(limit: Duration, mut command: Command) -> Result<Output, Hung> {
    let stdout = tempfile::tempfile().expect("stdout file");
    let stderr = tempfile::tempfile().expect("stderr file");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(stdout.try_clone().expect("stdout file"))
        .stderr(stderr.try_clone().expect("stderr file"))
        .spawn()
        .unwrap_or_else(|err| panic!("spawn {command:?}: {err}"));
    let status = wait_or_kill(&mut child, limit).ok_or_else(|| Hung {
        command: format!("{command:?}"),
        limit,
    })?;
    Ok(Output {
        status,
        stdout: read_all(stdout),
        stderr: read_all(stderr),
    })
}

/// Runs `command` with no input and the output it was given, and fails the
/// test if it has not ended within `seconds` (scaled).
pub fn status_within(seconds: u64, mut command: Command) -> ExitStatus {
    let mut child = command
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("spawn {command:?}: {err}"));
    wait_within(&mut child, seconds, &format!("{command:?}"))
}

/// Waits for `child`, and fails the test if it has not ended within
/// `seconds` (scaled); it is killed then. `what` names it in the failure.
pub fn wait_within(child: &mut Child, seconds: u64, what: &str) -> ExitStatus {
    let limit = scaled(seconds);
    wait_or_kill(child, limit).unwrap_or_else(|| {
        panic!(
            "{}",
            Hung {
                command: what.to_owned(),
                limit
            }
        )
    })
}

/// `child`'s exit status, or `None` if it was still running at `limit`
/// and was SIGKILLed.
fn wait_or_kill(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub(crate) fn read_all(mut file: std::fs::File) -> Vec<u8> {
    use std::io::{Read, Seek};
    let mut bytes = Vec::new();
    file.rewind().expect("rewind output file");
    file.read_to_end(&mut bytes).expect("read output file");
    bytes
}

/// Ends a process that a test waits on in ways no deadline covers (a
/// blocking read of its output, say): unless dropped first, after its limit
/// it SIGKILLs the process and runs the clean-up given, so that the test's
/// read or wait returns and the test fails with [`Watchdog::fired`].
pub struct Watchdog {
    disarm: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    fired: Arc<AtomicBool>,
    what: String,
    limit: Duration,
}

impl Watchdog {
    /// Watches process `pid`, named `what`, for `limit` (already scaled).
    pub fn new(
        pid: u32,
        what: String,
        limit: Duration,
        clean_up: impl FnOnce() + Send + 'static,
    ) -> Self {
        let (disarm, armed) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let flag = fired.clone();
        let thread = std::thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = armed.recv_timeout(limit) {
                flag.store(true, Ordering::SeqCst);
                let pid = nix::unistd::Pid::from_raw(pid as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                clean_up();
            }
        });
        Self {
            disarm: Some(disarm),
            thread: Some(thread),
            fired,
            what,
            limit,
        }
    }

    /// Fails the test if the watchdog had to end the process.
    pub fn check(&self) {
        if self.fired.load(Ordering::SeqCst) {
            panic!(
                "{}",
                Hung {
                    command: self.what.clone(),
                    limit: self.limit
                }
            );
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.disarm.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `youki --root <root> delete --force <id>`, bounded: what a watchdog runs
/// after ending a foreground `youki run`, whose container holds its output.
pub(crate) fn force_delete(bin: PathBuf, root: PathBuf, id: String) {
    let mut command = Command::new(bin);
    command
        .arg("--root")
        .arg(root)
        .args(["delete", "--force", &id]);
    let _ = try_within(scaled(crate::COMMAND_SECONDS), command);
}
