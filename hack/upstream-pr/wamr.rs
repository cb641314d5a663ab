//! WebAssembly containers on WAMR, the WebAssembly Micro Runtime (fast
//! interpreter), run in the container's init process.
//!
//! The executor itself is the `youki-wasm-workload` crate's, with its
//! behaviour:
//! - `validate` (at `create`) loads and checks the module: format, imports,
//!   `_start`, initial memory against the container's memory limit. It runs
//!   none of the module's code, and a bad module fails `create` with one line;
//! - `exec` (after `start`) drops what execve would have dropped, then runs the
//!   module's start section and `_start`;
//! - the exit code is the module's `proc_exit` code; a trap prints
//!   `wasm trap in <module>: <reason>` and exits 134 (128 + SIGABRT);
//! - SIGTERM and SIGINT end the container with 128 + the signal;
//! - `linux.resources.memory.limit` caps the module's memory pages, so that
//!   `memory.grow` fails instead of the container being OOM-killed.

use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

const EXECUTOR_NAME: &str = "wamr";

#[derive(Clone)]
pub struct WamrExecutor {
    inner: youki_wasm_workload::wamr::WamrExecutor,
}

impl Executor for WamrExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if !can_handle(spec) {
            return Err(ExecutorError::CantHandle(EXECUTOR_NAME));
        }

        tracing::debug!("executing workload with wamr handler");
        self.inner.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        if !can_handle(spec) {
            return Err(ExecutorValidationError::CantHandle(EXECUTOR_NAME));
        }

        self.inner.validate(spec)
    }
}

pub fn get_executor() -> WamrExecutor {
    WamrExecutor {
        // youki's log file is close-on-exec and closes when the module takes
        // over the process; nothing logs after that.
        inner: youki_wasm_workload::wamr::WamrExecutor::new(None, || {}),
    }
}

/// The annotations the other engines handle, plus `run.oci.handler=wamr`,
/// which chooses WAMR when other engines are built in too. A Kubernetes
/// pod's sandbox container always runs natively.
fn can_handle(spec: &Spec) -> bool {
    if youki_wasm_workload::is_kubernetes_sandbox(spec) {
        return false;
    }

    if let Some(annotations) = spec.annotations() {
        if let Some(handler) = annotations.get("run.oci.handler") {
            return handler == "wasm" || handler == EXECUTOR_NAME;
        }

        if let Some(variant) = annotations.get("module.wasm.image/variant") {
            return variant == "compat";
        }
    }

    false
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use anyhow::{Context, Result};
    use libcontainer::oci_spec::runtime::SpecBuilder;

    use super::*;

    fn spec_with(annotations: &[(&str, &str)]) -> Result<Spec> {
        let annotations: HashMap<String, String> = annotations
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        SpecBuilder::default()
            .annotations(annotations)
            .build()
            .context("build spec")
    }

    #[test]
    fn test_can_handle_oci_handler() -> Result<()> {
        assert!(can_handle(&spec_with(&[("run.oci.handler", "wasm")])?));
        assert!(can_handle(&spec_with(&[("run.oci.handler", "wamr")])?));
        Ok(())
    }

    #[test]
    fn test_can_handle_compat_wasm_spec() -> Result<()> {
        let spec = spec_with(&[("module.wasm.image/variant", "compat")])?;
        assert!(can_handle(&spec));
        Ok(())
    }

    #[test]
    fn test_can_handle_other_handler() -> Result<()> {
        let spec = spec_with(&[
            ("run.oci.handler", "wasmtime"),
            ("module.wasm.image/variant", "compat"),
        ])?;
        assert!(!can_handle(&spec));
        Ok(())
    }

    #[test]
    fn test_can_handle_kubernetes_sandbox() -> Result<()> {
        for key in youki_wasm_workload::SANDBOX_ANNOTATIONS {
            let spec = spec_with(&[(key, "sandbox"), ("module.wasm.image/variant", "compat")])?;
            assert!(!can_handle(&spec), "{key}");
        }
        Ok(())
    }

    #[test]
    fn test_can_handle_no_execute() -> Result<()> {
        let spec = SpecBuilder::default().build().context("build spec")?;
        assert!(!can_handle(&spec));
        Ok(())
    }
}
