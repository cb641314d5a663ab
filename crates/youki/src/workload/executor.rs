//! The executor chain: the Wasm engine a container asks for, else the native
//! executor from libcontainer.

use std::collections::HashMap;

use libcontainer::workload::{
    Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError,
};
use oci_spec::runtime::Spec;

use super::{WasmRequest, wasm_request};

/// A Wasm engine compiled into this build.
struct Engine {
    /// The name `run.oci.handler` selects it by.
    handler: &'static str,
    executor: fn() -> Box<dyn Executor>,
}

/// The engines compiled in. The first one also runs containers that ask for
/// any engine (`run.oci.handler=wasm`, `module.wasm.image/variant=compat`).
const ENGINES: &[Engine] = &[
    #[cfg(feature = "wasm-wamr")]
    Engine {
        handler: super::wamr::HANDLER,
        executor: super::wamr::get_executor,
    },
    #[cfg(feature = "wasm-wasmtime")]
    Engine {
        handler: super::wasmtime::HANDLER,
        executor: super::wasmtime::get_executor,
    },
    #[cfg(feature = "wasm-wasmer")]
    Engine {
        handler: super::wasmer::HANDLER,
        executor: super::wasmer::get_executor,
    },
    #[cfg(feature = "wasm-wasmedge")]
    Engine {
        handler: super::wasmedge::HANDLER,
        executor: super::wasmedge::get_executor,
    },
];

pub fn engine_names() -> Vec<&'static str> {
    ENGINES.iter().map(|engine| engine.handler).collect()
}

/// The executor youki gives libcontainer for every container.
pub fn default_executor() -> ChainExecutor {
    ChainExecutor {}
}

#[derive(Clone)]
pub struct ChainExecutor {}

impl ChainExecutor {
    /// The executor for this spec: a Wasm engine, or the native one.
    fn choose(spec: &Spec) -> Result<Box<dyn Executor>, String> {
        let engine = match wasm_request(spec) {
            WasmRequest::Native => return Ok(libcontainer::workload::default::get_executor()),
            WasmRequest::AnyEngine => ENGINES.first().ok_or_else(|| {
                "this is a wasm container, but this youki was built without a wasm engine \
                 (build with --features wasm-wasmtime or another wasm-* feature)"
                    .to_owned()
            })?,
            WasmRequest::Engine(name) => {
                ENGINES.iter().find(|e| e.handler == name).ok_or_else(|| {
                    format!(
                        "run.oci.handler={name} names a wasm engine this youki was not built \
                         with (built in: {})",
                        if ENGINES.is_empty() {
                            "none".to_owned()
                        } else {
                            engine_names().join(", ")
                        }
                    )
                })?
            }
        };
        tracing::debug!(
            engine = engine.handler,
            "running the container on a wasm engine"
        );
        Ok((engine.executor)())
    }
}

impl Executor for ChainExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        Self::choose(spec).map_err(ExecutorError::Other)?.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        Self::choose(spec)
            .map_err(ExecutorValidationError::ArgValidationError)?
            .validate(spec)
    }

    fn setup_envs(&self, envs: HashMap<String, String>) -> Result<(), ExecutorSetEnvsError> {
        // Engines receive `process.env` explicitly; the process's own
        // environment is set up the same way for all of them.
        libcontainer::workload::default::get_executor().setup_envs(envs)
    }
}
