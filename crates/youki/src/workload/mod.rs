//! Container workloads: the native executor from libcontainer, and in-process
//! WebAssembly engines, one module each, switched on by cargo features.
//!
//! Whether a container is a Wasm container is decided once, here, for every
//! engine, following crun's handler conventions:
//! - `run.oci.handler`: `wasm` (any engine), `wasm-smart` (any engine, only when
//!   the entrypoint ends in `.wasm`/`.wat`), or an engine's own name;
//! - `module.wasm.image/variant`: `compat`, or `compat-smart` (as `wasm-smart`);
//! - Kubernetes sandbox (pause) containers always run natively, because CRI
//!   runtimes copy pod annotations onto them too.

use std::path::Path;

use oci_spec::runtime::Spec;
pub use youki_wasm_workload::WasmProcess;
#[cfg(any(
    feature = "wasm-wasmtime",
    feature = "wasm-wasmer",
    feature = "wasm-wasmedge"
))]
use youki_wasm_workload::{TRAP_EXIT_CODE, guest};

pub mod executor;
#[cfg(feature = "wasm-wamr")]
mod wamr;
#[cfg(feature = "wasm-wasmedge")]
mod wasmedge;
#[cfg(feature = "wasm-wasmer")]
mod wasmer;
#[cfg(feature = "wasm-wasmtime")]
mod wasmtime;

pub const HANDLER_ANNOTATION: &str = "run.oci.handler";
pub const VARIANT_ANNOTATION: &str = "module.wasm.image/variant";

/// What a container asks to run on.
#[derive(Debug, PartialEq, Eq)]
pub enum WasmRequest<'a> {
    /// A native process: no Wasm annotation, a `-smart` form whose entrypoint
    /// is not a module, or a Kubernetes sandbox container.
    Native,
    /// A Wasm module, on the default engine (the first one compiled in).
    AnyEngine,
    /// A Wasm module, on the engine with this handler name.
    Engine(&'a str),
}

/// Reads the request from the spec's annotations and entrypoint.
pub fn wasm_request(spec: &Spec) -> WasmRequest<'_> {
    let Some(annotations) = spec.annotations() else {
        return WasmRequest::Native;
    };
    if youki_wasm_workload::is_kubernetes_sandbox(spec) {
        return WasmRequest::Native;
    }
    let any_if_module = || {
        if entrypoint_is_module(spec) {
            WasmRequest::AnyEngine
        } else {
            WasmRequest::Native
        }
    };
    match annotations.get(HANDLER_ANNOTATION).map(String::as_str) {
        Some("wasm") => return WasmRequest::AnyEngine,
        Some("wasm-smart") => return any_if_module(),
        Some(engine) if !engine.is_empty() => return WasmRequest::Engine(engine),
        _ => {}
    }
    match annotations.get(VARIANT_ANNOTATION).map(String::as_str) {
        Some("compat") => WasmRequest::AnyEngine,
        Some("compat-smart") => any_if_module(),
        _ => WasmRequest::Native,
    }
}

/// Whether the spec carries either Wasm annotation, whatever its value.
pub fn has_wasm_annotation(spec: &Spec) -> bool {
    spec.annotations().as_ref().is_some_and(|annotations| {
        [HANDLER_ANNOTATION, VARIANT_ANNOTATION]
            .iter()
            .any(|key| annotations.get(*key).is_some_and(|value| !value.is_empty()))
    })
}

fn entrypoint_is_module(spec: &Spec) -> bool {
    let entrypoint = spec
        .process()
        .as_ref()
        .and_then(|process| process.args().as_ref())
        .and_then(|args| args.first());
    entrypoint.is_some_and(|arg| {
        let ext = Path::new(arg).extension().and_then(|ext| ext.to_str());
        matches!(ext, Some("wasm" | "wat"))
    })
}

/// An executor for engines that run a [`WasmProcess`] to its end and return
/// the container's exit code: wasmtime, wasmer and WasmEdge share it.
#[cfg(any(
    feature = "wasm-wasmtime",
    feature = "wasm-wasmer",
    feature = "wasm-wasmedge"
))]
#[derive(Clone)]
pub struct RunToExit(pub fn(&WasmProcess, &[u8]) -> Result<i32, String>);

#[cfg(any(
    feature = "wasm-wasmtime",
    feature = "wasm-wasmer",
    feature = "wasm-wasmedge"
))]
impl libcontainer::workload::Executor for RunToExit {
    fn exec(&self, spec: &Spec) -> Result<(), libcontainer::workload::ExecutorError> {
        use libcontainer::workload::ExecutorError;
        let process = WasmProcess::from_spec(spec).map_err(ExecutorError::Other)?;
        let module = process.read_module().map_err(ExecutorError::Other)?;
        guest::run(crate::observability::end, || (self.0)(&process, &module))
    }

    fn validate(&self, spec: &Spec) -> Result<(), libcontainer::workload::ExecutorValidationError> {
        use libcontainer::workload::ExecutorValidationError::ArgValidationError;
        // Before the process waits for `start`: no other process in the
        // container may reach into it (see guest.rs).
        guest::prepare_process().map_err(ArgValidationError)?;
        let process = WasmProcess::from_spec(spec).map_err(ArgValidationError)?;
        process.read_module().map_err(ArgValidationError)?;
        Ok(())
    }
}

/// Whether Wasm guests are confined on this node (see
/// `youki_wasm_workload::guest::confinement`); none in a build without Wasm.
#[cfg(any(
    feature = "wasm-wamr",
    feature = "wasm-wasmtime",
    feature = "wasm-wasmer",
    feature = "wasm-wasmedge"
))]
pub fn guest_confinement() -> Option<String> {
    Some(youki_wasm_workload::guest::confinement())
}

#[cfg(not(any(
    feature = "wasm-wamr",
    feature = "wasm-wasmtime",
    feature = "wasm-wasmer",
    feature = "wasm-wasmedge"
)))]
pub fn guest_confinement() -> Option<String> {
    None
}

/// The handler names `run.oci.handler` accepts in this build: `wasm` and
/// `wasm-smart` when any engine is compiled in, and each engine's own name.
pub fn handler_names() -> Vec<&'static str> {
    let engines = executor::engine_names();
    if engines.is_empty() {
        return engines;
    }
    let mut names = vec!["wasm", "wasm-smart"];
    names.extend(engines);
    names
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use oci_spec::runtime::{ProcessBuilder, SpecBuilder};

    use super::*;

    fn spec(annotations: &[(&str, &str)], entrypoint: &str) -> Spec {
        let process = ProcessBuilder::default()
            .args(vec![entrypoint.to_owned(), "arg".to_owned()])
            .build()
            .unwrap();
        let annotations: HashMap<String, String> = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SpecBuilder::default()
            .process(process)
            .annotations(annotations)
            .build()
            .unwrap()
    }

    #[test]
    fn no_annotation_is_native() {
        assert_eq!(wasm_request(&spec(&[], "/app.wasm")), WasmRequest::Native);
        let no_annotations = SpecBuilder::default().build().unwrap();
        assert_eq!(wasm_request(&no_annotations), WasmRequest::Native);
    }

    #[test]
    fn handler_wasm_selects_any_engine() {
        let s = spec(&[(HANDLER_ANNOTATION, "wasm")], "/bin/app");
        assert_eq!(wasm_request(&s), WasmRequest::AnyEngine);
    }

    #[test]
    fn handler_wasm_smart_needs_module_entrypoint() {
        let module = spec(&[(HANDLER_ANNOTATION, "wasm-smart")], "/app.wasm");
        assert_eq!(wasm_request(&module), WasmRequest::AnyEngine);
        let text = spec(&[(HANDLER_ANNOTATION, "wasm-smart")], "app.wat");
        assert_eq!(wasm_request(&text), WasmRequest::AnyEngine);
        let native = spec(&[(HANDLER_ANNOTATION, "wasm-smart")], "/bin/sh");
        assert_eq!(wasm_request(&native), WasmRequest::Native);
    }

    #[test]
    fn handler_engine_name_selects_that_engine() {
        for name in ["wamr", "wasmtime", "wasmer", "wasmedge"] {
            let s = spec(&[(HANDLER_ANNOTATION, name)], "/bin/app");
            assert_eq!(wasm_request(&s), WasmRequest::Engine(name));
        }
    }

    #[test]
    fn empty_handler_falls_back_to_variant() {
        let s = spec(
            &[(HANDLER_ANNOTATION, ""), (VARIANT_ANNOTATION, "compat")],
            "/a",
        );
        assert_eq!(wasm_request(&s), WasmRequest::AnyEngine);
    }

    #[test]
    fn variant_compat_and_compat_smart() {
        let compat = spec(&[(VARIANT_ANNOTATION, "compat")], "/bin/app");
        assert_eq!(wasm_request(&compat), WasmRequest::AnyEngine);
        let smart = spec(&[(VARIANT_ANNOTATION, "compat-smart")], "/app.wasm");
        assert_eq!(wasm_request(&smart), WasmRequest::AnyEngine);
        let smart_native = spec(&[(VARIANT_ANNOTATION, "compat-smart")], "/bin/sh");
        assert_eq!(wasm_request(&smart_native), WasmRequest::Native);
        let other = spec(&[(VARIANT_ANNOTATION, "oci")], "/app.wasm");
        assert_eq!(wasm_request(&other), WasmRequest::Native);
    }

    #[test]
    fn handler_takes_precedence_over_variant() {
        let s = spec(
            &[
                (HANDLER_ANNOTATION, "wasmtime"),
                (VARIANT_ANNOTATION, "compat"),
            ],
            "/app.wasm",
        );
        assert_eq!(wasm_request(&s), WasmRequest::Engine("wasmtime"));
    }

    #[test]
    fn kubernetes_sandboxes_always_run_natively() {
        for key in youki_wasm_workload::SANDBOX_ANNOTATIONS {
            let s = spec(
                &[
                    (key, "sandbox"),
                    (VARIANT_ANNOTATION, "compat"),
                    (HANDLER_ANNOTATION, "wasm"),
                ],
                "/pause",
            );
            assert_eq!(wasm_request(&s), WasmRequest::Native, "{key}");
            let app = spec(
                &[(key, "container"), (VARIANT_ANNOTATION, "compat")],
                "/a.wasm",
            );
            assert_eq!(wasm_request(&app), WasmRequest::AnyEngine, "{key}");
        }
    }
}
