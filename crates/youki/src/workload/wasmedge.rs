//! Wasm containers on WasmEdge. Building this engine needs the WasmEdge
//! library installed on the build machine (see docs/engines.md): the
//! wasmedge-sdk build downloads it otherwise, which offline builds cannot do.

use std::collections::HashMap;

use libcontainer::workload::Executor;
use wasmedge_sdk::vm::SyncInst;
use wasmedge_sdk::wasi::WasiModule;
use wasmedge_sdk::{Module, Store, Vm};

use super::{RunToExit, TRAP_EXIT_CODE, WasmProcess};

pub const HANDLER: &str = "wasmedge";

pub fn get_executor(_: &super::executor::Launch) -> Box<dyn Executor> {
    Box::new(RunToExit(run))
}

/// Runs `_start` and returns the container's exit code.
fn run(process: &WasmProcess, bytes: &[u8]) -> Result<i32, String> {
    let env: Vec<String> = process
        .env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut wasi = WasiModule::create(
        Some(process.args.iter().map(String::as_str).collect()),
        Some(env.iter().map(String::as_str).collect()),
        Some(vec!["/:/"]),
    )
    .map_err(|err| format!("could not set up wasi: {err}"))?;

    let mut instances: HashMap<String, &mut dyn SyncInst> = HashMap::new();
    instances.insert(wasi.name().to_string(), wasi.as_mut());
    let store =
        Store::new(None, instances).map_err(|err| format!("could not create the store: {err}"))?;
    let mut vm = Vm::new(store);
    let module = Module::from_bytes(None, bytes).map_err(|err| process.load_error(err))?;
    vm.register_module(Some("main"), module)
        .map_err(|err| process.load_error(format!("instantiation failed: {err}")))?;
    let result = vm.run_func(Some("main"), "_start", []);
    let exit_code = wasi.exit_code() as i32;
    match result {
        Ok(_) => Ok(exit_code),
        // proc_exit surfaces as a termination error with the code recorded.
        Err(_) if exit_code != 0 => Ok(exit_code),
        Err(err) => {
            eprintln!("wasm trap in {}: {err}", process.module.display());
            Ok(TRAP_EXIT_CODE)
        }
    }
}
