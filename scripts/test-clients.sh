#!/usr/bin/env bash
# End-to-end tests under the real clients: containerd (ctr), podman, and a
# CRI client that drives containerd the way the kubelet does.
#
# Builds the images offline with buildah, starts a private containerd (own
# config, root, state and socket under a temporary directory) with youki
# registered as a runtime, runs tests/e2e/tests/clients.rs against it, and
# tears everything down afterwards, even on failure.
#
#   scripts/test-clients.sh [path/to/youki]     (default: target/debug/youki)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "error: the client tests run containers and must run as root" >&2
    exit 1
fi
youki="$(realpath "${1:-target/debug/youki}")"
[ -x "$youki" ] || { echo "error: $youki is missing: build youki first" >&2; exit 1; }

scripts/install-deps.sh

work=$(mktemp -d /tmp/youki-clients.XXXXXX)
containerd_pid=""
cleanup() {
    set +e
    echo "==> cleaning up $work"
    if [ -n "$containerd_pid" ]; then
        # Remove what containerd still runs, then stop it.
        for ns in default k8s.io; do
            for task in $(ctr --address "$work/containerd.sock" -n "$ns" tasks ls -q 2>/dev/null); do
                ctr --address "$work/containerd.sock" -n "$ns" tasks kill -s KILL "$task" >/dev/null 2>&1
                ctr --address "$work/containerd.sock" -n "$ns" tasks rm -f "$task" >/dev/null 2>&1
            done
            for c in $(ctr --address "$work/containerd.sock" -n "$ns" containers ls -q 2>/dev/null); do
                ctr --address "$work/containerd.sock" -n "$ns" containers rm "$c" >/dev/null 2>&1
            done
        done
        kill "$containerd_pid" 2>/dev/null
        wait "$containerd_pid" 2>/dev/null
    fi
    # podman containers the tests may have left
    podman ps -aq --filter label=youki-e2e=1 | xargs -r podman rm -f >/dev/null 2>&1
    for id in $("$youki" --root "$work/youki-root" list -q 2>/dev/null); do
        "$youki" --root "$work/youki-root" delete --force "$id" >/dev/null 2>&1
    done
    # containerd's shims mount rootfs under its state directory
    grep " $work/" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

echo "==> building the test images with buildah (offline, FROM scratch)"
mkdir -p "$work/images"
clang --target=wasm32-wasi -O2 -s -o "$work/images/app.wasm" tests/e2e/fixtures/thesis.c
clang --target=wasm32-wasi -O2 -s -o "$work/images/exit42.wasm" tests/e2e/fixtures/exit42.c
build_image() {  # name, then buildah config arguments; files come from $work/images/<name>/
    local name=$1; shift
    local c
    c=$(buildah from scratch)
    buildah copy -q "$c" "$work/images/$name" / >/dev/null
    buildah config "$@" "$c"
    buildah commit -q --rm "$c" "localhost/youki-e2e-$name:latest" >/dev/null
    buildah push -q "localhost/youki-e2e-$name:latest" \
        "oci-archive:$work/images/$name.tar:localhost/youki-e2e-$name:latest"
}
mkdir -p "$work/images/wasm" "$work/images/exit42" "$work/images/native/bin" "$work/images/pause/bin"
cp "$work/images/app.wasm" "$work/images/wasm/app.wasm"
cp "$work/images/exit42.wasm" "$work/images/exit42/exit42.wasm"
for dir in native pause; do
    cp /bin/busybox "$work/images/$dir/bin/busybox"
    ln -sf busybox "$work/images/$dir/bin/sh"
    ln -sf busybox "$work/images/$dir/bin/sleep"
done
build_image wasm --entrypoint '["/app.wasm"]' \
    --annotation module.wasm.image/variant=compat
build_image exit42 --entrypoint '["/exit42.wasm"]' --annotation module.wasm.image/variant=compat
build_image native --entrypoint '["/bin/sh", "-c", "echo native; exit 3"]' --env PATH=/bin
# containerd adds no PATH to sandboxes, and youki refuses a process without one
build_image pause --entrypoint '["/bin/sleep", "2147483647"]' --env PATH=/bin

# youki's cache of compiled Wasm modules (where youki-wamrc sits beside the
# youki under test): a private one, inherited by containerd and podman
export YOUKI_WAMR_AOT_CACHE="$work/aot-cache"
mkdir -m 0700 "$YOUKI_WAMR_AOT_CACHE"

echo "==> a private containerd config, as Debian ships it, with youki added by scripts/install.sh"
cat > "$work/config.toml" <<TOML
version = 2
root = "$work/root"
state = "$work/state"
[grpc]
  address = "$work/containerd.sock"

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "localhost/youki-e2e-pause:latest"
    # This sandbox lacks CAP_SYS_RESOURCE: pods must not ask for an
    # oom_score_adj below containerd's own (the kubelet gives sandboxes -998).
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.internal.v1.opt"]
    path = "$work/opt"
TOML
cp "$work/config.toml" "$work/config.before"
scripts/install.sh --binary "$youki" --prefix "$work/prefix" --containerd \
    --containerd-config "$work/config.toml" --youki-root "$work/youki-root" --no-restart
youki="$work/prefix/bin/youki"
# The install kept the config it found (and a copy of it), and added youki.
cmp -s "$work/config.before" "$work/config.toml.before-youki"
while IFS= read -r line; do
    grep -qxF "$line" "$work/config.toml" || { echo "error: install.sh lost: $line" >&2; exit 1; }
done < "$work/config.before"
grep -q "BinaryName = \"$youki\"" "$work/config.toml"

echo "==> starting the private containerd"
containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
containerd_pid=$!
for _ in $(seq 100); do
    [ -S "$work/containerd.sock" ] && ctr --address "$work/containerd.sock" version >/dev/null 2>&1 && break
    sleep 0.1
done
ctr --address "$work/containerd.sock" version >/dev/null || { cat "$work/containerd.log"; exit 1; }
for ns in default k8s.io; do
    for name in wasm exit42 native pause; do
        ctr --address "$work/containerd.sock" -n "$ns" images import "$work/images/$name.tar" >/dev/null
    done
done

echo "==> versions: $(containerd --version | awk '{print $3}') containerd, $(podman --version), $(buildah --version | awk '{print $1, $3}')"
echo "==> running tests/e2e/tests/clients.rs"
YOUKI_BIN="$youki" \
CONTAINERD_ADDRESS="$work/containerd.sock" \
CLIENTS_WORKDIR="$work" \
    cargo test -p youki-e2e --test clients -- --test-threads 2 || {
        echo "==> containerd log (last 40 lines):"; tail -40 "$work/containerd.log"; exit 1; }

# Every documented command, against the same youki and private containerd.
# This machine's hard limit for open files is below podman's default: the
# docs say to pass --ulimit there; here podman gets it from its config.
cat > "$work/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
CONF
echo "==> running the docs' shell blocks (scripts/test-docs.sh)"
YOUKI="$youki" \
CONTAINERD_ADDRESS="$work/containerd.sock" \
CONTAINERS_CONF="$work/containers.conf" \
    scripts/test-docs.sh
