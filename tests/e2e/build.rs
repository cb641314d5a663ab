//! Compiles the WASI fixtures under fixtures/ with clang (wasm32-wasi) and
//! copies the .wat ones, into $OUT_DIR/fixtures for the tests.
//! A missing toolchain fails the build: the tests must not skip silently.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("fixtures");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("fixtures");
    std::fs::create_dir_all(&out).unwrap();
    println!("cargo:rerun-if-changed={}", src.display());

    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        match path.extension().and_then(|e| e.to_str()) {
            Some("c") => {
                let target = out.join(format!("{name}.wasm"));
                let status = Command::new("clang")
                    .args(["--target=wasm32-wasi", "-O2", "-s", "-o"])
                    .arg(&target)
                    .arg(&path)
                    .status()
                    .unwrap_or_else(|err| {
                        panic!("clang not found ({err}): run scripts/install-deps.sh")
                    });
                assert!(
                    status.success(),
                    "clang --target=wasm32-wasi failed on {}: install clang, lld, wasi-libc \
                     and libclang-rt-dev-wasm32 (scripts/install-deps.sh)",
                    path.display()
                );
            }
            Some("wat") => {
                std::fs::copy(&path, out.join(format!("{name}.wat"))).unwrap();
            }
            _ => {}
        }
    }
    println!("cargo:rustc-env=FIXTURES_DIR={}", out.display());
}
