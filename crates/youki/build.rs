//! Records the commit youki was built from, for `youki --version` and `youki info`.

use std::process::Command;

fn main() {
    // `cfg(any_wasm_engine)`: code shared by the wasm engines.
    println!("cargo::rustc-check-cfg=cfg(any_wasm_engine)");
    if std::env::vars().any(|(key, _)| key.starts_with("CARGO_FEATURE_WASM_")) {
        println!("cargo:rustc-cfg=any_wasm_engine");
    }
    // A release tarball has no .git: let packagers say the commit explicitly.
    let commit = std::env::var("YOUKI_GIT_COMMIT").ok().or_else(|| {
        let out = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    });
    println!(
        "cargo:rustc-env=YOUKI_GIT_COMMIT={}",
        commit.unwrap_or_else(|| "unknown".to_owned())
    );
    println!("cargo:rerun-if-env-changed=YOUKI_GIT_COMMIT");
    // `youki --version` names the compiler, as upstream's does.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.split_whitespace().nth(1).map(str::to_owned)
        });
    println!(
        "cargo:rustc-env=YOUKI_RUSTC_VERSION={}",
        rustc_version.unwrap_or_else(|| "unknown".to_owned())
    );
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/index");
}
