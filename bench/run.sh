#!/bin/bash
# lxt vs LXC on busybox containers, side by side: every figure is taken in the same run, the two
# tools interleaved (A B B A A B …), then printed as a markdown table of medians with lxt/LXC
# ratios and written into bench/RESULTS.md between the `bench:begin`/`bench:end` markers.
#
# Usage: bench/run.sh [N]        N iterations per latency figure (default 10)
# Env:   LXT=CMD                 the lxt command, may hold words ("node dist/lxt.cjs"); default lxt
#        BENCH_MEM_N=M           containers per tool kept running for the memory figures (default 10)
#        BENCH_STOP_N=S          iterations of the ~2 s clean stop (default 3)
#        BENCH_NO_WRITE=1        print only, leave RESULTS.md alone
#        BENCH_NET=0             skip the networking figures (bench/net.sh; BENCH_NET_SECS/RUNS)
# Root only. Uses private state roots under /var/tmp and removes everything on exit.
# Network: in sections 1-6 LXC containers get lxc.net.0.type = empty (config and `-s` at start)
# and lxt's are created with --network empty; section 7 (bench/net.sh) runs in a network
# namespace of its own with a bridge it makes. Nothing leaves the host.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH_TAG=bench
. "$HERE/lib.sh"
N=${1:-10}
MEM_N=${BENCH_MEM_N:-10}
STOP_N=${BENCH_STOP_N:-3}

bench_positive "$N" "usage: bench/run.sh [N]  (N a positive integer, got '$N')"
bench_need_root
bench_need lxc-create lxc-start lxc-wait lxc-attach lxc-stop lxc-ls lxc-destroy lxc-info node
HAVE_LXT=1
if ! command -v "${LXT[0]}" >/dev/null 2>&1; then
  HAVE_LXT=0
  echo "bench: WARNING: lxt command '${LXT[*]}' not found (set LXT=...); measuring LXC only," \
    "lxt columns will read n/a" >&2
fi

LXTP=$(mktemp -d /var/tmp/lxtbench.XXXXXX)   # lxt state root
LXCP=$(mktemp -d /var/tmp/lxcbench.XXXXXX)   # LXC lxcpath
W=$(mktemp -d /var/tmp/bench-work.XXXXXX)    # samples, one file per op and tool
export LXT_PATH=$LXTP
LXT_NAMES=() LXC_NAMES=()

# ---- the two tools behind one set of verbs: VERB TOOL NAME -------------------------------------
t_create()  { if [ "$1" = lxt ]; then lxt create -n "$2" -t busybox --network empty; else lxc-create -P "$LXCP" -n "$2" -t busybox -f "$W/lxc.conf"; fi; }
t_destroy() { if [ "$1" = lxt ]; then lxt destroy -n "$2"; else lxc-destroy -P "$LXCP" -n "$2"; fi; }
t_start()   { if [ "$1" = lxt ]; then lxt start -n "$2"
              else lxc-start -P "$LXCP" -n "$2" -d -s lxc.net.0.type=empty && lxc-wait -P "$LXCP" -n "$2" -s RUNNING -t 10; fi; }
t_stop()    { if [ "$1" = lxt ]; then lxt stop -n "$2" -t 10; else lxc-stop -P "$LXCP" -n "$2" -t 10; fi; }
t_kill()    { if [ "$1" = lxt ]; then lxt stop -n "$2" -k; else lxc-stop -P "$LXCP" -n "$2" -k; fi; }
t_attach()  { if [ "$1" = lxt ]; then lxt attach -n "$2" -- true; else lxc-attach -P "$LXCP" -n "$2" -- true; fi; }
t_info()    { if [ "$1" = lxt ]; then lxt info -n "$2"; else lxc-info -P "$LXCP" -n "$2"; fi; }
t_ls()      { if [ "$1" = lxt ]; then lxt ls "${@:2}"; else lxc-ls -P "$LXCP" "${@:2}"; fi; }
name_of()   { if [ "$1" = lxt ]; then echo "lxtbench-$2"; else echo "lxcbench-$2"; fi; }
# wait until stopped (after a timed stop, outside the timing)
settle()    { if [ "$1" = lxt ]; then lxt stop -n "$2" -k >/dev/null 2>&1; else lxc-wait -P "$LXCP" -n "$2" -s STOPPED -t 10; fi; }

# tm OP TOOL CMD... : time CMD with $EPOCHREALTIME (no fork), append ms to $W/OP.TOOL; a failure
# is reported and left out of the figures (n shows it)
tm() {
  local op=$1 tool=$2 s e rc; shift 2
  [ "$tool" = lxt ] && [ $HAVE_LXT = 0 ] && return 1
  s=$EPOCHREALTIME; "$@" >/dev/null 2>"$W/last.err"; rc=$?; e=$EPOCHREALTIME
  if [ $rc -ne 0 ]; then
    echo "bench: $op/$tool failed (rc=$rc): $* :: $(head -c 300 "$W/last.err" | tr '\n' ' ')" >&2
    return $rc
  fi
  s=${s/./}; e=${e/./}
  printf '%d.%03d\n' $(((e - s) / 1000)) $(((e - s) % 1000)) >> "$W/$op.$tool"
}
# both TOOLS-ORDER-INDEX: "lxt lxc" on even i, "lxc lxt" on odd, so neither always goes first
order() { if (( $1 % 2 )); then echo "lxc lxt"; else echo "lxt lxc"; fi; }

trap bench_cleanup EXIT
trap 'exit 130' INT TERM

printf 'lxc.net.0.type = empty\n' > "$W/lxc.conf"   # lxc-create -f: replaces default.conf's veth

# register NAME for cleanup before creating it
track() { if [ "$1" = lxt ]; then LXT_NAMES+=("$2"); else LXC_NAMES+=("$2"); fi; }
tools() { if [ $HAVE_LXT = 1 ]; then order "$1"; else echo lxc; fi; }

echo "bench: N=$N, state roots $LXTP (lxt) and $LXCP (LXC)" >&2

# ---- 1. node start-up, the floor under every lxt command ---------------------------------------
for _ in $(seq 1 $((2 * N))); do tm node node node -e 0; done

# ---- 2. create and destroy ---------------------------------------------------------------------
echo "bench: create/destroy" >&2
for i in $(seq 1 "$N"); do
  for t in $(tools "$i"); do n=$(name_of "$t" "c$i"); track "$t" "$n"; tm create "$t" t_create "$t" "$n"; done
done
for i in $(seq 1 "$N"); do
  for t in $(tools "$i"); do tm destroy "$t" t_destroy "$t" "$(name_of "$t" "c$i")"; done
done

# ---- 3. start → RUNNING and stop -k, with idle gaps so every start pays the same cgroup costs --
echo "bench: start / stop -k / attach / info / ls" >&2
for t in $(tools 0); do
  n=$(name_of "$t" s); track "$t" "$n"; quiet t_create "$t" "$n" || echo "bench: create $n failed" >&2
done
for i in $(seq 1 "$N"); do
  for t in $(tools "$i"); do tm start "$t" t_start "$t" "$(name_of "$t" s)"; sleep 0.3; done
  sleep 0.5
  for t in $(tools "$i"); do tm kill "$t" t_kill "$t" "$(name_of "$t" s)"; quiet settle "$t" "$(name_of "$t" s)"; sleep 0.3; done
done

# ---- 4. commands against one running container each -------------------------------------------
for t in $(tools 0); do quiet t_start "$t" "$(name_of "$t" s)"; done
sleep 1
for i in $(seq 1 "$N"); do
  for t in $(tools "$i"); do tm attach "$t" t_attach "$t" "$(name_of "$t" s)"; done
  for t in $(tools "$i"); do tm info "$t" t_info "$t" "$(name_of "$t" s)"; done
  for t in $(tools "$i"); do tm ls "$t" t_ls "$t"; done
  for t in $(tools "$i"); do tm ls-f "$t" t_ls "$t" -f; done
done

# ---- 5. clean stop: busybox init halts on SIGUSR1 (lxc.signal.halt) after ~2 s -----------------
echo "bench: clean stop x$STOP_N" >&2
for i in $(seq 1 "$STOP_N"); do
  for t in $(tools "$i"); do
    n=$(name_of "$t" s)
    [ "$i" -gt 1 ] && { quiet t_start "$t" "$n"; sleep 1; }
    tm stop "$t" t_stop "$t" "$n"; quiet settle "$t" "$n"
  done
done

# ---- 6. host memory per running container: the monitor process, and what runs under it ---------
echo "bench: memory with $MEM_N running per tool" >&2
for i in $(seq 1 "$MEM_N"); do
  for t in $(tools "$i"); do
    n=$(name_of "$t" "m$i"); track "$t" "$n"
    quiet t_create "$t" "$n" && quiet t_start "$t" "$n" || echo "bench: create/start $n failed" >&2
  done
done
sleep 3   # let rcS finish (syslogd, getty)
ps -eo pid=,ppid=,args= > "$W/ps"
# smaps KEY PID -> KiB (0 if gone)
smaps() { awk -v k="$1:" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$2/smaps_rollup" 2>/dev/null || echo 0; }
# monitor_pid TOOL NAME: LXC's title is "[lxc monitor] LXCPATH NAME"; lxt's "[lxt monitor] NAME"
# (a path before NAME is accepted too)
monitor_pid() {
  local title; if [ "$1" = lxt ]; then title="[lxt monitor]"; else title="[lxc monitor]"; fi
  awk -v t="$title" -v n="$2" '{ pid = $1; $1 = ""; $2 = ""; sub(/^  /, "")
    if ($0 == t " " n || (index($0, t " ") == 1 && substr($0, length($0) - length(n)) == " " n)) { print pid; exit } }' "$W/ps"
}
# descendants PID: every process below PID (the container's init and its children)
descendants() {
  awk -v root="$1" '{ kids[$2] = kids[$2] " " $1 }
    END { q = root; while (q != "") { split(q, a, " "); q = ""
      for (i in a) { n = split(kids[a[i]], k, " "); for (j = 1; j <= n; j++) { print k[j]; q = q " " k[j] } } } }' "$W/ps"
}
for i in $(seq 1 "$MEM_N"); do
  for t in $(tools 0); do
    n=$(name_of "$t" "m$i"); p=$(monitor_pid "$t" "$n")
    if [ -z "$p" ]; then echo "bench: no monitor found for $n" >&2; continue; fi
    smaps Rss "$p" >> "$W/mon-rss.$t"; smaps Pss "$p" >> "$W/mon-pss.$t"
    sum=0; cnt=0
    for d in $(descendants "$p"); do sum=$((sum + $(smaps Pss "$d"))); cnt=$((cnt + 1)); done
    echo "$sum" >> "$W/payload-pss.$t"; echo "$cnt" >> "$W/payload-procs.$t"
  done
done
for i in $(seq 1 "$MEM_N"); do for t in $(tools "$i"); do quiet t_kill "$t" "$(name_of "$t" "m$i")"; done; done

# ---- 7. networking: start with a veth NIC, iperf3 throughput (bench/net.sh, in its own netns) ---
if [ "${BENCH_NET:-1}" != 0 ] && [ $HAVE_LXT = 1 ]; then
  if command -v iperf3 >/dev/null; then
    echo "bench: networking (bench/net.sh)" >&2
    LXT="${LXT[*]}" "$HERE/net.sh" "$N" > "$W/net.md" || echo "bench: bench/net.sh failed" >&2
  else
    echo "bench: iperf3 not installed (scripts/setup.sh installs it): networking skipped" >&2
  fi
fi

# ---- report ------------------------------------------------------------------------------------
# stats FILE -> "median min max n" (empty when no samples)
stats() {
  [ -s "$1" ] || return 0
  sort -g "$1" | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    print m, a[1], a[NR], NR }'
}
fmt() { awk -v x="$1" 'BEGIN { printf((x >= 100) ? "%.0f" : "%.1f", x) }'; }
cell() {  # cell FILE UNIT -> "12.3 ms (10.1–15.0)"
  local s; s=$(stats "$1"); [ -n "$s" ] || { echo "n/a"; return; }
  set -- $s "$2"; echo "$(fmt "$1") $5 ($(fmt "$2")–$(fmt "$3"))"
}
med() { local s; s=$(stats "$1"); echo "${s%% *}"; }
num() { local s; s=$(stats "$1"); [ -n "$s" ] && echo "$s" | cut -d' ' -f4 || echo 0; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b }' || echo "–"; }
NODE_MS=$(med "$W/node.node")
# verdict RATIO: a target is met when the ratio is ≤ 1
verdict() {
  case $1 in
    '' | –) ;;
    *) if awk -v r="$1" 'BEGIN { exit !(r <= 1) }'; then echo " ✅"; else echo " ❌"; fi ;;
  esac
}

report() {
  echo "Run: $(date -u '+%Y-%m-%d %H:%M UTC'), N=$N ($STOP_N for clean stop, $MEM_N containers for memory)," \
    "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at the end."
  echo "Versions: lxt \`$([ $HAVE_LXT = 1 ] && { lxt --version 2>/dev/null | head -1 || echo '?'; } || echo 'not found')\`," \
    "LXC $(lxc-start --version 2>/dev/null), node $(node --version), kernel $(uname -r)."
  [ $HAVE_LXT = 1 ] || echo "**lxt was not found (\`${LXT[*]}\`): LXC figures only.**"
  echo
  echo "| operation | lxt | LXC | n (lxt/LXC) | lxt/LXC | (lxt − node)/LXC |"
  echo "|---|---|---|---|---|---|"
  local op label a b r less
  while IFS='|' read -r op label; do
    a=$(med "$W/$op.lxt"); b=$(med "$W/$op.lxc"); r=$(ratio "$a" "$b"); less="–"
    case $op in start|attach)
      [ -n "$a" ] && [ -n "$NODE_MS" ] && less=$(ratio "$(awk -v a="$a" -v n="$NODE_MS" 'BEGIN { print a - n }')" "$b")
      less="$less$(verdict "$less")";;
    esac
    echo "| $label | $(cell "$W/$op.lxt" ms) | $(cell "$W/$op.lxc" ms) | $(num "$W/$op.lxt")/$(num "$W/$op.lxc") | ${r:-–} | $less |"
  done <<'OPS'
create|create -t busybox
destroy|destroy (stopped)
start|start → RUNNING
kill|stop -k
stop|stop (clean, SIGUSR1)
attach|attach -- true
info|info
ls|ls
ls-f|ls -f (1 running)
OPS
  echo "| node -e 0 | $(cell "$W/node.node" ms) | | $(num "$W/node.node") | | |"
  echo
  echo "Memory per running container, $MEM_N running per tool (KiB, median and min–max):"
  echo
  echo "| per container | lxt | LXC | lxt/LXC |"
  echo "|---|---|---|---|"
  r=$(ratio "$(med "$W/mon-rss.lxt")" "$(med "$W/mon-rss.lxc")")
  echo "| monitor RSS | $(cell "$W/mon-rss.lxt" KiB) | $(cell "$W/mon-rss.lxc" KiB) | ${r:-–}$(verdict "$r") |"
  r=$(ratio "$(med "$W/mon-pss.lxt")" "$(med "$W/mon-pss.lxc")")
  echo "| monitor PSS | $(cell "$W/mon-pss.lxt" KiB) | $(cell "$W/mon-pss.lxc" KiB) | ${r:-–} |"
  r=$(ratio "$(med "$W/payload-pss.lxt")" "$(med "$W/payload-pss.lxc")")
  echo "| payload PSS (processes below the monitor) | $(cell "$W/payload-pss.lxt" KiB) | $(cell "$W/payload-pss.lxc" KiB) | ${r:-–} |"
  a=$(med "$W/payload-procs.lxt"); b=$(med "$W/payload-procs.lxc")
  echo "| payload processes | ${a:-n/a} | ${b:-n/a} | |"
  if [ -s "$W/net.md" ]; then echo; cat "$W/net.md"; fi
}
report > "$W/report.md"
cat "$W/report.md"

if [ "${BENCH_NO_WRITE:-0}" != 1 ]; then
  R=$HERE/RESULTS.md
  if grep -q '^<!-- bench:begin -->$' "$R" 2>/dev/null && grep -q '^<!-- bench:end -->$' "$R"; then
    awk -v f="$W/report.md" '
      /^<!-- bench:begin -->$/ { print; while ((getline l < f) > 0) print l; skip = 1; next }
      /^<!-- bench:end -->$/ { skip = 0 }
      !skip' "$R" > "$W/RESULTS.md" && cat "$W/RESULTS.md" > "$R"
  else
    { echo; echo "<!-- bench:begin -->"; cat "$W/report.md"; echo "<!-- bench:end -->"; } >> "$R"
  fi
  echo "bench: results written to $R" >&2
fi
