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
# CMD prints its own duration in seconds from /proc/uptime (10 ms steps), so attach costs nothing,
# and only when the workload did its whole work: the hash of all 300 MB (a cut-short or failed
# pipe hashes something else), memtouch's exit status 0 (an OOM kill is not a fast run)
ZEROS_SHA=$(head -c 300000000 /dev/zero | "$BB" sha256sum | cut -d' ' -f1)
cat > "$W/cpu.sh" << EOF
a=\$(cut -d' ' -f1 /proc/uptime); h=\$(head -c 300000000 /dev/zero | sha256sum)
b=\$(cut -d' ' -f1 /proc/uptime)
[ "\${h%% *}" = $ZEROS_SHA ] && echo "\$a \$b"
EOF
cat > "$W/mem.sh" << 'EOF'
a=$(cut -d' ' -f1 /proc/uptime); /memtouch && b=$(cut -d' ' -f1 /proc/uptime) && echo "$a $b"
EOF

# seconds from "START END"; a run that printed no such line (it failed) is reported and gives none
secs() {
  awk -v what="$1" 'NF == 2 && $1 ~ /^[0-9.]+$/ && $2 ~ /^[0-9.]+$/ { printf "%.2f\n", $2 - $1; ok = 1 }
    END { if (!ok) print "bench/limits: " what " failed: left out" > "/dev/stderr" }'
}
med() { bench_med "$1"; }
ratio() { bench_ratio "$1" "$2"; }

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
      if [ "$where" = host ]; then host_run "$wl"; else ct_run "$wl"; fi | secs "$wl/$where" >> "$W/$wl.$where"
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
# tm FILE ERE CMD...: ms taken by CMD, appended to FILE when CMD exits 0 and its output has a line
# matching ERE (the container it names, its state)
tm() {
  local f=$1 re=$2 s e; shift 2
  s=$EPOCHREALTIME; "$@" > "$W/out" 2> "$W/last.err" || { echo "bench/limits: failed: $* :: $(head -c 200 "$W/last.err")" >&2; return 1; }
  e=$EPOCHREALTIME; s=${s/./}; e=${e/./}
  grep -Eq "$re" "$W/out" || { echo "bench/limits: $*: exit 0 but no line matching '$re': left out" >&2; return 1; }
  echo $(((e - s) / 1000)) >> "$f"
}
# lxc-top -b loops; one frame is the header plus a line per container (and a total line):
# head ends it at the second frame's first write, after its 0.1 s delay, as lxt top's 0.1 s sample.
lxctop() { lxc-top -P "$LXCP" -b -d 0.1 | head -n $((TOP_N + 4)); }
for i in $(seq 1 "$ITER"); do
  tm "$W/info.lxt" '^State:[[:space:]]+RUNNING$' lxt info -n lxtlim-1
  tm "$W/info.lxc" '^State:[[:space:]]+RUNNING$' lxc-info -P "$LXCP" -n lxclim-1
  tm "$W/top.lxc" "^lxclim-$TOP_N[[:space:]]" lxctop
  tm "$W/top.lxt" "\"lxtlim-$TOP_N\"" lxt top --format json --delay 0.1
done

# A verdict only when every run of both sides completed its workload (n = ITER for each).
echo
echo "| figure | host | lxt | n (host/lxt) | host/lxt (target >= 0.98) |"
echo "| --- | --- | --- | --- | --- |"
for wl in cpu mem; do
  h=$(med "$W/$wl.host"); c=$(med "$W/$wl.ct"); r=$(ratio "$h" "$c")
  label=$([ $wl = cpu ] && echo "CPU: sha256sum of 300 MB (s)" || echo "memory: 8 passes over 256 MiB (s)")
  echo "| $label | ${h:-n/a} | ${c:-n/a} | $(bench_num "$W/$wl.host")/$(bench_num "$W/$wl.ct") |" \
    "$r$(bench_verdict "$r" ge 0.98 "$ITER" "$W/$wl.host" "$W/$wl.ct") |"
done
echo
echo "| with $TOP_N running containers | lxt ms | LXC ms | n (lxt/LXC) | lxt/LXC |"
echo "| --- | --- | --- | --- | --- |"
li=$(med "$W/info.lxt"); ci=$(med "$W/info.lxc"); lt=$(med "$W/top.lxt"); ct=$(med "$W/top.lxc")
echo "| info one container | ${li:-n/a} | ${ci:-n/a} | $(bench_num "$W/info.lxt")/$(bench_num "$W/info.lxc") | $(ratio "$li" "$ci") |"
echo "| top, one sample (0.1 s delay) | ${lt:-n/a} | ${ct:-n/a} | $(bench_num "$W/top.lxt")/$(bench_num "$W/top.lxc") | $(ratio "$lt" "$ct") |"
echo
echo "(medians of $ITER runs; the machine's load shows in these: the lead takes final figures)"
