#!/usr/bin/env bash
# Runs one command as root on a real Debian kernel under QEMU, with a pure
# cgroup v2 hierarchy and this host's userland as the root file system, and
# exits with the command's status. scripts/test-kernels.sh runs the
# portable suites with it.
#
#   scripts/vm.sh [options] -- COMMAND [ARG...]
#
#   --kernel K    6.1 (Debian 12's kernel, the default), 6.12 (Debian 12's
#                 backports) or 5.10 (Debian 11's): fetched with `apt-get
#                 download` and unpacked under the cache; never installed,
#                 the host's /boot is not touched
#   --share DIR   DIR, read-write at the same path in the guest (9p); repeatable;
#                 the command runs in the first one
#   --disk SIZE   a fresh ext4 disk of SIZE (sparse, e.g. 4G) at /scratch
#   --env K=V     environment for the command (repeatable)
#   --mem MB      guest memory (8192)         --cpus N   vCPUs (2)
#   --timeout S   power the guest off after S seconds (7200): exit 124
#   --accel A     kvm, tcg or auto (default): KVM only where the host has
#                 hardware virtualisation (kvm_intel or kvm_amd); a PVM host's
#                 /dev/kvm runs a stock kernel far slower than TCG does
#
# Status: the command's; 124 when it ran past --timeout; 125 when the guest
# never ran it (the console log's tail is printed).
#
# The cache ($YOUKI_VM_CACHE, default ~/.cache/youki-e2e/vm) keeps kernels,
# their uncompressed images and the initramfs between runs.
#
# How a boot goes: the kernel's uncompressed ELF boots through its PVH entry
# with qboot (decompressing a bzImage under TCG is slow). A busybox
# initramfs loads the kernel's own 9p, overlay and ext4 modules, mounts the
# host's / read-only over 9p under a tmpfs overlay (so the guest runs this
# host's programs and its writes are discarded), mounts proc, sys, dev,
# cgroup2 (`cgroup_no_v1=all`: no v1 hierarchy at all) with every controller
# enabled for children, securityfs, tmpfs /tmp and /run, and the shares, then
# switch_roots to a bash that runs the command, records its status and powers
# off. There is no systemd and no network but lo.
set -euo pipefail

cache=${YOUKI_VM_CACHE:-$HOME/.cache/youki-e2e/vm}
kernel=6.1
accel=auto
mem=8192
cpus=2
timeout_s=7200
disk=
shares=()
envs=()

die() { echo "vm.sh: $*" >&2; exit 125; }
while [ $# -gt 0 ]; do
    case "$1" in
    --kernel) kernel=$2; shift 2 ;;
    --share) shares+=("$(realpath -m "$2")"); shift 2 ;;
    --disk) disk=$2; shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --cpus) cpus=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --accel) accel=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done
[ $# -gt 0 ] || die "no command (scripts/vm.sh --kernel 6.1 --share DIR -- COMMAND)"
[ "$(id -u)" = 0 ] || die "run as root"
if [ "$accel" = auto ]; then
    if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
        accel=kvm
    else
        accel=tcg
    fi
fi
mkdir -p "$cache"

# ---- packages: qemu, a static busybox -----------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -f /usr/share/qemu/qboot.rom ] || need+=(qemu-system-x86)
if ! /bin/busybox --list 2>/dev/null | grep -qx switch_root || ldd /bin/busybox >/dev/null 2>&1; then
    need+=(busybox-static)
fi
command -v cpio >/dev/null || need+=(cpio)
command -v zstd >/dev/null || need+=(zstd)
command -v depmod >/dev/null || need+=(kmod)
if [ ${#need[@]} -gt 0 ]; then
    echo "vm.sh: apt-get install ${need[*]}" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${need[@]}"; } >&2 || die "apt-get install failed"
fi

# ---- kernel: Debian's linux-image-amd64 of a suite, downloaded and unpacked ----
case "$kernel" in
6.1) suites="bookworm bookworm-updates" security=bookworm-security ;;
6.12) suites="bookworm-backports" security= ;;
5.10) suites="bullseye bullseye-updates" security=bullseye-security ;;
*) die "unknown kernel $kernel: 6.1, 6.12 or 5.10" ;;
esac
apt_dir=$cache/apt-$kernel
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
    -o Dir::State::status=/dev/null -o APT::Sandbox::User=root)
# The package the suite's linux-image-amd64 points at, looked up once a day.
if [ ! -s "$apt_dir/package" ] || [ -n "$(find "$apt_dir/package" -mtime +0)" ]; then
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    {
        for suite in $suites; do echo "deb http://deb.debian.org/debian $suite main"; done
        [ -z "$security" ] || echo "deb http://deb.debian.org/debian-security $security main"
    } >"$apt_dir/sources.list"
    if apt-get "${apt_opts[@]}" update -qq >&2; then
        apt-cache "${apt_opts[@]}" depends linux-image-amd64 \
            | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }' >"$apt_dir/package.new"
        [ -s "$apt_dir/package.new" ] && mv "$apt_dir/package.new" "$apt_dir/package"
    fi
    [ -s "$apt_dir/package" ] || die "no linux-image-amd64 found in Debian's $suites"
fi
package=$(cat "$apt_dir/package")
version=${package#linux-image-}
tree=$cache/kernels/$version
if [ ! -f "$tree/boot/vmlinuz-$version" ]; then
    echo "vm.sh: downloading $package" >&2
    rm -rf "$tree" "$apt_dir/download"
    mkdir -p "$tree" "$apt_dir/download"
    (cd "$apt_dir/download" && apt-get "${apt_opts[@]}" download "$package" >&2) \
        || die "apt-get download $package failed"
    dpkg-deb -x "$apt_dir"/download/*.deb "$tree" || die "unpacking $package failed"
    if [ ! -d "$tree/lib/modules/$version" ]; then
        mkdir -p "$tree/lib" && mv "$tree/usr/lib/modules" "$tree/lib/"
    fi
    depmod -b "$tree" "$version" || die "depmod failed"
    rm -rf "$apt_dir/download"
fi
modules=$tree/lib/modules/$version

# Under TCG the bzImage's decompressor is slow: boot the ELF inside it.
vmlinux=$cache/vmlinux-$version
if [ ! -s "$vmlinux" ]; then
    python3 - "$tree/boot/vmlinuz-$version" "$vmlinux.tmp" <<'EOF' || die "no ELF image in vmlinuz-$version"
import lzma, subprocess, sys, zlib
data = open(sys.argv[1], "rb").read()
decoders = {
    b"\xfd7zXZ\x00": lambda rest: lzma.LZMADecompressor().decompress(rest),
    b"\x1f\x8b\x08": lambda rest: zlib.decompressobj(31).decompress(rest),
    b"\x28\xb5\x2f\xfd": lambda rest: subprocess.run(
        ["zstd", "-qdc"], input=rest, capture_output=True).stdout,
}
for magic, decode in decoders.items():
    at = data.find(magic)
    while at >= 0:
        try:
            elf = decode(data[at:])
        except Exception:
            elf = b""
        if elf[:4] == b"\x7fELF":
            open(sys.argv[2], "wb").write(elf)
            sys.exit(0)
        at = data.find(magic, at + 1)
sys.exit(1)
EOF
    mv "$vmlinux.tmp" "$vmlinux"
fi

# ---- initramfs: busybox, the kernel's modules, /init ---------------------------
initrd=$cache/initrd-$version-$(cat "$0" /bin/busybox | sha256sum | cut -c1-12).cpio.gz
if [ ! -s "$initrd" ]; then
    staging=$(mktemp -d "$cache/initrd.XXXXXX")
    trap 'rm -rf "$staging"' EXIT
    mkdir -p "$staging"/{bin,dev,proc,sys,lower,rw,newroot,modules}
    cp /bin/busybox "$staging/bin/busybox"
    mknod "$staging/dev/console" c 5 1
    n=0
    for module in $(modprobe -d "$tree" -S "$version" --show-depends -a \
        virtio_pci 9pnet_virtio 9p overlay virtio_blk ext4 \
        | awk '$1 == "insmod" && !seen[$2]++ { print $2 }'); do
        n=$((n + 1))
        target=$staging/modules/$(printf %02d $n).ko
        case "$module" in
        *.xz) xz -dc "$module" >"$target" ;;
        *.zst) zstd -qdc "$module" >"$target" ;;
        *) cp "$module" "$target" ;;
        esac
    done
    cat >"$staging/init" <<'EOF'
#!/bin/busybox sh
# PID 1 in the initramfs: mount everything with static busybox (each exec
# of a dynamically linked program over 9p is slow under TCG), then hand
# over to /.vm/stage2 on the host's root.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
fail() { echo "vm-init: $*"; poweroff -f; }
for module in /modules/*.ko; do insmod "$module" || echo "vm-init: insmod $module failed"; done
opts=trans=virtio,version=9p2000.L,msize=524288
mount -t 9p -o $opts,ro,cache=loose hostroot /lower || fail "no 9p root"
mount -t tmpfs -o mode=755 rw /rw && mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work root /newroot || fail "no overlay root"
new=/newroot
mkdir -p $new/.vm "$new/lib/modules/$(uname -r)"
mount -t 9p -o $opts,cache=none vmctl $new/.vm || fail "no control share"
mount -t 9p -o $opts,ro,cache=loose modules "$new/lib/modules/$(uname -r)"
on() { dir=$1; shift; mkdir -p "$new$dir"; mount "$@" "$new$dir" || echo "vm-init: cannot mount $dir"; }
mount --move /dev $new/dev
on /proc -t proc -o nosuid,nodev,noexec proc
on /sys -t sysfs -o nosuid,nodev,noexec sysfs
on /dev/pts -t devpts -o nosuid,noexec,gid=5,mode=620,ptmxmode=666 devpts
on /dev/shm -t tmpfs -o nosuid,nodev,mode=1777 shm
on /dev/mqueue -t mqueue -o nosuid,nodev,noexec mqueue
on /sys/kernel/security -t securityfs -o nosuid,nodev,noexec securityfs
on /sys/fs/cgroup -t cgroup2 -o nosuid,nodev,noexec,nsdelegate cgroup2
on /tmp -t tmpfs -o nosuid,nodev,mode=1777 tmpfs
on /run -t tmpfs -o nosuid,nodev,mode=755 tmpfs
on /mnt -t tmpfs -o mode=755 tmpfs
ln -sfn /proc/self/fd $new/dev/fd
for controller in $(cat $new/sys/fs/cgroup/cgroup.controllers); do
    echo "+$controller" >$new/sys/fs/cgroup/cgroup.subtree_control || echo "vm-init: cannot enable $controller"
done
hostname vm
ip link set lo up
while read -r tag dir; do on "$dir" -t 9p -o $opts,cache=mmap "$tag"; done <$new/.vm/shares
[ -b $new/dev/vda ] && on /scratch -t ext4 $new/dev/vda
grep -q " $new/sys/fs/cgroup cgroup2 " /proc/mounts && cgroup=cgroup2 || cgroup="not cgroup2"
echo "vm-facts: kernel $(uname -r); /sys/fs/cgroup: $cgroup;" \
    "controllers: $(cat $new/sys/fs/cgroup/cgroup.subtree_control); lsm: $(cat $new/sys/kernel/security/lsm)"
umount /proc /sys
exec switch_root $new /.vm/stage2
EOF
    chmod 755 "$staging/init"
    (cd "$staging" && find . | cpio -o -H newc --quiet | gzip -1) >"$initrd.tmp"
    mv "$initrd.tmp" "$initrd"
    rm -rf "$staging"
    trap - EXIT
fi

# ---- this run: its command, shares and disk ------------------------------------
control=$(mktemp -d "$cache/run.XXXXXX")
cleanup() {
    [ -z "${qemu_pid:-}" ] || kill "$qemu_pid" 2>/dev/null || true
    rm -rf "$control"
}
trap cleanup EXIT
{
    printf 'cd %q || exit 125\n' "${shares[0]:-/root}"
    for env in ${envs[@]+"${envs[@]}"}; do printf 'export %q\n' "$env"; done
    printf 'exec'
    printf ' %q' "$@"
    printf '\n'
} >"$control/command"
: >"$control/shares"
i=0
for share in ${shares[@]+"${shares[@]}"}; do
    [ -d "$share" ] || die "share $share is not a directory"
    echo "share$i $share" >>"$control/shares"
    i=$((i + 1))
done
if [ -n "$disk" ]; then
    truncate -s "$disk" "$control/disk.img"
    mkfs.ext4 -q -F "$control/disk.img" || die "mkfs.ext4 failed"
fi
: >"$control/output"
cat >"$control/stage2" <<'EOF'
#!/bin/bash
# PID 1 on the host's root: run the command, keep its status, power off.
# bash reaps the orphans that are re-parented to it meanwhile.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
bash /.vm/command >/.vm/output 2>&1 </dev/null
echo $? >/.vm/status
sync
/bin/busybox umount -a -r -t 9p,ext4 2>/dev/null
/bin/busybox poweroff -f
EOF
chmod 755 "$control/stage2"

# ---- boot ----------------------------------------------------------------------
if [ "$accel" = kvm ]; then
    accel_args=(-enable-kvm -cpu host,-arch-capabilities)
else
    accel_args=(-accel tcg,thread=multi,tb-size=512 -cpu max,-la57)
fi
qemu=(qemu-system-x86_64 "${accel_args[@]}" -smp "$cpus" -m "$mem" -nographic -nodefaults
    -no-user-config -no-reboot -monitor none -serial "file:$control/console"
    -bios /usr/share/qemu/qboot.rom -kernel "$vmlinux" -initrd "$initrd"
    -append "console=ttyS0 cgroup_no_v1=all quiet loglevel=4 panic=-1 rdinit=/init 8250.nr_uarts=1"
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
    -virtfs "local,path=$modules,mount_tag=modules,security_model=none,readonly=on"
    -virtfs "local,path=$control,mount_tag=vmctl,security_model=passthrough")
while read -r tag dir; do
    qemu+=(-virtfs "local,path=$dir,mount_tag=$tag,security_model=passthrough,multidevs=remap")
done <"$control/shares"
[ -z "$disk" ] || qemu+=(-drive "file=$control/disk.img,if=virtio,format=raw,cache=unsafe")
echo "vm.sh: kernel $version, $accel, $cpus vCPUs, $mem MiB" >&2
started=$(date +%s)
timeout --signal=KILL "$timeout_s" "${qemu[@]}" </dev/null >"$control/qemu.log" 2>&1 &
qemu_pid=$!
tail -n +1 -F --pid=$qemu_pid "$control/output" 2>/dev/null &
wait "$qemu_pid" || true
qemu_pid=
wait 2>/dev/null || true
grep -a '^vm-' "$control/console" | tr -d '\r' >&2 || true
if [ -s "$control/status" ]; then
    status=$(cat "$control/status")
elif [ $(($(date +%s) - started)) -ge "$timeout_s" ]; then
    echo "vm.sh: the guest ran past ${timeout_s}s and was stopped" >&2
    status=124
else
    echo "vm.sh: the guest reported no status; the console's end:" >&2
    tail -n 30 "$control/console" >&2
    cat "$control/qemu.log" >&2
    status=125
fi
echo "vm.sh: exit $status after $(($(date +%s) - started))s" >&2
exit "$status"
