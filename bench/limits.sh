#!/bin/bash
# Resource-control costs, side by side, reported as ratios (never as timed tests):
#   1. a CPU-bound workload (busybox sha256sum of in-memory zeros) and a memory-bound one (a
#      static C program touching 256 MiB page by page, several passes) inside an lxt container
#      vs on the host: host time / container time (1.00 = native, target >= 0.98);
#   2. `lxt info` and `lxt top --format json` with N running lxt containers vs `lxc-info` and
#      `lxc-top -b` with N running LXC containers (lxc-create -t busybox, lxc.net.0.type = empty).
#
# Usage: bench/limits.sh [ITER]   ITER timed runs per figure (default 5), interleaved A B B A ...
# Env:   LXT=CMD                   the lxt command, may hold words (default lxt)
#        BENCH_TOP_N=N             running containers per tool for the info/top figures (default 5;
#                                  the issue's figure is 50)
# Root only. Private state roots under /var/tmp, everything stopped and destroyed on exit.
# Network: none; containers get no network (lxt: --network empty; LXC: lxc.net.0.type = empty).
set -u
BENCH_TAG=bench/limits
. "$(dirname "$0")/lib.sh"
ITER=${1:-5}
TOP_N=${BENCH_TOP_N:-5}

bench_positive "$ITER" "usage: bench/limits.sh [ITER]"
bench_positive "$TOP_N" "BENCH_TOP_N must be a positive integer"
bench_need_root
bench_need lxc-create lxc-start lxc-wait lxc-stop lxc-destroy lxc-info lxc-top busybox gcc
command -v "${LXT[0]}" > /dev/null || die "lxt command '${LXT[*]}' not found (set LXT=...)"

LXTP=$(mktemp -d /var/tmp/lxtlim.XXXXXX)
LXCP=$(mktemp -d /var/tmp/lxclim.XXXXXX)
W=$(mktemp -d /var/tmp/lim-work.XXXXXX)
export LXT_PATH=$LXTP
LXT_NAMES=() LXC_NAMES=()

trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# ---- workloads: the same static binaries on the host and inside ------------------------------
cat > "$W/memtouch.c" << 'EOF'
/* Touches SIZE bytes page by page, PASSES times: memory-bound, no syscalls in the loop. */
#include <stdlib.h>
int main(void)
{
	const size_t size = 256UL << 20, page = 4096;
	volatile unsigned char *p = malloc(size);
	unsigned long sum = 0;
	if (!p)
		return 1;
	for (int pass = 0; pass < 8; pass++)
		for (size_t i = 0; i < size; i += page / 4)
			sum += p[i] += (unsigned char)(i + pass);
	return (int)(sum & 1) * 0;
}
EOF
gcc -O2 -static -o "$W/memtouch" "$W/memtouch.c" || die "cannot build the memory workload (needs libc6-dev)"
BB=$(command -v busybox)
# CMD prints its own duration in seconds from /proc/uptime (10 ms steps), so attach costs nothing
cat > "$W/cpu.sh" << 'EOF'
a=$(cut -d' ' -f1 /proc/uptime); head -c 300000000 /dev/zero | sha256sum > /dev/null
b=$(cut -d' ' -f1 /proc/uptime); echo "$a $b"
EOF
cat > "$W/mem.sh" << 'EOF'
a=$(cut -d' ' -f1 /proc/uptime); /memtouch
b=$(cut -d' ' -f1 /proc/uptime); echo "$a $b"
EOF

secs() { awk '{ printf "%.2f\n", $2 - $1 }'; }
med() { sort -n "$1" | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

# ---- 1. inside vs host -------------------------------------------------------------------------
W1=lxtlim-work
LXT_NAMES+=("$W1")
lxt create -n "$W1" -t busybox --network empty > /dev/null || die "lxt create failed"
ROOTFS=$LXTP/$W1/rootfs
cp "$W/memtouch" "$ROOTFS/memtouch"
cp "$W/cpu.sh" "$W/mem.sh" "$ROOTFS/"
lxt start -n "$W1" > /dev/null || die "lxt start failed"
# on the host: the same busybox applets (not coreutils) and the same binary
host_run() {
  sed -e "s#/memtouch#$W/memtouch#" -e "s#\\(cut\\|head\\|sha256sum\\) #$BB \\1 #g" "$W/$1.sh" > "$W/host-$1.sh"
  "$BB" sh "$W/host-$1.sh"
}
ct_run() { lxt attach -n "$W1" -- sh "/$1.sh"; }
for wl in cpu mem; do
  for i in $(seq 1 "$ITER"); do
    if (( i % 2 )); then order="host ct"; else order="ct host"; fi
    for where in $order; do
      if [ "$where" = host ]; then host_run "$wl"; else ct_run "$wl"; fi | secs >> "$W/$wl.$where" \
        || echo "bench/limits: $wl/$where failed" >&2
    done
  done
done

# ---- 2. info and top with TOP_N running containers per tool ------------------------------------
printf 'lxc.net.0.type = empty\n' > "$W/lxc.conf"
for i in $(seq 1 "$TOP_N"); do
  n=lxtlim-$i; LXT_NAMES+=("$n")
  lxt create -n "$n" -t busybox --network empty > /dev/null && lxt start -n "$n" > /dev/null || die "lxt $n failed"
  n=lxclim-$i; LXC_NAMES+=("$n")
  quiet lxc-create -P "$LXCP" -n "$n" -t busybox -f "$W/lxc.conf" || die "lxc-create $n failed"
  lxc-start -P "$LXCP" -n "$n" -d && lxc-wait -P "$LXCP" -n "$n" -s RUNNING -t 10 || die "lxc-start $n failed"
done
# ms taken by CMD, appended to FILE
tm() {
  local f=$1 s e; shift
  s=$EPOCHREALTIME; "$@" > /dev/null 2> "$W/last.err" || { echo "bench/limits: failed: $* :: $(head -c 200 "$W/last.err")" >&2; return 1; }
  e=$EPOCHREALTIME; s=${s/./}; e=${e/./}
  echo $(((e - s) / 1000)) >> "$f"
}
# lxc-top -b loops; one frame is the header plus a line per container (and a total line):
# head ends it at the second frame's first write, after its 0.1 s delay, as lxt top's 0.1 s sample.
lxctop() { lxc-top -P "$LXCP" -b -d 0.1 | head -n $((TOP_N + 4)); }
for i in $(seq 1 "$ITER"); do
  tm "$W/info.lxt" lxt info -n lxtlim-1
  tm "$W/info.lxc" lxc-info -P "$LXCP" -n lxclim-1
  tm "$W/top.lxc" lxctop
  tm "$W/top.lxt" lxt top --format json --delay 0.1
done

echo
echo "| figure | host | lxt | ratio |"
echo "| --- | --- | --- | --- |"
for wl in cpu mem; do
  h=$(med "$W/$wl.host"); c=$(med "$W/$wl.ct")
  label=$([ $wl = cpu ] && echo "CPU: sha256sum of 300 MB (s)" || echo "memory: 8 passes over 256 MiB (s)")
  echo "| $label | $h | $c | $(ratio "$h" "$c") (host/lxt, target >= 0.98) |"
done
echo
echo "| with $TOP_N running containers | lxt ms | LXC ms | lxt/LXC |"
echo "| --- | --- | --- | --- |"
li=$(med "$W/info.lxt"); ci=$(med "$W/info.lxc"); lt=$(med "$W/top.lxt"); ct=$(med "$W/top.lxc")
echo "| info one container | $li | $ci | $(ratio "$li" "$ci") |"
echo "| top, one sample (0.1 s delay) | $lt | $ct | $(ratio "$lt" "$ct") |"
echo
echo "(medians of $ITER runs; the machine's load shows in these: the lead takes final figures)"
