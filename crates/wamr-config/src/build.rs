//! Build-script helpers (feature `build`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Defines what the runtime and the compiler builds share on a CMake build:
/// the platform and target, every feature switch, AOT without any JIT, and
/// software bounds checks (signal-based ones install SIGSEGV handlers and
/// touch the whole main stack, +8 MiB per container). Each build adds its
/// interpreter (fast for the runtime, classic for the compiler's loader)
/// and its libraries.
pub fn configure(cmake: &mut cmake::Config) {
    cmake.profile("Release");
    for (name, value) in [
        ("WAMR_BUILD_PLATFORM", "linux"),
        ("WAMR_BUILD_INTERP", "1"),
        ("WAMR_BUILD_AOT", "1"),
        ("WAMR_BUILD_JIT", "0"),
        ("WAMR_BUILD_FAST_JIT", "0"),
        ("WAMR_BUILD_LIB_SIMDE", "0"),
        ("WAMR_BUILD_LIBC_BUILTIN", "0"),
        ("WAMR_BUILD_THREAD_MGR", "0"),
        ("WAMR_BUILD_MULTI_MODULE", "0"),
        ("WAMR_BUILD_DUMP_CALL_STACK", "0"),
        ("WAMR_BUILD_PERF_PROFILING", "0"),
        ("WAMR_DISABLE_HW_BOUND_CHECK", "1"),
    ] {
        cmake.define(name, value);
    }
    if let Some(target) = target() {
        cmake.define("WAMR_BUILD_TARGET", target);
    }
    for feature in crate::WASM_FEATURES {
        cmake.define(feature.cmake, if feature.enabled { "1" } else { "0" });
    }
}

/// WAMR's name for the target architecture (its CMake guesses otherwise).
pub fn target() -> Option<&'static str> {
    Some(match env::var("CARGO_CFG_TARGET_ARCH").ok()?.as_str() {
        "x86_64" => "X86_64",
        "aarch64" => "AARCH64",
        "riscv64" => "RISCV64",
        _ => return None,
    })
}

/// The WAMR tree of the `wamrx-sys` package, wherever cargo put it (the
/// registry, a vendor directory), as `cargo metadata` for the calling build
/// script's package says. The package must have wamrx-sys as a dependency of
/// some kind, so that cargo fetches it.
pub fn wamr_tree() -> PathBuf {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let mut command = Command::new(cargo);
    command
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(Path::new(&manifest_dir).join("Cargo.toml"));
    if let Ok(target) = env::var("TARGET") {
        command.args(["--filter-platform", &target]);
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("could not run cargo metadata to find wamrx-sys: {e}"));
    if !output.status.success() {
        panic!(
            "cargo metadata failed while looking for wamrx-sys's WAMR sources: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let manifest_path = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["name"] == "wamrx-sys")
        .find_map(|p| p["manifest_path"].as_str())
        .expect("cargo metadata lists wamrx-sys, a build-dependency of the caller");
    let tree = Path::new(manifest_path)
        .parent()
        .expect("a manifest path has a parent")
        .join("wasm-micro-runtime");
    assert!(
        tree.join("CMakeLists.txt").exists(),
        "no WAMR sources at {}",
        tree.display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        tree.join("core/version.h").display()
    );
    tree
}

/// WAMR's version ("2.4.3") and the AOT file format its loader reads, from the
/// tree's headers. Build scripts pass both to their crate as `WAMR_VERSION`
/// and `WAMR_AOT_FORMAT` (`cargo:rustc-env`).
pub fn wamr_version(tree: &Path) -> (String, u32) {
    let read = |file: &str| {
        std::fs::read_to_string(tree.join(file))
            .unwrap_or_else(|e| panic!("could not read {file} in {}: {e}", tree.display()))
    };
    let define = |text: &str, name: &str| -> u32 {
        text.lines()
            .find_map(|line| {
                line.strip_prefix("#define ")?
                    .strip_prefix(name)?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("WAMR's headers define no {name}"))
    };
    let version = read("core/version.h");
    let [major, minor, patch] = [
        "WAMR_VERSION_MAJOR",
        "WAMR_VERSION_MINOR",
        "WAMR_VERSION_PATCH",
    ]
    .map(|n| define(&version, n));
    let aot_format = define(&read("core/config.h"), "AOT_CURRENT_VERSION");
    println!("cargo:rustc-env=WAMR_VERSION={major}.{minor}.{patch}");
    println!("cargo:rustc-env=WAMR_AOT_FORMAT={aot_format}");
    (format!("{major}.{minor}.{patch}"), aot_format)
}

/// A CMake build directory for `name` that outlives one run of the build
/// script. Cargo gives every run its own `OUT_DIR` (`cargo clippy` and
/// `cargo build` run a workspace member's build script separately), which
/// would compile WAMR from scratch each time; in a directory of their own
/// beside them, CMake's incremental build recompiles nothing that has not
/// changed. Cargo's lock on the target directory keeps runs apart. The
/// name includes a hash of the source tree's path: CMake refuses a build
/// directory configured for other sources (another wamrx-sys version).
pub fn shared_cmake_dir(name: &str, source: &Path) -> PathBuf {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let hash = crate::identity::fnv1a(source.as_os_str().as_encoded_bytes().iter().copied());
    // OUT_DIR is <target>/<profile>/build/<package>-<hash>/out
    match out.ancestors().nth(2) {
        Some(build) if build.ends_with("build") => build.join(format!("{name}-{hash:016x}-cmake")),
        _ => out,
    }
}
