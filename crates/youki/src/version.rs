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

/// What `youki --version` (and `-v`) prints: upstream youki 0.7's lines
/// (`runc --version`'s layout, which Moby and podman read), then the
/// compiled-in features, this build's one addition.
pub fn long_version() -> String {
    let mut text = format!(
        "youki version: {version}\ncommit: {version}-{GIT_COMMIT}\nspec: {spec}\nrustc: {rustc}\n",
        version = env!("CARGO_PKG_VERSION"),
        spec = oci_spec::runtime::VERSION,
        rustc = env!("YOUKI_RUSTC_VERSION"),
    );
    #[cfg(feature = "seccomp")]
    {
        let libseccomp = libseccomp::ScmpVersion::current()
            .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
            .unwrap_or_else(|_| "unknown".to_owned());
        text.push_str(&format!("libseccomp: {libseccomp}\n"));
    }
    text.push_str(&format!("features: {}\n", features().join(" ")));
    text
}

/// The compiled-in features as a list, for `youki features` and `youki info`.
pub fn features() -> Vec<&'static str> {
    FEATURES.split_whitespace().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_lists_spec_and_features() {
        let text = long_version();
        assert!(text.starts_with(concat!("youki version: ", env!("CARGO_PKG_VERSION"), "\n")));
        assert!(text.contains(&format!("spec: {}\n", oci_spec::runtime::VERSION)));
        assert!(text.contains(&format!("features: {}\n", features().join(" "))));
        for feature in features() {
            assert!(feature.starts_with('+'), "{feature}");
        }
    }
}
