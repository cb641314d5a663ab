#!/usr/bin/env python3
"""Memory per container and start-up time, side by side, in one run.

Reproduces the benchmark method of the study this project starts from
(../shared/thesis.txt, chapter 5) for youki + WAMR and its alternatives; see
experiment/README.md. Run as root:

    experiment/run.sh                      # full run: N = 10, 100, 400; 3 repetitions
    experiment/run.sh --smoke              # N = 2, one repetition (what CI runs)

Every figure is the median of the repetitions; min and max are kept in the JSON.
"""

import argparse
import concurrent.futures
import datetime
import functools
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = Path(os.environ.get("BENCH_CACHE", HERE / ".cache"))
THESIS_C = REPO / "tests/e2e/fixtures/thesis.c"
# The CRI client of the per-pod mode, in cargo's debug build
CRI_PODS = REPO / os.environ.get("CARGO_TARGET_DIR", "target") / "debug/cri-pods"
SLEEP_SECONDS = "3600"

PYTHON_WORKLOAD = """\
import os, sys, time
print("Hello, World!", flush=True)
seconds = int(os.environ.get("SLEEP_TIME", "60"))
print(f"Sleeping for {seconds} seconds", flush=True)
time.sleep(seconds)
print(f"Goodbye after {seconds} seconds", flush=True)
"""


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(cmd, **kwargs):
    return subprocess.run(cmd, check=True, **kwargs)


# --------------------------------------------------------------------------
# What is measured: binaries, root file systems, configurations


def build_youki(feature):
    """youki built with one engine feature, release, cached per feature."""
    target = CACHE / f"target-{feature}"
    binary = target / "release/youki"
    log(f"building youki --features {feature} (cached in {target})")
    run(["cargo", "build", "--release", "-p", "youki", "--features", feature],
        cwd=REPO, env={**os.environ, "CARGO_TARGET_DIR": str(target)})
    return binary


def build_wamrc(youki):
    """youki-wamrc beside `youki` (cargo's target directory and profile)."""
    wamrc = Path(youki).with_name("youki-wamrc")
    if "release" in wamrc.parts:
        log(f"building youki-wamrc, release, beside {youki}")
        run(["cargo", "build", "--release", "-p", "youki-wamrc"], cwd=REPO,
            env={**os.environ, "CARGO_TARGET_DIR": str(Path(youki).parent.parent)})
    if not wamrc.is_file():
        sys.exit(f"error: no {wamrc}: cargo build -p youki-wamrc")
    return wamrc


def build_cri_pods():
    """The benchmark's CRI client (tests/e2e/src/bin/cri-pods.rs), debug."""
    log("building cri-pods")
    run(["cargo", "build", "-p", "youki-e2e", "--bin", "cri-pods"], cwd=REPO)
    return CRI_PODS


def build_workloads():
    """The thesis program as a WASI module and as a static native binary."""
    out = CACHE / "workloads"
    out.mkdir(parents=True, exist_ok=True)
    wasm, native = out / "app.wasm", out / "app"
    run(["clang", "--target=wasm32-wasi", "-O2", "-s", "-o", str(wasm), str(THESIS_C)])
    run(["gcc", "-static", "-O2", "-s", "-o", str(native), str(THESIS_C)])
    return wasm, native


def python_rootfs():
    """A minimal Debian root file system with python3, built once."""
    rootfs = CACHE / "python-rootfs"
    if (rootfs / "usr/bin/python3").exists():
        return rootfs
    log(f"building a python3 root file system with debootstrap in {rootfs}")
    tmp = CACHE / "python-rootfs.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    run(["debootstrap", "--variant=minbase", "--include=python3-minimal", "bookworm", str(tmp),
         "http://deb.debian.org/debian"], stdout=subprocess.DEVNULL)
    (tmp / "app.py").write_text(PYTHON_WORKLOAD)
    tmp.rename(rootfs)
    return rootfs


class Config:
    """One way of running the workload: a runtime binary, a workload kind
    (wasm, native, python) and a launch mode: the runtime called directly
    (create + start, "direct"), containerd with the runc v2 shim through ctr
    ("containerd", one shim per container), or pods through containerd's CRI
    with the kubelet's calls ("cri": a pause container, the workload's
    container and one shim per pod; the figures are then per pod)."""

    def __init__(self, name, runtime, kind, env=None, mode="direct", annotations=None):
        self.name, self.runtime, self.kind, self.mode = name, runtime, kind, mode
        # containerd's CRI: youki builds get a handler each; runc is "runc"
        self.runtime_handler = "runc" if runtime and Path(runtime).name == "runc" else name
        self.env = env or {}
        self.annotations = annotations or {}

    def spec(self, template):
        spec = json.loads(json.dumps(template))
        process = spec["process"]
        process["terminal"] = False
        process["env"] = ["PATH=/usr/local/bin:/usr/bin:/bin", f"SLEEP_TIME={SLEEP_SECONDS}"]
        spec["annotations"] = {}
        if self.kind == "wasm":
            process["args"] = ["/app.wasm"]
            spec["annotations"]["module.wasm.image/variant"] = "compat"
            spec["annotations"].update(self.annotations)
        elif self.kind == "native":
            process["args"] = ["/app"]
        else:
            process["args"] = ["/usr/bin/python3", "/app.py"]
        return spec


def make_bundle(config, workdir, wasm, native, pyroot, template):
    bundle = workdir / f"bundle-{config.name}"
    if config.kind == "python":
        rootfs = pyroot
    else:
        rootfs = bundle / "rootfs"
        rootfs.mkdir(parents=True, exist_ok=True)
        source = wasm if config.kind == "wasm" else native
        shutil.copy(source, rootfs / ("app.wasm" if config.kind == "wasm" else "app"))
    bundle.mkdir(parents=True, exist_ok=True)
    spec = config.spec(template)
    spec["root"] = {"path": str(rootfs), "readonly": True}
    (bundle / "config.json").write_text(json.dumps(spec, indent=2))
    return bundle


# --------------------------------------------------------------------------
# Measuring


def meminfo():
    values = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, rest = line.split(":", 1)
        values[key] = int(rest.split()[0]) * 1024
    return values


def drop_caches():
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def pss(pid):
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def memory_cgroup(pid):
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return Path("/sys/fs/cgroup/memory") / path.lstrip("/")
    v2 = [l for l in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if l.startswith("0::")]
    return Path("/sys/fs/cgroup") / v2[0][3:].lstrip("/") if v2 else None


def cgroup_usage(cgroup):
    """(usage, working set = usage - inactive file), as kubectl top reports."""
    if (cgroup / "memory.usage_in_bytes").exists():
        usage = int((cgroup / "memory.usage_in_bytes").read_text())
        stat = dict(l.split() for l in (cgroup / "memory.stat").read_text().splitlines())
        inactive = int(stat.get("total_inactive_file", stat.get("inactive_file", 0)))
    else:
        usage = int((cgroup / "memory.current").read_text())
        stat = dict(l.split() for l in (cgroup / "memory.stat").read_text().splitlines())
        inactive = int(stat.get("inactive_file", 0))
    return usage, max(usage - inactive, 0)


def cgroup_pids(cgroup):
    procs = cgroup / "cgroup.procs"
    return [int(p) for p in procs.read_text().split()] if procs.exists() else []


# --------------------------------------------------------------------------
# containerd with the runc v2 shim


class Containerd:
    """A private containerd: own config, root, state and socket; stopped and
    removed by close(), also on failure. With `cri_configs`, its CRI plugin
    is on, with one runtime handler per youki configuration (named after it,
    written by scripts/containerd-runtime.py as install.sh writes youki's)
    and runc's."""

    NAMESPACE = "bench"
    CRI_NAMESPACE = "k8s.io"

    def __init__(self, workdir, cri_configs=(), env=None):
        self.dir = workdir / "containerd"
        self.dir.mkdir(parents=True)
        self.socket = self.dir / "containerd.sock"
        self.cri = bool(cri_configs)
        config = self.dir / "config.toml"
        text = (f'version = 2\nroot = "{self.dir}/root"\nstate = "{self.dir}/state"\n'
                f'[grpc]\n  address = "{self.socket}"\n')
        if not cri_configs:
            text = text.replace("[grpc]", 'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]')
        else:
            # The sandbox lacks CAP_SYS_RESOURCE on some hosts: pods must not ask
            # for an oom_score_adj below containerd's own.
            text += (f'[plugins]\n  [plugins."io.containerd.grpc.v1.cri"]\n'
                     f'    sandbox_image = "{image_name("pause")}"\n'
                     f'    restrict_oom_score_adj = true\n')
        config.write_text(text)
        for c in cri_configs:
            if c.runtime_handler != "runc":
                run([sys.executable, str(REPO / "scripts/containerd-runtime.py"), str(config),
                     "--name", c.runtime_handler, "--binary", str(c.runtime),
                     "--root", str(self.dir / f"root-{c.name}")], stdout=subprocess.DEVNULL)
        self.log = open(self.dir / "containerd.log", "wb")
        self.process = subprocess.Popen(["containerd", "--config", str(config)],
                                        stdout=self.log, stderr=self.log,
                                        env={**os.environ, **(env or {})})
        for _ in range(100):
            if self.socket.exists() and self.ctr("version", check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("containerd did not start")

    def ctr(self, *args, check=True, namespace=NAMESPACE, **kwargs):
        return subprocess.run(["ctr", "--address", str(self.socket), "-n", namespace, *args],
                              check=check, capture_output=True, **kwargs)

    def import_image(self, archive, namespace=NAMESPACE):
        self.ctr("images", "import", str(archive), namespace=namespace)

    def cri_pods(self, *args):
        """cri-pods (tests/e2e/src/bin/cri-pods.rs) on this containerd."""
        out = subprocess.run([str(CRI_PODS), *args, "--socket", str(self.socket)],
                             capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            raise RuntimeError(f"cri-pods {args[0]} failed: {out.stderr.strip()}")
        return out.stdout

    def close(self):
        if self.cri:
            try:
                self.cri_pods("remove", "--prefix", "b-")
            except (RuntimeError, subprocess.TimeoutExpired) as err:
                log(f"cleanup: {err}")
        for namespace in (self.NAMESPACE, self.CRI_NAMESPACE):
            ctr = functools.partial(self.ctr, check=False, namespace=namespace)
            for task in ctr("tasks", "ls", "-q").stdout.decode().split():
                ctr("tasks", "kill", "-s", "KILL", task)
                ctr("tasks", "rm", "-f", task)
            for container in ctr("containers", "ls", "-q").stdout.decode().split():
                ctr("containers", "rm", container)
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()
        for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
            target = line.split()[1]
            if target.startswith(str(self.dir)):
                subprocess.run(["umount", "-l", target], check=False)


def build_image(kind, rootfs_files):
    """An OCI archive of the workload, built offline with buildah, cached."""
    archive = CACHE / f"image-{kind}.tar"
    if archive.exists():
        return archive
    log(f"building the {kind} image with buildah")
    name = f"localhost/youki-bench-{kind}:latest"
    container = subprocess.run(["buildah", "from", "scratch"], check=True, capture_output=True,
                               text=True).stdout.strip()
    for source, dest in rootfs_files:
        run(["buildah", "copy", "-q", container, str(source), dest], stdout=subprocess.DEVNULL)
    entrypoint = {"wasm": '["/app.wasm"]', "native": '["/app"]',
                  "python": '["/usr/bin/python3", "/app.py"]',
                  # the sandbox's pause process: busybox sleep
                  "pause": '["/bin/sleep", "2147483647"]'}[kind]
    run(["buildah", "config", "--entrypoint", entrypoint, "--env", "PATH=/usr/bin:/bin", container])
    run(["buildah", "commit", "-q", "--rm", container, name], stdout=subprocess.DEVNULL)
    run(["buildah", "push", "-q", name, f"oci-archive:{archive}.tmp:{name}"])
    Path(f"{archive}.tmp").rename(archive)
    return archive


def image_name(kind):
    return f"localhost/youki-bench-{kind}:latest"


# --------------------------------------------------------------------------
# One measurement: start N containers, wait, measure, tear down


def runtime_cmd(config, root, *args):
    return [str(config.runtime), "--root", str(root), *args]


def launch(config, root, bundle, cid, logdir):
    """create + start, as a shim does. Output goes to files, not pipes: the
    container inherits them and would hold a pipe open."""
    env = {**os.environ, **config.env}
    out_path, err_path = logdir / f"{cid}.log", logdir / f"{cid}.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        for args in (("create", "--bundle", str(bundle), cid), ("start", cid)):
            code = subprocess.run(runtime_cmd(config, root, *args), stdin=subprocess.DEVNULL,
                                  stdout=out, stderr=err, env=env, timeout=120).returncode
            if code != 0:
                raise RuntimeError(f"{config.name} {args[0]} {cid} failed: {err_path.read_text()}")


def launch_containerd(config, containerd, cid, logdir):
    """What the kubelet's containerd does: a runc v2 shim per container, with
    our runtime as the shim's runc binary."""
    args = ["run", "--detach", "--runtime", "io.containerd.runc.v2",
            "--runc-binary", str(config.runtime), "--env", f"SLEEP_TIME={SLEEP_SECONDS}",
            "--log-uri", f"file://{logdir / (cid + '.log')}"]
    if config.kind == "wasm":
        args += ["--annotation", "module.wasm.image/variant=compat"]
        for key, value in config.annotations.items():
            args += ["--annotation", f"{key}={value}"]
    out = containerd.ctr(*args, image_name(config.kind), cid, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"ctr run {cid} failed: {out.stderr.decode()}")


def launch_pods(config, containerd, prefix, n, parallelism, logdir):
    """n pods through the CRI, as the kubelet starts them; returns each
    pod's app log, sandbox (pause) pid and app container pid."""
    args = ["start", "--handler", config.runtime_handler, "--image", image_name(config.kind),
            "--prefix", prefix, "--count", str(n), "--log-dir", str(logdir),
            "--parallelism", str(parallelism), "--env", f"SLEEP_TIME={SLEEP_SECONDS}"]
    if config.kind == "wasm":
        # on the pod: a Pod's spec cannot set container annotations
        for key, value in {"module.wasm.image/variant": "compat", **config.annotations}.items():
            args += ["--annotation", f"{key}={value}"]
    return [json.loads(line) for line in containerd.cri_pods(*args).splitlines()]


def containerd_pids(containerd):
    pids = {}
    for line in containerd.ctr("tasks", "ls").stdout.decode().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 2 and fields[1].isdigit():
            pids[fields[0]] = int(fields[1])
    return pids


def parent_pid(pid):
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def state_pid(config, root, cid):
    out = subprocess.run(runtime_cmd(config, root, "state", cid), capture_output=True, text=True)
    return json.loads(out.stdout)["pid"] if out.returncode == 0 else None


def teardown(config, root, ids, parallelism):
    env = {**os.environ, **config.env}

    def remove(cid):
        subprocess.run(runtime_cmd(config, root, "kill", cid, "KILL"), capture_output=True, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            out = subprocess.run(runtime_cmd(config, root, "delete", "--force", cid),
                                 capture_output=True, env=env)
            if out.returncode == 0:
                return
            time.sleep(0.1)

    with concurrent.futures.ThreadPoolExecutor(parallelism) as pool:
        list(pool.map(remove, ids))


def measure(config, bundle, n, parallelism, workdir, containerd):
    root = workdir / f"state-{config.name}"
    logdir = workdir / f"logs-{config.name}-{n}"
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir(parents=True)
    ids = [f"b-{config.name}-{n}-{i}" for i in range(n)]
    prefix = f"b-{config.name}-{n}-"
    logs = {cid: logdir / f"{cid}.log" for cid in ids}
    pods = None

    drop_caches()
    time.sleep(2)
    before = meminfo()
    started = time.monotonic()
    try:
        if config.mode == "cri":
            pods = launch_pods(config, containerd, prefix, n, parallelism, logdir)
            logs = {pod["name"]: Path(pod["log"]) for pod in pods}
        else:
            with concurrent.futures.ThreadPoolExecutor(parallelism) as pool:
                if config.mode == "direct":
                    jobs = [pool.submit(launch, config, root, bundle, cid, logdir) for cid in ids]
                else:
                    jobs = [pool.submit(launch_containerd, config, containerd, cid, logdir)
                            for cid in ids]
                for job in jobs:
                    job.result()
        # Time until every container printed its first line.
        pending = set(logs)
        while pending:
            for cid in list(pending):
                if logs[cid].exists() and logs[cid].stat().st_size > 0:
                    pending.discard(cid)
            if time.monotonic() - started > 600:
                raise RuntimeError(f"{len(pending)} containers printed nothing in 600 s")
            time.sleep(0.005)
        first_lines = time.monotonic() - started
        time.sleep(3)  # settle
        after = meminfo()

        # What each container (or pod) holds: its processes, found through
        # its memory cgroup, and the shim that runs it.
        if pods is not None:
            units = [([pod["container_pid"], pod["sandbox_pid"]], True) for pod in pods]
        elif config.mode == "direct":
            units = [([state_pid(config, root, cid)], False) for cid in ids]
        else:
            pids = containerd_pids(containerd)
            units = [([pids.get(cid)], True) for cid in ids]
        pss_total, usage_total, working_total = 0, 0, 0
        for unit_pids, shim in units:
            if None in unit_pids:
                raise RuntimeError(f"a container of {config.name} is gone")
            cgroups = {pid: memory_cgroup(pid) for pid in unit_pids}
            pss_total += sum(pss(pid) for pid, cgroup in cgroups.items() if cgroup is None)
            for cgroup in set(cgroups.values()) - {None}:
                pss_total += sum(pss(p) for p in cgroup_pids(cgroup))
                usage, working = cgroup_usage(cgroup)
                usage_total += usage
                working_total += working
            if shim:  # the runc v2 shim: one per container, or per pod under the CRI
                pss_total += sum(pss(p) for p in {parent_pid(pid) for pid in unit_pids})
        return {
            "memavailable_drop_per_container": (before["MemAvailable"] - after["MemAvailable"]) / n,
            "shmem_growth_per_container": (after["Shmem"] - before["Shmem"]) / n,
            "shmem_growth_total": after["Shmem"] - before["Shmem"],
            "pss_per_container": pss_total / n,
            "cgroup_usage_per_container": usage_total / n,
            "cgroup_working_set_per_container": working_total / n,
            "seconds_to_all_first_lines": first_lines,
        }
    finally:
        if config.mode == "direct":
            teardown(config, root, ids, parallelism)
        elif config.mode == "cri":
            containerd.cri_pods("remove", "--prefix", prefix, "--parallelism", str(parallelism))
        else:
            teardown_containerd(containerd, ids, parallelism)
        shutil.rmtree(logdir, ignore_errors=True)


def teardown_containerd(containerd, ids, parallelism):
    def remove(cid):
        containerd.ctr("tasks", "kill", "-s", "KILL", cid, check=False)
        for _ in range(100):
            if containerd.ctr("tasks", "rm", "-f", cid, check=False).returncode == 0:
                break
            time.sleep(0.1)
        containerd.ctr("containers", "rm", cid, check=False)

    with concurrent.futures.ThreadPoolExecutor(parallelism) as pool:
        list(pool.map(remove, ids))


# --------------------------------------------------------------------------
# Reporting


MIB = 1024 * 1024
COLUMNS = [
    ("memavailable_drop_per_container", "MemAvailable drop / ctr (MiB)", MIB),
    ("pss_per_container", "PSS / ctr (MiB)", MIB),
    ("cgroup_usage_per_container", "cgroup usage / ctr (MiB)", MIB),
    ("cgroup_working_set_per_container", "working set / ctr (MiB)", MIB),
    ("shmem_growth_per_container", "Shmem growth / ctr (MiB)", MIB),
    ("seconds_to_all_first_lines", "all first lines (s)", 1),
]


def summarize(samples):
    keys = samples[0].keys()
    return {k: {"median": statistics.median(s[k] for s in samples),
                "min": min(s[k] for s in samples), "max": max(s[k] for s in samples)}
            for k in keys}


def table(results):
    header = "| configuration | N | " + " | ".join(c[1] for c in COLUMNS) + " |"
    rows = [header, "|" + "---|" * (len(COLUMNS) + 2)]
    for r in results:
        cells = [f"{r['summary'][k]['median'] / scale:.2f}" for k, _, scale in COLUMNS]
        rows.append(f"| {r['config']} | {r['n']} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def plots(results, outdir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is missing: no plots (experiment/run.sh installs it)")
        return []
    made = []
    configs = list(dict.fromkeys(r["config"] for r in results))
    sizes = sorted({r["n"] for r in results})
    for key, label, scale, name in [
        ("memavailable_drop_per_container", "MemAvailable drop per container (MiB)", MIB, "memory.png"),
        ("pss_per_container", "PSS per container (MiB)", MIB, "pss.png"),
        ("seconds_to_all_first_lines", "time until every container printed (s)", 1, "startup.png"),
    ]:
        fig, ax = plt.subplots(figsize=(13, 5.5))
        width = 0.8 / max(len(configs), 1)
        colors = plt.get_cmap("tab20").colors
        for i, config in enumerate(configs):
            values = [next((r["summary"][key]["median"] / scale for r in results
                            if r["config"] == config and r["n"] == n), 0) for n in sizes]
            ax.bar([j + i * width for j in range(len(sizes))], values, width, label=config,
                   color=colors[i % len(colors)])
        ax.set_xticks([j + width * (len(configs) - 1) / 2 for j in range(len(sizes))])
        ax.set_xticklabels([f"N={n}" for n in sizes])
        ax.set_ylabel(label)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(outdir / name, dpi=110)
        plt.close(fig)
        made.append(name)
    return made


def machine_facts(configs):
    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "unknown"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "memory_bytes": meminfo()["MemTotal"],
        "kernel": platform.release(),
        "os": version(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]),
        "runtimes": {c.name: version([str(c.runtime), "--version"]) for c in configs},
        "clang": version(["clang", "--version"]),
    }


# --------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="N=2, one repetition, a few configurations")
    parser.add_argument("--sizes", default="10,100,400")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--configs", default="", help="comma-separated subset of configuration names")
    parser.add_argument("--youki-wamr", metavar="BINARY",
                        help="use this youki (built with wasm-wamr) instead of building one; the test "
                             "suite's smoke run passes its debug build")
    parser.add_argument("--youki-engines", metavar="BINARY",
                        help="use this youki (built with wasm-wasmtime and wasm-wasmer) for the "
                             "wasmtime and wasmer configurations instead of building one per engine")
    parser.add_argument("--out", default=str(HERE / "results" / time.strftime("%Y%m%d-%H%M%S")))
    parser.add_argument("--replot", metavar="DIR", help="redraw the plots of a results folder and exit")
    args = parser.parse_args()
    if args.replot:
        results = json.loads((Path(args.replot) / "results.json").read_text())["results"]
        log(f"plots: {plots(results, Path(args.replot))}")
        return
    if os.geteuid() != 0:
        sys.exit("error: the benchmark runs containers and must run as root")

    sizes = [2] if args.smoke else [int(n) for n in args.sizes.split(",")]
    repetitions = 1 if args.smoke else args.repetitions
    wamr = Path(args.youki_wamr).resolve() if args.youki_wamr else build_youki("wasm-wamr")
    wasm, native = build_workloads()
    runc = shutil.which("runc") or "runc"
    interp = {"io.youki.wamr.mode": "interp"}
    workdir = Path(tempfile.mkdtemp(prefix="youki-bench-"))
    # Compiled code from a cache warmed before the runs (youki-wamrc
    # --precompile), as on a node that compiles when an image is pulled.
    aot_cache = workdir / "aot-cache"
    aot_env = {"YOUKI_WAMR_AOT_CACHE": str(aot_cache)}
    configs = [
        Config("youki-wamr", wamr, "wasm", annotations=interp),
        Config("youki-wamr-aot", wamr, "wasm", aot_env, annotations={"io.youki.wamr.mode": "aot"}),
        Config("youki-wamr-memfd", wamr, "wasm", {"YOUKI_FORCE_MEMFD_EXE": "1"}, annotations=interp),
        Config("youki-native", wamr, "native"),
        Config("runc-native", runc, "native"),
        Config("ctrd-youki-wamr", wamr, "wasm", mode="containerd", annotations=interp),
        Config("ctrd-runc-native", runc, "native", mode="containerd"),
        Config("cri-youki-wamr", wamr, "wasm", mode="cri", annotations=interp),
        Config("cri-runc-native", runc, "native", mode="cri"),
    ]
    wanted = set(args.configs.split(",")) if args.configs else None

    def wants(*names):
        return wanted is None or bool(wanted.intersection(names))

    if not args.smoke:
        # The slow engine builds only for the configurations that use them.
        engines = Path(args.youki_engines).resolve() if args.youki_engines else None
        wasmtime, wasmer = engines, engines
        if engines is None:
            if wants("youki-wasmtime", "ctrd-youki-wasmtime", "cri-youki-wasmtime"):
                wasmtime = build_youki("wasm-wasmtime")
            if wants("youki-wasmer", "ctrd-youki-wasmer", "cri-youki-wasmer"):
                wasmer = build_youki("wasm-wasmer")
        # With one build of several engines, the annotation picks the engine.
        pick = {e: {"run.oci.handler": e} if engines else {} for e in ("wasmtime", "wasmer")}
        configs += [
            Config("youki-wasmtime", wasmtime, "wasm", annotations=pick["wasmtime"]),
            Config("youki-wasmer", wasmer, "wasm", annotations=pick["wasmer"]),
            Config("youki-python", wamr, "python"),
            Config("runc-python", runc, "python"),
            Config("ctrd-youki-native", wamr, "native", mode="containerd"),
            Config("ctrd-youki-wasmtime", wasmtime, "wasm", mode="containerd",
                   annotations=pick["wasmtime"]),
            Config("ctrd-youki-wasmer", wasmer, "wasm", mode="containerd", annotations=pick["wasmer"]),
            Config("ctrd-runc-python", runc, "python", mode="containerd"),
            Config("cri-youki-wasmtime", wasmtime, "wasm", mode="cri", annotations=pick["wasmtime"]),
            Config("cri-youki-wasmer", wasmer, "wasm", mode="cri", annotations=pick["wasmer"]),
            Config("cri-runc-python", runc, "python", mode="cri"),
        ]
    if wanted is not None:
        configs = [c for c in configs if c.name in wanted]
    pyroot = python_rootfs() if any(c.kind == "python" for c in configs) else None
    if any(c.mode == "cri" for c in configs):
        build_cri_pods()

    if any(c.name == "youki-wamr-aot" for c in configs):
        wamrc = build_wamrc(wamr)
        aot_env["YOUKI_WAMRC"] = str(wamrc)
        aot_cache.mkdir(mode=0o700)
        run([str(wamrc), "--precompile", str(wasm)], env={**os.environ, **aot_env},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    out = Path(args.out)
    (out / "raw").mkdir(parents=True, exist_ok=True)
    run([str(wamr), "spec", "--bundle", str(workdir)])
    template = json.loads((workdir / "config.json").read_text())
    facts = machine_facts(configs)
    facts["parallelism"] = args.parallelism
    results = []
    interrupted = False
    containerd = None

    def stop(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, stop)
    try:
        if any(c.mode != "direct" for c in configs):
            cri_configs = [c for c in configs if c.mode == "cri"]
            containerd = Containerd(workdir, cri_configs, aot_env)
            files = {"wasm": [(wasm, "/app.wasm")], "native": [(native, "/app")],
                     "python": [(pyroot, "/")] if pyroot else [],
                     "pause": [(shutil.which("busybox") or "/bin/busybox", "/bin/sleep")]}
            for kind in sorted({c.kind for c in configs if c.mode == "containerd"}):
                containerd.import_image(build_image(kind, files[kind]))
            for kind in sorted({c.kind for c in cri_configs} | {"pause"} if cri_configs else set()):
                containerd.import_image(build_image(kind, files[kind]), Containerd.CRI_NAMESPACE)
            facts["containerd"] = subprocess.run(["containerd", "--version"], capture_output=True,
                                                 text=True).stdout.strip()
        for config in configs:
            bundle = make_bundle(config, workdir, wasm, native, pyroot, template)
            for n in sizes:
                samples = []
                for rep in range(repetitions):
                    log(f"{config.name}: N={n}, repetition {rep + 1}/{repetitions}")
                    sample = measure(config, bundle, n, args.parallelism, workdir, containerd)
                    samples.append(sample)
                    (out / "raw" / f"{config.name}-n{n}-r{rep + 1}.json").write_text(json.dumps(sample, indent=2))
                results.append({"config": config.name, "n": n, "samples": samples,
                                "summary": summarize(samples)})
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: cleaning up")
    finally:
        if containerd:
            containerd.close()
        shutil.rmtree(workdir, ignore_errors=True)
    if interrupted:
        sys.exit(130)

    (out / "results.json").write_text(json.dumps({"machine": facts, "results": results}, indent=2))
    md = table(results)
    images = plots(results, out)
    command = "experiment/run.sh " + " ".join(sys.argv[1:])
    (out / "table.md").write_text(
        f"Command: `{command.strip()}`\n\nMachine: {facts['cores']} cores, "
        f"{facts['memory_bytes'] // MIB} MiB, kernel {facts['kernel']}, {facts['os']}; "
        f"parallelism {args.parallelism}; medians of {repetitions} repetition(s).\n\n{md}\n"
        + "".join(f"\n![{i}]({i})\n" for i in images))
    print(md)
    log(f"results in {out}")


if __name__ == "__main__":
    main()
