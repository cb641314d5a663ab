#!/usr/bin/env bash
# Runs the memory and start-up benchmark (bench.py) with its prerequisites.
#   experiment/run.sh            full run (N = 10, 100, 400; 3 repetitions)
#   experiment/run.sh --smoke    N = 2, one repetition (what CI runs)
#   experiment/run.sh compute    CPU-bound work per engine (compute.py)
# Extra arguments go to bench.py (--sizes, --repetitions, --configs, --out),
# or after `compute` to compute.py (--repetitions, --engines, --out).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "error: the benchmark runs containers and must run as root" >&2
    exit 1
fi
scripts/install-deps.sh
need=()
for pkg in runc debootstrap python3-venv; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "==> installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

cache="${BENCH_CACHE:-experiment/.cache}"
mkdir -p "$cache"
venv="$cache/venv"
if [ ! -x "$venv/bin/python" ]; then
    echo "==> creating $venv with matplotlib"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q matplotlib
fi
if [ "${1:-}" = compute ]; then
    shift
    exec "$venv/bin/python" experiment/compute.py "$@"
fi
exec "$venv/bin/python" experiment/bench.py "$@"
