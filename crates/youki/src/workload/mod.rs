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

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

pub mod executor;
#[cfg(any_wasm_engine)]
mod guest;
mod module_file;
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

/// Annotations by which containerd (first) and CRI-O mark a pod's sandbox container.
const SANDBOX_ANNOTATIONS: [&str; 2] = [
    "io.kubernetes.cri.container-type",
    "io.kubernetes.cri-o.ContainerType",
];

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
    let is_sandbox = SANDBOX_ANNOTATIONS.iter().any(|key| {
        annotations
            .get(*key)
            .is_some_and(|value| value == "sandbox")
    });
    if is_sandbox {
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

/// The exit code of a container whose module trapped: 128 + SIGABRT, what a
/// native program that aborts gets, and distinct from any `proc_exit` code a
/// well-behaved program uses for errors.
#[cfg_attr(not(any_wasm_engine), allow(dead_code))]
pub const TRAP_EXIT_CODE: i32 = 134;

/// Why a module could not be loaded, when its file is not there: it was
/// looked up in the container, not on the host.
#[cfg_attr(not(any_wasm_engine), allow(dead_code))]
pub const NOT_FOUND: &str = "no such file in the container's root file system";

/// The parts of `process` every engine needs, read once.
#[cfg_attr(not(any_wasm_engine), allow(dead_code))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmProcess {
    /// The module file: `args[0]`, relative to `cwd` unless absolute; a name
    /// without a slash that is not in `cwd` is looked up in `PATH`.
    pub module: PathBuf,
    /// Passed whole to the module, `args[0]` included.
    pub args: Vec<String>,
    /// Exactly `process.env`, split at the first `=`.
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// The most bytes the module file may have (module_file.rs).
    pub max_module_size: u64,
}

#[cfg_attr(not(any_wasm_engine), allow(dead_code))]
impl WasmProcess {
    pub fn from_spec(spec: &Spec) -> Result<Self, String> {
        let process = spec.process().as_ref().ok_or("the spec has no process")?;
        let args = process.args().clone().unwrap_or_default();
        let entrypoint = args
            .first()
            .filter(|arg| !arg.is_empty())
            .ok_or("process.args is empty: it must name the wasm module")?;
        let cwd = process.cwd().clone();
        let module = if entrypoint.contains('/') {
            cwd.join(entrypoint)
        } else {
            Some(cwd.join(entrypoint))
                .filter(|path| path.is_file())
                .or_else(|| search_path(entrypoint, path_variable(spec)))
                .unwrap_or_else(|| cwd.join(entrypoint))
        };
        let env = process
            .env()
            .iter()
            .flatten()
            .map(|var| match var.split_once('=') {
                Some((key, value)) => (key.to_owned(), value.to_owned()),
                None => (var.clone(), String::new()),
            })
            .collect();
        Ok(Self {
            module,
            args,
            env,
            cwd,
            max_module_size: module_file::max_size(spec)?,
        })
    }

    /// The module file's bytes: a regular file, within the size limit.
    pub fn read_module(&self) -> Result<Vec<u8>, String> {
        module_file::read(&self.module, self.max_module_size)
            .map_err(|reason| self.load_error(reason))
    }

    /// A one-line error naming the module, for failures to load it.
    pub fn load_error(&self, reason: impl std::fmt::Display) -> String {
        format!(
            "could not load wasm module {}: {reason}",
            self.module.display()
        )
    }
}

/// The `PATH` of `process.env`, empty if it has none.
pub fn path_variable(spec: &Spec) -> &str {
    spec.process()
        .as_ref()
        .and_then(|process| process.env().as_ref())
        .into_iter()
        .flatten()
        .find_map(|var| var.strip_prefix("PATH="))
        .unwrap_or_default()
}

/// The first regular file named `program` in the directories of `path_var`,
/// as execvp looks up a name without a slash.
pub fn search_path(program: &str, path_var: &str) -> Option<PathBuf> {
    path_var
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
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
        guest::run(|| (self.0)(&process, &module))
    }

    fn validate(&self, spec: &Spec) -> Result<(), libcontainer::workload::ExecutorValidationError> {
        use libcontainer::workload::ExecutorValidationError::ArgValidationError;
        let process = WasmProcess::from_spec(spec).map_err(ArgValidationError)?;
        process.read_module().map_err(ArgValidationError)?;
        Ok(())
    }
}

/// A size in bytes from an annotation: digits with an optional `K`/`Ki`,
/// `M`/`Mi` or `G`/`Gi` suffix (1024-based).
#[cfg_attr(not(any_wasm_engine), allow(dead_code))]
pub fn parse_size(annotation: &str, value: &str) -> Result<u64, String> {
    let invalid =
        || format!("invalid {annotation}={value:?}: expected bytes, like 65536, 64K or 1Mi");
    let trimmed = value.trim();
    let (digits, unit) = match trimmed.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => trimmed.split_at(at),
        None => (trimmed, ""),
    };
    let multiplier: u64 = match unit {
        "" => 1,
        "K" | "k" | "Ki" => 1 << 10,
        "M" | "m" | "Mi" => 1 << 20,
        "G" | "g" | "Gi" => 1 << 30,
        _ => return Err(invalid()),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(invalid)
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

    #[test]
    fn wasm_process_resolves_module_against_cwd() {
        let process = ProcessBuilder::default()
            .args(vec!["app.wasm".to_owned(), "x".to_owned()])
            .env(vec!["A=1".to_owned(), "B=x=y".to_owned(), "C".to_owned()])
            .cwd("/work")
            .build()
            .unwrap();
        let s = SpecBuilder::default().process(process).build().unwrap();
        let p = WasmProcess::from_spec(&s).unwrap();
        assert_eq!(p.module, PathBuf::from("/work/app.wasm"));
        assert_eq!(p.args, ["app.wasm", "x"]);
        let env: Vec<(&str, &str)> = p
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(env, [("A", "1"), ("B", "x=y"), ("C", "")]);

        let absolute = ProcessBuilder::default()
            .args(vec!["/app.wasm".to_owned()])
            .cwd("/work")
            .build()
            .unwrap();
        let s = SpecBuilder::default().process(absolute).build().unwrap();
        assert_eq!(
            WasmProcess::from_spec(&s).unwrap().module,
            PathBuf::from("/app.wasm")
        );

        let empty = ProcessBuilder::default().args(vec![]).build().unwrap();
        let s = SpecBuilder::default().process(empty).build().unwrap();
        assert!(
            WasmProcess::from_spec(&s)
                .unwrap_err()
                .contains("process.args is empty")
        );
    }

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
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("a", "65536"), Ok(65536));
        assert_eq!(parse_size("a", "64K"), Ok(65536));
        assert_eq!(parse_size("a", "1Mi"), Ok(1024 * 1024));
        assert_eq!(parse_size("a", "2G"), Ok(2 << 30));
        assert_eq!(parse_size("a", "0"), Ok(0));
        for bad in ["", "-1", "12Q", "K", "99999999999999999999G"] {
            let err = parse_size("io.youki.wamr.stack-size", bad).unwrap_err();
            assert!(
                err.starts_with("invalid io.youki.wamr.stack-size"),
                "{bad}: {err}"
            );
        }
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
        for key in SANDBOX_ANNOTATIONS {
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
