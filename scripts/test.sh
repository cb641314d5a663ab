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
scripts/check-rust.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (wasm-wamr)"
cargo clippy --workspace --all-targets --features youki/wasm-wamr -- -D warnings

# youki-wamrc (LLVM) lands beside youki, where youki looks for it
step "building youki with wasm-wamr, and youki-wamrc"
cargo build -p youki -p youki-wamrc --features youki/wasm-wamr

step "unit tests (youki, libwamr, youki-wasm-workload, the e2e helpers)"
cargo test -p youki -p libwamr -p youki-wasm-workload -p wamr-config --features youki/wasm-wamr
cargo test -p youki-e2e --lib

step "end-to-end: CLI, WAMR containers, security, faults (real containers, as root)"
YOUKI_BIN="$PWD/target/debug/youki" cargo test -p youki-e2e --test cli --test wamr --test security --test faults

step "end-to-end: the WAMR suite again, modules compiled ahead of time (youki-wamrc)"
YOUKI_E2E_WAMR_MODE=aot YOUKI_BIN="$PWD/target/debug/youki" cargo test -p youki-e2e --test wamr

# Upstream youki 0.7.0's own binary, built once into a cache outside the
# checkout, to run side by side with ours.
step "end-to-end: parity with upstream youki 0.7.0 (its binary from crates.io)"
upstream_cache="${YOUKI_UPSTREAM_CACHE:-$HOME/.cache/youki-e2e/upstream-0.7.0}"
if [ ! -x "$upstream_cache/bin/youki" ]; then
    cargo install youki --version 0.7.0 --locked --features v1,v2,seccomp --root "$upstream_cache"
fi
YOUKI_BIN="$PWD/target/debug/youki" UPSTREAM_YOUKI_BIN="$upstream_cache/bin/youki" \
    cargo test -p youki-e2e --test parity

# The upstream pull request (docs/upstream-pr.md): upstream youki 0.7.0's
# crate with upstream/*.patch applied, built, and run through the WAMR cases
# and the parity test against the unpatched binary.
step "the upstream pull request, applied to upstream youki 0.7.0 and tested"
hack/upstream-pr/test.sh "$upstream_cache/bin/youki"

# The other engines build in their own target directory, so that the main
# build above stays a plain `cargo build --features wasm-wamr`. That build is
# about a quarter of the suite's time; it runs beside the client suite, which
# mostly waits on containers, and yields the CPU to it (nice).
engines_target="$PWD/target/engines"
engines_log="$PWD/target/engines-build.log"
step "building youki with wamr + wasmtime + wasmer, beside the client suite ($engines_log)"
CARGO_TARGET_DIR="$engines_target" nice -n 10 cargo build -p youki \
    --features wasm-wamr,wasm-wasmtime,wasm-wasmer >"$engines_log" 2>&1 &
engines_build=$!
trap 'kill "$engines_build" 2>/dev/null || true' EXIT

step "end-to-end: containerd (ctr), podman and a CRI client (kubelet's calls)"
scripts/test-clients.sh target/debug/youki

step "waiting for the engines build, then linting youki with wamr + wasmtime + wasmer"
if ! wait "$engines_build"; then
    tail -40 "$engines_log"
    echo "error: the build of youki with wamr + wasmtime + wasmer failed ($engines_log)" >&2
    exit 1
fi
trap - EXIT
tail -1 "$engines_log"
CARGO_TARGET_DIR="$engines_target" cargo clippy -p youki --all-targets \
    --features wasm-wamr,wasm-wasmtime,wasm-wasmer -- -D warnings

step "end-to-end: engine selection"
YOUKI_BIN="$engines_target/debug/youki" cargo test -p youki-e2e --test engines

# The bundle other hosts run (a cgroup v2 node, say): built here, then run
# from a copy outside the checkout with a PATH that has no cargo, clang or
# busybox, as it would be there.
step "portable end-to-end bundle (scripts/e2e-bundle.sh), run from outside the checkout"
scripts/e2e-bundle.sh target/e2e-bundle
(
    copy=$(mktemp -d /tmp/youki-e2e-bundle.XXXXXX)
    trap 'rm -rf "$copy"' EXIT
    mkdir "$copy/path"
    for tool in sh dirname id uname ps; do ln -s "$(command -v "$tool")" "$copy/path/$tool"; done
    tar -C "$copy" -xzf target/e2e-bundle.tar.gz
    cd "$copy" && env -i PATH="$copy/path" HOME="$HOME" "$copy/e2e-bundle/run.sh"
)

# The same bundle on a node's kernel: Debian 12's 6.1 under QEMU, pure
# cgroup v2 (this host is cgroup v1 hybrid on 6.18). `scripts/test-kernels.sh
# all` adds 6.12.
step "the portable bundle on Debian's kernel 6.1, pure cgroup v2, in QEMU (scripts/test-kernels.sh)"
scripts/test-kernels.sh --bundle target/e2e-bundle 6.1

# The benchmark is not a test; its smoke mode (N=2, one repetition) checks
# that it still runs end to end and cleans up after itself. It runs the
# debug build made above: a release build would only make it slower.
step "benchmark smoke run (experiment/run.sh --smoke)"
smoke_out=$(mktemp -d)
# The benchmark's own commands have no deadlines of their own: a smoke run
# that hangs fails after 30 minutes instead of holding CI to its limit.
timeout --kill-after=30 1800 \
    experiment/run.sh --smoke --youki-wamr target/debug/youki --out "$smoke_out"
rm -rf "$smoke_out"

step "all tests passed"
