#!/usr/bin/env python3
"""Where one Wasm container's init process keeps its private memory.

Starts one container of a WASI module with the given youki (create + start),
waits for its first line of output, reads /proc/<init>/smaps and sums each
mapping's private memory by kind: youki's own binary by permissions (r-x
code, r-- read-only data and the relocated data that RELRO made read-only,
rw- writable data), the heap, anonymous mappings (linear memory, WAMR's
stacks), the main stack, and other files. Repeats and prints the medians.

With one container, pages of youki's binary that only this init maps count
as private, however many containers would share them: compare those rows
between builds, not against the per-container cost of many containers.

    experiment/init_memory.py --youki target/release/youki --module app.wasm
    experiment/init_memory.py ... --args 64 3600 --env SLEEP_TIME=3600
    experiment/init_memory.py ... --annotation io.youki.wamr.mode=interp

Run as root. It removes its containers and files, also on failure.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIELDS = ("Private_Dirty", "Private_Clean", "Rss", "Pss", "AnonHugePages")


def smaps_by_kind(pid):
    """{kind: {field: kB}} for every mapping of the process."""
    exe = os.path.realpath(f"/proc/{pid}/exe")
    exe_name = os.path.basename(exe)
    kinds = {}
    kind = None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        parts = line.split()
        if not parts[0].endswith(":"):
            path = parts[5] if len(parts) > 5 else ""
            if path == "[heap]":
                kind = "heap"
            elif path == "[stack]":
                kind = "stack"
            elif path == "":
                kind = "anonymous"
            elif path.startswith("["):
                kind = "kernel ([vdso], [vvar])"
            elif os.path.basename(path) == exe_name:
                kind = f"youki binary {parts[1][:3]}"
            else:
                kind = "other files"
            kinds.setdefault(kind, {field: 0 for field in FIELDS})
        elif parts[0][:-1] in FIELDS:
            kinds[kind][parts[0][:-1]] += int(parts[1])
    return kinds


def one_container(youki, module, args, env, annotations, workdir, index):
    bundle = workdir / f"bundle-{index}"
    rootfs = bundle / "rootfs"
    rootfs.mkdir(parents=True)
    shutil.copy(module, rootfs / "app.wasm")
    subprocess.run([youki, "spec", "--bundle", str(bundle)], check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"].update(terminal=False, args=["/app.wasm", *args], env=env)
    spec["annotations"] = {"module.wasm.image/variant": "compat", **annotations}
    (bundle / "config.json").write_text(json.dumps(spec))
    root = workdir / "state"
    cid = f"init-memory-{os.getpid()}-{index}"
    out = workdir / f"out-{index}"
    with open(out, "wb") as stdout:
        subprocess.run([youki, "--root", str(root), "create", "--bundle", str(bundle), cid],
                       check=True, stdout=stdout, stderr=subprocess.DEVNULL)
    try:
        subprocess.run([youki, "--root", str(root), "start", cid], check=True)
        deadline = time.monotonic() + 30
        while out.stat().st_size == 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the module printed nothing in 30 s")
            time.sleep(0.01)
        time.sleep(0.5)  # let it reach its steady state (sleeping)
        state = json.loads(subprocess.run([youki, "--root", str(root), "state", cid], check=True,
                                          capture_output=True, text=True).stdout)
        return smaps_by_kind(state["pid"])
    finally:
        subprocess.run([youki, "--root", str(root), "delete", "--force", cid],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--youki", required=True)
    parser.add_argument("--module", required=True)
    parser.add_argument("--args", nargs="*", default=[])
    parser.add_argument("--env", nargs="*", default=["SLEEP_TIME=3600"])
    parser.add_argument("--annotation", nargs="*", default=[], metavar="KEY=VALUE",
                        help="extra annotations, such as io.youki.wamr.mode=interp")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("error: init_memory.py runs containers and must run as root")
    annotations = dict(a.split("=", 1) for a in args.annotation)
    workdir = Path(tempfile.mkdtemp(prefix="youki-init-memory-"))
    try:
        runs = [one_container(os.path.abspath(args.youki), args.module, args.args, args.env, annotations,
                              workdir, i)
                for i in range(args.repetitions)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    kinds = sorted({kind for run in runs for kind in run})
    medians = {kind: {field: statistics.median(run.get(kind, {}).get(field, 0) for run in runs)
                      for field in FIELDS} for kind in kinds}
    medians["total"] = {field: sum(medians[kind][field] for kind in kinds) for field in FIELDS}
    if args.json:
        print(json.dumps({"repetitions": args.repetitions, "kB": medians}, indent=2))
        return
    print(f"median of {args.repetitions} runs, kB")
    print(f"{'':26}" + "".join(f"{field:>15}" for field in FIELDS))
    for kind, values in medians.items():
        print(f"{kind:26}" + "".join(f"{values[field]:>15g}" for field in FIELDS))


if __name__ == "__main__":
    main()
