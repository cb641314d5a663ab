//! Wasm containers on wasmtime, with WASI preview 1 from wasi-common.

use libcontainer::workload::Executor;
use wasi_common::I32Exit;
use wasi_common::sync::{Dir, WasiCtxBuilder, ambient_authority};
use wasmtime::{Engine, Linker, Module, Store};

use super::{RunToExit, TRAP_EXIT_CODE, WasmProcess};

pub const HANDLER: &str = "wasmtime";

pub fn get_executor(_: &super::executor::Launch) -> Box<dyn Executor> {
    Box::new(RunToExit(run))
}

/// Runs `_start` and returns the container's exit code.
fn run(process: &WasmProcess, bytes: &[u8]) -> Result<i32, String> {
    let engine = Engine::default();
    // Module::new also accepts the text format (.wat).
    let module =
        Module::new(&engine, bytes).map_err(|err| process.load_error(format!("{err:#}")))?;

    let root = Dir::open_ambient_dir("/", ambient_authority())
        .map_err(|err| format!("could not open the container root for wasi: {err}"))?;
    let wasi = WasiCtxBuilder::new()
        .inherit_stdio()
        .args(&process.args)
        .and_then(|b| b.envs(&process.env))
        .map_err(|err| format!("invalid wasi args or env: {err}"))?
        .preopened_dir(root, "/")
        .map_err(|err| format!("could not preopen / for wasi: {err}"))?
        .build();

    let mut linker = Linker::new(&engine);
    wasi_common::sync::add_to_linker(&mut linker, |ctx| ctx)
        .map_err(|err| format!("could not link wasi: {err}"))?;
    let mut store = Store::new(&engine, wasi);
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(|err| process.load_error(format!("instantiation failed: {err:#}")))?;
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .map_err(|_| process.load_error("the module exports no _start function"))?;

    match start.call(&mut store, ()) {
        Ok(()) => Ok(0),
        Err(err) => match err.downcast_ref::<I32Exit>() {
            Some(exit) => Ok(exit.0),
            None => {
                eprintln!("wasm trap in {}: {err:#}", process.module.display());
                Ok(TRAP_EXIT_CODE)
            }
        },
    }
}
