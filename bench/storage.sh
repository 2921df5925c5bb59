#!/bin/bash
# Storage figures, lxt vs LXC side by side on the same backend in the same run, as ratios:
#   clone    lxt copy -s        vs lxc-copy -s          (btrfs: subvolume snapshot; overlay: over a dir)
#   snapshot lxt snapshot       vs lxc-snapshot         (btrfs; overlay copies only the upper)
#   copy     lxt copy (full)    vs lxc-copy (full)      (dir)
# for a busybox rootfs padded to each size in BENCH_SIZES (MiB; default "100 1024"). The target is
# O(1) for clone/snapshot on btrfs and overlay: the figure must not grow with the size.
#
# Usage: bench/storage.sh [N]    N iterations per figure (default 5), the tools interleaved
# Env:   LXT=CMD                 the lxt command (default lxt); BENCH_SIZES="100 1024"
# Root only. btrfs is a loop image this script makes under /var/tmp; everything it makes (state
# roots, containers, the loop device and its mount) is removed on exit. LXC containers get
# lxc.net.0.type = empty and are never started; nothing leaves the host.
set -u
BENCH_TAG=bench/storage
. "$(dirname "$0")/lib.sh"
N=${1:-5}
SIZES=${BENCH_SIZES:-100 1024}

bench_positive "$N" "usage: bench/storage.sh [N]"
bench_need_root
bench_need lxc-create lxc-copy lxc-snapshot lxc-destroy mkfs.btrfs losetup "${LXT[0]}"

W=$(mktemp -d /var/tmp/lxt-storage-bench.XXXXXX)
LOOP=""
cleanup() {
  for root in "$W/btrfs/lxt" "$W/plain/lxt"; do
    [ -d "$root" ] || continue
    for n in $(LXT_PATH=$root "${LXT[@]}" ls -1 2>/dev/null); do
      LXT_PATH=$root "${LXT[@]}" destroy -f -s -n "$n" >/dev/null 2>&1 ||
        LXT_PATH=$root "${LXT[@]}" destroy -f -n "$n" >/dev/null 2>&1
    done
  done
  for p in "$W/btrfs/lxc" "$W/plain/lxc"; do
    [ -d "$p" ] || continue
    for n in $(lxc-ls -P "$p" -1 2>/dev/null); do lxc-destroy -P "$p" -n "$n" -s >/dev/null 2>&1; done
  done
  for root in "$W/btrfs/lxt" "$W/plain/lxt"; do
    [ -d "$root" ] && bench_sweep_networks "$root"
    bench_remove "$(bench_rundir "$root")"
  done
  if mountpoint -q "$W/btrfs" 2>/dev/null; then umount "$W/btrfs" || umount -l "$W/btrfs"; fi
  [ -n "$LOOP" ] && losetup -d "$LOOP"
  bench_remove "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

max=0
for s in $SIZES; do [[ $s =~ ^[0-9]+$ ]] || die "BENCH_SIZES: bad size '$s'"; [ "$s" -gt "$max" ] && max=$s; done
# two padded sources per tool at most at once, plus full copies (on dir, not here), plus slack
truncate -s $(( (4 * max + 1024) ))M "$W/btrfs.img"
LOOP=$(losetup --find --show "$W/btrfs.img")
mkfs.btrfs -q "$LOOP"
mkdir -p "$W/btrfs" "$W/plain/lxt" "$W/plain/lxc"
mount -t btrfs "$LOOP" "$W/btrfs"
mkdir -p "$W/btrfs/lxt" "$W/btrfs/lxc"
echo "lxc.net.0.type = empty" > "$W/lxc.conf"
head -c $(( max * 1024 * 1024 )) /dev/urandom > "$W/pad"

lxt_() { LXT_PATH=$1 "${LXT[@]}" "${@:2}"; }
now() { echo "${EPOCHREALTIME/./}"; }
# tm FILE CMD...: run CMD, append its wall time in ms to FILE (a failure is reported, not counted)
tm() {
  local f=$1 t0 t1; shift
  t0=$(now)
  if "$@" >/dev/null 2>"$W/err"; then t1=$(now); echo $(( (t1 - t0) / 1000 )) >> "$f"
  else echo "bench/storage: failed: $* ($(tail -1 "$W/err"))" >&2; fi
}
median() { [ -s "$1" ] && sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}' || echo n/a; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }

# pad TREE SIZE: a busybox rootfs plus SIZE MiB of incompressible data
pad() { head -c $(( $2 * 1024 * 1024 )) "$W/pad" > "$1/root/pad"; }

ROWS=()
row() { # OP BACKEND SIZE LXTFILE LXCFILE
  local a b; a=$(median "$4"); b=$(median "$5")
  ROWS+=("| $1 | $2 | $3 MiB | $a | $b | $(ratio "$a" "$b") |")
}

for size in $SIZES; do
  for backend in btrfs overlay dir; do
    case $backend in
      btrfs) LXTP=$W/btrfs/lxt LXCP=$W/btrfs/lxc LXT_B=btrfs LXC_B=btrfs ;;
      *) LXTP=$W/plain/lxt LXCP=$W/plain/lxc LXT_B=dir LXC_B=dir ;;
    esac
    src=src$size$backend
    lxt_ "$LXTP" create -n "$src" -t busybox --network empty -B "$LXT_B" >/dev/null || die "lxt create -B $LXT_B failed"
    lxc-create -P "$LXCP" -n "$src" -t busybox -B "$LXC_B" -f "$W/lxc.conf" >/dev/null 2>&1 ||
      die "lxc-create -B $LXC_B failed"
    pad "$LXTP/$src/rootfs" "$size"
    pad "$LXCP/$src/rootfs" "$size"
    sync
    f=$W/$backend.$size
    for i in $(seq 1 "$N"); do
      case $backend in
        btrfs|overlay)
          extra=(); lxcextra=()
          [ "$backend" = overlay ] && extra=(-B overlay) && lxcextra=(-B overlayfs)
          for tool in lxt lxc; do   # A B, then B A next time
            [ $(( i % 2 )) -eq 0 ] && tool=$([ "$tool" = lxt ] && echo lxc || echo lxt)
            if [ "$tool" = lxt ]; then
              tm "$f.clone.lxt" lxt_ "$LXTP" copy -q -s "${extra[@]}" -n "$src" -N "c$i"
            else
              tm "$f.clone.lxc" lxc-copy -P "$LXCP" -s "${lxcextra[@]}" -n "$src" -N "c$i"
            fi
          done
          if [ "$backend" = btrfs ]; then snapof=$src; else snapof=c$i; fi
          tm "$f.snap.lxt" lxt_ "$LXTP" snapshot -n "$snapof"
          tm "$f.snap.lxc" lxc-snapshot -P "$LXCP" -n "$snapof"
          lxt_ "$LXTP" snapshot -n "$snapof" -d ALL >/dev/null 2>&1 ||
            for s in $(lxt_ "$LXTP" snapshot -n "$snapof" -L 2>/dev/null | awk '/^snap/ {print $1}'); do
              lxt_ "$LXTP" snapshot -n "$snapof" -d "$s" >/dev/null 2>&1; done
          lxc-snapshot -P "$LXCP" -n "$snapof" -d ALL >/dev/null 2>&1
          lxt_ "$LXTP" destroy -n "c$i" >/dev/null 2>&1
          lxc-destroy -P "$LXCP" -n "c$i" -s >/dev/null 2>&1
          ;;
        dir)
          tm "$f.copy.lxt" lxt_ "$LXTP" copy -q -n "$src" -N "c$i"
          tm "$f.copy.lxc" lxc-copy -P "$LXCP" -n "$src" -N "c$i"
          lxt_ "$LXTP" destroy -n "c$i" >/dev/null 2>&1
          lxc-destroy -P "$LXCP" -n "c$i" >/dev/null 2>&1
          ;;
      esac
    done
    case $backend in
      btrfs|overlay)
        row "clone (copy -s)" "$backend" "$size" "$f.clone.lxt" "$f.clone.lxc"
        row "snapshot" "$backend" "$size" "$f.snap.lxt" "$f.snap.lxc" ;;
      dir) row "full copy" dir "$size" "$f.copy.lxt" "$f.copy.lxc" ;;
    esac
    lxt_ "$LXTP" destroy -f -s -n "$src" >/dev/null 2>&1 || lxt_ "$LXTP" destroy -f -n "$src" >/dev/null 2>&1
    lxc-destroy -P "$LXCP" -n "$src" -s >/dev/null 2>&1
  done
done

echo "Storage, median ms over N=$N (lxt/LXC: < 1 means lxt is faster)"
echo
echo "| operation | backend | rootfs | lxt ms | LXC ms | lxt/LXC |"
echo "| --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${ROWS[@]}"
