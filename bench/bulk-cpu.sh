#!/bin/bash
# Where the CPU of a bulk create+start through lxtd's API goes: N busybox containers (no NIC)
# created, then started, CONC requests at once, and the CPU of EVERY process each phase ran
# (lxtd, its helpers and monitors, the containers' own inits and boot), from a cpuacct cgroup
# of this script's that lxtd runs in (cgroup v1; the containers' payload cgroups are added, they
# sit beside it). lxtd's own threads are split from its children (/proc/PID/stat: utime+stime,
# and the reaped children's cutime+cstime).
#
# Usage: bench/bulk-cpu.sh [N]   (default 40)
# Env:   BENCH_BULK_CONC=8  requests at once; BENCH_BULK_ROOT=/var/tmp  where the state root goes;
#        LXTD=CMD  the daemon (default: bin/lxtd of this checkout); LXTD_ARGS  more daemon flags;
#        BENCH_BULK_PROF=DIR  this checkout's lxtd runs with --cpu-prof into DIR (a V8 profile of
#        its main thread over the whole run, written when it exits).
# Root only. Prints one line per phase: `PHASE N WALL_S  total_ms/ct  lxtd_self_ms/ct
# lxtd_children_ms/ct  containers_ms/ct`, and the load. Everything it made is removed on exit.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH_TAG=bench/bulk-cpu
. "$HERE/lib.sh"
N=${1:-40}
bench_positive "$N" "usage: bench/bulk-cpu.sh [N]  (N a positive integer, got '$N')"
CONC=${BENCH_BULK_CONC:-8}
bench_positive "$CONC" "BENCH_BULK_CONC must be a positive integer"
bench_need_root
[ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ] || die "needs the cgroup v1 cpuacct hierarchy at /sys/fs/cgroup/cpuacct"
read -r -a LXTD <<< "${LXTD:-$HERE/../bin/lxtd}"
read -r -a LXTD_EXTRA <<< "${LXTD_ARGS:-}"
CLIENT=(node "$HERE/api-client.mjs")

LXTP=$(mktemp -d "${BENCH_BULK_ROOT:-/var/tmp}/lxtbulkcpu.XXXXXX")
export LXT_PATH=$LXTP
SOCK=$LXTP/.lxtd/unix.socket
CG=/sys/fs/cgroup/cpuacct/lxtbench-bulkcpu.$$
PREFIX=bulkcpu$$-
DPID=""
cleanup() {
  trap - EXIT INT TERM
  if [ -S "$SOCK" ]; then
    mapfile -t names < <(seq 0 $((N - 1)) | sed "s/^/$PREFIX/")
    "${CLIENT[@]}" "$SOCK" delete "${names[@]}" 2>/dev/null
  fi
  [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
  "${LXT[@]}" ls -1 2>/dev/null | grep "^$PREFIX" | while read -r n; do quiet "${LXT[@]}" stop -k -n "$n"; quiet "${LXT[@]}" destroy -f -n "$n"; done
  # The state root and its runtime directory (its locks), as the other benches leave nothing.
  bench_remove "$LXTP" "$(bench_rundir "$LXTP")"
  [ -d "$CG" ] && rmdir "$CG" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir "$CG" || die "cannot make $CG"
mkdir -p "$LXTP/.lxtd/profiles"
printf 'description: bench, no NIC\nconfig: {}\ndevices:\n  root:\n    path: /\n    pool: default\n    type: disk\n' \
  > "$LXTP/.lxtd/profiles/default.yaml"
if [ -n "${BENCH_BULK_PROF:-}" ]; then
  mkdir -p "$BENCH_BULK_PROF"
  LXTD=(env "LXT_SHIM=$HERE/../native/build/lxt-shim" node --cpu-prof --cpu-prof-dir="$BENCH_BULK_PROF" "$HERE/../dist/lxtd.cjs")
fi
# lxtd in the cgroup before it execs: every process it makes is counted there.
sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$CG" \
  "${LXTD[@]}" --foreground -P "$LXTP" "${LXTD_EXTRA[@]}" > "$LXTP/lxtd.out" 2> "$LXTP/lxtd.err" &
DPID=$!
for _ in $(seq 1 200); do grep -q "listening" "$LXTP/lxtd.out" 2>/dev/null && break; sleep 0.05; done
grep -q "listening" "$LXTP/lxtd.out" || die "lxtd did not start: $(head -c 500 "$LXTP/lxtd.err")"

tck=$(getconf CLK_TCK)
# lxtd's own threads and its reaped children, in ms: "SELF CHILDREN"
lxtd_split() {
  awk -v t="$tck" '{ sub(/^.*\) /, ""); printf "%d %d\n", ($12 + $13) * 1000 / t, ($14 + $15) * 1000 / t }' "/proc/$DPID/stat"
}
cg_ns() { cat "$CG/cpuacct.usage"; }
# The payload cgroups of this run's containers (wherever lxt put them), in ns.
payload_ns() {
  find /sys/fs/cgroup/cpuacct -maxdepth 3 -type d -name "lxt.payload.$PREFIX*" 2>/dev/null |
    while read -r d; do cat "$d/cpuacct.usage"; done | awk '{ t += $1 } END { printf "%.0f\n", t }'
}
# One warm-up create+start+delete: the daemon's once-only work (probes, lazy modules) apart.
"${CLIENT[@]}" "$SOCK" bulk "${PREFIX}warm" 1 1 >/dev/null 2>&1
"${CLIENT[@]}" "$SOCK" delete "${PREFIX}warm0" >/dev/null 2>&1

phase() {
  local verb=$1 c0 p0 s0 k0 c1 p1 s1 k1 out secs failed inner=0
  c0=$(cg_ns); p0=$(payload_ns); read -r s0 k0 < <(lxtd_split)
  out=$("${CLIENT[@]}" "$SOCK" "$verb" "$PREFIX" "$N" "$CONC" 2>> "$LXTP/client.err")
  c1=$(cg_ns); p1=$(payload_ns); read -r s1 k1 < <(lxtd_split)
  read -r _ _ secs failed <<< "$out"
  # A payload cgroup below lxtd's own (nested placement) is already in c1 - c0.
  find "$CG" -mindepth 1 -type d -name "lxt.payload.*" | grep -q . && inner=1
  awk -v v="$verb" -v n="$N" -v s="$secs" -v f="$failed" -v c="$((c1 - c0))" -v p="$((p1 - p0))" -v inner="$inner" \
    -v self="$((s1 - s0))" -v kids="$((k1 - k0))" 'BEGIN {
      cont = p / 1e6; tot = c / 1e6 + (inner ? 0 : cont)
      printf "%-8s n=%d wall %.2f s (failed %s)  CPU per container: all %.1f ms = lxtd threads %.1f + its children %.1f (reaped) + living %.1f + containers %.1f\n",
        v, n, s, f, tot / n, self / n, kids / n, (c / 1e6 - self - kids - (inner ? cont : 0)) / n, cont / n }'
}
echo "bench/bulk-cpu: $N containers, $CONC at once, state root $LXTP ($(stat -f -c %T "$LXTP")), load $(cut -d' ' -f1-3 /proc/loadavg)"
phase creates
phase starts
echo "bench/bulk-cpu: load at the end $(cut -d' ' -f1-3 /proc/loadavg); lxtd RSS $(awk '/^VmRSS:/ { print $2 }' "/proc/$DPID/status") kB"
[ -s "$LXTP/client.err" ] && head -5 "$LXTP/client.err" >&2
exit 0
