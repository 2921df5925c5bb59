#!/bin/bash
# One metrics sample of N running containers: `lxt metrics` (every running container's CPU,
# memory, I/O, NIC counters and state, as Prometheus text) against `lxc-info` called once per
# container (what a script polling LXC does), side by side in one run, R rounds interleaved.
# `lxt metrics` both ways a user meets it: with the state root's lxtd running (the launcher's
# lxt-shim asks it, no Node start: native/src/lxtd-metrics.c), counting the daemon's CPU for
# the sample too, and without one (LXT_METRICS_NO_DAEMON=1: Node samples by itself). Also
# lxtd's LXD `/1.0/metrics` by curl over its unix socket. lxtd is warmed by ten scrapes of
# each kind first. Wall clock and CPU time (user + system) of each sample; the table's figures
# are medians.
# Busybox containers with no network (lxt: --network empty; LXC: lxc.net.0.type = empty) and no
# console (lxc.console.path = none, both).
#
# Usage: bench/metrics.sh [N]   N running containers per tool (default 100)
# Env:   LXT=CMD                the lxt command (words allowed); default lxt
#        BENCH_METRICS_PROFILE=DIR  also profile one sample without lxtd (--cpu-prof) into DIR
#        BENCH_METRICS_ROUNDS=R samples per tool (default 5)
# Root only. Everything made is removed on exit.
set -u
BENCH_TAG=bench/metrics
. "$(dirname "$0")/lib.sh"
N=${1:-100}
R=${BENCH_METRICS_ROUNDS:-5}
bench_positive "$N" "usage: bench/metrics.sh [N]  (N a positive integer, got '$N')"
bench_positive "$R" "BENCH_METRICS_ROUNDS must be a positive integer"
bench_need_root
bench_need lxc-create lxc-start lxc-info lxc-ls lxc-stop lxc-destroy curl "${LXT[0]}"
read -r -a LXTD <<< "${LXTD:-$(dirname "$0")/../bin/lxtd}"

LXTP=$(mktemp -d /var/tmp/lxtbench-metrics.XXXXXX)
LXCP=$(mktemp -d /var/tmp/lxcbench-metrics.XXXXXX)
W=$(mktemp -d /var/tmp/bench-metrics-work.XXXXXX)
chmod 711 "$LXTP"
export LXT_PATH=$LXTP
LXT_NAMES=() LXC_NAMES=()
DPID=""
metrics_cleanup() {
  [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
  bench_cleanup
}
trap metrics_cleanup EXIT
trap 'exit 130' INT TERM
# No console pty for either tool: the host's ptys (kernel.pty.max) are shared with whatever
# else runs, and a sample reads no console.
printf 'lxc.net.0.type = empty\nlxc.console.path = none\nlxc.tty.max = 0\n' > "$W/lxc.conf"

for i in $(seq 0 $((N - 1))); do LXT_NAMES+=("lxtmet-$i") LXC_NAMES+=("lxcmet-$i"); done
echo "$BENCH_TAG: creating and starting $N containers per tool" >&2
for n in "${LXT_NAMES[@]}"; do
  lxt create -n "$n" -t busybox --network empty -q >/dev/null || die "lxt create $n failed"
  echo "lxc.console.path = none" >> "$LXTP/$n/config"
done
lxt start "${LXT_NAMES[@]}" >/dev/null || die "lxt start failed"
for n in "${LXC_NAMES[@]}"; do
  lxc-create -P "$LXCP" -n "$n" -t busybox -f "$W/lxc.conf" >/dev/null 2>&1 || die "lxc-create $n failed"
  # Under load LXC now and then aborts a start: one more try before giving up.
  lxc-start -P "$LXCP" -n "$n" -d || lxc-start -P "$LXCP" -n "$n" -d || die "lxc-start $n failed"
done
[ "$(lxt ls --running | grep -c '^lxtmet-')" = "$N" ] || die "not all $N lxt containers run"
[ "$(lxc-ls -P "$LXCP" -1 --running | grep -c '^lxcmet-')" = "$N" ] || die "not all $N LXC containers run"

SOCK=$LXTP/.lxtd/unix.socket
"${LXTD[@]}" --foreground -P "$LXTP" > "$W/lxtd.out" 2> "$W/lxtd.err" &
DPID=$!
for _ in $(seq 1 200); do grep -q "listening" "$W/lxtd.out" 2>/dev/null && break; sleep 0.05; done
grep -q "listening" "$W/lxtd.out" || die "lxtd did not start: $(head -c 500 "$W/lxtd.err")"
# A running daemon is warm: its first scrapes compile the code and open the cgroup files it keeps,
# and V8 optimises the scrape's functions only once they have run a while (after three scrapes
# lxtd's CPU per scrape was ~45 ms, after ten ~28 ms: a daemon scraped every 15 s is past that
# within minutes).
for _ in $(seq 1 10); do
  curl -s --unix-socket "$SOCK" http://lxd/1.0/metrics > /dev/null
  lxt metrics > /dev/null
done

ms() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.1f\n", (e - s) * 1000 }'; }
# CPU time (user + system) too, which the host's load moves much less than the wall clock: the
# commands' by bash's `times` (this shell's reaped children), lxtd's own from /proc/PID/stat
# (clock ticks) plus curl's. Read without forking (a fork between two readings would count).
# cpu_ms VAR: sets VAR to the CPU time, in ms, of this shell's children so far
cpu_ms() {
  local _ user sys
  times > "$W/times"
  { read -r _; read -r user sys; } < "$W/times"
  tms user "$user"; tms sys "$sys"
  printf -v "$1" '%d' $((user + sys))
}
# tms VAR 1m2.345s: sets VAR to 62345 (bash's `times` prints three decimals)
tms() { local m=${2%%m*} f=${2#*m}; f=${f%s}; printf -v "$1" '%d' $((m * 60000 + 10#${f/./})); }
TICK=$(getconf CLK_TCK)
# daemon_ms VAR: sets VAR to lxtd's CPU time so far, in ms
daemon_ms() { local f; read -r -a f < "/proc/$DPID/stat"; printf -v "$1" '%d' $(( (f[13] + f[14]) * 1000 / TICK )); }
# every_running FILE: whether the sample in FILE covers every container, running
every_running() { [ "$(grep -c '^lxt_instance_state{name="lxtmet-.*state="RUNNING"' "$1")" = "$N" ]; }
for ((r = 0; r < R; r++)); do
  # Without a daemon: Node samples by itself.
  cpu_ms c; s=$EPOCHREALTIME; LXT_METRICS_NO_DAEMON=1 lxt metrics > "$W/lxt.out"; e=$EPOCHREALTIME; cpu_ms d
  # A sample counts only when it covers every container, running.
  if every_running "$W/lxt.out"; then
    ms "$s" "$e" >> "$W/lxt.ms"; echo $((d - c)) >> "$W/lxt.cpu"
  fi
  # With the daemon: the launcher, lxt-shim and lxtd's CPU for the sample.
  cpu_ms c; daemon_ms a; s=$EPOCHREALTIME; lxt metrics > "$W/lxtvia.out"; e=$EPOCHREALTIME
  daemon_ms b; cpu_ms d
  if every_running "$W/lxtvia.out"; then
    ms "$s" "$e" >> "$W/lxtvia.ms"; echo $((b - a + d - c)) >> "$W/lxtvia.cpu"
  fi
  # The same ten in a row, as clock ticks are coarse: CPU per sample.
  cpu_ms c; daemon_ms a
  for _ in $(seq 1 10); do lxt metrics > /dev/null; done
  daemon_ms b; cpu_ms d; echo $(((b - a + d - c) / 10)) >> "$W/lxtvia10.cpu"
  cpu_ms c; daemon_ms a; s=$EPOCHREALTIME
  curl -s --unix-socket "$SOCK" http://lxd/1.0/metrics > "$W/lxtd.metrics"
  e=$EPOCHREALTIME; daemon_ms b; cpu_ms d
  if [ "$(grep -c '^lxd_procs_total{name="lxtmet-' "$W/lxtd.metrics")" = "$N" ]; then
    ms "$s" "$e" >> "$W/lxtd.ms"
    echo $((b - a + d - c)) >> "$W/lxtd.cpu"
  fi
  # The daemon's own CPU per scrape, without curl's start-up: ten scrapes, as clock ticks are coarse.
  daemon_ms a
  for _ in $(seq 1 10); do curl -s --unix-socket "$SOCK" http://lxd/1.0/metrics > /dev/null; done
  daemon_ms b; echo $(((b - a) / 10)) >> "$W/lxtd-own.cpu"
  # Node's own start-up, which bounds the CLI: `node -e 0` by the same measure.
  cpu_ms c; s=$EPOCHREALTIME; node -e 0; e=$EPOCHREALTIME; cpu_ms d
  ms "$s" "$e" >> "$W/node.ms"; echo $((d - c)) >> "$W/node.cpu"
  cpu_ms c; s=$EPOCHREALTIME
  for n in "${LXC_NAMES[@]}"; do lxc-info -P "$LXCP" -n "$n"; done > "$W/lxc.out"
  e=$EPOCHREALTIME; cpu_ms d
  if [ "$(grep -c '^State: *RUNNING' "$W/lxc.out")" = "$N" ]; then
    ms "$s" "$e" >> "$W/lxc.ms"; echo $((d - c)) >> "$W/lxc.cpu"
  fi
done

# BENCH_METRICS_PROFILE=DIR: one more sample without lxtd under --cpu-prof (Node's own
# profiler; the profile is left in DIR; this checkout's dist/lxt.cjs), summarised by bench/cpu-profile.mjs after the table.
if [ -n "${BENCH_METRICS_PROFILE:-}" ]; then
  mkdir -p "$BENCH_METRICS_PROFILE"
  # What the launcher execs without lxtd, with the profiler (which NODE_OPTIONS may not turn on).
  LXT_SHIM=$(dirname "$0")/../native/build/lxt-shim node --cpu-prof --cpu-prof-dir="$BENCH_METRICS_PROFILE" \
    "$(dirname "$0")/../dist/lxt.cjs" metrics > /dev/null
fi
lm=$(bench_med "$W/lxt.ms") cm=$(bench_med "$W/lxc.ms") dm=$(bench_med "$W/lxtd.ms")
ratio=$(bench_ratio "$lm" "$cm") dratio=$(bench_ratio "$dm" "$cm")
lc=$(bench_med "$W/lxt.cpu") cc=$(bench_med "$W/lxc.cpu") dc=$(bench_med "$W/lxtd.cpu")
oc=$(bench_med "$W/lxtd-own.cpu") ocratio=$(bench_ratio "$oc" "$cc")
cratio=$(bench_ratio "$lc" "$cc") dcratio=$(bench_ratio "$dc" "$cc")
echo "One metrics sample of $N running busybox containers (bench/metrics.sh, $R rounds, $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)):"
echo
echo "| figure | lxt | LXC | n (lxt/LXC) | ratio |"
echo "| --- | --- | --- | --- | --- |"
vm=$(bench_med "$W/lxtvia.ms") vc=$(bench_med "$W/lxtvia.cpu") v10=$(bench_med "$W/lxtvia10.cpu")
vratio=$(bench_ratio "$vm" "$cm") vcratio=$(bench_ratio "$vc" "$cc") v10ratio=$(bench_ratio "$v10" "$cc")
echo "| \`lxt metrics\`, lxtd running, vs \`lxc-info -n\` × $N | $(bench_cell "$W/lxtvia.ms" ms) | $(bench_cell "$W/lxc.ms" ms) | $(bench_num "$W/lxtvia.ms")/$(bench_num "$W/lxc.ms") | ${vratio}$(bench_verdict "$vratio" le 0.1 "$R" "$W/lxtvia.ms" "$W/lxc.ms") |"
echo "| CPU time: \`lxt metrics\`, lxtd running (launcher + lxt-shim + lxtd's ticks), vs the same | $(bench_cell "$W/lxtvia.cpu" ms) | $(bench_cell "$W/lxc.cpu" ms) | $(bench_num "$W/lxtvia.cpu")/$(bench_num "$W/lxc.cpu") | ${vcratio}$(bench_verdict "$vcratio" le 0.1 "$R" "$W/lxtvia.cpu" "$W/lxc.cpu") |"
echo "| CPU time: the same, per sample of 10 in a row, vs the same | $(bench_cell "$W/lxtvia10.cpu" ms) | $(bench_cell "$W/lxc.cpu" ms) | $(bench_num "$W/lxtvia10.cpu")/$(bench_num "$W/lxc.cpu") | ${v10ratio}$(bench_verdict "$v10ratio" le 0.1 "$R" "$W/lxtvia10.cpu" "$W/lxc.cpu") |"
echo "| \`lxt metrics\`, no lxtd (\`LXT_METRICS_NO_DAEMON=1\`), vs \`lxc-info -n\` × $N | $(bench_cell "$W/lxt.ms" ms) | $(bench_cell "$W/lxc.ms" ms) | $(bench_num "$W/lxt.ms")/$(bench_num "$W/lxc.ms") | ${ratio}$(bench_verdict "$ratio" le 0.1 "$R" "$W/lxt.ms" "$W/lxc.ms") |"
echo "| lxtd \`GET /1.0/metrics\` (curl) vs \`lxc-info -n\` × $N | $(bench_cell "$W/lxtd.ms" ms) | $(bench_cell "$W/lxc.ms" ms) | $(bench_num "$W/lxtd.ms")/$(bench_num "$W/lxc.ms") | ${dratio}$(bench_verdict "$dratio" le 0.1 "$R" "$W/lxtd.ms" "$W/lxc.ms") |"
echo "| CPU time (user + system): \`lxt metrics\`, no lxtd, vs \`lxc-info -n\` × $N | $(bench_cell "$W/lxt.cpu" ms) | $(bench_cell "$W/lxc.cpu" ms) | $(bench_num "$W/lxt.cpu")/$(bench_num "$W/lxc.cpu") | ${cratio}$(bench_verdict "$cratio" le 0.1 "$R" "$W/lxt.cpu" "$W/lxc.cpu") |"
echo "| CPU time: lxtd's for \`GET /1.0/metrics\` (clock ticks) + curl's vs the same | $(bench_cell "$W/lxtd.cpu" ms) | $(bench_cell "$W/lxc.cpu" ms) | $(bench_num "$W/lxtd.cpu")/$(bench_num "$W/lxc.cpu") | ${dcratio}$(bench_verdict "$dcratio" le 0.1 "$R" "$W/lxtd.cpu" "$W/lxc.cpu") |"
echo "| CPU time: lxtd's own per scrape (10 in a row), no client vs the same | $(bench_cell "$W/lxtd-own.cpu" ms) | $(bench_cell "$W/lxc.cpu" ms) | $(bench_num "$W/lxtd-own.cpu")/$(bench_num "$W/lxc.cpu") | ${ocratio}$(bench_verdict "$ocratio" le 0.1 "$R" "$W/lxtd-own.cpu" "$W/lxc.cpu") |"
echo "| \`node -e 0\` (what bounds \`lxt metrics\` without lxtd): wall / CPU | $(bench_cell "$W/node.ms" ms) / $(bench_cell "$W/node.cpu" ms) | | | |"
echo
cmp -s <(grep -v '^#' "$W/lxt.out" | sed 's/ [^ ]*$//') <(grep -v '^#' "$W/lxtvia.out" | sed 's/ [^ ]*$//') \
  && same="the same series both ways" || same="NOT the same series both ways"
echo "\`lxt metrics\` output: $(wc -l < "$W/lxt.out") lines, $(wc -c < "$W/lxt.out") bytes, $same; \`lxc-info\` × $N: $(wc -l < "$W/lxc.out") lines."
if [ -n "${BENCH_METRICS_PROFILE:-}" ]; then
  echo
  for f in "$BENCH_METRICS_PROFILE"/*.cpuprofile; do node "$(dirname "$0")/cpu-profile.mjs" "$f" 20; done
fi
