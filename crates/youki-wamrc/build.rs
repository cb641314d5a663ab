//! Builds WAMR's ahead-of-time compiler (`core/iwasm/compilation` and the
//! classic loader it compiles from) from the WAMR tree inside the wamrx-sys
//! package, against the LLVM that `llvm-config` names, and binds its API
//! (`aot_export.h`). The Wasm features are libwamr's, from wamr-config.
//!
//! LLVM: `$LLVM_CONFIG`, else `llvm-config-19`, else `llvm-config`. Debian:
//! `apt-get install llvm-19-dev`. libLLVM is linked as a shared library.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=wamr/CMakeLists.txt");
    println!("cargo:rerun-if-env-changed=LLVM_CONFIG");
    let wamr = wamr_config::wamr_tree();
    wamr_config::wamr_version(&wamr);
    let llvm = LlvmConfig::find();
    println!(
        "cargo:rustc-env=YOUKI_WAMRC_LLVM_VERSION={}",
        llvm.query("--version")
    );

    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let mut cmake = cmake::Config::new(manifest_dir.join("wamr"));
    cmake.out_dir(wamr_config::shared_cmake_dir("youki-wamrc-wamr", &wamr));
    cmake.define("WAMR_ROOT_DIR", &wamr);
    cmake.define("LLVM_DIR", llvm.query("--cmakedir"));
    wamr_config::configure(&mut cmake);
    // the compiler reads modules with the classic interpreter's loader
    cmake.define("WAMR_BUILD_FAST_INTERP", "0");
    cmake.define("WAMR_BUILD_LIBC_WASI", "0");
    let out = cmake.build();
    println!("cargo:rustc-link-search=native={}/lib", out.display());
    println!("cargo:rustc-link-lib=static=wamrc_core");
    println!("cargo:rustc-link-search=native={}", llvm.query("--libdir"));
    for lib in llvm.query("--link-shared --libs").split_whitespace() {
        let name = lib.strip_prefix("-l").unwrap_or(lib);
        println!("cargo:rustc-link-lib=dylib={name}");
    }
    for lib in ["stdc++", "m", "dl", "pthread"] {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }

    let include = wamr.join("core/iwasm/include");
    let bindings = bindgen::Builder::default()
        .header_contents(
            "youki_wamrc.h",
            "#include <stdbool.h>\n#include <wasm_export.h>\n#include <aot_export.h>\n",
        )
        .clang_arg(format!("-I{}", include.display()))
        .use_core()
        .generate_comments(false)
        .derive_default(true)
        .allowlist_function("aot_.*|wasm_runtime_(full_init|destroy|load|unload)")
        .allowlist_type("AOTCompOption|RuntimeInitArgs")
        .allowlist_var("AOT_.*|Alloc_With_System_Allocator")
        .prepend_enum_name(false)
        .generate()
        .unwrap_or_else(|e| panic!("could not bind WAMR's aot_export.h: {e}"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings
        .write_to_file(out_dir.join("aot.rs"))
        .unwrap_or_else(|e| panic!("could not write the compiler's bindings: {e}"));
}

struct LlvmConfig(PathBuf);

impl LlvmConfig {
    fn find() -> Self {
        let candidates: Vec<PathBuf> = match env::var_os("LLVM_CONFIG") {
            Some(path) => vec![path.into()],
            None => vec!["llvm-config-19".into(), "llvm-config".into()],
        };
        for candidate in &candidates {
            if Command::new(candidate)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
            {
                return Self(candidate.clone());
            }
        }
        panic!(
            "youki-wamrc needs LLVM's development files and found no llvm-config \
             (tried {candidates:?}); on Debian: apt-get install llvm-19-dev, or set LLVM_CONFIG"
        );
    }

    fn query(&self, args: &str) -> String {
        let output = Command::new(&self.0)
            .args(args.split_whitespace())
            .output()
            .unwrap_or_else(|e| panic!("could not run {}: {e}", self.0.display()));
        assert!(
            output.status.success(),
            "{} {args} failed",
            self.0.display()
        );
        String::from_utf8(output.stdout)
            .expect("llvm-config prints text")
            .trim()
            .to_owned()
    }
}
