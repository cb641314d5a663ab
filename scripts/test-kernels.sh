#!/usr/bin/env bash
# Runs the portable end-to-end suites (scripts/e2e-bundle.sh: cli, wamr,
# security, faults) on Debian's own kernels, booted under QEMU with a pure
# cgroup v2 hierarchy (scripts/vm.sh): the nodes users run, whatever this
# host's kernel and cgroup mode are. Needs root.
#
#   scripts/test-kernels.sh [--bundle DIR] [KERNEL...]
#
#   KERNEL     6.1 (Debian 12, the default), 6.12 (Debian 12 backports),
#              5.10 (Debian 11: no Landlock), or all (6.1 and 6.12)
#   --bundle   a bundle built already (default: build target/e2e-bundle)
#
# Prints each suite's `test result:` line per kernel, and exits non-zero if
# any suite failed on any kernel. Logs: target/kernels/<kernel>.log.
set -euo pipefail
cd "$(dirname "$0")/.."

bundle=
kernels=()
while [ $# -gt 0 ]; do
    case "$1" in
    --bundle) bundle=$(realpath "$2"); shift 2 ;;
    all) kernels+=(6.1 6.12); shift ;;
    6.1|6.12|5.10) kernels+=("$1"); shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown kernel or option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ ${#kernels[@]} -gt 0 ] || kernels=(6.1)
if [ "$(id -u)" -ne 0 ]; then
    echo "error: the kernel runs boot VMs and run containers in them: run as root" >&2
    exit 1
fi

if [ -z "$bundle" ]; then
    scripts/e2e-bundle.sh target/e2e-bundle
    bundle=$PWD/target/e2e-bundle
fi
[ -x "$bundle/run.sh" ] || { echo "error: no bundle at $bundle (scripts/e2e-bundle.sh)" >&2; exit 1; }

mkdir -p target/kernels
failed=()
summary=()
for kernel in "${kernels[@]}"; do
    log=$PWD/target/kernels/$kernel.log
    echo "==> kernel $kernel: the portable suites in a VM ($log)"
    started=$(date +%s)
    # The bundle runs from an ext4 disk, as youki would on a node, not from
    # the 9p share it comes in through.
    status=0
    scripts/vm.sh --kernel "$kernel" --disk 4G --share "$bundle" --timeout 3600 -- \
        sh -c 'cp -a "$PWD" /scratch/e2e-bundle && exec /scratch/e2e-bundle/run.sh' \
        >"$log" 2>&1 || status=$?
    seconds=$(($(date +%s) - started))
    grep -E '^vm-facts|^==> (Linux|FAILED|all suites)' "$log" | sed 's/^/    /' || true
    # One line per suite: the suite's name, then its result.
    while IFS= read -r line; do
        summary+=("$kernel $line")
        echo "    $line"
    done < <(awk '/^==> (cli|wamr|security|faults)$/ { suite = $2 }
                  /^test result:/ { print suite ": " $0 }' "$log")
    echo "    kernel $kernel: exit $status after ${seconds}s"
    if [ "$status" -ne 0 ]; then
        failed+=("$kernel")
        # Each failed test's own report (cargo test prints it after the
        # results, between "failures:" lines), then the end of the log.
        echo "    what failed:"
        awk '/^---- .* stdout ----$/ { show = 1 } /^failures:$/ { show = 0 }
             show || /panicked at/' "$log" | head -n 200 | sed 's/^/    | /'
        echo "    the end of its log:"
        tail -n 20 "$log" | sed 's/^/    | /'
    fi
done

echo
echo "==> kernels: summary"
printf '    %s\n' ${summary[@]+"${summary[@]}"}
if [ ${#failed[@]} -gt 0 ]; then
    echo "error: the portable suites failed on kernel ${failed[*]}" >&2
    exit 1
fi
echo "==> the portable suites passed on kernel ${kernels[*]}"
