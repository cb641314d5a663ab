#!/usr/bin/env python3
"""Adds youki as a runtime to a containerd config, keeping everything else.

    scripts/containerd-runtime.py CONFIG --binary /usr/local/bin/youki [--root /run/youki-containerd]
                                  [--name youki]

Called by scripts/install.sh --containerd, and by the benchmark (one runtime
handler per youki build, with --name). Works on the text: the existing
file keeps its content, comments and order; only youki's runtime tables are
replaced (or added), and runc's is added when missing (with youki's tables
and no runc's, containerd's default_runtime_name = "runc" stops the CRI
plugin from loading). The result is parsed before it replaces the file, and
the first version of the file is kept beside it as CONFIG.before-youki.
"""

import argparse
import os
import re
import sys
import tomllib

# The CRI plugin's name in each config version: version 2 is containerd 1.x,
# version 3 containerd 2.x.
CRI_PLUGIN = {2: "io.containerd.grpc.v1.cri", 3: "io.containerd.cri.v1.runtime"}
MARK = "# youki: written by scripts/install.sh"


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def config_version(text):
    match = re.search(r"^\s*version\s*=\s*(\d+)", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def without_tables(text, prefix):
    """The text without the tables whose header starts with `prefix`."""
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        header = re.match(r"^\s*\[([^\[\]]+)\]\s*(#.*)?$", line)
        if header:
            name = header.group(1).strip()
            skipping = name == prefix or name.startswith(prefix + ".")
        if line.strip() == MARK:
            continue
        if not skipping:
            out.append(line)
    return "".join(out)


def youki_tables(runtimes, name, binary, root):
    return f"""
{MARK}
[{runtimes}.{name}]
  runtime_type = "io.containerd.runc.v2"
  # Pod annotations that reach youki: a Pod's spec cannot set container
  # annotations, so the Wasm ones must be allowed here too (the sandbox
  # itself always runs natively).
  pod_annotations = ["run.oci.handler", "module.wasm.image/*", "io.youki.wamr.*", "io.youki.wasm.*"]
  container_annotations = ["run.oci.handler", "module.wasm.image/*", "io.youki.wamr.*", "io.youki.wasm.*"]
  [{runtimes}.{name}.options]
    BinaryName = "{binary}"
    # youki's state, apart from runc's and from youki's own default
    # root (the shim adds /<namespace>)
    Root = "{root}"
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--binary", required=True)
    parser.add_argument("--root", default="/run/youki-containerd")
    parser.add_argument("--name", default="youki", help="the runtime handler (RuntimeClass handler)")
    args = parser.parse_args()
    if not re.fullmatch(r"[A-Za-z0-9_-]+", args.name):
        fail(f"runtime name {args.name!r}: use letters, digits, '-' and '_'")

    text = open(args.config).read() if os.path.exists(args.config) else ""
    version = config_version(text)
    if version is None:
        if text.strip():
            fail(f"{args.config} has no 'version = 2' line: containerd reads it as the "
                 "old version 1 format, which this script does not edit; add "
                 "'version = 2' at its top if its tables are version 2, or convert it")
        text, version = "version = 2\n" + text, 2
    if version not in CRI_PLUGIN:
        fail(f"{args.config} is config version {version}; this script knows versions 2 and 3")
    runtimes = f'plugins."{CRI_PLUGIN[version]}".containerd.runtimes'

    edited = without_tables(text, f"{runtimes}.{args.name}").rstrip("\n") + "\n"
    if not re.search(r"^\s*\[" + re.escape(f"{runtimes}.runc") + r"\]", edited, re.MULTILINE):
        edited += f'\n{MARK}\n[{runtimes}.runc]\n  runtime_type = "io.containerd.runc.v2"\n'
    edited += youki_tables(runtimes, args.name, args.binary, args.root)

    try:
        parsed = tomllib.loads(edited)
    except tomllib.TOMLDecodeError as err:
        fail(f"the edited {args.config} would not parse ({err}); it is unchanged")
    table = parsed["plugins"][CRI_PLUGIN[version]]["containerd"]["runtimes"]
    assert table[args.name]["options"]["BinaryName"] == args.binary and "runc" in table

    backup = args.config + ".before-youki"
    if text and not os.path.exists(backup):
        with open(backup, "w") as f:
            f.write(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.config)), exist_ok=True)
    temporary = args.config + ".tmp"
    with open(temporary, "w") as f:
        f.write(edited)
    os.replace(temporary, args.config)
    print(f"==> {args.config}: runtime '{args.name}' ({args.binary}), config version {version}")


if __name__ == "__main__":
    main()
