//! Builds WAMR for libwamr: the fast interpreter and the AOT loader in one
//! library, and binds its embedding API (`wasm_export.h`).
//!
//! The C sources are the WAMR tree inside the `wamrx-sys` package, a
//! build-dependency only so that cargo fetches (and `cargo vendor` copies)
//! it; that crate's own library is never linked. wamrx-sys builds WAMR with
//! AOT switched off and cannot switch it on, and one binary must never link
//! two WAMR builds of different configurations, so this is the only one.
//!
//! WAMR is always built optimised (wamr_config::configure), without its
//! internal assertions: its debug build aborts on valid guest paths through
//! symbolic links to directories.

use std::env;
use std::path::PathBuf;

fn main() {
    let wamr = wamr_config::wamr_tree();
    let (version, aot_format) = wamr_config::wamr_version(&wamr);
    println!("cargo:rerun-if-changed=build.rs");

    let mut cmake = cmake::Config::new(&wamr);
    cmake.out_dir(wamr_config::shared_cmake_dir("libwamr-wamr", &wamr));
    wamr_config::configure(&mut cmake);
    for (name, value) in [
        ("WAMR_BUILD_FAST_INTERP", "1"),
        ("WAMR_BUILD_LIBC_WASI", "1"),
        ("WAMR_BUILD_CUSTOM_NAME_SECTION", "0"),
        ("WAMR_BUILD_LOAD_CUSTOM_SECTION", "0"),
    ] {
        cmake.define(name, value);
    }
    let out = cmake.build_target("vmlib").build();
    println!("cargo:rustc-link-search=native={}/build", out.display());
    println!("cargo:rustc-link-lib=static=iwasm");
    for lib in ["m", "dl", "pthread"] {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }

    let bindings = bindgen::Builder::default()
        .header_contents("libwamr.h", "#include <wasm_export.h>\n")
        .clang_arg(format!("-I{}", wamr.join("core/iwasm/include").display()))
        .use_core()
        .generate_comments(false)
        .derive_default(true)
        .derive_debug(true)
        .allowlist_function("wasm_.*")
        .allowlist_type("wasm_.*|RuntimeInitArgs|LoadArgs|InstantiationArgs2|package_type_t")
        .allowlist_var("WASM_.*|Alloc_With_.*|Wasm_Module_.*|Package_Type_.*")
        .prepend_enum_name(false)
        .generate()
        .unwrap_or_else(|e| panic!("could not bind WAMR's wasm_export.h: {e}"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(
        out_dir.join("version.rs"),
        format!(
            "/// The version of the WAMR that libwamr links.\n\
             pub const WAMR_VERSION: &str = \"{version}\";\n\
             /// The AOT file format this WAMR reads.\n\
             pub const AOT_FORMAT: u32 = {aot_format};\n"
        ),
    )
    .expect("OUT_DIR is writable");
    bindings
        .write_to_file(out_dir.join("wamr.rs"))
        .unwrap_or_else(|e| panic!("could not write WAMR's bindings: {e}"));
}
