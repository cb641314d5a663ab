#!/usr/bin/env bash
# The whole test suite: lints, unit tests, and end-to-end tests that run real
# containers through the built binaries. Needs root (namespaces, cgroups).
# Installs its own prerequisites; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "error: the test suite runs containers and must run as root" >&2
    exit 1
fi

step() { echo; echo "==> $*  [$(date +%T)]"; }

step "prerequisites"
scripts/install-deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (wasm-wamr)"
cargo clippy --workspace --all-targets --features youki/wasm-wamr -- -D warnings

step "building youki with wasm-wamr"
cargo build -p youki --features wasm-wamr

step "unit tests (youki, libwamr)"
cargo test -p youki -p libwamr --features youki/wasm-wamr

step "end-to-end: CLI parity, WAMR containers, binary protection (real containers, as root)"
YOUKI_BIN="$PWD/target/debug/youki" cargo test -p youki-e2e --test cli --test wamr --test security

step "end-to-end: containerd (ctr), podman and a CRI client (kubelet's calls)"
scripts/test-clients.sh target/debug/youki

# The other engines build in their own target directory, so that the main
# build above stays a plain `cargo build --features wasm-wamr`.
step "building youki with wamr + wasmtime + wasmer"
engines_target="$PWD/target/engines"
CARGO_TARGET_DIR="$engines_target" cargo build -p youki --features wasm-wamr,wasm-wasmtime,wasm-wasmer

step "end-to-end: engine selection"
YOUKI_BIN="$engines_target/debug/youki" cargo test -p youki-e2e --test engines

# The benchmark is not a test; its smoke mode (N=2, one repetition) checks
# that it still runs end to end and cleans up after itself.
step "benchmark smoke run (experiment/run.sh --smoke)"
smoke_out=$(mktemp -d)
experiment/run.sh --smoke --out "$smoke_out"
rm -rf "$smoke_out"

step "all tests passed"
