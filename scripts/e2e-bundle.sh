#!/usr/bin/env bash
# Builds the portable end-to-end bundle: a directory (and a .tar.gz of it)
# that runs the cli, wamr, security and faults suites as root on another Linux host
# with no Rust toolchain, no compiler, no busybox and no internet: only what a
# minimal Debian or Ubuntu server has (python3 is not needed either).
#
#   scripts/e2e-bundle.sh [OUT_DIR]        (default: target/e2e-bundle)
#   OUT_DIR/run.sh                          on the other host, as root
#
# The bundle holds youki (release, wasm-wamr), the compiled test executables,
# the WASI fixtures, a static busybox for root file systems and the shared
# libraries youki needs beyond glibc. The client suite (containerd, podman,
# CRI) needs those clients and is left out; run.sh says so.
set -euo pipefail
cd "$(dirname "$0")/.."

out="$(realpath -m "${1:-target/e2e-bundle}")"
max_mib=60

scripts/install-deps.sh
scripts/check-rust.sh

echo "==> cargo build --release -p youki --features wasm-wamr"
cargo build --release -p youki --features wasm-wamr

echo "==> building the test executables (cli, wamr, security)"
messages=$(mktemp)
trap 'rm -f "$messages"' EXIT
cargo test -p youki-e2e --no-run --message-format=json \
    --test cli --test wamr --test security --test faults >"$messages"

rm -rf "$out" "$out.tar.gz"
mkdir -p "$out/bin" "$out/tests" "$out/fixtures" "$out/lib"

# From cargo's JSON messages: each test executable, and the directory the
# e2e crate's build script compiled the WASI fixtures into.
read_messages() {
    local what=$1
    while IFS= read -r line; do
        case "$what:$line" in
        executables:*'"executable":"'*'"kind":["test"]'*|executables:*'"kind":["test"]'*'"executable":"'*)
            printf '%s\n' "$line" | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' ;;
        fixtures:*'"reason":"build-script-executed"'*'youki-e2e'*)
            printf '%s\n' "$line" | sed -n 's/.*"out_dir":"\([^"]*\)".*/\1/p' ;;
        esac
    done <"$messages"
}
for exe in $(read_messages executables); do
    name=$(basename "$exe" | sed 's/-[0-9a-f]*$//')
    strip -o "$out/tests/$name" "$exe"
done
# The suites' helper (it reaps a container's init, as a shim does).
strip -o "$out/bin/shim-wait" "$(dirname "$(read_messages executables | head -1)")/../shim-wait"
fixtures_dir="$(read_messages fixtures | tail -1)/fixtures"
[ -d "$fixtures_dir" ] || { echo "error: no fixtures at $fixtures_dir" >&2; exit 1; }
cp "$fixtures_dir"/* "$out/fixtures/"

strip -o "$out/bin/youki" target/release/youki
cp /bin/busybox "$out/bin/busybox"
# What youki links beyond glibc (libseccomp), so that the host need not have it.
for lib in $(ldd target/release/youki | awk '/=> \// { print $3 }'); do
    case "$(basename "$lib")" in
    libc.so.*|libm.so.*|libgcc_s.so.*|ld-linux*) ;;
    *) cp -L "$lib" "$out/lib/" ;;
    esac
done

cat >"$out/run.sh" <<'EOF'
#!/bin/sh
# Runs youki's end-to-end suites from this bundle, as root. Prints the
# standard `test result:` lines; exits non-zero if any suite fails.
#   ./run.sh [extra arguments for each test executable, e.g. a test name]
set -u
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
    echo "error: the end-to-end suites run containers and must run as root" >&2
    exit 1
fi
export YOUKI_BIN="$here/bin/youki"
export YOUKI_E2E_FIXTURES="$here/fixtures"
export YOUKI_E2E_BUSYBOX="$here/bin/busybox"
export YOUKI_E2E_SHIM_WAIT="$here/bin/shim-wait"
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
read -r version <<VERSION
$("$YOUKI_BIN" --version)
VERSION
echo "==> $(uname -srm); $version"
echo "==> not in this bundle: the client suite (containerd, podman, CRI);"
echo "    run scripts/test-clients.sh from a checkout where those clients are installed"
echo "==> not in this bundle: the wamr suite's aot_cache_ tests, which need youki-wamrc"
echo "    (it links LLVM); scripts/test.sh runs them"
failed=""
for suite in cli wamr security faults; do
    echo "==> $suite"
    skip=""
    [ "$suite" = wamr ] && skip="--skip aot_cache_"
    # shellcheck disable=SC2086  # $skip is two words or none
    "$here/tests/$suite" $skip "$@" || failed="$failed $suite"
done
if [ -n "$failed" ]; then
    echo "==> FAILED:$failed"
    exit 1
fi
echo "==> all suites passed"
EOF
chmod +x "$out/run.sh"

tar -C "$(dirname "$out")" -czf "$out.tar.gz" "$(basename "$out")"
size_mib=$(( $(du -sb "$out" | cut -f1) / 1024 / 1024 ))
tar_mib=$(( $(stat -c %s "$out.tar.gz") / 1024 / 1024 ))
echo "==> $out: ${size_mib} MiB ($out.tar.gz: ${tar_mib} MiB)"
if [ "$size_mib" -gt "$max_mib" ]; then
    echo "error: the bundle is over ${max_mib} MiB" >&2
    exit 1
fi
