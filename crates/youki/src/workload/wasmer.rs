//! Wasm containers on wasmer (singlepass compiler), with WASI from wasmer-wasix.

use libcontainer::workload::Executor;
use wasmer::{Module, Store};
use wasmer_wasix::{WasiEnv, WasiError};

use super::{RunToExit, TRAP_EXIT_CODE, WasmProcess};

pub const HANDLER: &str = "wasmer";

pub fn get_executor(_: &super::executor::Launch) -> Box<dyn Executor> {
    Box::new(RunToExit(run))
}

/// Runs `_start` and returns the container's exit code.
fn run(process: &WasmProcess, bytes: &[u8]) -> Result<i32, String> {
    // wasmer-wasix's host file system and scheduler run on tokio: without a
    // runtime entered here it panics on the first file access.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| format!("could not start the tokio runtime for wasmer: {err}"))?;
    let _entered = runtime.enter();

    let mut store = Store::default();
    let module = Module::new(&store, bytes).map_err(|err| process.load_error(err))?;
    let program = process.args.first().map(String::as_str).unwrap_or_default();
    let (instance, wasi_env) = WasiEnv::builder(program)
        // The env must use the engine that compiled the module.
        .engine(store.engine().clone())
        .args(process.args.iter().skip(1))
        .envs(process.env.iter().map(|(k, v)| (k, v)))
        .preopen_dir("/")
        .map_err(|err| format!("could not preopen / for wasi: {err}"))?
        .current_dir(&process.cwd)
        .instantiate(module, &mut store)
        .map_err(|err| process.load_error(format!("instantiation failed: {err}")))?;
    let start = instance
        .exports
        .get_function("_start")
        .map_err(|_| process.load_error("the module exports no _start function"))?;

    let result = start.call(&mut store, &[]);
    wasi_env.on_exit(&mut store, None);
    match result {
        Ok(_) => Ok(0),
        Err(err) => match err.downcast_ref::<WasiError>() {
            Some(WasiError::Exit(code)) => Ok(code.raw()),
            _ => {
                eprintln!("wasm trap in {}: {err}", process.module.display());
                Ok(TRAP_EXIT_CODE)
            }
        },
    }
}
