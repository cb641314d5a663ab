//! Wasm containers on WAMR (fast interpreter), in the container's init process.
//!
//! The module is loaded, checked and instantiated in `validate`, which
//! libcontainer calls during `create`: a missing, corrupt or unlinkable module
//! fails `youki create` with a one-line error, before the container exists for
//! anyone. `exec` then only runs `_start`. See docs/wamr.md for the behaviour.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use libwamr::{Instance, InstanceConfig, Outcome, Runtime, WASM_PAGE_SIZE, WasiConfig};
use nix::sys::signal::{SigSet, Signal};
use oci_spec::runtime::Spec;

use super::{TRAP_EXIT_CODE, WasmProcess};

pub const HANDLER: &str = "wamr";

/// Per-container overrides of WAMR's sizes, in bytes (`K`/`M` suffixes and
/// their `Ki`/`Mi` forms mean 1024 and 1024²).
pub const STACK_SIZE_ANNOTATION: &str = "io.youki.wamr.stack-size";
pub const HEAP_SIZE_ANNOTATION: &str = "io.youki.wamr.heap-size";

/// What a memory-limited container keeps outside linear memory: youki's own
/// pages and WAMR's, at most this much (and at most half the limit).
const MEMORY_LIMIT_RESERVE: u64 = 8 * 1024 * 1024;

/// No host-managed heap by default, unlike iwasm's 16 KiB: WAMR places that
/// heap inside linear memory, where wasi-libc's malloc, which grows the heap
/// from `memory.size`, hands the same bytes out again; allocations then fail
/// after the first megabyte. WASI commands bring their own allocator.
const DEFAULT_HEAP_SIZE: u32 = 0;

#[derive(Clone)]
pub struct WamrExecutor {}

pub fn get_executor() -> Box<dyn Executor> {
    Box::new(WamrExecutor {})
}

/// A module instantiated for the container, ready to run.
struct Prepared {
    instance: Instance<'static>,
    /// The module's path, for messages.
    module: PathBuf,
}

thread_local! {
    /// What `validate` prepared, for `exec` in the same process.
    static PREPARED: RefCell<Option<Prepared>> = const { RefCell::new(None) };
}

impl Executor for WamrExecutor {
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        let ready = prepare(spec).map_err(ExecutorValidationError::ArgValidationError)?;
        PREPARED.with(|prepared| *prepared.borrow_mut() = Some(ready));
        Ok(())
    }

    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        let prepared = PREPARED.with(|prepared| prepared.borrow_mut().take());
        let Prepared {
            mut instance,
            module,
        } = match prepared {
            Some(ready) => ready,
            None => prepare(spec).map_err(ExecutorError::Other)?,
        };
        end_on_termination_signals().map_err(ExecutorError::Other)?;
        let code = match instance.run_start() {
            Ok(Outcome::Exited(code)) => code,
            Ok(Outcome::Trapped(message)) => {
                eprintln!("wasm trap in {}: {message}", module.display());
                TRAP_EXIT_CODE
            }
            Err(err) => {
                return Err(ExecutorError::Other(format!(
                    "could not run {}: {err}",
                    module.display()
                )));
            }
        };
        std::process::exit(code)
    }
}

/// Loads, checks and instantiates the container's module.
fn prepare(spec: &Spec) -> Result<Prepared, String> {
    let process = WasmProcess::from_spec(spec)?;
    let config = instance_config(spec)?;
    let bytes = read_module(&process.module).map_err(|reason| process.load_error(reason))?;

    let runtime = Runtime::global().map_err(|err| err.to_string())?;
    // The init process lives exactly as long as the module: the module is
    // never unloaded, which lets the instance be kept between validate and exec.
    let module = Box::leak(Box::new(
        runtime.load(bytes).map_err(|err| process.load_error(err))?,
    ));
    if !module.exports_function("_start") {
        return Err(
            process.load_error("the module exports no _start function (not a wasi command)")
        );
    }

    let wasi = WasiConfig::new()
        .args(process.args.iter().cloned())
        .env(process.env.iter().cloned())
        // The container's root, as the program's root: after pivot_root
        // this is all the container can see. WASI preview 1 has no working
        // directory, and wasi-libc folds "/" and "." preopens into one, so
        // relative paths resolve against "/" (docs/wamr.md).
        .preopen("/", "/")
        .stdio(0, 1, 2);
    let instance = module
        .instantiate(&wasi, &config)
        .map_err(|err| process.load_error(err))?;
    Ok(Prepared {
        instance,
        module: process.module,
    })
}

/// The module's bytes: a binary module as is, a `.wat` file compiled.
fn read_module(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        _ => err.to_string(),
    })?;
    let is_text = path.extension().is_some_and(|ext| ext == "wat") && !bytes.starts_with(b"\0asm");
    if is_text {
        return wat::parse_bytes(&bytes)
            .map(|b| b.into_owned())
            .map_err(|err| err.to_string());
    }
    Ok(bytes)
}

/// Stack and heap from the annotations, else WAMR's defaults; linear memory
/// capped below the container's memory limit, if it has one.
fn instance_config(spec: &Spec) -> Result<InstanceConfig, String> {
    let mut config = InstanceConfig {
        heap_size: DEFAULT_HEAP_SIZE,
        ..InstanceConfig::default()
    };
    if let Some(annotations) = spec.annotations() {
        if let Some(value) = annotations.get(STACK_SIZE_ANNOTATION) {
            config.stack_size = parse_size(STACK_SIZE_ANNOTATION, value)?;
        }
        if let Some(value) = annotations.get(HEAP_SIZE_ANNOTATION) {
            config.heap_size = parse_size(HEAP_SIZE_ANNOTATION, value)?;
        }
    }
    let limit = spec
        .linux()
        .as_ref()
        .and_then(|linux| linux.resources().as_ref())
        .and_then(|resources| resources.memory().as_ref())
        .and_then(|memory| memory.limit())
        .filter(|&limit| limit > 0);
    config.max_memory_pages = limit.map(|limit| max_pages_under(limit as u64));
    tracing::debug!(?config, memory_limit = ?limit, "wamr instance sizes");
    Ok(config)
}

/// The most 64 KiB pages that fit under `limit` after the reserve; at least one.
fn max_pages_under(limit: u64) -> u32 {
    let reserve = MEMORY_LIMIT_RESERVE.min(limit / 2);
    let pages = (limit - reserve) / WASM_PAGE_SIZE;
    u32::try_from(pages).unwrap_or(u32::MAX).max(1)
}

fn parse_size(annotation: &str, value: &str) -> Result<u32, String> {
    let invalid =
        || format!("invalid {annotation}={value:?}: expected bytes, like 65536, 64K or 1Mi");
    let trimmed = value.trim();
    let (digits, unit) = match trimmed.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => trimmed.split_at(at),
        None => (trimmed, ""),
    };
    let multiplier: u64 = match unit {
        "" => 1,
        "K" | "k" | "Ki" => 1024,
        "M" | "m" | "Mi" => 1024 * 1024,
        _ => return Err(invalid()),
    };
    let bytes = digits.parse::<u64>().map_err(|_| invalid())? * multiplier;
    u32::try_from(bytes).ok().ok_or_else(invalid)
}

/// As PID 1 of its namespace, the init process gets no SIGTERM or SIGINT
/// unless it handles them: `podman stop` and pod deletion would wait for
/// SIGKILL. A thread waits for them and ends the container the way a native
/// program killed by the signal ends (exit 128 + signal).
fn end_on_termination_signals() -> Result<(), String> {
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    // Blocked here, before the thread exists, so it inherits the mask and
    // sigwait is the only receiver.
    signals
        .thread_block()
        .map_err(|err| format!("could not block termination signals: {err}"))?;
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            if let Ok(signal) = signals.wait() {
                std::process::exit(128 + signal as i32);
            }
        })
        .map_err(|err| format!("could not start the signal thread: {err}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("a", "65536"), Ok(65536));
        assert_eq!(parse_size("a", "64K"), Ok(65536));
        assert_eq!(parse_size("a", "1Mi"), Ok(1024 * 1024));
        assert_eq!(parse_size("a", "0"), Ok(0));
        for bad in ["", "-1", "12Q", "K", "8192M"] {
            let err = parse_size("io.youki.wamr.stack-size", bad).unwrap_err();
            assert!(
                err.starts_with("invalid io.youki.wamr.stack-size"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn memory_limit_leaves_a_reserve() {
        // 64 MiB limit: 8 MiB reserve, 56 MiB of pages.
        assert_eq!(max_pages_under(64 * 1024 * 1024), 56 * 16);
        // A tiny limit keeps half, and never fewer than one page.
        assert_eq!(max_pages_under(4 * 1024 * 1024), 32);
        assert_eq!(max_pages_under(1000), 1);
    }
}
