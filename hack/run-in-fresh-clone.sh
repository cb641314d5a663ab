#!/usr/bin/env bash
# Runs .ci/run in a fresh clone of HEAD, as CI does, and times it.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir=$(mktemp -d /tmp/youki-ci.XXXXXX)
trap 'rm -rf "$dir"' EXIT
git clone -q "$repo" "$dir/main"
cd "$dir/main"
start=$(date +%s)
CI=true bash .ci/run
echo "==> .ci/run passed in $(( $(date +%s) - start )) s"
