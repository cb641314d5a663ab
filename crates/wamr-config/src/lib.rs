//! What `libwamr` (the runtime, linked into youki) and `youki-wamrc` (the
//! ahead-of-time compiler) share. At build time (feature `build`): where cargo
//! put WAMR's sources, and the WebAssembly features both are built with; code
//! compiled ahead of time may only use features the runtime has. At run time:
//! the identity of compiled code, and the cache of it on a node (`cache`).

#[cfg(feature = "build")]
mod build;
pub mod cache;
mod identity;

#[cfg(feature = "build")]
pub use build::{configure, shared_cmake_dir, wamr_tree, wamr_version};
pub use identity::{AOT_OPTIONS, aot_identity};

/// A WebAssembly proposal and whether WAMR is built with it: the CMake switch
/// that builds it into WAMR.
#[derive(Debug, Clone, Copy)]
pub struct Feature {
    pub cmake: &'static str,
    pub enabled: bool,
}

/// The proposals wamrx-sys enables by default (bulk memory and reference
/// types) and the ones it leaves off, spelled out so that a new WAMR default
/// cannot change either build behind our back. SIMD stays off: the fast
/// interpreter would need the SIMDe library for it.
pub const WASM_FEATURES: &[Feature] = &[
    Feature {
        cmake: "WAMR_BUILD_BULK_MEMORY",
        enabled: true,
    },
    Feature {
        cmake: "WAMR_BUILD_REF_TYPES",
        enabled: true,
    },
    Feature {
        cmake: "WAMR_BUILD_TAIL_CALL",
        enabled: false,
    },
    Feature {
        cmake: "WAMR_BUILD_GC",
        enabled: false,
    },
    Feature {
        cmake: "WAMR_BUILD_SHARED_MEMORY",
        enabled: false,
    },
    Feature {
        cmake: "WAMR_BUILD_EXTENDED_CONST_EXPR",
        enabled: false,
    },
    Feature {
        cmake: "WAMR_BUILD_SIMD",
        enabled: false,
    },
];

/// Whether WAMR is built with the feature behind a CMake switch.
pub fn enabled(cmake: &str) -> bool {
    WASM_FEATURES.iter().any(|f| f.cmake == cmake && f.enabled)
}
