//! What `youki --version` prints: version, commit, runtime-spec version and the
//! features compiled in, the way `crun --version` lists its handlers.

use const_format::concatcp;

pub const GIT_COMMIT: &str = env!("YOUKI_GIT_COMMIT");

/// `+name ` for each of the named cargo features that is enabled.
macro_rules! enabled_features {
    ($($name:literal),* $(,)?) => {
        concatcp!($(if cfg!(feature = $name) { concatcp!("+", $name, " ") } else { "" }),*)
    };
}

/// Compiled-in cargo features, as `+name` tokens.
pub const FEATURES: &str = enabled_features!(
    "v1",
    "v2",
    "systemd",
    "seccomp",
    "cgroupsv2_devices",
    "wasm-wasmtime",
    "wasm-wasmer",
    "wasm-wasmedge",
    "wasm-wamr",
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
