#!/usr/bin/env bash
# The upstream pull request as a patch series against upstream youki 0.7.0's
# binary crate (the `youki` crate on crates.io, upstream's crates/youki at
# v0.7.0), produced from the files this repository builds:
#
#   series.sh write        regenerate upstream/*.patch
#   series.sh check        fail if upstream/*.patch is not what `write` makes
#   series.sh apply DIR    pristine youki 0.7.0 in DIR, the series applied
#
# The executor is crates/wasm-workload (the youki-wasm-workload crate, which
# our binary compiles too); the series adds only upstream's glue around it:
# hack/upstream-pr/wamr.rs in upstream's executor idiom, the feature, one
# chain entry and a README section. Never edit upstream/*.patch by hand.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
series_dir="$repo/upstream"
work="$repo/target/upstream-pr"
version=0.7.0

# The crate's pristine source, through cargo (crates.io), cached in target/.
pristine() {
    local dir="$work/pristine/youki-$version"
    if [ ! -f "$dir/Cargo.toml" ]; then
        local fetch="$work/fetch"
        rm -rf "$fetch" "$work/pristine"
        mkdir -p "$fetch/src"
        cat >"$fetch/Cargo.toml" <<TOML
[package]
name = "fetch-upstream-youki"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
youki = "=$version"

[workspace]
TOML
        echo 'fn main() {}' >"$fetch/src/main.rs"
        # cargo warns that youki has no library; vendoring fetches it anyway.
        (cd "$fetch" && cargo vendor --versioned-dirs --quiet "$work/vendor" >/dev/null 2>"$fetch/vendor.log") || {
            cat "$fetch/vendor.log" >&2
            echo "error: could not fetch youki $version from crates.io" >&2
            exit 1
        }
        mkdir -p "$work/pristine"
        cp -a "$work/vendor/youki-$version" "$dir"
        rm -f "$dir/.cargo-checksum.json" "$dir/.cargo_vcs_info.json"
        rm -rf "$work/vendor" "$fetch"
    fi
    echo "$dir"
}

# Inserts the text of file $3 into file $1 after the first line equal to $2.
insert_after() {
    python3 - "$1" "$2" "$3" <<'PY'
import sys
path, anchor, text_file = sys.argv[1:]
lines = open(path).read().split("\n")
text = open(text_file).read().rstrip("\n").split("\n")
try:
    at = lines.index(anchor)
except ValueError:
    sys.exit(f"error: {path} has no line {anchor!r}: upstream changed, update hack/upstream-pr/series.sh")
lines[at + 1:at + 1] = text
open(path, "w").write("\n".join(lines))
PY
}

# Inserts text (stdin) after the line equal to $2 in file $1.
add() {
    local text
    text=$(mktemp)
    cat >"$text"
    insert_after "$1" "$2" "$text"
    rm -f "$text"
}

commit() {
    git -C "$tree" add -A
    GIT_AUTHOR_DATE="2026-11-30T00:00:00Z" GIT_COMMITTER_DATE="2026-11-30T00:00:00Z" \
        git -C "$tree" -c user.name="youki-wamr" -c user.email="youki-wamr@users.noreply.github.com" \
        commit -q -m "$1" -m "$2"
}

# Builds the series in a git tree and writes it to $1.
generate() {
    local out="$1" src
    src=$(pristine)
    tree=$(mktemp -d)
    trap 'rm -rf "$tree"' RETURN
    cp -a "$src/." "$tree"
    git -C "$tree" init -q
    commit "youki $version as published on crates.io" "Pristine source."
    local base
    base=$(git -C "$tree" rev-parse HEAD)

    # 1: the feature and the dependency.
    add "$tree/Cargo.toml.orig" 'wasm-wasmtime = ["wasmtime", "wasi-common"]' <<'TOML'
wasm-wamr = ["youki-wasm-workload"]
TOML
    add "$tree/Cargo.toml.orig" 'wasi-common = { workspace = true, optional = true }' <<'TOML'
# The WAMR executor and its safe binding to WAMR (libwamr).
youki-wasm-workload = { path = "../wasm-workload", version = "0.7.0", features = ["wamr"], optional = true }
TOML
    add "$tree/Cargo.toml" 'seccomp = ["libcontainer/libseccomp"]' <<'TOML'
wasm-wamr = ["youki-wasm-workload"]
TOML
    add "$tree/Cargo.toml" 'optional = true' <<'TOML'

[dependencies.youki-wasm-workload]
version = "0.7.0"
path = "../wasm-workload"
features = ["wamr"]
optional = true
TOML
    commit "Add the wasm-wamr feature" \
        "It pulls in youki-wasm-workload with its wamr feature: the WAMR executor
and libwamr, a safe layer over WAMR (its fast interpreter and AOT loader,
with libc-wasi, built from the sources in the wamrx-sys package). Nothing
changes in a build without the feature."

    # 2: the executor, in upstream's idiom around the shared one.
    cp "$here/wamr.rs" "$tree/src/workload/wamr.rs"
    add "$tree/src/workload/mod.rs" 'pub mod executor;' <<'RS'
#[cfg(feature = "wasm-wamr")]
mod wamr;
RS
    commit "workload: a WAMR executor" \
        "Runs Wasm containers in-process on WAMR. It handles what the other
engines handle (run.oci.handler=wasm, module.wasm.image/variant=compat),
and run.oci.handler=wamr; a Kubernetes sandbox container stays native."

    # 3: one entry in the chain, after every existing engine.
    python3 - "$tree/src/workload/executor.rs" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
def entry(error):
    return (
        '        #[cfg(feature = "wasm-wamr")]\n'
        '        match super::wamr::get_executor().{call}(spec) {{\n'
        '            Ok(_) => return Ok(()),\n'
        f'            Err({error}::CantHandle(_)) => (),\n'
        '            Err(err) => return Err(err),\n'
        '        }}\n'
    )
for call, error in (("exec", "ExecutorError"), ("validate", "ExecutorValidationError")):
    anchor = (
        '        match super::wasmtime::get_executor().%s(spec) {\n'
        '            Ok(_) => return Ok(()),\n'
        '            Err(%s::CantHandle(_)) => (),\n'
        '            Err(err) => return Err(err),\n'
        '        }\n' % (call, error)
    )
    if text.count(anchor) != 1:
        sys.exit(f"error: {path}: the wasmtime {call} entry changed: update hack/upstream-pr/series.sh")
    text = text.replace(anchor, anchor + entry(error).format(call=call))
open(path, "w").write(text)
PY
    commit "workload: WAMR in the executor chain, after the other engines" \
        "Last of the Wasm engines, so a build that also has wasmer, WasmEdge or
wasmtime runs every container those handle exactly as before; WAMR then
runs only what asks for it by name (run.oci.handler=wamr)."

    # 4: a race that a module which exits at once hits.
    python3 - "$tree/src/commands/run.rs" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
anchor = (
    "    container\n"
    "        .start()\n"
)
if text.count(anchor) != 1:
    sys.exit(f"error: {path}: the start call changed: update hack/upstream-pr/series.sh")
block = (
    "    // Blocked before the container starts, not only in handle_foreground:\n"
    "    // an init that exits at once (a Wasm module that traps on its first\n"
    "    // instruction) sends SIGCHLD before then, and an unblocked SIGCHLD is\n"
    "    // discarded, so `run` would wait for it forever.\n"
    "    if !args.detach {\n"
    "        SigSet::all()\n"
    "            .thread_block()\n"
    "            .with_context(|| \"failed to call pthread_sigmask\")?;\n"
    "    }\n"
    "\n"
)
text = text.replace(anchor, block + anchor)
open(path, "w").write(text)
PY
    commit "run: block signals before the container starts" \
        "handle_foreground blocks SIGCHLD and then waits for it. An init that
exits before that, which a Wasm module run in-process can do within
microseconds of start, sends SIGCHLD while it is not blocked: the signal
is discarded and \`youki run\` waits forever. Blocking before start keeps
it pending. Seen with a module that traps at once; a native init whose
execve fails exits almost as fast."

    # 5: the docs.
    python3 - "$tree/README.md" "$here/README-section.md" <<'PY'
import sys
path, section = sys.argv[1:]
text = open(path).read()
anchor = "### Integration Tests\n"
if text.count(anchor) != 1:
    sys.exit(f"error: {path} has no single {anchor!r}: update hack/upstream-pr/series.sh")
text = text.replace(anchor, open(section).read() + "\n" + anchor)
open(path, "w").write(text)
PY
    commit "docs: WebAssembly containers on WAMR" \
        "How to build with wasm-wamr, which annotations select it, and what a
container gets: exit codes, traps, signals, the memory limit."

    rm -rf "$out"
    mkdir -p "$out"
    git -C "$tree" format-patch -q --zero-commit --no-signature --no-stat -o "$out" "$base"..HEAD
}

case "${1:-}" in
write)
    generate "$series_dir"
    ls "$series_dir"
    ;;
check)
    fresh=$(mktemp -d)
    trap 'rm -rf "$fresh"' EXIT
    generate "$fresh/series"
    if ! diff -ru "$series_dir" "$fresh/series"; then
        echo "error: upstream/ is not what hack/upstream-pr/series.sh makes from the sources: run it with 'write'" >&2
        exit 1
    fi
    echo "==> upstream/ is up to date ($(ls "$series_dir" | wc -l) patches)"
    ;;
apply)
    dest="${2:?usage: series.sh apply DIR}"
    rm -rf "$dest"
    mkdir -p "$dest"
    dest="$(cd "$dest" && pwd)" # absolute, for GIT_CEILING_DIRECTORIES
    cp -a "$(pristine)/." "$dest"
    # Not inside this repository's work tree, as far as git apply knows.
    for patch in "$series_dir"/*.patch; do
        (cd "$dest" && GIT_CEILING_DIRECTORIES="$(dirname "$dest")" git apply -p1 "$patch") || {
            echo "error: $(basename "$patch") does not apply to youki $version" >&2
            exit 1
        }
    done
    ;;
*)
    echo "usage: $0 write | check | apply DIR" >&2
    exit 2
    ;;
esac
