//! The WebAssembly side of youki's workloads, shared by youki's engines and
//! by the WAMR executor for upstream youki's binary (hack/upstream-pr):
//!
//! - [`WasmProcess`]: what a container's `process` asks a Wasm engine to run;
//! - [`module_file`]: reading the module file a container image chose;
//! - `guest` (feature `guest`): handing the container's init process over to
//!   a guest, as execve would hand it to a native program;
//! - `wamr` (feature `wamr`): the executor that runs the module on WAMR, and
//!   `aot`, its cache of code compiled ahead of time.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

#[cfg(feature = "wamr")]
pub mod aot;
#[cfg(feature = "guest")]
pub mod guest;
pub mod module_file;
#[cfg(feature = "wamr")]
pub mod wamr;

/// Reads the node-level settings of Wasm containers from the runtime's own
/// environment: [`aot::ALLOW_AOT_FILES_ENV`] and
/// [`guest::REQUIRE_CONFINEMENT_ENV`]. The runtime calls it as it starts, on
/// the host: a container process's environment is the container's, which a
/// pod controls, so nothing reads these there. Without the call, `.aot`
/// entrypoints are refused and an unconfined guest only warns.
pub fn read_node_settings() {
    #[cfg(feature = "guest")]
    guest::read_node_settings();
    #[cfg(feature = "wamr")]
    aot::read_node_settings();
}

/// Whether the node-level setting `name` is `1` in this process's environment.
#[cfg(feature = "guest")]
fn node_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|value| value == "1")
}

/// Annotations by which containerd (first) and CRI-O mark a pod's sandbox
/// container.
pub const SANDBOX_ANNOTATIONS: [&str; 2] = [
    "io.kubernetes.cri.container-type",
    "io.kubernetes.cri-o.ContainerType",
];

/// Whether the container is a Kubernetes pod's sandbox (pause) container,
/// which always runs natively: CRI runtimes copy the pod's annotations, a
/// Wasm one included, onto it too.
pub fn is_kubernetes_sandbox(spec: &Spec) -> bool {
    spec.annotations().as_ref().is_some_and(|annotations| {
        SANDBOX_ANNOTATIONS.iter().any(|key| {
            annotations
                .get(*key)
                .is_some_and(|value| value == "sandbox")
        })
    })
}

/// A cgroup's memory limit and what its processes use, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUse {
    pub limit: u64,
    pub in_use: u64,
}

/// The exit code of a container whose module trapped: 128 + SIGABRT, what a
/// native program that aborts gets, and distinct from any `proc_exit` code a
/// well-behaved program uses for errors.
pub const TRAP_EXIT_CODE: i32 = 134;

/// Why a module could not be loaded, when its file is not there: it was
/// looked up in the container, not on the host.
pub const NOT_FOUND: &str = "no such file in the container's root file system";

/// The parts of `process` every engine needs, read once.
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

/// A size in bytes from an annotation: digits with an optional `K`/`Ki`,
/// `M`/`Mi` or `G`/`Gi` suffix (1024-based).
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

#[cfg(test)]
mod tests {
    use oci_spec::runtime::{ProcessBuilder, SpecBuilder};

    use super::*;

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
}
