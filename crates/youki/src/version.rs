//! What `youki --version` prints: version, commit, runtime-spec version and the
//! features compiled in, the way `crun --version` lists its handlers.

use const_format::concatcp;

pub const GIT_COMMIT: &str = env!("YOUKI_GIT_COMMIT");

/// Compiled-in cargo features, as `+name` tokens.
pub const FEATURES: &str = concatcp!(
    if cfg!(feature = "v1") { "+v1 " } else { "" },
    if cfg!(feature = "v2") { "+v2 " } else { "" },
    if cfg!(feature = "systemd") {
        "+systemd "
    } else {
        ""
    },
    if cfg!(feature = "seccomp") {
        "+seccomp "
    } else {
        ""
    },
    if cfg!(feature = "cgroupsv2_devices") {
        "+cgroupsv2_devices "
    } else {
        ""
    },
    if cfg!(feature = "wasm-wasmtime") {
        "+wasm-wasmtime "
    } else {
        ""
    },
    if cfg!(feature = "wasm-wasmer") {
        "+wasm-wasmer "
    } else {
        ""
    },
    if cfg!(feature = "wasm-wasmedge") {
        "+wasm-wasmedge "
    } else {
        ""
    },
);

pub const LONG_VERSION: &str = concatcp!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    GIT_COMMIT,
    "\nspec: ",
    oci_spec::runtime::VERSION,
    "\n",
    FEATURES
);

/// The compiled-in features as a list, for `youki features` and `youki info`.
pub fn features() -> Vec<&'static str> {
    FEATURES.split_whitespace().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_lists_spec_and_features() {
        assert!(LONG_VERSION.starts_with(env!("CARGO_PKG_VERSION")));
        assert!(LONG_VERSION.contains(&format!("spec: {}", oci_spec::runtime::VERSION)));
        for feature in features() {
            assert!(feature.starts_with('+'), "{feature}");
        }
    }
}
