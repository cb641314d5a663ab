//! The executor chain: the Wasm engine a container asks for, else the native
//! executor from libcontainer.

use std::collections::HashMap;

use libcontainer::workload::{
    Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError,
};
use oci_spec::runtime::Spec;

use super::{WasmRequest, wasm_request};

/// What youki knows about the process it starts that the spec does not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Launch {
    /// Started by `youki exec` in a running container, not as its init.
    pub exec: bool,
    /// For `exec`: the container cgroup's memory limit and use when the
    /// process started. A Wasm engine caps its memory at what is left.
    pub memory: Option<MemoryUse>,
}

pub use youki_wasm_workload::MemoryUse;

/// A Wasm engine compiled into this build.
struct Engine {
    /// The name `run.oci.handler` selects it by.
    handler: &'static str,
    executor: fn(&Launch) -> Box<dyn Executor>,
    /// Work done on the host in `create` before the container's init
    /// exists, which inherits its result (WAMR: compiled code).
    prepare: Option<fn(&Spec, &std::path::Path)>,
}

/// The engines compiled in. The first one also runs containers that ask for
/// any engine (`run.oci.handler=wasm`, `module.wasm.image/variant=compat`).
const ENGINES: &[Engine] = &[
    #[cfg(feature = "wasm-wamr")]
    Engine {
        handler: super::wamr::HANDLER,
        executor: super::wamr::get_executor,
        prepare: Some(super::wamr::prepare),
    },
    #[cfg(feature = "wasm-wasmtime")]
    Engine {
        handler: super::wasmtime::HANDLER,
        executor: super::wasmtime::get_executor,
        prepare: None,
    },
    #[cfg(feature = "wasm-wasmer")]
    Engine {
        handler: super::wasmer::HANDLER,
        executor: super::wasmer::get_executor,
        prepare: None,
    },
    #[cfg(feature = "wasm-wasmedge")]
    Engine {
        handler: super::wasmedge::HANDLER,
        executor: super::wasmedge::get_executor,
        prepare: None,
    },
];

pub fn engine_names() -> Vec<&'static str> {
    ENGINES.iter().map(|engine| engine.handler).collect()
}

/// The executor youki gives libcontainer for a container's init process.
pub fn default_executor() -> ChainExecutor {
    ChainExecutor {
        launch: Launch::default(),
    }
}

/// The executor for a process `youki exec` starts in a running container.
pub fn exec_executor(memory: Option<MemoryUse>) -> ChainExecutor {
    ChainExecutor {
        launch: Launch { exec: true, memory },
    }
}

#[derive(Clone)]
pub struct ChainExecutor {
    launch: Launch,
}

impl ChainExecutor {
    /// The executor for this spec: a Wasm engine, or the native one.
    fn choose(&self, spec: &Spec) -> Result<Box<dyn Executor>, String> {
        let native = libcontainer::workload::default::get_executor;
        let request = wasm_request(spec);
        // A process exec'd into a Wasm container is a module only if its
        // file is one: `kubectl exec` of a shell must run the shell.
        if self.launch.exec && request != WasmRequest::Native && !exec_target_is_module(spec) {
            tracing::debug!("exec'd process is not a wasm module: running it natively");
            return Ok(native());
        }
        let Some(engine) = engine_for(request, spec)? else {
            return Ok(native());
        };
        tracing::debug!(
            engine = engine.handler,
            "running the container on a wasm engine"
        );
        Ok((engine.executor)(&self.launch))
    }
}

/// In `create`, on the host, before the container's init exists: what the
/// container's engine prepares for it. Errors are left to `validate`.
pub fn prepare_on_host(bundle: &std::path::Path) {
    let Ok(spec) = Spec::load(bundle.join("config.json")) else {
        return;
    };
    let request = wasm_request(&spec);
    // engine_for looks at a native container's entrypoint, a path only
    // meaningful inside the container: never on the host
    if request == WasmRequest::Native {
        return;
    }
    if let Ok(Some(engine)) = engine_for(request, &spec)
        && let Some(prepare) = engine.prepare
    {
        prepare(&spec, bundle);
    }
}

/// The Wasm engine for the request, or none for a native container.
fn engine_for(request: WasmRequest, spec: &Spec) -> Result<Option<&'static Engine>, String> {
    Ok(Some(match request {
        WasmRequest::Native => {
            // A module run as a native program fails at execve, after
            // `start`, with no message: say at `create` what to set.
            if !super::has_wasm_annotation(spec)
                && let Some(module) = entrypoint_module(spec)
            {
                return Err(format!(
                    "{} is a wasm module, but the container has no wasm annotation: set \
                         module.wasm.image/variant=compat (or run.oci.handler=wasm) to run it",
                    module.display()
                ));
            }
            return Ok(None);
        }
        WasmRequest::AnyEngine => ENGINES.first().ok_or_else(|| {
            "this is a wasm container, but this youki was built without a wasm engine \
                 (build with --features wasm-wasmtime or another wasm-* feature)"
                .to_owned()
        })?,
        WasmRequest::Engine(name) => ENGINES
            .iter()
            .find(|e| e.handler == name)
            .ok_or_else(|| unknown_handler(name))?,
    }))
}

impl Executor for ChainExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        self.choose(spec).map_err(ExecutorError::Other)?.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        // Each Wasm engine's `validate` also makes the process non-dumpable
        // before it waits for `start` (guest.rs).
        self.choose(spec)
            .map_err(ExecutorValidationError::ArgValidationError)?
            .validate(spec)
    }

    fn setup_envs(&self, envs: HashMap<String, String>) -> Result<(), ExecutorSetEnvsError> {
        // Engines receive `process.env` explicitly; the process's own
        // environment is set up the same way for all of them.
        libcontainer::workload::default::get_executor().setup_envs(envs)
    }
}

/// What `run.oci.handler=<name>` gets when no engine is called `name`.
fn unknown_handler(name: &str) -> String {
    let accepted = super::handler_names();
    if accepted.is_empty() {
        format!(
            "run.oci.handler={name} asks for a wasm engine, but this youki was built without \
             one (build with --features wasm-wamr or another wasm-* feature)"
        )
    } else {
        format!(
            "run.oci.handler={name} names a wasm engine this youki was not built with; it \
             accepts {} (or no handler, for a native container)",
            accepted.join(", ")
        )
    }
}

/// The container's entrypoint, if it is a Wasm module (see
/// [`exec_target_is_module`]) that exists.
fn entrypoint_module(spec: &Spec) -> Option<std::path::PathBuf> {
    let process = super::WasmProcess::from_spec(spec).ok()?;
    (process.module.is_file() && exec_target_is_module(spec)).then_some(process.module)
}

/// Whether the program a `youki exec` process names is a Wasm module, by its
/// content (`\0asm`) or, for the text format and for a file that does not
/// exist, by its name (`.wat`, `.wasm`: the engine then says what is wrong).
/// The file is looked up as an engine would look up the module.
fn exec_target_is_module(spec: &Spec) -> bool {
    let Ok(process) = super::WasmProcess::from_spec(spec) else {
        return false;
    };
    let extension = process.module.extension().and_then(|ext| ext.to_str());
    if process.module.is_file() {
        extension == Some("wat")
            || youki_wasm_workload::module_file::has_wasm_magic(&process.module)
    } else {
        matches!(extension, Some("wasm" | "wat"))
    }
}
