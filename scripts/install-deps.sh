#!/usr/bin/env bash
# Installs the Debian packages youki's build and test suites need.
# Safe to run again: apt-get skips what is already installed.
set -euo pipefail

packages=(
    # build: libseccomp for the seccomp feature; cmake and libclang for
    # wamrx-sys (it builds WAMR with cmake and binds it with bindgen)
    build-essential pkg-config libseccomp-dev cmake libclang-dev
    # youki-wamrc, the ahead-of-time compiler for WAMR containers, links LLVM
    llvm-19-dev
    # WASI test fixtures, compiled from C
    clang lld wasi-libc libclang-rt-dev-wasm32 wabt
    # container root file systems for the tests
    busybox-static file
    # the clients the end-to-end tests drive youki through; protoc builds
    # the CRI client's gRPC code
    containerd runc podman buildah protobuf-compiler
)

missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "==> prerequisites already installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "error: installing ${missing[*]} needs root" >&2
    exit 1
fi
echo "==> installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
echo "==> prerequisites installed"
