#!/usr/bin/env bash
# Runs every ```sh block of the user docs, in order, as a user would, and
# fails on any error or anything left behind: docs/running.md,
# docs/containerd.md and docs/wamr.md in one scratch directory (each block
# in a new shell), then docs/upstream-pr.md's and README.md's in the
# repository, where they are read.
#
# A block preceded by `<!-- docs-test: skip: <reason> -->` is not run; the
# reasons are printed. Run by scripts/test-clients.sh, which provides:
#   YOUKI               the youki under test; `youki` on PATH and
#                       /usr/local/bin/youki in the docs both mean it
#   CONTAINERD_ADDRESS  a private containerd's socket, which ctr reads
#   CONTAINERS_CONF     podman's config for this machine (its rlimits)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

: "${YOUKI:?set YOUKI to the youki under test (scripts/test-clients.sh does)}"
: "${CONTAINERD_ADDRESS:?set CONTAINERD_ADDRESS to a private containerd (scripts/test-clients.sh does)}"
docs=(docs/running.md docs/containerd.md docs/wamr.md docs/upstream-pr.md README.md)

work=$(mktemp -d /tmp/youki-docs.XXXXXX)
mkdir "$work/bin" "$work/scratch"
ln -s "$YOUKI" "$work/bin/youki"
youki_root=/run/youki   # the default root the docs' youki commands use

snapshot() {  # what the docs could leave behind
    "$YOUKI" --root "$youki_root" list -q 2>/dev/null | sort || true
    ctr -n default containers ls -q 2>/dev/null | sed 's/^/ctr container /' || true
    ctr -n default tasks ls -q 2>/dev/null | sed 's/^/ctr task /' || true
    podman ps -aq --no-trunc | sed 's/^/podman container /' || true
    buildah containers -q --notruncate | sed 's/^/buildah container /' || true
}
cleanup() {
    set +e
    snapshot >"$work/after-cleanup"
    for id in $(comm -13 "$work/before" "$work/after-cleanup" | grep -v ' ' ); do
        "$YOUKI" --root "$youki_root" delete --force "$id" >/dev/null 2>&1
    done
    podman rmi -f localhost/wasmapp:latest >/dev/null 2>&1
    ctr -n default images rm localhost/wasmapp:latest >/dev/null 2>&1
    rm -rf "$work" /tmp/wasmapp.tar
}
trap cleanup EXIT
snapshot >"$work/before"

# The ```sh blocks of a Markdown file, each as a script, and the skipped
# ones' reasons, in order.
extract() {
    python3 - "$1" "$work/blocks" <<'PY'
import os, re, sys
source, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
text = open(source).read()
pattern = re.compile(r"(<!-- docs-test: skip: (?P<why>.*?) -->\n)?```sh\n(?P<body>.*?)```\n", re.S)
for index, block in enumerate(pattern.finditer(text)):
    name = f"{os.path.basename(source)}.{index:02d}"
    if block.group("why"):
        print(f"skip {name}: {block.group('why')}")
        continue
    with open(os.path.join(out, name + ".sh"), "w") as f:
        f.write(block.group("body"))
    print(f"run {name}")
PY
}

for doc in "${docs[@]}"; do
    echo "==> $doc"
    rm -rf "$work/blocks"
    while read -r action name rest; do
        if [ "$action" = skip ]; then
            echo "    not run: $name ${rest}"
            continue
        fi
        name=${name%:}
        echo "    running $name"
        # /usr/local/bin/youki in the docs is the youki under test.
        sed "s|/usr/local/bin/youki|$YOUKI|g" "$work/blocks/$name.sh" >"$work/blocks/$name.run"
        (
            case "$doc" in
            README.md | docs/upstream-pr.md) cd "$repo" ;;
            *) cd "$work/scratch" ;;
            esac
            # A block that hangs fails after 15 minutes instead of holding CI.
            PATH="$work/bin:$PATH" timeout --kill-after=10 900 bash -euo pipefail "$work/blocks/$name.run"
        ) </dev/null >"$work/blocks/$name.log" 2>&1 || {
            status=$?
            [ "$status" -ne 124 ] || echo "error: $doc, block $name ran for 15 minutes: it hung" >&2
            echo "error: $doc, block $name failed:" >&2
            sed 's/^/    | /' "$work/blocks/$name.sh" >&2
            echo "    output:" >&2
            sed 's/^/    > /' "$work/blocks/$name.log" >&2
            exit 1
        }
    done < <(extract "$repo/$doc")
    snapshot >"$work/now"
    if ! diff -u "$work/before" "$work/now" >"$work/left"; then
        echo "error: $doc left this behind (- before, + after):" >&2
        cat "$work/left" >&2
        exit 1
    fi
done
echo "==> every documented command ran, and nothing was left behind"
