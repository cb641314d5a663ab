//! Wasm containers on WAMR: the executor lives in the youki-wasm-workload
//! crate (crates/wasm-workload/src/wamr.rs), which upstream youki's binary
//! uses too (hack/upstream-pr); this is its entry in youki's engine list.

use libcontainer::workload::Executor;
use youki_wasm_workload::wamr::WamrExecutor;

use super::executor::Launch;

pub use youki_wasm_workload::wamr::HANDLER;

pub fn get_executor(launch: &Launch) -> Box<dyn Executor> {
    Box::new(WamrExecutor::new(launch.memory, crate::observability::end))
}

/// Compiled code for the container's module, from the node's cache or the
/// compiler (youki_wasm_workload::aot).
pub fn prepare(spec: &oci_spec::runtime::Spec, bundle: &std::path::Path) {
    youki_wasm_workload::aot::prepare(spec, bundle, crate::exe_protection::exe_dir());
}
