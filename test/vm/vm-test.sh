#!/bin/bash
# vm-test.sh CMD [ARG...]
#
# (lxt's copy of the workplace's shared VM runner, vm-cgroup2/vm-test.sh, so
# that a clone of this repository runs its VM phase on its own; see
# test/vm/README.md.)
#
# Run CMD as root inside a throw-away QEMU VM whose kernel is Debian's stock
# linux-image-amd64 booted cgroup-v2-only (cgroup_no_v1=all; cgroup2 mounted
# at /sys/fs/cgroup with every controller enabled in the root's
# cgroup.subtree_control). The VM's root filesystem is the host's / shared
# read-only over virtio-9p with a tmpfs overlay on top: everything is
# writable, every write is thrown away at power-off. /tmp, /run, /dev/shm are
# fresh tmpfs (usable as an overlayfs upperdir); the current directory stays
# visible (and writable, throw-away) at its own path even when under /tmp.
# CMD runs as root in the current directory, with the caller's exported
# environment and stdin from /dev/null; its stdout/stderr are pipes.
#   One argument  -> run with `bash -c "$1"`   (vm-test.sh 'cd x && make test')
#   More          -> exec'd as an argv          (vm-test.sh node test.js)
# CMD's stdout/stderr stream to ours; our exit status is CMD's.
# 124 = the VM timed out, 125 = the VM died before reporting a status.
#
# Knobs (environment):
#   VM_MEM=2048        guest RAM (MiB)
#   VM_SMP=2           guest vCPUs (multi-threaded TCG: one host thread each)
#   VM_TIMEOUT=900     seconds before the VM is killed (exit 124)
#   VM_RW=dir1:dir2    host dirs shared READ-WRITE at the same path (9p), so
#                      results written there survive the VM
#   VM_MODULES="veth bridge"   kernel modules to modprobe before CMD (module
#                      auto-loading by the kernel works too)
#   VM_ACCEL=tcg       tcg (default) | kvm (needs real VT-x/AMD-V on the host)
#   VM_CPU=max         TCG CPU model
#   VM_KARGS="..."     extra kernel command-line arguments
#   VM_CACHE=/var/cache/vm-cgroup2   kernel + initramfs cache
#   VM_KPKG=linux-image-6.1.0-NN-amd64   pin a kernel package
#   VM_KDEB=/path/linux-image-....deb    use this .deb instead of apt-get download
#   VM_VERBOSE=1       print the guest's kernel console log afterwards (stderr)
#   VM_INSTALL=0       never call apt-get (fail if something is missing)
#   VM_SYSTEMD=1       boot the host's systemd as PID 1 (a real Debian 12 host:
#                      journald, udev, logind...) and run CMD from a service
#                      inside a transient scope in user.slice, as a root login
#                      shell would be (no delegation). Slower: ~20-60 s more.
set -euo pipefail

CACHE=${VM_CACHE:-/var/cache/vm-cgroup2}
MEM=${VM_MEM:-2048}
SMP=${VM_SMP:-2}
TIMEOUT=${VM_TIMEOUT:-900}
ACCEL=${VM_ACCEL:-tcg}
VERBOSE=${VM_VERBOSE:-0}
INSTALL=${VM_INSTALL:-1}
INITRD_REV=8   # bump when the stage-1 init below changes

die() { echo "vm-test: $*" >&2; exit 125; }
[ $# -ge 1 ] || { sed -n '2,42p' "$0" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "must run as root (qemu exports the host's / over 9p)"

apt_install() {
  [ "$INSTALL" = 1 ] || die "missing packages: $*"
  echo "vm-test: apt-get install $*" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2 ||
    { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2; } ||
    die "apt-get install $* failed"
}

mkdir -p "$CACHE"
exec 9> "$CACHE/.lock"
flock 9   # one preparer at a time; released below, before the VM boots

# ------------------------------------------------------------------ host tools
need=()
command -v qemu-system-x86_64 > /dev/null || need+=(qemu-system-x86)
command -v depmod > /dev/null || need+=(kmod)
if ! [ -x /bin/busybox ] || ldd /bin/busybox > /dev/null 2>&1; then need+=(busybox-static); fi
[ ${#need[@]} = 0 ] || apt_install "${need[@]}"
BB=/bin/busybox

# ------------------------------------------------------------------ kernel
resolve_kpkg() { apt-cache depends linux-image-amd64 2> /dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
KPKG=${VM_KPKG:-}
if [ -z "$KPKG" ]; then
  # newest kernel already prepared here, else the one linux-image-amd64 wants
  KPKG=$(ls -1d "$CACHE"/linux-image-*/ready 2> /dev/null | sort -V | tail -n1 | xargs -r dirname | xargs -r basename || true)
  if [ -z "$KPKG" ]; then
    KPKG=$(resolve_kpkg)
    if [ -z "$KPKG" ] && [ "$INSTALL" = 1 ]; then apt-get update >&2; KPKG=$(resolve_kpkg); fi
    [ -n "$KPKG" ] || die "cannot resolve linux-image-amd64 (run apt-get update?)"
  fi
fi
K="$CACHE/$KPKG"
if ! [ -e "$K/ready" ]; then
  echo "vm-test: preparing kernel $KPKG in $K" >&2
  rm -rf "$K"; mkdir -p "$K/dl"
  DEB=${VM_KDEB:-$(ls -1 /var/cache/apt/archives/"$KPKG"_*.deb 2> /dev/null | sort -V | tail -n1 || true)}
  if [ -z "$DEB" ]; then
    (cd "$K/dl" && apt-get download "$KPKG" >&2) ||
      { [ "$INSTALL" = 1 ] && apt-get update >&2 && (cd "$K/dl" && apt-get download "$KPKG" >&2); } ||
      { rm -rf "$K"; die "apt-get download $KPKG failed (pin another with VM_KPKG, or give VM_KDEB)"; }
    DEB=$(ls -1 "$K"/dl/*.deb | head -n1)
  fi
  dpkg-deb -x "$DEB" "$K/root"
  rm -rf "$K/dl"
  KVER=$(ls "$K/root/lib/modules")
  cp "$K/root/boot/vmlinuz-$KVER" "$K/vmlinuz"
  # Uncompressed ELF vmlinux: QEMU boots it through the PVH entry point, which
  # skips the in-guest xz decompression and real-mode setup (~5 s under TCG).
  for pos in $(LC_ALL=C grep -abo "$(printf '\3757zXZ')" "$K/vmlinuz" | cut -d: -f1); do
    tail -c +$((pos + 1)) "$K/vmlinuz" | xz -dc 2> /dev/null > "$K/vmlinux.tmp" || true
    if [ "$(head -c4 "$K/vmlinux.tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then
      mv "$K/vmlinux.tmp" "$K/vmlinux"; break
    fi
  done
  rm -f "$K/vmlinux.tmp"
  depmod -b "$K/root" "$KVER"
  echo "$KVER" > "$K/ready"
fi
KVER=$(cat "$K/ready")
KERNEL="$K/vmlinux"; [ -e "$KERNEL" ] || KERNEL="$K/vmlinuz"
MODDIR="$K/root/lib/modules/$KVER"

# ------------------------------------------------------------------ initramfs
# busybox-static + the modules for virtio-pci, 9p and overlayfs + stage 1.
INITRD="$K/initrd-r$INITRD_REV.cpio"
if ! [ -e "$INITRD" ]; then
  rm -f "$K"/initrd-r*.cpio
  T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
  mkdir -p "$T"/{bin,dev,proc,sys,lower,rw,newroot} "$T/lib/modules/$KVER"
  cp "$BB" "$T/bin/busybox"
  for a in sh mount mkdir cp cat modprobe switch_root sleep; do ln -s busybox "$T/bin/$a"; done
  for m in virtio_pci 9pnet_virtio 9p overlay; do
    modprobe -d "$K/root" -S "$KVER" --show-depends "$m" | awk '$1=="insmod"{print $2}'
  done | sort -u | while read -r f; do
    rel=${f#"$MODDIR"/}
    mkdir -p "$T/lib/modules/$KVER/$(dirname "$rel")"; cp "$f" "$T/lib/modules/$KVER/$rel"
  done
  cp "$MODDIR"/modules.order "$MODDIR"/modules.builtin* "$T/lib/modules/$KVER/"
  depmod -b "$T" "$KVER"
  # --- stage 1 (/init in the initramfs): build the root, switch to it ----
  cat > "$T/init" << 'EOF'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
fail() { echo "vm-init: FAILED: $*" > /dev/ttyS0; echo 125 > /dev/ttyS3; sleep 1; echo b > /proc/sysrq-trigger; }
for x in $(cat /proc/cmdline); do case $x in vmtest.run=*) RUN=${x#*=} ;; esac; done
echo "vm-init: stage1 $(cat /proc/uptime)" > /dev/ttyS0
for m in virtio_pci 9pnet_virtio 9p overlay; do modprobe $m || fail "modprobe $m"; done
# the host's / (read-only, cached) + a tmpfs upper layer = the VM's root
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /lower || fail "9p mount"
. "/lower$RUN/params" || fail "no run params"
mount -t tmpfs -o mode=755 rw /rw && mkdir -p /rw/upper /rw/work /rw/pwd
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "overlay"
case $PWD_HOST in /tmp/*) mount --bind "/newroot$PWD_HOST" /rw/pwd || fail "bind $PWD_HOST" ;; esac
mount -t tmpfs -o mode=755,nosuid,nodev run /newroot/run
mount -t tmpfs -o mode=1777,nosuid,nodev tmp /newroot/tmp
case $PWD_HOST in /tmp/*) mkdir -p "/newroot$PWD_HOST" && mount --move /rw/pwd "/newroot$PWD_HOST" ;; esac
i=0
while [ "$i" -lt "$RW_N" ]; do   # read-write host shares, same path inside
  eval "d=\$RW_$i"
  mkdir -p "/newroot$d"
  mount -t 9p -o trans=virtio,version=9p2000.L,cache=none,msize=512000 "rw$i" "/newroot$d" || fail "9p rw$i $d"
  i=$((i + 1))
done
mkdir -p /newroot/run/vmtest
cp /bin/busybox "/lower$RUN/stage2" "/lower$RUN/cmd.sh" "/lower$RUN/env.sh" /newroot/run/vmtest/ || fail "copy run files"
for f in proc sys dev; do mount --move /$f /newroot/$f; done
exec switch_root /newroot /run/vmtest/busybox sh /run/vmtest/stage2
EOF
  chmod +x "$T/init"
  (cd "$T" && find . | "$BB" cpio -o -H newc > "$INITRD.tmp" 2> /dev/null) && mv "$INITRD.tmp" "$INITRD"
  rm -rf "$T"; trap - EXIT
fi
flock -u 9

# ------------------------------------------------------------------ per-run files
RUN=$(mktemp -d /tmp/vm-test.XXXXXX)
trap 'rm -rf "$RUN"' EXIT

# stage 2: PID 1 in the overlay root. Sets up cgroup v2 etc., runs CMD.
cat > "$RUN/stage2" << EOF
KVER=$KVER
MODDIR='$MODDIR'
VM_MODULES='${VM_MODULES:-}'
VM_SYSTEMD='${VM_SYSTEMD:-0}'
EOF
cat >> "$RUN/stage2" << 'EOF'
# (busybox ash runs its own applets -- mount, cat, ... -- without exec'ing them)
echo "vm-init: stage2 $(cat /proc/uptime)" > /dev/ttyS0
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control; done
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666,gid=5,mode=620 devpts /dev/pts
ln -sf pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev shm /dev/shm
mount -t mqueue mqueue /dev/mqueue 2> /dev/null
mount -t securityfs securityfs /sys/kernel/security 2> /dev/null
# (no bpffs: mounting it costs ~0.7 s (request_module bpf_preload); do
#  `mount -t bpf bpf /sys/fs/bpf` in CMD if a test needs it)
ln -sf /proc/self/fd /dev/fd; ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout; ln -sf /proc/self/fd/2 /dev/stderr
# the guest kernel's module tree, so modprobe and module auto-loading work
mkdir -p /lib/modules/$KVER && mount --bind "$MODDIR" /lib/modules/$KVER
# static nodes (loop-control, fuse, net/tun, ...) whose open() auto-loads the module
while read -r mod name dev; do
  case $mod in '#'*|'') continue ;; esac
  [ -e "/dev/$name" ] && continue
  mkdir -p "$(dirname "/dev/$name")"; t=${dev%%[0-9]*}; mm=${dev#?}
  mknod -m 0600 "/dev/$name" "$t" "${mm%%:*}" "${mm##*:}"
done < /lib/modules/$KVER/modules.devname
if ! [ -x /sbin/modprobe ]; then
  mkdir -p /run/vmtest/bin; ln -s ../busybox /run/vmtest/bin/modprobe
  echo /run/vmtest/bin/modprobe > /proc/sys/kernel/modprobe
fi
for m in $VM_MODULES; do modprobe "$m" || echo "vm-test: modprobe $m failed" > /dev/ttyS2; done
hostname vmtest
ip link set lo up
stty -F /dev/ttyS1 raw -echo; stty -F /dev/ttyS2 raw -echo
if [ "$VM_SYSTEMD" = 1 ] && [ -x /lib/systemd/systemd ]; then
  # systemd as PID 1; CMD runs from vmtest.service in a login-like scope.
  cat > /run/vmtest/sysd-run.sh << 'EOS'
stty -F /dev/ttyS1 raw -echo; stty -F /dev/ttyS2 raw -echo
echo "vm-init: systemd up, CMD starts $(cat /proc/uptime)" > /dev/ttyS0
systemd-run --quiet --scope --slice=user.slice --unit=vmtest-session \
  /bin/bash /run/vmtest/cmd.sh < /dev/null > /dev/ttyS1 2> /dev/ttyS2
rc=$?
echo "vm-init: CMD exited rc=$rc $(cat /proc/uptime)" > /dev/ttyS0
echo $rc > /dev/ttyS3
sync
systemctl --force --force reboot
EOS
  cat > /etc/systemd/system/vmtest.service << 'EOS'
[Unit]
Description=vm-test CMD
After=basic.target systemd-logind.service
Wants=systemd-logind.service
[Service]
Type=oneshot
ExecStart=/bin/sh /run/vmtest/sysd-run.sh
EOS
  umount /sys/fs/cgroup 2> /dev/null
  echo "vm-init: exec systemd $(cat /proc/uptime)" > /dev/ttyS0
  exec /lib/systemd/systemd --unit=vmtest.service
fi
# CMD's stdout/stderr are pipes (as under CI), relayed to ttyS1/ttyS2
mkfifo /run/vmtest/o /run/vmtest/e
cat /run/vmtest/o > /dev/ttyS1 & o=$!
cat /run/vmtest/e > /dev/ttyS2 & e=$!
echo "vm-init: CMD starts $(cat /proc/uptime)" > /dev/ttyS0
/bin/bash /run/vmtest/cmd.sh < /dev/null > /run/vmtest/o 2> /run/vmtest/e
rc=$?
echo "vm-init: CMD exited rc=$rc $(cat /proc/uptime)" > /dev/ttyS0
wait $o $e
echo $rc > /dev/ttyS3
sync
reboot -f   # with -no-reboot, qemu exits on the guest's reset
EOF

{ (unset PWD OLDPWD SHLVL HOSTNAME TMPDIR _; declare -px) 2> /dev/null || true; } > "$RUN/env.sh"
{
  echo '. /run/vmtest/env.sh'
  printf 'cd -- %q || exit 127\n' "$PWD"
  if [ $# = 1 ]; then printf 'exec /bin/bash -c %q\n' "$1"
  else printf 'exec'; printf ' %q' "$@"; echo; fi
} > "$RUN/cmd.sh"

# ------------------------------------------------------------------ qemu
ARGS=(-M q35 -nodefaults -no-user-config -display none -no-reboot
  -m "$MEM" -smp "$SMP"
  -kernel "$KERNEL" -initrd "$INITRD"
  -fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap"
  -device "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot"
  -serial "file:$RUN/console.log"           # ttyS0: kernel console
  -chardev "file,id=out,path=$RUN/out" -serial chardev:out   # ttyS1: CMD stdout
  -chardev "file,id=err,path=$RUN/err" -serial chardev:err   # ttyS2: CMD stderr
  -serial "file:$RUN/status")               # ttyS3: CMD exit status
case $ACCEL in
  kvm) ARGS+=(-accel kvm -cpu host) ;;
  *) ARGS+=(-accel tcg,thread=multi -cpu "${VM_CPU:-max}") ;;
esac
{
  printf 'PWD_HOST=%q\n' "$PWD"
  n=0
  if [ -n "${VM_RW:-}" ]; then
    IFS=: read -r -a dirs <<< "$VM_RW"
    for d in "${dirs[@]}"; do
      [ -n "$d" ] || continue
      d=$(realpath -- "$d"); [ -d "$d" ] || die "VM_RW: $d is not a directory"
      ARGS+=(-fsdev "local,id=rw$n,path=$d,security_model=none,multidevs=remap"
        -device "virtio-9p-pci,fsdev=rw$n,mount_tag=rw$n")
      printf 'RW_%d=%q\n' "$n" "$d"; n=$((n + 1))
    done
  fi
  echo "RW_N=$n"
} > "$RUN/params"
# Kernel command line: cgroup v2 only; the rest trims boot time under TCG.
CMDLINE="console=ttyS0 quiet loglevel=4 panic=-1 8250.nr_uarts=4"
CMDLINE+=" cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1"
CMDLINE+=" mitigations=off cryptomgr.notests rodata=off tsc=reliable no_timer_check"
CMDLINE+=" random.trust_cpu=on norandmaps ${VM_KARGS:-} vmtest.run=$RUN"

# guest ttyS1/ttyS2 -> FIFOs -> relayed by cat on our own stdout/stderr (qemu
# re-opening /dev/stdout would get its own file offset and clobber a log file)
mkfifo "$RUN/out" "$RUN/err"
cat "$RUN/out" & cat_out=$!
cat "$RUN/err" >&2 & cat_err=$!
rc=0
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 "${ARGS[@]}" -append "$CMDLINE" < /dev/null 9>&- || rc=$?
: <> "$RUN/out"; : <> "$RUN/err" # unblock the readers if qemu never opened the FIFOs
wait "$cat_out" "$cat_err" 2> /dev/null || true
if [ "$VERBOSE" = 1 ]; then echo "----- guest console -----" >&2; cat "$RUN/console.log" >&2; fi
if [ $rc = 124 ] || [ $rc = 137 ]; then
  echo "vm-test: VM timed out after ${TIMEOUT}s; console tail:" >&2; tail -n 20 "$RUN/console.log" >&2; exit 124
fi
status=$(tr -dc '0-9\n' < "$RUN/status" | head -n1)
if [ -z "$status" ]; then
  echo "vm-test: VM ended (qemu rc=$rc) without reporting CMD's exit status; console tail:" >&2
  tail -n 30 "$RUN/console.log" >&2; exit 125
fi
exit "$status"
