#!/usr/bin/env bash
# The whole test suite: lints, unit tests, and end-to-end tests that run real
# containers through the built binary. Needs root (containers, cgroups).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "error: the test suite runs containers and must run as root" >&2
    exit 1
fi

scripts/install-deps.sh

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy (default features)"
cargo clippy --workspace --all-targets -- -D warnings

echo "==> building youki"
cargo build -p youki

echo "==> unit tests"
cargo test -p youki

echo "==> end-to-end tests (real containers, as root)"
YOUKI_BIN="$PWD/target/debug/youki" cargo test -p youki-e2e

echo "==> all tests passed"
