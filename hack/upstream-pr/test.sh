#!/usr/bin/env bash
# The upstream pull request, applied for real: upstream youki 0.7.0's binary
# crate from crates.io, the series in upstream/ applied, built with
# wasm-wamr, and then
#   - upstream's unit tests of its workload module, ours among them;
#   - our WAMR end-to-end cases, on the patched binary;
#   - the parity test against unpatched upstream youki, allowing no
#     difference at all (non-Wasm containers behave exactly as before).
# Usage: hack/upstream-pr/test.sh UPSTREAM_YOUKI_BIN   (as root)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
upstream_bin="${1:?usage: test.sh UPSTREAM_YOUKI_BIN (unpatched upstream youki 0.7.0)}"
cd "$repo"

step() { echo; echo "==> upstream PR: $*  [$(date +%T)]"; }

step "the series is what the sources make"
rustfmt --edition 2024 --check hack/upstream-pr/wamr.rs
hack/upstream-pr/series.sh check

# Where upstream has it: beside our crates, so that the series' path
# dependency (../wasm-workload) is our crate itself, not a copy. The
# workspace excludes this directory: the crate builds as a package of its
# own, with its own Cargo.lock, as it does upstream.
crate="$repo/crates/upstream-youki"
step "applying upstream/*.patch to youki 0.7.0 from crates.io"
hack/upstream-pr/series.sh apply "$crate"

# Built as `cargo install` builds the unpatched binary it is compared with,
# without debug assertions (upstream's debug build logs at debug level on
# stderr), but unoptimised, which builds in half the time. WAMR itself is
# always built optimised (crates/libwamr/build.rs).
step "building patched upstream youki (--features v1,v2,seccomp,wasm-wamr)"
target="$repo/target/upstream-pr/target"
# GIT_CEILING_DIRECTORIES: upstream's build script asks git for a commit;
# as built from crates.io, it finds none.
build=(--features v1,v2,seccomp,wasm-wamr
    --config profile.dev.debug-assertions=false --config profile.dev.overflow-checks=false
    --config profile.dev.debug=0)
started=$(date +%s)
(cd "$crate" && GIT_CEILING_DIRECTORIES="$repo/crates" CARGO_TARGET_DIR="$target" cargo build "${build[@]}")
echo "built in $(($(date +%s) - started)) s"
patched="$target/debug/youki"

step "upstream's workload unit tests, with the WAMR executor's"
(cd "$crate" && GIT_CEILING_DIRECTORIES="$repo/crates" CARGO_TARGET_DIR="$target" \
    cargo test "${build[@]}" -- workload::)

# The executor's behaviour is ours; the CLI around it is upstream's (no
# `features:` line, anyhow's error report): YOUKI_E2E_UPSTREAM_PR tells the
# tests so. Left out: what our CLI adds (exec of a native program in a Wasm
# container, engine names, the annotation hint, --version/features).
step "WAMR end-to-end cases on the patched binary"
cases=(
    hello_reaches_stdout
    args_are_passed_whole_and_env_is_exactly_process_env
    thesis_workload_runs_to_its_goodbye
    reads_the_image_and_writes_a_tmpfs_mount
    module_path_is_resolved_like_a_native_entrypoint
    proc_exit_code_is_the_container_exit_code
    a_trap_exits_134_with_the_reason_on_stderr
    wat_modules_run
    bad_modules_are_rejected_cleanly
    sigterm_ends_a_sleeping_module_promptly
    sigint_ends_a_sleeping_module_promptly
    kill_term_stops_a_detached_module
    memory_limit_makes_memory_grow_fail_instead_of_oom
    a_module_initial_memory_above_the_limit_is_refused_at_create
    a_sparse_memory_costs_the_pages_it_touches_not_huge_pages
    a_looping_start_section_runs_at_start_and_sigterm_ends_it
    a_start_section_trap_is_a_trap_at_start
    a_native_container_still_runs_from_the_wamr_build
    the_stack_annotation_sets_the_stack_and_the_heap_annotation_refuses_a_heap
)
YOUKI_BIN="$patched" YOUKI_E2E_UPSTREAM_PR=1 cargo test -p youki-e2e --test wamr -- --exact "${cases[@]}"

step "parity: patched upstream youki against upstream youki 0.7.0, no difference allowed"
YOUKI_BIN="$patched" UPSTREAM_YOUKI_BIN="$upstream_bin" YOUKI_PARITY_EXPECTED=none \
    cargo test -p youki-e2e --test parity

step "passed"
