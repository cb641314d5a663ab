//! WAMR containers at compiled speed: code that youki-wamrc compiled ahead of
//! time from a container's module, kept in a root-owned cache on the node.
//!
//! `youki create` calls [`prepare`] on the host, before the container's init
//! process exists: it reads the module from the container's root file
//! system, looks its compiled code up in the cache by the module's SHA-256
//! and [`libwamr::aot_identity`], and on a miss runs the compiler in a
//! process of its own (time and memory limited, in youki's cgroup, never the
//! container's). The entry is mapped (copy-on-write) into youki's memory,
//! which the init process inherits when it is cloned, so every container
//! of one module shares its pages through the page cache; the init runs it
//! only if the module it reads itself has the same hash ([`take_for`]),
//! else interprets the module.
//! Any failure (no compiler, a compile error or timeout, a bad cache entry)
//! leaves the module to the interpreter, with a debug log line.
//!
//! See docs/wamr.md ("Compiled modules") for modes, the cache and its trust
//! model.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use libwamr::MappedCode;
use oci_spec::runtime::Spec;
use wamr_config::cache::{
    cache_dir, check_digest, entry_path, module_sha256 as sha256, prepare_cache_dir, record_digest,
};

use crate::WasmProcess;
use crate::module_file;

/// `interp`: never compile, always interpret. `aot` (the default): run
/// compiled code when the cache has it or the compiler can make it.
pub const MODE_ANNOTATION: &str = "io.youki.wamr.mode";
pub use wamr_config::cache::{CACHE_DIR_ENV, DEFAULT_CACHE_DIR};
/// The compiler's name: looked for beside youki's own executable, then in
/// `PATH`, then at [`COMPILER_FALLBACK`]; [`COMPILER_ENV`] names it instead.
pub const COMPILER: &str = "youki-wamrc";
pub const COMPILER_ENV: &str = "YOUKI_WAMRC";
pub const COMPILER_FALLBACK: &str = "/usr/libexec/youki/youki-wamrc";
/// A compile that takes longer is killed; the container is interpreted.
const COMPILE_TIME_LIMIT: Duration = Duration::from_secs(120);
/// The compiler's address-space limit (LLVM reserves more than it uses).
const COMPILE_MEMORY_LIMIT: u64 = 8 << 30;
/// A larger module is not compiled: it runs interpreted. The study's module
/// is 157 KB; LLVM's time and memory grow with a module's code.
const COMPILE_MAX_MODULE_SIZE: usize = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Interp,
    Aot,
}

/// The container's mode from [`MODE_ANNOTATION`].
pub fn mode(spec: &Spec) -> Result<Mode, String> {
    match spec
        .annotations()
        .as_ref()
        .and_then(|annotations| annotations.get(MODE_ANNOTATION))
        .map(String::as_str)
    {
        None | Some("aot") => Ok(Mode::Aot),
        Some("interp") => Ok(Mode::Interp),
        Some(other) => Err(format!(
            "{MODE_ANNOTATION}={other:?} is not a mode: use \"interp\" or \"aot\""
        )),
    }
}

/// The node-level setting that lets a container's entrypoint be WAMR AOT
/// code from its image (an `.aot` file): `1` in youki's environment. Such a
/// file is native code that runs without the Wasm sandbox's checks, so it
/// is refused unless the node allows it. Read on the host as youki starts
/// ([`crate::read_node_settings`]): the container process's environment is
/// the container's, which a pod controls.
pub const ALLOW_AOT_FILES_ENV: &str = "YOUKI_WAMR_ALLOW_AOT_FILES";

static AOT_FILES_ALLOWED: AtomicBool = AtomicBool::new(false);

/// Reads [`ALLOW_AOT_FILES_ENV`] (see [`crate::read_node_settings`]).
pub(crate) fn read_node_settings() {
    AOT_FILES_ALLOWED.store(crate::node_flag(ALLOW_AOT_FILES_ENV), Ordering::Relaxed);
}

/// Whether the module bytes the container's entrypoint holds may run: a
/// binary module may; AOT code only where the node allows it, and never
/// under `io.youki.wamr.mode=interp`.
pub fn check_entrypoint_code(spec: &Spec, bytes: &[u8]) -> Result<(), String> {
    if !bytes.starts_with(libwamr::AOT_MAGIC) {
        return Ok(());
    }
    if mode(spec)? == Mode::Interp {
        return Err(format!(
            "it is WAMR AOT code (native code), and {MODE_ANNOTATION}=interp runs modules \
             interpreted only"
        ));
    }
    if !AOT_FILES_ALLOWED.load(Ordering::Relaxed) {
        return Err(format!(
            "it is WAMR AOT code: native code that runs without the Wasm sandbox's checks, \
             which this node does not allow (set {ALLOW_AOT_FILES_ENV}=1 in youki's \
             environment to allow it)"
        ));
    }
    Ok(())
}

/// Compiled code for one module, prepared by `create` for the init.
struct Prepared {
    module_sha256: [u8; 32],
    code: MappedCode,
}

/// Set in `youki create` before the init is cloned, taken in the init.
static PREPARED: Mutex<Option<Prepared>> = Mutex::new(None);

/// In `youki create`, on the host: makes the compiled code of the container's
/// module ready for its init, if the mode asks for it and it can be had.
/// Never fails the container: what goes wrong is logged at debug level.
///
/// `youki_dir`: the directory of the youki binary as installed, where the
/// compiler is looked for first (youki itself runs from a protected copy).
pub fn prepare(spec: &Spec, bundle: &Path, youki_dir: Option<&Path>) {
    if mode(spec) != Ok(Mode::Aot) {
        return;
    }
    let wasm = match read_module_in_rootfs(spec, bundle) {
        Ok(wasm) => wasm,
        Err(reason) => {
            tracing::debug!("wamr: not compiling the module ahead of time: {reason}");
            return;
        }
    };
    if !wasm.starts_with(b"\0asm") {
        return;
    }
    // Nothing reaches the compiler that the interpreter would refuse, or
    // that is larger than the compiler is trusted with.
    if wasm.len() > COMPILE_MAX_MODULE_SIZE {
        tracing::debug!(
            bytes = wasm.len(),
            "wamr: not compiling a module over {} MiB: interpreting it",
            COMPILE_MAX_MODULE_SIZE >> 20
        );
        return;
    }
    if let Err(err) = libwamr::check_layout(&wasm) {
        tracing::debug!("wamr: not compiling a malformed module: {err}");
        return;
    }
    let module_sha256 = sha256(&wasm);
    match Cache::from_env(youki_dir).code_for(&module_sha256, &wasm) {
        Ok(code) => {
            tracing::debug!(
                bytes = code.as_slice().len(),
                "wamr: compiled code ready for the init"
            );
            *PREPARED.lock().unwrap_or_else(|e| e.into_inner()) = Some(Prepared {
                module_sha256,
                code,
            });
        }
        Err(reason) => tracing::debug!("wamr: interpreting the module: {reason}"),
    }
}

/// In the init: the compiled code `create` prepared, if it was compiled from
/// exactly these module bytes. Taken once, so its memory goes with the load.
pub fn take_for(wasm: &[u8]) -> Option<MappedCode> {
    let prepared = PREPARED.lock().unwrap_or_else(|e| e.into_inner()).take()?;
    if prepared.module_sha256 != sha256(wasm) {
        tracing::debug!("wamr: the module changed since create: interpreting it");
        return None;
    }
    Some(prepared.code)
}

/// The module file as the init will find it, read from the host through the
/// bundle's root file system: paths and symbolic links resolve inside it
/// (`RESOLVE_IN_ROOT`), as they do in the container. A module on a volume
/// that is mounted later is not there yet: it is interpreted.
fn read_module_in_rootfs(spec: &Spec, bundle: &Path) -> Result<Vec<u8>, String> {
    use rustix::fs::{Mode as FileMode, OFlags, ResolveFlags, openat2};

    let root = spec.root().as_ref().ok_or("the spec has no root")?.path();
    let root = bundle.join(root);
    let root_dir = std::fs::File::open(&root).map_err(|e| {
        format!(
            "could not open the root file system {}: {e}",
            root.display()
        )
    })?;
    let process = WasmProcess::from_spec(spec)?;
    // O_PATH first: a device node in an image must not even be opened on
    // the host (opening one can act on the device)
    let find = |path: &Path| {
        openat2(
            &root_dir,
            path,
            OFlags::PATH | OFlags::CLOEXEC,
            FileMode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
    };
    let entrypoint = &process.args[0];
    let candidates: Vec<PathBuf> = if entrypoint.contains('/') {
        vec![process.cwd.join(entrypoint)]
    } else {
        std::iter::once(process.cwd.join(entrypoint))
            .chain(
                crate::path_variable(spec)
                    .split(':')
                    .filter(|dir| !dir.is_empty())
                    .map(|dir| Path::new(dir).join(entrypoint)),
            )
            .collect()
    };
    for candidate in &candidates {
        let Ok(found) = find(candidate) else { continue };
        let is_file = rustix::fs::fstat(&found).is_ok_and(|stat| {
            rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::RegularFile
        });
        if !is_file {
            continue;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(format!("/proc/self/fd/{}", found.as_raw_fd()))
            .map_err(|e| process.load_error(e))?;
        let len = file.metadata().map_err(|e| e.to_string())?.len();
        return module_file::read_opened(file, len, process.max_module_size)
            .map_err(|reason| process.load_error(reason));
    }
    Err(format!(
        "{} is not in the root file system at create",
        process.module.display()
    ))
}

/// The node's cache of compiled code (wamr_config::cache).
struct Cache {
    dir: PathBuf,
    identity: String,
    youki_dir: Option<PathBuf>,
}

impl Cache {
    fn from_env(youki_dir: Option<&Path>) -> Self {
        Self {
            dir: cache_dir(),
            identity: libwamr::aot_identity(),
            youki_dir: youki_dir.map(Path::to_path_buf),
        }
    }

    fn entry(&self, module_sha256: &[u8; 32]) -> PathBuf {
        entry_path(&self.dir, module_sha256, &self.identity)
    }

    /// The module's compiled code: from the cache, else compiled into it,
    /// once per module and compiler identity: concurrent creates of one
    /// module wait for one compile (a lock file beside the entry), and a
    /// compile that failed is remembered (a `.failed` file beside it, which
    /// holds the reason) and not tried again.
    fn code_for(&self, module_sha256: &[u8; 32], wasm: &[u8]) -> Result<MappedCode, String> {
        let entry = self.entry(module_sha256);
        prepare_cache_dir(&self.dir)?;
        if let Ok(code) = read_entry(&entry) {
            return Ok(code);
        }
        let lock_path = entry.with_extension("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| format!("could not open {}: {e}", lock_path.display()))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| format!("could not lock {}: {e}", lock_path.display()))?;
        // Another create may have compiled it, or failed to, meanwhile.
        match read_entry(&entry) {
            Ok(code) => return Ok(code),
            Err(reason) if entry.exists() => {
                tracing::debug!("wamr: replacing cache entry {}: {reason}", entry.display());
            }
            Err(_) => {}
        }
        let failed = entry.with_extension("failed");
        if let Ok(reason) = std::fs::read_to_string(&failed) {
            return Err(format!(
                "an earlier compile of this module failed ({}): {}",
                failed.display(),
                reason.trim()
            ));
        }
        if let Err(reason) = self.compile(wasm, &entry) {
            if let Err(err) = std::fs::write(&failed, &reason) {
                tracing::debug!("wamr: could not remember the failed compile: {err}");
            }
            return Err(reason);
        }
        record_digest(&entry)?;
        read_entry(&entry)
    }

    /// Runs the compiler on `wasm`; it writes `entry` atomically itself, so
    /// concurrent compiles of one module both succeed and readers never see
    /// half a file.
    fn compile(&self, wasm: &[u8], entry: &Path) -> Result<(), String> {
        let compiler = find_compiler(self.youki_dir.as_deref()).ok_or_else(|| {
            format!(
                "no {COMPILER} (${COMPILER_ENV}, beside youki, in PATH or at {COMPILER_FALLBACK})"
            )
        })?;
        let input = self
            .dir
            .join(format!(".input-{}-{}.wasm", std::process::id(), unique()));
        std::fs::write(&input, wasm)
            .map_err(|e| format!("could not write {}: {e}", input.display()))?;
        let result = run_compiler(&compiler, &self.identity, &input, entry);
        let _ = std::fs::remove_file(&input);
        result
    }
}

/// A cache entry, mapped, if it is AOT code of this runtime's format with
/// the digest recorded when it was written; anything else (cut short,
/// another format, a changed byte) is not used.
fn read_entry(entry: &Path) -> Result<MappedCode, String> {
    let file = std::fs::File::open(entry).map_err(|e| format!("{}: {e}", entry.display()))?;
    let code = MappedCode::map(&file).map_err(|e| format!("{}: {e}", entry.display()))?;
    libwamr::check_aot_code(code.as_slice()).map_err(|e| format!("{}: {e}", entry.display()))?;
    check_digest(entry, code.as_slice()).map_err(|e| format!("{}: {e}", entry.display()))?;
    Ok(code)
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn find_compiler(youki_dir: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(COMPILER_ENV) {
        return Some(PathBuf::from(path)).filter(|path| path.is_file());
    }
    let beside_youki = youki_dir.map(|dir| dir.join(COMPILER));
    let in_path = std::env::var("PATH")
        .ok()
        .and_then(|path| crate::search_path(COMPILER, &path));
    beside_youki
        .filter(|candidate| candidate.is_file())
        .or(in_path)
        .or_else(|| Some(PathBuf::from(COMPILER_FALLBACK)).filter(|p| p.is_file()))
}

/// Runs the compiler with a time limit and an address-space limit, in its
/// own process group (killed whole on timeout); its stderr is kept for the
/// log line.
fn run_compiler(
    compiler: &Path,
    identity: &str,
    input: &Path,
    output: &Path,
) -> Result<(), String> {
    let mut command = Command::new(compiler);
    command
        .arg("--expect-identity")
        .arg(identity)
        .arg(input)
        .arg(output)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the
    // parent's that another thread may hold locked.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: COMPILE_MEMORY_LIMIT,
                rlim_max: COMPILE_MEMORY_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("could not run {}: {e}", compiler.display()))?;
    let mut stderr = child.stderr.take().expect("stderr is piped");
    // The compiler writes a few lines at most; a reader thread keeps a
    // chatty one from blocking on a full pipe.
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = (&mut stderr).take(64 * 1024).read_to_string(&mut text);
        text
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < COMPILE_TIME_LIMIT => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(None) => {
                // SAFETY: kill(2) on the child's process group, which the
                // child leads (process_group(0)) and which is not yet reaped.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.wait();
                let _ = reader.join();
                return Err(format!(
                    "{} took more than {} s and was killed",
                    compiler.display(),
                    COMPILE_TIME_LIMIT.as_secs()
                ));
            }
            Err(e) => return Err(format!("could not wait for {}: {e}", compiler.display())),
        }
    };
    let text = reader.join().unwrap_or_default();
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "wamr: {} {}",
        compiler.display(),
        status
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed ({status}): {}",
            compiler.display(),
            text.trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with_mode(value: Option<&str>) -> Spec {
        let mut spec = Spec::default();
        if let Some(value) = value {
            spec.set_annotations(Some(
                [(MODE_ANNOTATION.to_owned(), value.to_owned())].into(),
            ));
        }
        spec
    }

    #[test]
    fn the_mode_is_aot_unless_the_annotation_says_interp() {
        assert_eq!(mode(&spec_with_mode(None)), Ok(Mode::Aot));
        assert_eq!(mode(&spec_with_mode(Some("aot"))), Ok(Mode::Aot));
        assert_eq!(mode(&spec_with_mode(Some("interp"))), Ok(Mode::Interp));
        let err = mode(&spec_with_mode(Some("jit"))).unwrap_err();
        assert!(err.contains("\"jit\" is not a mode"), "{err}");
    }

    #[test]
    fn code_prepared_for_other_bytes_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("code.aot");
        std::fs::write(&path, b"code").unwrap();
        let prepare = || {
            let code = MappedCode::map(&std::fs::File::open(&path).unwrap()).unwrap();
            *PREPARED.lock().unwrap() = Some(Prepared {
                module_sha256: sha256(b"one"),
                code,
            });
        };
        prepare();
        assert!(take_for(b"two").is_none());
        prepare();
        assert_eq!(take_for(b"one").unwrap().as_slice(), b"code");
        assert!(take_for(b"one").is_none(), "taken once");
    }

    #[test]
    fn an_entry_of_another_format_or_without_its_digest_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("x.aot");
        let mut code = libwamr::AOT_MAGIC.to_vec();
        code.extend((libwamr::AOT_FORMAT + 1).to_le_bytes());
        std::fs::write(&entry, &code).unwrap();
        assert!(read_entry(&entry).is_err());
        code.truncate(4);
        code.extend(libwamr::AOT_FORMAT.to_le_bytes());
        std::fs::write(&entry, &code).unwrap();
        assert!(read_entry(&entry).is_err(), "used without a digest");
        record_digest(&entry).unwrap();
        assert_eq!(read_entry(&entry).unwrap().as_slice(), code);
    }
}
