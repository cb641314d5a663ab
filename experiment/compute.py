#!/usr/bin/env python3
"""CPU-bound work in containers, engine by engine: the study's future work.

Two workloads: experiment/workloads/matmul.c (256x256 integer matrices
multiplied 8 times) and a real program's work, experiment/workloads/compress.c
(zstd compressing 24 MiB of text and back; the zstd library is the zstd.c
that PyPI's `zstandard` sdist ships, fetched into experiment/.cache). Each
runs as a container through youki on WAMR interpreted,
WAMR compiled ahead of time (youki-wamrc), wasmtime and wasmer, as a static
native binary, and (the matrix multiply only) in Python, the same
algorithm. For each: wall time from
`create` until the container has stopped, and the CPU time its cgroup
accounted, median of the repetitions. Then the first start of a WAMR
container with a cold and a warm cache of compiled code, against the
interpreter. Run as root:

    experiment/run.sh compute                     # 3 repetitions
    experiment/run.sh compute --repetitions 1     # a quick look

One youki release build with all three engines (run.oci.handler picks), and
youki-wamrc's release build, cached under experiment/.cache.
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (its helpers: builds, logging, machine facts)

HERE = bench.HERE
REPO = bench.REPO
CACHE = bench.CACHE
MATMUL_C = HERE / "workloads/matmul.c"
COMPRESS_C = HERE / "workloads/compress.c"
ZSTANDARD_VERSION = "0.25.0"

PYTHON_MATMUL = """\
N, ROUNDS = 256, 8
a = [[(i * 31 + j * 17) % 97 for j in range(N)] for i in range(N)]
b = [[(i * 13 + j * 7) % 89 for j in range(N)] for i in range(N)]
checksum = 0
for r in range(ROUNDS):
    bt = list(zip(*b))
    c = [[sum(x * y for x, y in zip(row, col)) & 0xFFFFFFFF for col in bt] for row in a]
    v = c[r][N - 1 - r]
    v = v - (1 << 32) if v >= 1 << 31 else v
    checksum = (checksum * 31 + (v & 0xFFFFFFFF)) & 0xFFFFFFFF
    a[r][r] += 1
print(f"checksum {checksum}")
"""


def build_all(engines):
    """youki with WAMR and the other engines asked for, and youki-wamrc,
    release, cached."""
    target = CACHE / "target-compute"
    env = {**os.environ, "CARGO_TARGET_DIR": str(target)}
    features = ["wasm-wamr"] + [f"wasm-{e}" for e in ("wasmtime", "wasmer") if e in engines]
    bench.log(f"building youki ({', '.join(features)}) and youki-wamrc, release, in {target}")
    bench.run(["cargo", "build", "--release", "-p", "youki", "--features", ",".join(features)],
              cwd=REPO, env=env)
    bench.run(["cargo", "build", "--release", "-p", "youki-wamrc"], cwd=REPO, env=env)
    return target / "release/youki", target / "release/youki-wamrc"


def build(name, sources, flags=()):
    """A C program as a WASI module and as a static native binary."""
    out = CACHE / "workloads"
    out.mkdir(parents=True, exist_ok=True)
    wasm, native = out / f"{name}.wasm", out / name
    files = [str(s) for s in sources]
    bench.run(["clang", "--target=wasm32-wasi", "-O2", "-s", *flags, "-o", str(wasm), *files])
    bench.run(["gcc", "-static", "-O2", "-s", *flags, "-o", str(native), *files])
    return wasm, native


def zstd_sources():
    """zstd.c and its headers from the zstandard sdist on PyPI, fetched once
    and checked against PyPI's SHA-256."""
    unpacked = CACHE / "zstandard"
    if (unpacked / "zstd/zstd.c").exists():
        return unpacked / "zstd"
    bench.log(f"fetching the zstandard {ZSTANDARD_VERSION} sdist from PyPI for zstd.c")
    with urllib.request.urlopen("https://pypi.org/pypi/zstandard/json", timeout=60) as response:
        meta = json.load(response)
    sdist = next(u for u in meta["releases"][ZSTANDARD_VERSION] if u["packagetype"] == "sdist")
    with urllib.request.urlopen(sdist["url"], timeout=300) as response:
        archive = response.read()
    if hashlib.sha256(archive).hexdigest() != sdist["digests"]["sha256"]:
        sys.exit(f"error: {sdist['url']} does not match PyPI's SHA-256")
    tmp = CACHE / "zstandard.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "sdist.tar.gz").write_bytes(archive)
    bench.run(["tar", "xzf", str(tmp / "sdist.tar.gz"), "-C", str(tmp), "--strip-components=1"])
    shutil.rmtree(unpacked, ignore_errors=True)
    tmp.rename(unpacked)
    return unpacked / "zstd"


def zstd_single_threaded(zstd):
    """zstd.c as the sdist ships it defines ZSTD_MULTITHREAD, and WASI
    preview 1 has no threads: a copy without that one line, beside it."""
    source = (zstd / "zstd.c").read_text()
    line = "#define ZSTD_MULTITHREAD\n"
    if line not in source:
        sys.exit(f"error: {zstd / 'zstd.c'} no longer defines ZSTD_MULTITHREAD as expected")
    copy = zstd / "zstd-single-threaded.c"
    copy.write_text(source.replace(line, "/* ZSTD_MULTITHREAD left out: WASI has no threads */\n", 1))
    return copy


ENGINE_NAMES = ["wamr-interp", "wamr-aot", "wasmtime", "wasmer", "native", "python"]


class Engine:
    def __init__(self, name, kind, annotations=None, env=None):
        self.name, self.kind = name, kind
        self.annotations = annotations or {}
        self.env = env or {}


def bundle_for(engine, workdir, template, wasm, native, pyroot, python_source=None, label=""):
    bundle = workdir / f"bundle-{label}{engine.name}"
    bundle.mkdir(parents=True, exist_ok=True)
    spec = json.loads(json.dumps(template))
    process = spec["process"]
    process["terminal"] = False
    process["env"] = ["PATH=/usr/local/bin:/usr/bin:/bin", "SLEEP_TIME=0"]
    if engine.kind == "python":
        rootfs = pyroot
        process["args"] = ["/usr/bin/python3", "-c", python_source]
    else:
        rootfs = bundle / "rootfs"
        rootfs.mkdir(exist_ok=True)
        source = wasm if engine.kind == "wasm" else native
        name = "app.wasm" if engine.kind == "wasm" else "app"
        shutil.copy(source, rootfs / name)
        process["args"] = [f"/{name}"]
    spec["root"] = {"path": str(rootfs), "readonly": True}
    spec["annotations"] = dict(engine.annotations)
    spec.setdefault("linux", {})["cgroupsPath"] = f"/youki-compute/{engine.name}"
    (bundle / "config.json").write_text(json.dumps(spec, indent=2))
    return bundle


def cpu_seconds(cgroup_path):
    """CPU time a cgroup accounted (v2 cpu.stat, v1 cpuacct.usage)."""
    v2 = Path("/sys/fs/cgroup") / cgroup_path.lstrip("/") / "cpu.stat"
    if v2.exists():
        stat = dict(line.split() for line in v2.read_text().splitlines())
        return int(stat["usage_usec"]) / 1e6
    for controllers in ("cpu,cpuacct", "cpuacct,cpu", "cpuacct"):
        v1 = Path("/sys/fs/cgroup") / controllers / cgroup_path.lstrip("/") / "cpuacct.usage"
        if v1.exists():
            return int(v1.read_text()) / 1e9
    raise RuntimeError(f"no CPU accounting for cgroup {cgroup_path}")


def run_once(youki, engine, bundle, root, logdir, cid):
    """create, start, wait until stopped: (wall seconds, cgroup CPU seconds,
    stdout)."""
    env = {**os.environ, **engine.env}
    out_path = logdir / f"{cid}.out"
    cmd = [str(youki), "--root", str(root)]
    started = time.perf_counter()
    with open(out_path, "wb") as out, open(logdir / f"{cid}.err", "wb") as err:
        for args in (["create", "--bundle", str(bundle), cid], ["start", cid]):
            subprocess.run(cmd + args, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                           check=True, timeout=600)
    while True:
        state = subprocess.run(cmd + ["state", cid], capture_output=True, text=True, env=env)
        if json.loads(state.stdout)["status"] == "stopped":
            break
        time.sleep(0.005)
    wall = time.perf_counter() - started
    cpu = cpu_seconds(f"/youki-compute/{engine.name}")
    subprocess.run(cmd + ["delete", "--force", cid], capture_output=True, env=env, check=True)
    return wall, cpu, out_path.read_text()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--engines", default="", help="comma-separated subset")
    parser.add_argument("--youki", help="a release youki with wasm-wamr (and the engines asked for) "
                                        "instead of building one; needs --wamrc too")
    parser.add_argument("--wamrc", help="a release youki-wamrc, with --youki")
    parser.add_argument("--out", default=str(HERE / "results" / time.strftime("compute-%Y%m%d-%H%M%S")))
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("error: the benchmark runs containers and must run as root")

    wanted = args.engines.split(",") if args.engines else ENGINE_NAMES
    if args.youki and args.wamrc:
        youki, wamrc = Path(args.youki).resolve(), Path(args.wamrc).resolve()
    else:
        youki, wamrc = build_all(wanted)
    zstd = zstd_sources()
    workloads = {
        "matmul": (*build("matmul", [MATMUL_C]), PYTHON_MATMUL),
        "compress": (*build("compress", [COMPRESS_C, zstd_single_threaded(zstd)],
                            ["-I", str(zstd), "-DZSTD_DISABLE_ASM"]), None),
    }
    workdir = Path(tempfile.mkdtemp(prefix="youki-compute-"))
    cache = workdir / "aot-cache"
    cache.mkdir(mode=0o700)
    aot_env = {"YOUKI_WAMRC": str(wamrc), "YOUKI_WAMR_AOT_CACHE": str(cache)}
    engines = [
        Engine("wamr-interp", "wasm", {"run.oci.handler": "wamr", "io.youki.wamr.mode": "interp"}),
        Engine("wamr-aot", "wasm", {"run.oci.handler": "wamr", "io.youki.wamr.mode": "aot"}, aot_env),
        Engine("wasmtime", "wasm", {"run.oci.handler": "wasmtime"}),
        Engine("wasmer", "wasm", {"run.oci.handler": "wasmer"}),
        Engine("native", "native"),
        Engine("python", "python"),
    ]
    engines = [e for e in engines if e.name in wanted]
    pyroot = bench.python_rootfs() if any(e.kind == "python" for e in engines) else None
    root = workdir / "state"
    logdir = workdir / "logs"
    logdir.mkdir()
    bench.run([str(youki), "spec", "--bundle", str(workdir)])
    template = json.loads((workdir / "config.json").read_text())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {"compute": {}, "first_start": {}}
    try:
        for workload, (wasm, native, python_source) in workloads.items():
            results["compute"][workload] = {}
            for engine in engines:
                if engine.kind == "python" and python_source is None:
                    continue
                bundle = bundle_for(engine, workdir, template, wasm, native, pyroot, python_source,
                                    f"{workload}-")
                if engine.name == "wamr-aot":
                    # compiled before the timed runs: the warm-cache case
                    bench.run([str(wamrc), "--precompile", str(wasm)], env={**os.environ, **aot_env},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                samples = []
                for rep in range(args.repetitions):
                    bench.log(f"{workload} on {engine.name}, repetition {rep + 1}/{args.repetitions}")
                    wall, cpu, stdout = run_once(youki, engine, bundle, root, logdir,
                                                 f"{workload}-{engine.name}-{rep}")
                    if not stdout.startswith("checksum "):
                        raise RuntimeError(f"{workload} on {engine.name} printed {stdout!r}")
                    samples.append({"wall_s": wall, "cpu_s": cpu, "output": stdout.strip()})
                results["compute"][workload][engine.name] = samples
            outputs = {s["output"] for samples in results["compute"][workload].values()
                       for s in samples}
            if len(outputs) != 1:
                raise RuntimeError(f"the engines disagree on {workload}: {outputs}")

        # First start: the thesis workload (prints, sleeps 0 s, exits).
        thesis, _ = bench.build_workloads()
        starts = [
            ("interp", Engine("start-interp", "wasm", {"run.oci.handler": "wamr",
                                                      "io.youki.wamr.mode": "interp"})),
            ("aot-cold", Engine("start-aot", "wasm", {"run.oci.handler": "wamr"}, aot_env)),
            ("aot-warm", Engine("start-aot", "wasm", {"run.oci.handler": "wamr"}, aot_env)),
        ]
        for label, engine in starts:
            bundle = bundle_for(engine, workdir, template, thesis, None, None)
            samples = []
            for rep in range(args.repetitions):
                if label == "aot-cold":
                    for entry in cache.glob("*.aot"):
                        entry.unlink()
                bench.log(f"first start, {label}, repetition {rep + 1}/{args.repetitions}")
                wall, _, stdout = run_once(youki, engine, bundle, root, logdir, f"{label}-{rep}")
                if "Goodbye" not in stdout:
                    raise RuntimeError(f"{label} printed {stdout!r}")
                samples.append({"wall_s": wall})
            results["first_start"][label] = samples
    finally:
        subprocess.run(["rm", "-rf", str(workdir)])

    facts = bench.machine_facts([bench.Config("youki", youki, "wasm")])
    (out / "results.json").write_text(json.dumps({"machine": facts, **results}, indent=2))
    lines = []
    for workload, by_engine in results["compute"].items():
        med = {name: {k: statistics.median(s[k] for s in samples) for k in ("wall_s", "cpu_s")}
               for name, samples in by_engine.items()}
        base = med.get("wasmtime", {}).get("wall_s")
        lines += [f"| {workload} | wall (s) | CPU (s) | wall vs wasmtime |", "|---|---|---|---|"]
        for name, m in med.items():
            ratio = f"{m['wall_s'] / base:.2f}x" if base else "-"
            lines.append(f"| {name} | {m['wall_s']:.3f} | {m['cpu_s']:.3f} | {ratio} |")
        lines.append("")
    lines += ["| first start (thesis workload, create to exit) | wall (s) |", "|---|---|"]
    for label, samples in results["first_start"].items():
        lines.append(f"| {label} | {statistics.median(s['wall_s'] for s in samples):.3f} |")
    made = plot(results["compute"], out)
    command = "experiment/run.sh compute " + " ".join(sys.argv[1:])
    table = "\n".join(lines)
    (out / "table.md").write_text(
        f"Command: `{command.strip()}`\n\nMachine: {facts['cores']} cores, kernel {facts['kernel']}, "
        f"{facts['os']}; medians of {args.repetitions} repetition(s).\n\n{table}\n")
    print(table)
    bench.log(f"results in {out}" + (f" (plot: {made})" if made else ""))


def plot(compute, out):
    """compute.png: median wall time per engine, one panel per workload,
    on a log scale (the interpreter and Python are 10-100x the others)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        bench.log("matplotlib is missing: no plot (experiment/run.sh installs it)")
        return None
    fig, axes = plt.subplots(1, len(compute), figsize=(6 * len(compute), 3.8), squeeze=False)
    for ax, (workload, by_engine) in zip(axes[0], compute.items()):
        names = list(by_engine)
        walls = [statistics.median(s["wall_s"] for s in by_engine[n]) for n in names]
        bars = ax.barh(names, walls, color=["tab:red" if n.startswith("wamr") else "tab:gray"
                                            for n in names])
        ax.bar_label(bars, labels=[f"{w:.2f} s" for w in walls], fontsize=8, padding=2)
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_title(f"{workload}: wall time, create to exit (median)")
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "compute.png", dpi=110)
    plt.close(fig)
    return "compute.png"


if __name__ == "__main__":
    main()
