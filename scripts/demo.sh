#!/usr/bin/env bash
# The main job: build youki with WAMR and run a Wasm container with it.
# Installs its own prerequisites; safe to run again. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "error: running containers needs root" >&2
    exit 1
fi

scripts/install-deps.sh

echo "==> cargo build --release --features wasm-wamr"
cargo build --release -p youki --features wasm-wamr
youki="$PWD/target/release/youki"
"$youki" --version

work=$(mktemp -d /tmp/youki-demo.XXXXXX)
id="wamr-demo-$$"
cleanup() {
    "$youki" --root "$work/state" delete --force "$id" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "==> compiling the demo module (C to WASI)"
mkdir -p "$work/bundle/rootfs"
clang --target=wasm32-wasi -O2 -s -o "$work/bundle/rootfs/app.wasm" tests/e2e/fixtures/thesis.c

echo "==> writing an OCI bundle: /app.wasm with module.wasm.image/variant=compat"
(cd "$work/bundle" && "$youki" spec)
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["/app.wasm"]
spec["process"]["env"] = ["SLEEP_TIME=1"]
spec["annotations"] = {"module.wasm.image/variant": "compat"}
json.dump(spec, open(path, "w"), indent=2)
PY

echo "==> youki run $id"
set +e
"$youki" --root "$work/state" run --bundle "$work/bundle" "$id"
code=$?
set -e
echo "==> the container exited with $code"
exit "$code"
