//! youki-wamrc: compiles a WebAssembly module ahead of time into WAMR's AOT
//! format, for this machine, for the WAMR that youki links (libwamr).
//!
//! ```text
//! youki-wamrc [--expect-identity ID] MODULE.wasm OUTPUT.aot
//! youki-wamrc --precompile MODULE.wasm...   into youki's cache; prints each entry
//! youki-wamrc --identity      the identity of the code it writes
//! youki-wamrc --version
//! ```
//!
//! `--precompile` warms a node: it fills the cache youki reads at `create`
//! (`$YOUKI_WAMR_AOT_CACHE`, else /var/cache/youki/wamr-aot) with the
//! entries youki would look for, so no container waits for a compile.
//!
//! youki runs it in a process of its own on a cache miss (never inside a
//! container), passing the identity it keys its cache with: a compiler of
//! another WAMR version, AOT format or option set refuses instead of
//! writing code the runtime would misread.
//!
//! The code keeps every check the interpreter makes: software bounds checks
//! on each linear-memory access and native stack-overflow checks, so a module
//! that goes out of bounds traps instead of crashing its container.

use std::ffi::{CStr, c_char};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code
)]
#[allow(clippy::all)]
mod sys {
    include!(concat!(env!("OUT_DIR"), "/aot.rs"));
}

const WAMR_VERSION: &str = env!("WAMR_VERSION");
const AOT_FORMAT: &str = env!("WAMR_AOT_FORMAT");

fn identity() -> String {
    let format = AOT_FORMAT.parse().expect("build.rs writes a number");
    wamr_config::aot_identity(WAMR_VERSION, format)
}

fn main() -> ExitCode {
    match run(std::env::args_os().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("youki-wamrc: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(mut args: Vec<std::ffi::OsString>) -> Result<(), String> {
    match args.first().and_then(|a| a.to_str()) {
        Some("--version") => {
            println!(
                "youki-wamrc {} (WAMR {WAMR_VERSION}, AOT format {AOT_FORMAT}, LLVM {})",
                env!("CARGO_PKG_VERSION"),
                env!("YOUKI_WAMRC_LLVM_VERSION")
            );
            return Ok(());
        }
        Some("--identity") => {
            println!("{}", identity());
            return Ok(());
        }
        Some("--precompile") => {
            if args.len() < 2 {
                return Err("--precompile needs at least one module".into());
            }
            for module in &args[1..] {
                println!("{}", precompile(Path::new(module))?.display());
            }
            return Ok(());
        }
        Some("--expect-identity") => {
            let expected = args.get(1).ok_or("--expect-identity needs a value")?;
            if *expected != *identity() {
                return Err(format!(
                    "this compiler writes {}, not {}",
                    identity(),
                    expected.to_string_lossy()
                ));
            }
            args.drain(..2);
        }
        _ => {}
    }
    let [input, output] = <[_; 2]>::try_from(args).map_err(|_| {
        "usage: youki-wamrc [--expect-identity ID] MODULE.wasm OUTPUT.aot".to_owned()
    })?;
    let (input, output) = (PathBuf::from(input), PathBuf::from(output));
    let wasm =
        std::fs::read(&input).map_err(|e| format!("could not read {}: {e}", input.display()))?;
    let aot = compile(&wasm).map_err(|e| format!("could not compile {}: {e}", input.display()))?;
    write(&output, &aot).map_err(|e| format!("could not write {}: {e}", output.display()))
}

/// Compiles `module` into youki's cache; returns the entry's path.
fn precompile(module: &Path) -> Result<PathBuf, String> {
    use wamr_config::cache::{cache_dir, entry_path, module_sha256, prepare_cache_dir};
    let wasm =
        std::fs::read(module).map_err(|e| format!("could not read {}: {e}", module.display()))?;
    if !wasm.starts_with(b"\0asm") {
        return Err(format!("{} is not a binary wasm module", module.display()));
    }
    let dir = cache_dir();
    prepare_cache_dir(&dir)?;
    let entry = entry_path(&dir, &module_sha256(&wasm), &identity());
    let aot = compile(&wasm).map_err(|e| format!("could not compile {}: {e}", module.display()))?;
    write(&entry, &aot).map_err(|e| format!("could not write {}: {e}", entry.display()))?;
    wamr_config::cache::record_digest(&entry)?;
    Ok(entry)
}

/// The options: see wamr_config::AOT_OPTIONS, which names them.
fn options() -> sys::AOTCompOption {
    sys::AOTCompOption {
        opt_level: 3,
        size_level: 3,
        output_format: sys::AOT_FORMAT_FILE,
        bounds_checks: 1,
        stack_bounds_checks: 1,
        enable_aux_stack_check: true,
        enable_bulk_memory: wamr_config::enabled("WAMR_BUILD_BULK_MEMORY"),
        enable_bulk_memory_opt: wamr_config::enabled("WAMR_BUILD_BULK_MEMORY"),
        enable_ref_types: wamr_config::enabled("WAMR_BUILD_REF_TYPES"),
        enable_call_indirect_overlong: wamr_config::enabled("WAMR_BUILD_REF_TYPES"),
        ..Default::default()
    }
}

fn compile(wasm: &[u8]) -> Result<Vec<u8>, String> {
    let _banner = StdoutToStderr::new();
    let size = u32::try_from(wasm.len()).map_err(|_| "the module is over 4 GiB".to_owned())?;
    let mut init = sys::RuntimeInitArgs {
        mem_alloc_type: sys::Alloc_With_System_Allocator,
        ..Default::default()
    };
    // SAFETY: init is a valid, initialised RuntimeInitArgs for the call.
    if !unsafe { sys::wasm_runtime_full_init(&mut init) } {
        return Err("could not initialise WAMR".into());
    }
    // WAMR may rewrite the bytes it loads; it gets a copy it owns for as long
    // as the module lives.
    let mut bytes = wasm.to_vec();
    let mut error = [0 as c_char; 256];
    // SAFETY: bytes and error are valid for their lengths and outlive the
    // module, which is unloaded below before either is dropped.
    let module = unsafe {
        sys::wasm_runtime_load(
            bytes.as_mut_ptr(),
            size,
            error.as_mut_ptr(),
            error.len() as u32,
        )
    };
    if module.is_null() {
        // SAFETY: WAMR wrote a nul-terminated message into error.
        return Err(unsafe { CStr::from_ptr(error.as_ptr()) }
            .to_string_lossy()
            .into_owned());
    }
    let result = compile_loaded(module.cast());
    // SAFETY: module came from wasm_runtime_load and is unloaded once.
    unsafe { sys::wasm_runtime_unload(module) };
    drop(bytes);
    result
}

fn compile_loaded(module: *mut std::ffi::c_void) -> Result<Vec<u8>, String> {
    // SAFETY: module is a loaded module; a null target means this machine.
    let data = unsafe { sys::aot_create_comp_data(module, std::ptr::null(), false) };
    if data.is_null() {
        return Err(last_error());
    }
    let mut option = options();
    // SAFETY: data is valid; option lives across the call, which copies it.
    let context = unsafe { sys::aot_create_comp_context(data, &mut option) };
    let result = if context.is_null() {
        Err(last_error())
    } else {
        let result = emit(context, data);
        // SAFETY: context came from aot_create_comp_context, destroyed once.
        unsafe { sys::aot_destroy_comp_context(context) };
        result
    };
    // SAFETY: data came from aot_create_comp_data, destroyed once, after
    // the context that used it.
    unsafe { sys::aot_destroy_comp_data(data) };
    result
}

fn emit(context: sys::aot_comp_context_t, data: sys::aot_comp_data_t) -> Result<Vec<u8>, String> {
    // SAFETY: context and data are valid and belong together.
    if !unsafe { sys::aot_compile_wasm(context) } {
        return Err(last_error());
    }
    // SAFETY: as above.
    let object = unsafe { sys::aot_obj_data_create(context) };
    if object.is_null() {
        return Err(last_error());
    }
    // SAFETY: context, data and object are valid and belong together.
    let size = unsafe { sys::aot_get_aot_file_size(context, data, object) };
    let mut aot = vec![0u8; size as usize];
    // SAFETY: aot is a buffer of exactly the size WAMR asked for.
    let written = size != 0
        && unsafe { sys::aot_emit_aot_file_buf_ex(context, data, object, aot.as_mut_ptr(), size) };
    // SAFETY: object came from aot_obj_data_create and is destroyed once.
    unsafe { sys::aot_obj_data_destroy(object) };
    if written { Ok(aot) } else { Err(last_error()) }
}

fn last_error() -> String {
    // SAFETY: WAMR returns a pointer to its static, nul-terminated buffer.
    let text = unsafe { sys::aot_get_last_error() };
    if text.is_null() {
        return "unknown error".into();
    }
    // SAFETY: see above.
    let text = unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .trim()
        .to_owned();
    if text.is_empty() {
        "unknown error".into()
    } else {
        text
    }
}

/// WAMR prints a banner on stdout (target, CPU, levels) for every compile;
/// stdout carries `--precompile`'s entry paths, so the banner goes to
/// stderr while this lives.
struct StdoutToStderr(Option<std::os::fd::OwnedFd>);

impl StdoutToStderr {
    fn new() -> Self {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        // SAFETY: dup and dup2 on the process's standard descriptors; the
        // saved copy is owned here and restored on drop.
        let saved = unsafe {
            let fd = libc::dup(1);
            if fd < 0 || libc::dup2(2, 1) < 0 {
                return Self(None);
            }
            std::os::fd::FromRawFd::from_raw_fd(fd)
        };
        Self(Some(saved))
    }
}

impl Drop for StdoutToStderr {
    fn drop(&mut self) {
        if let Some(saved) = self.0.take() {
            // SAFETY: flushes C's buffered stdout (WAMR's printf) while it
            // still goes to stderr, then restores stdout from the copy taken
            // in new().
            unsafe {
                libc::fflush(std::ptr::null_mut());
                libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&saved), 1);
            }
        }
    }
}

/// Writes next to the output and renames, so a reader never sees half a file.
fn write(output: &Path, aot: &[u8]) -> std::io::Result<()> {
    let mut partial = output.as_os_str().to_owned();
    partial.push(format!(".partial-{}", std::process::id()));
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, aot)
        .and_then(|()| std::fs::File::open(&partial)?.sync_all())
        .and_then(|()| std::fs::rename(&partial, output))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&partial);
        })
}
