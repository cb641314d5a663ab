//! A safe layer over the WebAssembly Micro Runtime (WAMR), for running WASI
//! commands in-process. It knows nothing of containers.
//!
//! The handles are tied together by lifetimes: an [`Instance`] borrows its
//! [`Module`], and a module borrows the process-global [`Runtime`]. Every buffer
//! and C string handed to WAMR is owned here and outlives the call that uses it.
//!
//! ```no_run
//! use libwamr::{InstanceConfig, Outcome, Runtime, WasiConfig};
//!
//! let runtime = Runtime::global()?;
//! let module = runtime.load(std::fs::read("/app.wasm")?)?;
//! let wasi = WasiConfig::new().args(["app.wasm"]).preopen("/", "/");
//! let mut instance = module.instantiate(&wasi, &InstanceConfig::default())?;
//! match instance.run_start()? {
//!     Outcome::Exited(code) => std::process::exit(code),
//!     Outcome::Trapped(message) => eprintln!("trap: {message}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ffi::{CStr, CString, c_char};
use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::OnceLock;

/// WAMR's embedding API, as build.rs bound it.
#[allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code
)]
#[allow(clippy::all)]
mod sys {
    include!(concat!(env!("OUT_DIR"), "/wamr.rs"));
}

mod layout;
mod mapped;
pub use layout::MemoryLimits;
pub use mapped::MappedCode;

include!(concat!(env!("OUT_DIR"), "/version.rs"));

/// How a file in WAMR's AOT format starts; a format version (u32, little
/// endian) follows.
pub const AOT_MAGIC: &[u8] = b"\0aot";

/// The identity of AOT code this runtime can run on this machine (see
/// wamr_config::aot_identity): youki's cache of compiled modules is keyed by it.
pub fn aot_identity() -> String {
    wamr_config::aot_identity(WAMR_VERSION, AOT_FORMAT)
}

/// Whether `code` is WAMR AOT code of the format this WAMR reads; another
/// format is refused with a message that says what to do (WAMR's own names
/// neither version).
pub fn check_aot_code(code: &[u8]) -> Result<(), Error> {
    if !code.starts_with(AOT_MAGIC) {
        return Err(Error::Load("not WAMR AOT code".to_owned()));
    }
    let version = code
        .get(4..8)
        .map(|v| u32::from_le_bytes(v.try_into().expect("four bytes")));
    match version {
        Some(AOT_FORMAT) => Ok(()),
        Some(other) => Err(Error::Load(format!(
            "it is WAMR AOT format {other}, and this WAMR ({WAMR_VERSION}) runs format \
             {AOT_FORMAT} only: compile the .wasm module again with youki-wamrc"
        ))),
        None => Err(Error::Load("AOT file is truncated".to_owned())),
    }
}

/// Whether the sections of a binary module hold what they declare (see
/// layout.rs): checked before WAMR, or its compiler, is given the bytes.
pub fn check_layout(module: &[u8]) -> Result<(), Error> {
    layout::check(module)
        .map_err(|reason| Error::Load(format!("WASM module load failed: {reason}")))
}

/// WAMR's exception text for `proc_exit`, which is how WASI programs end.
const PROC_EXIT_EXCEPTION: &str = "wasi proc exit";

/// Room for WAMR's error messages (its own tools use 128 bytes).
const ERROR_BUF_LEN: usize = 256;

/// The size of a WebAssembly linear-memory page.
pub const WASM_PAGE_SIZE: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error("failed to initialise the wamr runtime")]
    RuntimeInit,
    #[error("module is too large for wamr ({0} bytes)")]
    ModuleTooLarge(usize),
    #[error("{0}")]
    Load(String),
    #[error("{what} contains a nul byte: {value:?}")]
    NulByte { what: &'static str, value: String },
    #[error("too many {0} for wamr")]
    TooMany(&'static str),
    #[error("could not allocate wamr instantiation arguments")]
    OutOfMemory,
    #[error("instantiation failed: {0}")]
    Instantiate(String),
    /// Guest code that runs while instantiating (a start section, a
    /// reactor's `_initialize`) trapped; WAMR's message says why.
    #[error("trapped while instantiating: {0}")]
    StartTrapped(String),
    #[error("the module exports no _start function (not a wasi command)")]
    NoStart,
    #[error(
        "the module's _start takes {params} parameters and returns {results} values; a wasi command's takes and returns none"
    )]
    StartSignature { params: u32, results: u32 },
    #[error("could not create an execution environment")]
    ExecEnv,
}

/// The process-global WAMR runtime. WAMR keeps its state in globals, so there
/// is one, initialised on first use and never torn down.
#[derive(Debug)]
pub struct Runtime {
    // Not constructible outside this crate.
    _private: (),
}

static RUNTIME: OnceLock<Result<Runtime, Error>> = OnceLock::new();

impl Runtime {
    /// The runtime, initialised by the first caller (with the system allocator).
    pub fn global() -> Result<&'static Runtime, Error> {
        RUNTIME
            .get_or_init(|| {
                let mut args = sys::RuntimeInitArgs {
                    mem_alloc_type: sys::Alloc_With_System_Allocator,
                    ..Default::default()
                };
                // SAFETY: `args` is a valid, initialised RuntimeInitArgs that
                // lives across the call; OnceLock runs this once per process,
                // which is the only initialisation WAMR allows.
                let ok = unsafe { sys::wasm_runtime_full_init(&mut args) };
                if ok {
                    // WAMR logs with printf, onto the program's stdout; its
                    // errors reach us through error buffers instead.
                    // SAFETY: the runtime is initialised.
                    unsafe { sys::wasm_runtime_set_log_level(sys::WASM_LOG_LEVEL_FATAL) };
                    Ok(Runtime { _private: () })
                } else {
                    Err(Error::RuntimeInit)
                }
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Loads a module from its binary form. WAMR's error text is kept in the error.
    ///
    /// The sections are checked first (layout.rs): WAMR allocates for what a
    /// module declares before it finds out the file does not hold it. WAMR is
    /// asked to keep nothing of the bytes, which are freed after loading
    /// when it says it can do without them.
    ///
    /// Bytes in WAMR's AOT format (native code, see [`Runtime::load_compiled`])
    /// load as they are, as crun loads them, when their format is this
    /// WAMR's.
    pub fn load(&self, bytes: Vec<u8>) -> Result<Module<'_>, Error> {
        if bytes.starts_with(AOT_MAGIC) {
            check_aot_code(&bytes)?;
            return self.load_checked(Binary::Owned(bytes.into_boxed_slice()), Ok(None));
        }
        // Checked before WAMR sees the bytes, which its loader may also
        // write into.
        check_layout(&bytes)?;
        let memory = layout::memory_limits(&bytes);
        self.load_checked(Binary::Owned(bytes.into_boxed_slice()), memory)
    }

    /// Loads `code` that youki-wamrc compiled from the binary module `wasm`,
    /// whose memory limits the module gets. The code is native: only code
    /// that youki-wamrc wrote (with its bounds checks) is safe to load.
    pub fn load_compiled(&self, code: MappedCode, wasm: &[u8]) -> Result<Module<'_>, Error> {
        check_aot_code(code.as_slice())?;
        self.load_checked(Binary::Mapped(code), layout::memory_limits(wasm))
    }

    fn load_checked(
        &self,
        mut bytes: Binary,
        memory: Result<Option<MemoryLimits>, String>,
    ) -> Result<Module<'_>, Error> {
        let binary_size = bytes.as_slice().len();
        let len = u32::try_from(binary_size).map_err(|_| Error::ModuleTooLarge(binary_size))?;
        // WAMR 2.4.3's AOT loader decides whether to copy data segments out
        // of the buffer before it records that the buffer may be freed, so
        // it keeps pointers into it (and frees them at unload): AOT code is
        // kept for the module's life.
        let freeable = !bytes.as_slice().starts_with(AOT_MAGIC);
        let args = sys::LoadArgs {
            name: c"".as_ptr().cast_mut(),
            clone_wasm_binary: false,
            wasm_binary_freeable: freeable,
            no_resolve: false,
        };
        let mut error = [0 as c_char; ERROR_BUF_LEN];
        // SAFETY: the buffer pointer and length describe `bytes`, which the
        // returned Module owns and keeps alive (and unmoved: boxed or mapped) until
        // after wasm_runtime_unload unless WAMR reports it no longer needs them.
        // `args` and its name, a static C string WAMR only reads, outlive the
        // call. The error buffer is writable for ERROR_BUF_LEN bytes.
        let raw = unsafe {
            sys::wasm_runtime_load_ex(
                bytes.as_mut_ptr(),
                len,
                &args,
                error.as_mut_ptr(),
                ERROR_BUF_LEN as u32,
            )
        };
        let Some(raw) = NonNull::new(raw) else {
            return Err(Error::Load(c_text(&error)));
        };
        let mut module = Module {
            raw,
            memory: None,
            binary_size,
            bytes,
            _runtime: PhantomData,
        };
        // If it fails, dropping `module` unloads it.
        module.memory = memory.map_err(Error::Load)?;
        // SAFETY: `raw` is a live module.
        if unsafe { sys::wasm_runtime_is_underlying_binary_freeable(raw.as_ptr()) } {
            module.bytes = Binary::Owned(Box::default());
        }
        Ok(module)
    }
}

/// A loaded (validated) module. It can be instantiated several times.
#[derive(Debug)]
pub struct Module<'rt> {
    raw: NonNull<sys::WASMModuleCommon>,
    memory: Option<MemoryLimits>,
    binary_size: usize,
    // WAMR's loader keeps pointers into the module's bytes, unless it says
    // they can be freed (then this is empty).
    bytes: Binary,
    _runtime: PhantomData<&'rt Runtime>,
}

/// A module's bytes as WAMR got them: read into the heap, or AOT code mapped
/// from its file.
#[derive(Debug)]
enum Binary {
    Owned(Box<[u8]>),
    Mapped(MappedCode),
}

impl Binary {
    fn as_slice(&self) -> &[u8] {
        match self {
            Binary::Owned(bytes) => bytes,
            Binary::Mapped(code) => code.as_slice(),
        }
    }

    fn as_mut_ptr(&mut self) -> *mut u8 {
        match self {
            Binary::Owned(bytes) => bytes.as_mut_ptr(),
            Binary::Mapped(code) => code.as_mut_ptr(),
        }
    }
}

impl Drop for Module<'_> {
    fn drop(&mut self) {
        // SAFETY: `raw` came from wasm_runtime_load and is unloaded once; every
        // Instance borrows the Module, so none is alive any more.
        unsafe { sys::wasm_runtime_unload(self.raw.as_ptr()) }
    }
}

/// What a WASI program sees: arguments, environment, directories, stdio.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WasiConfig {
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// (guest path, host path)
    preopens: Vec<(String, PathBuf)>,
    stdio: Option<[RawFd; 3]>,
}

impl WasiConfig {
    pub fn new() -> Self {
        Self::default()
    }

    /// The program's arguments, `argv[0]` included.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// The program's whole environment.
    pub fn env<I, K, V>(mut self, env: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env = env.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        self
    }

    /// Makes the host directory `host` visible to the program as `guest`.
    pub fn preopen(mut self, guest: impl Into<String>, host: impl AsRef<Path>) -> Self {
        self.preopens
            .push((guest.into(), host.as_ref().to_path_buf()));
        self
    }

    /// The host file descriptors behind the program's stdin, stdout and stderr
    /// (by default the process's own 0, 1 and 2).
    pub fn stdio(mut self, stdin: RawFd, stdout: RawFd, stderr: RawFd) -> Self {
        self.stdio = Some([stdin, stdout, stderr]);
        self
    }
}

/// Sizes of an instance. `Default` follows WAMR's `iwasm` tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceConfig {
    /// WAMR's operand and frame stack for the module, in bytes.
    pub stack_size: u32,
    /// The host-managed heap WAMR adds beside linear memory, in bytes.
    pub heap_size: u32,
    /// Caps linear memory at this many 64 KiB pages (never below the
    /// module's initial size, never above its declared maximum).
    pub max_memory_pages: Option<u32>,
}

impl Default for InstanceConfig {
    fn default() -> Self {
        Self {
            stack_size: 64 * 1024,
            heap_size: 16 * 1024,
            max_memory_pages: None,
        }
    }
}

/// C strings and the pointer arrays WAMR reads them through, kept together
/// so the pointers cannot outlive the strings.
struct CStrings {
    _owned: Vec<CString>,
    pointers: Vec<*const c_char>,
}

impl CStrings {
    fn new(what: &'static str, values: impl IntoIterator<Item = String>) -> Result<Self, Error> {
        let owned = values
            .into_iter()
            .map(|value| CString::new(value.clone()).map_err(|_| Error::NulByte { what, value }))
            .collect::<Result<Vec<_>, _>>()?;
        let pointers = owned.iter().map(|s| s.as_ptr()).collect();
        Ok(Self {
            _owned: owned,
            pointers,
        })
    }

    fn count(&self, what: &'static str) -> Result<u32, Error> {
        u32::try_from(self.pointers.len()).map_err(|_| Error::TooMany(what))
    }
}

/// WAMR's InstantiationArgs2, destroyed on drop.
struct InstantiationArgs(NonNull<sys::InstantiationArgs2>);

impl InstantiationArgs {
    fn new() -> Result<Self, Error> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: `raw` is a valid out-pointer; WAMR allocates the object.
        let ok = unsafe { sys::wasm_runtime_instantiation_args_create(&mut raw) };
        match NonNull::new(raw) {
            Some(raw) if ok => Ok(Self(raw)),
            _ => Err(Error::OutOfMemory),
        }
    }
}

impl Drop for InstantiationArgs {
    fn drop(&mut self) {
        // SAFETY: the pointer came from wasm_runtime_instantiation_args_create
        // and is destroyed once.
        unsafe { sys::wasm_runtime_instantiation_args_destroy(self.0.as_ptr()) }
    }
}

impl<'rt> Module<'rt> {
    /// Imported functions neither WASI nor anything else provides, as
    /// `module.name`. WAMR would only trap when one is called.
    pub fn unlinked_imports(&self) -> Vec<String> {
        // SAFETY: `raw` is a live module.
        let count = unsafe { sys::wasm_runtime_get_import_count(self.raw.as_ptr()) };
        (0..count.max(0))
            .filter_map(|index| {
                let mut import = sys::wasm_import_t::default();
                // SAFETY: `index` is in range and `import` is a valid out-pointer.
                unsafe { sys::wasm_runtime_get_import_type(self.raw.as_ptr(), index, &mut import) };
                if import.kind != sys::WASM_IMPORT_EXPORT_KIND_FUNC || import.linked {
                    return None;
                }
                // SAFETY: WAMR fills both names with nul-terminated strings
                // owned by the module, which is alive; we copy them.
                let (module, name) = unsafe {
                    (
                        CStr::from_ptr(import.module_name),
                        CStr::from_ptr(import.name),
                    )
                };
                Some(format!(
                    "{}.{}",
                    module.to_string_lossy(),
                    name.to_string_lossy()
                ))
            })
            .collect()
    }

    /// Whether the module exports a function named `name`.
    pub fn exports_function(&self, name: &str) -> bool {
        self.exported_function_arity(name).is_some()
    }

    /// The number of parameters and results of the exported function `name`.
    fn exported_function_arity(&self, name: &str) -> Option<(u32, u32)> {
        // SAFETY: `raw` is a live module.
        let count = unsafe { sys::wasm_runtime_get_export_count(self.raw.as_ptr()) };
        (0..count.max(0)).find_map(|index| {
            let mut export = sys::wasm_export_t::default();
            // SAFETY: `index` is in range and `export` is a valid out-pointer.
            unsafe { sys::wasm_runtime_get_export_type(self.raw.as_ptr(), index, &mut export) };
            // SAFETY: WAMR fills the name with a nul-terminated string owned
            // by the live module.
            let export_name = unsafe { CStr::from_ptr(export.name) };
            if export.kind != sys::WASM_IMPORT_EXPORT_KIND_FUNC
                || export_name.to_bytes() != name.as_bytes()
            {
                return None;
            }
            // SAFETY: for a function export WAMR sets `func_type`, a type
            // owned by the live module.
            let arity = unsafe {
                let func_type = export.u.func_type;
                (
                    sys::wasm_func_type_get_param_count(func_type),
                    sys::wasm_func_type_get_result_count(func_type),
                )
            };
            Some(arity)
        })
    }

    /// Checks that the module is a WASI command: it exports `_start`, a
    /// function that takes and returns nothing. Runs no guest code.
    pub fn check_command(&self) -> Result<(), Error> {
        match self.exported_function_arity("_start") {
            None => Err(Error::NoStart),
            Some((0, 0)) => Ok(()),
            Some((params, results)) => Err(Error::StartSignature { params, results }),
        }
    }

    /// The limits of the module's linear memory, exported or not.
    pub fn memory(&self) -> Option<MemoryLimits> {
        self.memory
    }

    /// The size of the module's binary.
    pub fn binary_size(&self) -> usize {
        self.binary_size
    }

    /// Whether WAMR still needs the module's bytes (they stay in memory).
    pub fn keeps_binary(&self) -> bool {
        !self.bytes.as_slice().is_empty()
    }

    /// Instantiates the module with a WASI environment. Fails on imports that
    /// nothing provides, rather than trapping later when one is called.
    pub fn instantiate(
        &self,
        wasi: &WasiConfig,
        config: &InstanceConfig,
    ) -> Result<Instance<'_>, Error> {
        let unlinked = self.unlinked_imports();
        if !unlinked.is_empty() {
            return Err(Error::Instantiate(format!(
                "unknown imports: {}",
                unlinked.join(", ")
            )));
        }
        let args = CStrings::new("an argument", wasi.args.iter().cloned())?;
        let env = CStrings::new(
            "an environment variable",
            wasi.env.iter().map(|(k, v)| format!("{k}={v}")),
        )?;
        // WAMR maps host directories to guest paths with "guest::host".
        let mapped = CStrings::new(
            "a preopened directory",
            wasi.preopens
                .iter()
                .map(|(guest, host)| format!("{guest}::{}", host.display())),
        )?;
        let argc = i32::try_from(args.pointers.len()).map_err(|_| Error::TooMany("arguments"))?;
        let env_count = env.count("environment variables")?;
        let mapped_count = mapped.count("preopened directories")?;

        let params = InstantiationArgs::new()?;
        let p = params.0.as_ptr();
        // SAFETY: `p` is a live InstantiationArgs2. The setters store the
        // pointers they are given; `args`, `env` and `mapped` own the strings
        // and arrays behind them and live until after wasm_runtime_instantiate_ex2,
        // during which WAMR copies what it keeps (argv/environ buffers, and the
        // preopened directory handles it opens).
        unsafe {
            sys::wasm_runtime_instantiation_args_set_default_stack_size(p, config.stack_size);
            sys::wasm_runtime_instantiation_args_set_host_managed_heap_size(p, config.heap_size);
            if let Some(pages) = config.max_memory_pages {
                sys::wasm_runtime_instantiation_args_set_max_memory_pages(p, pages);
            }
            // WAMR takes `char *argv[]` but only reads it.
            sys::wasm_runtime_instantiation_args_set_wasi_arg(
                p,
                args.pointers.as_ptr() as *mut *mut c_char,
                argc,
            );
            sys::wasm_runtime_instantiation_args_set_wasi_env(
                p,
                env.pointers.as_ptr() as *mut _,
                env_count,
            );
            sys::wasm_runtime_instantiation_args_set_wasi_dir(
                p,
                std::ptr::null_mut(),
                0,
                mapped.pointers.as_ptr() as *mut _,
                mapped_count,
            );
            let [stdin, stdout, stderr] = wasi.stdio.unwrap_or([0, 1, 2]);
            sys::wasm_runtime_instantiation_args_set_wasi_stdio(
                p,
                i64::from(stdin),
                i64::from(stdout),
                i64::from(stderr),
            );
        }

        let mut error = [0 as c_char; ERROR_BUF_LEN];
        // SAFETY: the module and args are live; the error buffer is writable
        // for ERROR_BUF_LEN bytes; the C strings above are still alive.
        let raw = unsafe {
            sys::wasm_runtime_instantiate_ex2(
                self.raw.as_ptr(),
                p,
                error.as_mut_ptr(),
                ERROR_BUF_LEN as u32,
            )
        };
        drop((args, env, mapped));
        match NonNull::new(raw) {
            Some(raw) => Ok(Instance {
                raw,
                stack_size: config.stack_size,
                _module: PhantomData,
            }),
            None => Err(instantiation_error(c_text(&error))),
        }
    }
}

/// WAMR reports both kinds of instantiation failure in one buffer: its own
/// (`WASM module instantiate failed: <reason>`) and a trap of guest code run
/// while instantiating (`... failed: Exception: <reason>`).
fn instantiation_error(text: String) -> Error {
    let reason = text
        .strip_prefix("WASM module instantiate failed: ")
        .unwrap_or(&text);
    match reason.strip_prefix("Exception: ") {
        Some(trap) => Error::StartTrapped(trap.to_owned()),
        None => Error::Instantiate(text),
    }
}

/// How `_start` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The program returned from `_start` (code 0) or called `proc_exit(code)`.
    Exited(i32),
    /// The program trapped; WAMR's message says why.
    Trapped(String),
}

/// An instantiated module; it cannot outlive its [`Module`].
#[derive(Debug)]
pub struct Instance<'m> {
    raw: NonNull<sys::WASMModuleInstanceCommon>,
    stack_size: u32,
    _module: PhantomData<&'m Module<'m>>,
}

impl Drop for Instance<'_> {
    fn drop(&mut self) {
        // SAFETY: `raw` came from wasm_runtime_instantiate_ex2 and is
        // deinstantiated once; the execution environments we created are gone.
        unsafe { sys::wasm_runtime_deinstantiate(self.raw.as_ptr()) }
    }
}

/// An execution environment, destroyed on drop.
struct ExecEnv(NonNull<sys::WASMExecEnv>);

impl Drop for ExecEnv {
    fn drop(&mut self) {
        // SAFETY: created by wasm_runtime_create_exec_env, destroyed once.
        unsafe { sys::wasm_runtime_destroy_exec_env(self.0.as_ptr()) }
    }
}

impl Instance<'_> {
    /// Runs the WASI command's `_start` and reports how it ended.
    pub fn run_start(&mut self) -> Result<Outcome, Error> {
        let inst = self.raw.as_ptr();
        // SAFETY: `inst` is a live instance.
        let start = unsafe { sys::wasm_runtime_lookup_wasi_start_function(inst) };
        if start.is_null() {
            return Err(Error::NoStart);
        }
        // SAFETY: `inst` is live; the exec env is destroyed before the instance.
        let env = NonNull::new(unsafe { sys::wasm_runtime_create_exec_env(inst, self.stack_size) })
            .map(ExecEnv)
            .ok_or(Error::ExecEnv)?;
        // SAFETY: `start` belongs to `inst`, takes no parameters and returns
        // nothing, so argc 0 and a null argv are what it expects.
        let ok =
            unsafe { sys::wasm_runtime_call_wasm(env.0.as_ptr(), start, 0, std::ptr::null_mut()) };
        drop(env);
        if ok {
            return Ok(Outcome::Exited(0));
        }
        let exception = self.exception().unwrap_or_default();
        if exception.contains(PROC_EXIT_EXCEPTION) {
            // SAFETY: `inst` is live and was instantiated in WASI mode.
            let code = unsafe { sys::wasm_runtime_get_wasi_exit_code(inst) };
            // WASI exit codes are u32; a process keeps the low 8 bits.
            return Ok(Outcome::Exited((code & 0xff) as i32));
        }
        Ok(Outcome::Trapped(
            exception.trim_start_matches("Exception: ").to_owned(),
        ))
    }

    fn exception(&self) -> Option<String> {
        // SAFETY: `raw` is live; WAMR returns null or a nul-terminated string
        // inside the instance, which we copy before anything can change it.
        let text = unsafe { sys::wasm_runtime_get_exception(self.raw.as_ptr()) };
        if text.is_null() {
            return None;
        }
        // SAFETY: non-null and nul-terminated, per WAMR's contract.
        Some(
            unsafe { CStr::from_ptr(text) }
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// The text of a nul-terminated C error buffer.
fn c_text(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(wat: &str) -> Module<'static> {
        let bytes = wat::parse_str(wat).expect("valid wat");
        Runtime::global()
            .unwrap()
            .load(bytes)
            .expect("module loads")
    }

    fn run(wat: &str, wasi: WasiConfig, config: InstanceConfig) -> Result<Outcome, Error> {
        let module = module(wat);
        let mut instance = module.instantiate(&wasi, &config)?;
        instance.run_start()
    }

    const EXIT_WITH: &str = r#"(module
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (func (export "_start") (call $exit (i32.const 42))))"#;

    #[test]
    fn runtime_is_initialised_once() {
        let a = Runtime::global().unwrap() as *const Runtime;
        let b = Runtime::global().unwrap() as *const Runtime;
        assert_eq!(a, b);
    }

    #[test]
    fn load_error_keeps_wamr_text() {
        let err = Runtime::global()
            .unwrap()
            .load(b"not wasm".to_vec())
            .unwrap_err();
        assert!(
            matches!(&err, Error::Load(text) if text.contains("magic header not detected")),
            "{err}"
        );
    }

    #[test]
    fn proc_exit_code_is_kept() {
        let outcome = run(EXIT_WITH, WasiConfig::new(), InstanceConfig::default()).unwrap();
        assert_eq!(outcome, Outcome::Exited(42));
    }

    #[test]
    fn returning_from_start_is_exit_zero() {
        let wat = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;
        assert_eq!(
            run(wat, WasiConfig::new(), InstanceConfig::default()).unwrap(),
            Outcome::Exited(0)
        );
    }

    #[test]
    fn trap_reports_wamr_message() {
        let wat = r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#;
        let outcome = run(wat, WasiConfig::new(), InstanceConfig::default()).unwrap();
        assert!(
            matches!(&outcome, Outcome::Trapped(m) if m.contains("unreachable")),
            "{outcome:?}"
        );
    }

    #[test]
    fn missing_start_is_an_error() {
        let wat = r#"(module (memory (export "memory") 1) (func (export "main")))"#;
        assert!(!module(wat).exports_function("_start"));
        assert!(module(wat).exports_function("main"));
        assert_eq!(
            run(wat, WasiConfig::new(), InstanceConfig::default()),
            Err(Error::NoStart)
        );
    }

    #[test]
    fn a_command_needs_a_start_without_parameters_or_results() {
        let library = r#"(module (memory (export "memory") 1) (func (export "main")))"#;
        assert_eq!(module(library).check_command(), Err(Error::NoStart));
        // WAMR's loader refuses a WASI `_start` of another type itself.
        let typed = r#"(module (memory (export "memory") 1)
            (func (export "_start") (param i32) (result i32) local.get 0))"#;
        let err = Runtime::global()
            .unwrap()
            .load(wat::parse_str(typed).unwrap())
            .unwrap_err();
        assert!(
            err.to_string().contains("_start function is wrong"),
            "{err}"
        );
        assert_eq!(module(EXIT_WITH).check_command(), Ok(()));
        // The fast interpreter needs nothing of the binary once loaded.
        assert!(!module(EXIT_WITH).keeps_binary());
    }

    #[test]
    fn loading_runs_no_guest_code_and_a_start_section_trap_is_reported() {
        // The start section traps, so only instantiating can run it.
        let wat = r#"(module (memory (export "memory") 2 5) (func $boom unreachable) (start $boom)
            (func (export "_start")))"#;
        let module = module(wat);
        assert_eq!(module.check_command(), Ok(()));
        assert_eq!(
            module.memory(),
            Some(MemoryLimits {
                initial_pages: 2,
                max_pages: Some(5)
            })
        );
        let err = module
            .instantiate(&WasiConfig::new(), &InstanceConfig::default())
            .unwrap_err();
        assert!(
            matches!(&err, Error::StartTrapped(reason) if reason == "unreachable"),
            "{err:?}"
        );
    }

    #[test]
    fn unresolved_import_fails_instantiation() {
        let wat = r#"(module (import "env" "nothing" (func)) (memory (export "memory") 1)
            (func (export "_start") (call 0)))"#;
        let err = run(wat, WasiConfig::new(), InstanceConfig::default()).unwrap_err();
        assert_eq!(
            err,
            Error::Instantiate("unknown imports: env.nothing".to_owned())
        );
        assert!(module(EXIT_WITH).unlinked_imports().is_empty());
    }

    #[test]
    fn max_memory_pages_caps_memory_grow() {
        // Exits with memory.grow's result: the old size on success, -1 (255) on failure.
        let wat = r#"(module
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory (export "memory") 1 100)
            (func (export "_start") (call $exit (memory.grow (i32.const 10)))))"#;
        let capped = InstanceConfig {
            max_memory_pages: Some(4),
            ..Default::default()
        };
        assert_eq!(
            run(wat, WasiConfig::new(), capped).unwrap(),
            Outcome::Exited(255)
        );
        // WAMR places its host-managed heap in linear memory, so the old size
        // may be more than the module's one page; it must not be -1.
        let roomy = InstanceConfig {
            max_memory_pages: Some(50),
            ..Default::default()
        };
        let outcome = run(wat, WasiConfig::new(), roomy).unwrap();
        assert!(matches!(outcome, Outcome::Exited(1..=2)), "{outcome:?}");
    }

    #[test]
    fn nul_bytes_are_rejected() {
        let wasi = WasiConfig::new().args(["a\0b"]);
        let err = run(EXIT_WITH, wasi, InstanceConfig::default()).unwrap_err();
        assert!(matches!(
            err,
            Error::NulByte {
                what: "an argument",
                ..
            }
        ));
    }

    #[test]
    fn args_env_and_preopens_reach_the_program() {
        // Exits with argc * 10 + environ count, read through WASI.
        let wat = r#"(module
            (import "wasi_snapshot_preview1" "args_sizes_get" (func $args (param i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "environ_sizes_get" (func $envs (param i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory (export "memory") 1)
            (func (export "_start")
                (drop (call $args (i32.const 0) (i32.const 4)))
                (drop (call $envs (i32.const 8) (i32.const 12)))
                (call $exit (i32.add (i32.mul (i32.load (i32.const 0)) (i32.const 10))
                                     (i32.load (i32.const 8))))))"#;
        let dir = tempfile::tempdir().unwrap();
        let wasi = WasiConfig::new()
            .args(["prog", "a", "b"])
            .env([("A", "1"), ("B", "2")])
            .preopen("/", dir.path());
        assert_eq!(
            run(wat, wasi, InstanceConfig::default()).unwrap(),
            Outcome::Exited(32)
        );
    }
}
