#!/usr/bin/env bash
# Installs the built youki (release, with wasm-wamr) as /usr/local/bin/youki
# and, with --containerd, registers it as a containerd runtime (handler
# "youki", for a Kubernetes RuntimeClass) without losing the existing config.
# Builds youki first when target/release/youki is missing. Run as root.
#
#   scripts/install.sh [--containerd] [--prefix DIR] [--binary FILE]
#                      [--containerd-config FILE] [--youki-root DIR] [--no-restart]
#
#   --prefix DIR               install DIR/bin/youki (default /usr/local)
#   --binary FILE              install FILE instead of target/release/youki
#   --containerd               add youki's runtime to containerd's config
#   --containerd-config FILE   that config (default /etc/containerd/config.toml)
#   --youki-root DIR           youki's state root under containerd (default /run/youki-containerd)
#   --no-restart               do not restart containerd afterwards
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local
binary=""
containerd=false
config=/etc/containerd/config.toml
youki_root=/run/youki-containerd
restart=true
while [ $# -gt 0 ]; do
    case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    --containerd) containerd=true; shift ;;
    --containerd-config) config=$2; shift 2 ;;
    --youki-root) youki_root=$2; shift 2 ;;
    --no-restart) restart=false; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "error: installing into $prefix and editing containerd's config needs root" >&2
    exit 1
fi

if [ -z "$binary" ]; then
    binary=target/release/youki
    if [ ! -x "$binary" ]; then
        scripts/install-deps.sh
        scripts/check-rust.sh
        echo "==> cargo build --release -p youki --features wasm-wamr"
        cargo build --release -p youki --features wasm-wamr
    fi
fi
[ -x "$binary" ] || { echo "error: $binary is not an executable" >&2; exit 1; }

target="$prefix/bin/youki"
echo "==> installing $binary as $target"
mkdir -p "$prefix/bin"
# Copy then rename: a running youki keeps its old binary.
install -m 0755 "$binary" "$target.new"
mv -f "$target.new" "$target"
"$target" --version | head -1

if $containerd; then
    python3 scripts/containerd-runtime.py "$config" --binary "$target" --root "$youki_root"
    if $restart && command -v systemctl >/dev/null 2>&1 \
        && systemctl is-active --quiet containerd 2>/dev/null; then
        echo "==> systemctl restart containerd"
        systemctl restart containerd
    elif $restart; then
        echo "==> containerd is not running under systemd: restart it yourself to load the config"
    fi
fi
