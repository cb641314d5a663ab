//! Wasm containers on WAMR (fast interpreter), in the container's init process.
//!
//! The executor for youki's engine list and for upstream youki's executor
//! chain alike: it runs whatever container it is given as a Wasm module,
//! and the caller decides which containers those are.
//!
//! `validate`, which libcontainer calls during `create`, loads and checks the
//! module (format, imports, `_start`, memory against the container's limit)
//! and runs none of its code: a missing, corrupt or unlinkable module fails
//! `youki create` with a one-line error, before the container exists for
//! anyone. `exec`, after `youki start`, hands the process to the guest
//! (guest.rs) and only then instantiates the module, which runs its start
//! section, and calls `_start`. See docs/wamr.md for the behaviour.

use std::cell::RefCell;
use std::path::PathBuf;

use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use libwamr::{Error, InstanceConfig, Module, Outcome, Runtime, WASM_PAGE_SIZE, WasiConfig};
use oci_spec::runtime::Spec;

use crate::module_file::{memory_limit, mib};
use crate::{MemoryUse, TRAP_EXIT_CODE, WasmProcess, aot, guest, parse_size};

pub const HANDLER: &str = "wamr";

/// Per-container overrides of WAMR's sizes, in bytes (`K`/`M` suffixes and
/// their `Ki`/`Mi` forms mean 1024 and 1024²).
pub const STACK_SIZE_ANNOTATION: &str = "io.youki.wamr.stack-size";
pub const HEAP_SIZE_ANNOTATION: &str = "io.youki.wamr.heap-size";

/// What a WAMR process holds outside linear memory besides the module's
/// binary, code and stack: youki's and WAMR's own pages.
const RUNTIME_RESERVE: u64 = 4 * 1024 * 1024;
/// The fast interpreter translates a module's code into its own form, kept
/// beside the binary (which WAMR keeps loaded): reserved per byte of binary.
const CODE_RESERVE_FACTOR: u64 = 4;
/// The largest `io.youki.wamr.stack-size`: WAMR allocates the whole stack
/// when the module starts, with or without a memory limit.
const MAX_STACK_SIZE: u64 = 64 * 1024 * 1024;

#[derive(Clone)]
pub struct WamrExecutor {
    /// For a process started in a running container (`youki exec`): the
    /// container's memory limit and use when it started. `None` for the
    /// init, which has the spec's limit to itself.
    memory: Option<MemoryUse>,
    /// Ends the caller's logging before the process is the guest's (see
    /// [`guest::run`]).
    stop_logging: fn(),
}

impl WamrExecutor {
    pub fn new(memory: Option<MemoryUse>, stop_logging: fn()) -> Self {
        Self {
            memory,
            stop_logging,
        }
    }
}

/// A module loaded and checked for the container, not yet instantiated.
struct Loaded {
    module: &'static Module<'static>,
    config: InstanceConfig,
    /// The module's path, for messages.
    path: PathBuf,
}

thread_local! {
    /// What `validate` loaded, for `exec` in the same process.
    static LOADED: RefCell<Option<Loaded>> = const { RefCell::new(None) };
}

impl Executor for WamrExecutor {
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        // Before the process waits for `start`: no other process in the
        // container may reach into it (see guest.rs).
        guest::prepare_process().map_err(ExecutorValidationError::ArgValidationError)?;
        let loaded =
            load(spec, self.memory).map_err(ExecutorValidationError::ArgValidationError)?;
        LOADED.with(|slot| *slot.borrow_mut() = Some(loaded));
        Ok(())
    }

    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        let process = WasmProcess::from_spec(spec).map_err(ExecutorError::Other)?;
        let loaded = match LOADED.with(|slot| slot.borrow_mut().take()) {
            Some(loaded) => loaded,
            None => load(spec, self.memory).map_err(ExecutorError::Other)?,
        };
        guest::run(self.stop_logging, move || run(&loaded, &process))
    }
}

/// Reads, loads and checks the container's module. Runs no guest code.
fn load(spec: &Spec, memory: Option<MemoryUse>) -> Result<Loaded, String> {
    let process = WasmProcess::from_spec(spec)?;
    let mut config = instance_config(spec)?;
    let bytes = read_module(&process)?;
    aot::mode(spec)?;
    aot::check_entrypoint_code(spec, &bytes).map_err(|reason| process.load_error(reason))?;

    let runtime = Runtime::global().map_err(|err| err.to_string())?;
    // Code compiled ahead of time, if `youki create` prepared it for these
    // bytes; else (or if it does not load) the module is interpreted.
    let compiled = aot::take_for(&bytes).and_then(|code| {
        runtime
            .load_compiled(code, &bytes)
            .inspect_err(|err| tracing::debug!("wamr: interpreting the module: {err}"))
            .ok()
    });
    tracing::debug!(compiled = compiled.is_some(), "wamr: module loaded");
    let module = match compiled {
        Some(module) => module,
        None => runtime.load(bytes).map_err(|err| process.load_error(err))?,
    };
    // The init process lives exactly as long as the module: the module is
    // never unloaded, which lets it be kept between validate and exec.
    let module: &'static Module<'static> = Box::leak(Box::new(module));
    module
        .check_command()
        .map_err(|err| process.load_error(err))?;
    let unlinked = module.unlinked_imports();
    if !unlinked.is_empty() {
        return Err(process.load_error(format!("unknown imports: {}", unlinked.join(", "))));
    }
    // A `youki exec` process shares the container's limit with those already
    // running; the init has it to itself.
    let memory = memory.or_else(|| memory_limit(spec).map(|limit| MemoryUse { limit, in_use: 0 }));
    if let Some(memory) = memory {
        config.max_memory_pages = Some(
            pages_under_limit(module, &config, memory)
                .map_err(|reason| process.load_error(reason))?,
        );
    }
    tracing::debug!(?config, "wamr instance sizes");
    Ok(Loaded {
        module,
        config,
        path: process.module,
    })
}

/// Instantiates the module (its start section runs here) and runs `_start`;
/// returns the container's exit code. Called once the process is the guest's.
fn run(loaded: &Loaded, process: &WasmProcess) -> Result<i32, String> {
    let wasi = WasiConfig::new()
        .args(process.args.iter().cloned())
        .env(process.env.iter().cloned())
        // The container's root, as the program's root: after pivot_root
        // this is all the container can see. WASI preview 1 has no working
        // directory, and wasi-libc folds "/" and "." preopens into one, so
        // relative paths resolve against "/" (docs/wamr.md).
        .preopen("/", "/")
        .stdio(0, 1, 2);
    let trapped = |message: &str| {
        eprintln!("wasm trap in {}: {message}", loaded.path.display());
        TRAP_EXIT_CODE
    };
    let mut instance = match loaded.module.instantiate(&wasi, &loaded.config) {
        Ok(instance) => instance,
        Err(Error::StartTrapped(message)) => return Ok(trapped(&message)),
        Err(err) => return Err(format!("could not run {}: {err}", loaded.path.display())),
    };
    match instance.run_start() {
        Ok(Outcome::Exited(code)) => Ok(code),
        Ok(Outcome::Trapped(message)) => Ok(trapped(&message)),
        Err(err) => Err(format!("could not run {}: {err}", loaded.path.display())),
    }
}

/// The module's bytes: a binary module as is, a `.wat` file compiled.
fn read_module(process: &WasmProcess) -> Result<Vec<u8>, String> {
    let bytes = process.read_module()?;
    let path = &process.module;
    let is_text = path.extension().is_some_and(|ext| ext == "wat") && !bytes.starts_with(b"\0asm");
    if is_text {
        return wat::Parser::new()
            .parse_bytes(Some(path), &bytes)
            .map(|b| b.into_owned())
            .map_err(|err| process.load_error(one_line_wat_error(&err.to_string())));
    }
    Ok(bytes)
}

/// The `wat` crate's error, which spans several lines (the message, a
/// `--> file:line:column` line, the source with a caret), as one line:
/// `file:line:column: message`.
fn one_line_wat_error(text: &str) -> String {
    let mut lines = text.lines().map(str::trim);
    let message = lines.next().unwrap_or_default();
    match lines.find_map(|line| line.strip_prefix("--> ")) {
        Some(location) => format!("{location}: {message}"),
        None => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// Stack size from the annotation, else WAMR's default; no host-managed heap.
fn instance_config(spec: &Spec) -> Result<InstanceConfig, String> {
    // No host-managed heap, unlike iwasm's 16 KiB: WAMR places that heap
    // inside linear memory, where wasi-libc's malloc, which grows the heap
    // from `memory.size`, hands the same bytes out again. Only modules that
    // call WAMR's libc-builtin malloc could use it, and this build leaves
    // libc-builtin out (docs/wamr.md).
    let mut config = InstanceConfig {
        heap_size: 0,
        ..InstanceConfig::default()
    };
    if let Some(annotations) = spec.annotations() {
        if let Some(value) = annotations.get(STACK_SIZE_ANNOTATION) {
            let bytes = parse_size(STACK_SIZE_ANNOTATION, value)?;
            config.stack_size = u32::try_from(bytes)
                .ok()
                .filter(|&bytes| u64::from(bytes) <= MAX_STACK_SIZE)
                .ok_or_else(|| {
                    format!(
                        "{STACK_SIZE_ANNOTATION}={value:?} is more than the {} a module's \
                         stack may have",
                        mib(MAX_STACK_SIZE)
                    )
                })?;
        }
        if let Some(value) = annotations.get(HEAP_SIZE_ANNOTATION)
            && parse_size(HEAP_SIZE_ANNOTATION, value)? != 0
        {
            return Err(format!(
                "{HEAP_SIZE_ANNOTATION}={value:?} cannot work: no module can use WAMR's \
                 host-managed heap in this build (it has no libc-builtin), and the heap would \
                 overlap wasi-libc's malloc in linear memory; remove the annotation"
            ));
        }
    }
    Ok(config)
}

/// What one WAMR process needs under a memory limit besides linear memory.
fn reserve(module: &Module, config: &InstanceConfig) -> u64 {
    let binary = module.binary_size() as u64;
    RUNTIME_RESERVE + binary + CODE_RESERVE_FACTOR * binary + u64::from(config.stack_size)
}

/// The most 64 KiB pages the module's memory may grow to under the limit,
/// after what the container's other processes use (for `youki exec`) and
/// this process's own reserve. WAMR never caps below a module's initial
/// memory, so a module whose initial memory does not fit is refused here,
/// rather than OOM-killed when it touches it.
fn pages_under_limit(
    module: &Module,
    config: &InstanceConfig,
    memory: MemoryUse,
) -> Result<u32, String> {
    let reserve = reserve(module, config);
    let room = memory.limit.saturating_sub(memory.in_use);
    if reserve > room {
        return Err(format!(
            "the module ({}) and its stack ({}, {STACK_SIZE_ANNOTATION}) need {} besides \
             linear memory, more than the container's memory limit ({}{}) leaves",
            mib(module.binary_size() as u64),
            mib(u64::from(config.stack_size)),
            mib(reserve),
            mib(memory.limit),
            match memory.in_use {
                0 => String::new(),
                bytes => format!(", {} in use by the container", mib(bytes)),
            }
        ));
    }
    let available = memory
        .limit
        .saturating_sub(memory.in_use)
        .saturating_sub(reserve);
    let pages = u32::try_from(available / WASM_PAGE_SIZE).unwrap_or(u32::MAX);
    let initial = module.memory().map_or(0, |memory| memory.initial_pages);
    if initial > u64::from(pages) {
        let limit = memory.limit;
        let used = match memory.in_use {
            0 => String::new(),
            bytes => format!(", {} in use by the container", mib(bytes)),
        };
        return Err(format!(
            "its initial memory ({}) does not fit under the container's memory limit ({}{used}, \
             {} kept for youki, wamr and the module's code)",
            mib(initial * WASM_PAGE_SIZE),
            mib(limit),
            mib(reserve)
        ));
    }
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wat_error_is_one_line_naming_the_file() {
        let err = read_module_text("/app.wat", "(module (func $f (bogus)))");
        assert!(!err.contains('\n'), "{err}");
        assert!(err.starts_with("/app.wat:1:"), "{err}");
    }

    /// What read_module reports for a `.wat` file with this text.
    fn read_module_text(path: &str, text: &str) -> String {
        wat::Parser::new()
            .parse_bytes(Some(std::path::Path::new(path)), text.as_bytes())
            .map(|_| String::new())
            .unwrap_or_else(|err| one_line_wat_error(&err.to_string()))
    }

    fn module(wat: &str) -> Module<'static> {
        Runtime::global()
            .unwrap()
            .load(wat::parse_str(wat).unwrap())
            .unwrap()
    }

    #[test]
    fn the_memory_limit_leaves_a_reserve_and_refuses_what_cannot_fit() {
        const MIB: u64 = 1024 * 1024;
        let small = module(r#"(module (memory (export "memory") 2) (func (export "_start")))"#);
        let config = InstanceConfig::default();
        let reserve = reserve(&small, &config);
        assert!(reserve > RUNTIME_RESERVE && reserve < RUNTIME_RESERVE + MIB);
        let alone = MemoryUse {
            limit: 64 * MIB,
            in_use: 0,
        };
        let pages = pages_under_limit(&small, &config, alone).unwrap();
        assert_eq!(u64::from(pages), (64 * MIB - reserve) / WASM_PAGE_SIZE);
        // Beside processes that use 40 MiB of the same limit: what is left.
        let shared = MemoryUse {
            limit: 64 * MIB,
            in_use: 40 * MIB,
        };
        let pages = pages_under_limit(&small, &config, shared).unwrap();
        assert_eq!(u64::from(pages), (24 * MIB - reserve) / WASM_PAGE_SIZE);
        // Initial memory above what is left is refused, with the numbers.
        let big = module(r#"(module (memory (export "memory") 1600) (func (export "_start")))"#);
        let err = pages_under_limit(&big, &config, shared).unwrap_err();
        assert!(
            err.starts_with(
                "its initial memory (100.0 MiB) does not fit under the container's memory \
                 limit (64.0 MiB, 40.0 MiB in use by the container"
            ),
            "{err}"
        );
        // A limit below the reserve leaves nothing, not an underflow.
        let tiny = MemoryUse {
            limit: MIB,
            in_use: 0,
        };
        assert!(pages_under_limit(&small, &config, tiny).is_err());
    }
}
