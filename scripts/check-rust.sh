#!/usr/bin/env bash
# Checks for a Rust toolchain new enough to build the workspace (its
# rust-version in Cargo.toml) and says what to do when there is none.
# Debian 12's cargo is 1.63 and Ubuntu 22.04's 1.66: too old for edition 2024.
set -euo pipefail
cd "$(dirname "$0")/.."

required=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -1)
install_hint="install Rust $required or newer with rustup (https://rustup.rs):
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
    . \"\$HOME/.cargo/env\"
then run this command again (as root: rustup installs into root's home)"

if ! command -v cargo >/dev/null 2>&1 || ! command -v rustc >/dev/null 2>&1; then
    echo "error: no Rust toolchain (cargo, rustc) on PATH; $install_hint" >&2
    exit 1
fi
found=$(rustc --version | awk '{print $2}')
# sort -V puts the smaller version first.
if [ "$(printf '%s\n%s\n' "$required" "$found" | sort -V | head -1)" != "$required" ]; then
    echo "error: rustc $found is older than $required, which this workspace needs" \
         "(edition 2024); $install_hint" >&2
    exit 1
fi
echo "==> rustc $found (>= $required)"
