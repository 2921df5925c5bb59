#!/bin/bash
# lxt vs LXC on busybox containers, side by side: every figure is taken in the same run, the two
# tools (and, for the latency rows, a bare `node -e 0`) interleaved, then printed as markdown
# tables of medians with ratios and written into bench/RESULTS.md between the
# `bench:begin`/`bench:end` markers.
#
# Usage: bench/run.sh [N]        N iterations per latency figure (default 10)
# Env:   LXT=CMD                 the lxt command, may hold words ("node dist/lxt.cjs"); default lxt
#        BENCH_MEM_N=M           containers per tool kept running for the memory figures (default 10)
#        BENCH_STOP_N=S          iterations of the ~2 s clean stop (default 3)
#        BENCH_SEQ_N=Q           containers per tool for the sequential starts/stops (default 100)
#        BENCH_SEQ_ROUNDS=R      rounds of those (default 2)
#        BENCH_NO_WRITE=1        print only, leave RESULTS.md alone
#        BENCH_NET=0             skip the networking figures (bench/net.sh; BENCH_NET_SECS/RUNS)
# Root only. Uses private state roots under /var/tmp and removes everything on exit.
# Network: in sections 1-7 LXC containers get lxc.net.0.type = empty (config and `-s` at start)
# and lxt's are created with --network empty; section 8 (bench/net.sh) runs in a network
# namespace of its own with a bridge it makes. Nothing leaves the host.
#
# A sample counts only when its command exited 0 and a check afterwards (outside the timing)
# shows it did what its row names: the state reached, the output expected, memory read from a
# process that still existed. A verdict (✅/❌) is given only when every figure it compares has
# all its samples.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH_TAG=bench
. "$HERE/lib.sh"
N=${1:-10}
MEM_N=${BENCH_MEM_N:-10}
STOP_N=${BENCH_STOP_N:-3}
SEQ_N=${BENCH_SEQ_N:-100}
SEQ_ROUNDS=${BENCH_SEQ_ROUNDS:-2}

bench_positive "$N" "usage: bench/run.sh [N]  (N a positive integer, got '$N')"
for v in "$MEM_N" "$STOP_N" "$SEQ_N" "$SEQ_ROUNDS"; do
  bench_positive "$v" "BENCH_MEM_N, BENCH_STOP_N, BENCH_SEQ_N and BENCH_SEQ_ROUNDS must be positive integers"
done
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
# t_clone TOOL SRC DST: a copy of a stopped container (LXC: a copy of its directory with the
# name and rootfs path rewritten; lxc-copy of a dir container needs rsync)
t_clone() {
  if [ "$1" = lxt ]; then lxt copy -n "$2" -N "$3"; return; fi
  local s=$LXCP/$2 d=$LXCP/$3
  cp -a "$s" "$d" && sed -i -e "s#^lxc.rootfs.path = dir:$s/rootfs\$#lxc.rootfs.path = dir:$d/rootfs#" \
    -e "s#^lxc.uts.name = .*#lxc.uts.name = $3#" "$d/config" && grep -q "^lxc.rootfs.path = dir:$d/rootfs\$" "$d/config"
}
name_of()   { if [ "$1" = lxt ]; then echo "lxtbench-$2"; else echo "lxcbench-$2"; fi; }
# state_of TOOL NAME: RUNNING, STOPPED, ... as the tool itself reports it
state_of()  {
  if [ "$1" = lxt ]; then lxt info -n "$2" -s 2>/dev/null; else lxc-info -P "$LXCP" -n "$2" -s 2>/dev/null; fi |
    awk '$1 == "State:" { print $2 }'
}
# wait until stopped (after a clean stop, outside the timing)
settle()    { if [ "$1" = lxt ]; then lxt stop -n "$2" -k >/dev/null 2>&1; else lxc-wait -P "$LXCP" -n "$2" -s STOPPED -t 10; fi; }

# ---- checks, run after a sample's command exited 0: did it do what the row names? --------------
is_state() { local s; s=$(state_of "$1" "$2"); [ "$s" = "$3" ] || { WHY="state $2 is ${s:-unknown}, not $3"; return 1; }; }
# out_has ERE: the command's output ($W/out) has a line matching ERE
out_has()  { grep -Eq "$1" "$W/out" || { WHY="its output has no line matching '$1'"; return 1; }; }
is_gone()  { if [ "$1" = lxt ]; then [ ! -e "$LXTP/$2" ]; else [ ! -e "$LXCP/$2" ]; fi || { WHY="$2 still exists"; return 1; }; }

# sample OP TOOL CHECK CMD...: time CMD with $EPOCHREALTIME (no fork for the clock), its output
# kept in $W/out; the ms go to $W/OP.TOOL only when CMD exits 0 and CHECK (a command line, words
# split, or "-") then succeeds. Anything else is reported and left out: the n column shows it.
sample() {
  local op=$1 tool=$2 check=$3 s e rc cmd; shift 3
  [ "$tool" = lxt ] && [ $HAVE_LXT = 0 ] && return 1
  cmd="$*"
  s=$EPOCHREALTIME; "$@" >"$W/out" 2>"$W/last.err"; rc=$?; e=$EPOCHREALTIME
  if [ $rc -ne 0 ]; then
    echo "bench: $op/$tool failed (rc=$rc): $* :: $(head -c 300 "$W/last.err" | tr '\n' ' ')" >&2
    return $rc
  fi
  WHY=""
  # CHECK is a command line of plain words, split but not globbed (an ERE has brackets)
  set -f; set -- $check; set +f
  if [ "$1" != - ] && ! "$@"; then
    echo "bench: $op/$tool left out: exit 0 but $WHY: $cmd" >&2
    return 1
  fi
  s=${s/./}; e=${e/./}
  printf '%d.%03d\n' $(((e - s) / 1000)) $(((e - s) % 1000)) >> "$W/$op.$tool"
}
# order I: "lxt lxc" on even i, "lxc lxt" on odd, so neither always goes first
order() { if (( $1 % 2 )); then echo "lxc lxt"; else echo "lxt lxc"; fi; }
# trio I: lxt, LXC and node -e 0 in one of three rotations
trio() { case $(($1 % 3)) in 0) echo "lxt lxc node" ;; 1) echo "lxc node lxt" ;; *) echo "node lxt lxc" ;; esac; }

trap bench_cleanup EXIT
trap 'exit 130' INT TERM

printf 'lxc.net.0.type = empty\n' > "$W/lxc.conf"   # lxc-create -f: replaces default.conf's veth

# register NAME for cleanup before creating it
track() { if [ "$1" = lxt ]; then LXT_NAMES+=("$2"); else LXC_NAMES+=("$2"); fi; }
tools() { if [ $HAVE_LXT = 1 ]; then order "$1"; else echo lxc; fi; }
tools3() { local t; for t in $(trio "$1"); do [ "$t" = lxt ] && [ $HAVE_LXT = 0 ] && continue; echo "$t"; done; }
# node_or OP TOOL CHECK CMD...: the node -e 0 sample for OP when TOOL is node, else CMD
node_or() { local op=$1 t=$2; shift 2; if [ "$t" = node ]; then sample "$op" node - node -e 0; else sample "$op" "$t" "$@"; fi; }

echo "bench: N=$N, state roots $LXTP (lxt) and $LXCP (LXC)" >&2

# ---- 1. create and destroy ---------------------------------------------------------------------
echo "bench: create/destroy" >&2
for i in $(seq 1 "$N"); do
  for t in $(tools "$i"); do
    n=$(name_of "$t" "c$i"); track "$t" "$n"; sample create "$t" "is_state $t $n STOPPED" t_create "$t" "$n"
  done
done
for i in $(seq 1 "$N"); do
  for t in $(tools "$i"); do n=$(name_of "$t" "c$i"); sample destroy "$t" "is_gone $t $n" t_destroy "$t" "$n"; done
done

# ---- 2. start → RUNNING and stop -k, with idle gaps so every start pays the same cgroup costs --
echo "bench: start / stop -k / attach / info / ls" >&2
for t in $(tools 0); do
  n=$(name_of "$t" s); track "$t" "$n"; quiet t_create "$t" "$n" || echo "bench: create $n failed" >&2
done
for i in $(seq 1 "$N"); do
  for t in $(tools3 "$i"); do
    n=$(name_of "$t" s); node_or start "$t" "is_state $t $n RUNNING" t_start "$t" "$n"; sleep 0.3
  done
  sleep 0.5
  for t in $(tools3 "$i"); do
    n=$(name_of "$t" s); node_or kill "$t" "is_state $t $n STOPPED" t_kill "$t" "$n"
    [ "$t" = node ] || quiet settle "$t" "$n"; sleep 0.3
  done
done

# ---- 3. commands against one running container each -------------------------------------------
for t in $(tools 0); do quiet t_start "$t" "$(name_of "$t" s)"; done
sleep 1
for i in $(seq 1 "$N"); do
  for t in $(tools3 "$i"); do n=$(name_of "$t" s); node_or attach "$t" - t_attach "$t" "$n"; done
  for t in $(tools3 "$i"); do n=$(name_of "$t" s); node_or info "$t" "out_has ^State:[[:space:]]+RUNNING$" t_info "$t" "$n"; done
  for t in $(tools3 "$i"); do n=$(name_of "$t" s); node_or ls "$t" "out_has (^|[[:space:]])$n([[:space:]]|$)" t_ls "$t"; done
  for t in $(tools3 "$i"); do n=$(name_of "$t" s); node_or ls-f "$t" "out_has ^$n[[:space:]]+RUNNING" t_ls "$t" -f; done
done

# ---- 4. clean stop: busybox init halts on SIGUSR1 (lxc.signal.halt) after ~2 s -----------------
echo "bench: clean stop x$STOP_N" >&2
for i in $(seq 1 "$STOP_N"); do
  for t in $(tools "$i"); do
    n=$(name_of "$t" s)
    [ "$i" -gt 1 ] && { quiet t_start "$t" "$n"; sleep 1; }
    sample stop "$t" "is_state $t $n STOPPED" t_stop "$t" "$n"; quiet settle "$t" "$n"
  done
done

# ---- 5. host memory per running container: the monitor process, and what runs under it ---------
echo "bench: memory with $MEM_N running per tool" >&2
for i in $(seq 1 "$MEM_N"); do
  for t in $(tools "$i"); do
    n=$(name_of "$t" "m$i"); track "$t" "$n"
    quiet t_create "$t" "$n" && quiet t_start "$t" "$n" || echo "bench: create/start $n failed" >&2
  done
done
sleep 3   # let rcS finish (syslogd, getty)
ps -eo pid=,ppid=,args= > "$W/ps"
# start_time PID: when the process started (field 22 of /proc/PID/stat; the name in field 2 may
# hold spaces, so count after its closing parenthesis); nothing when it does not exist
start_time() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $20 }'; }
# smaps PID: "RSS PSS" in KiB, read from /proc/PID/smaps_rollup of a process that exists before
# and after the read with the same start time (a pid reused in between is another process);
# nothing (and a non-zero status) otherwise
smaps() {
  local t0 t1 v
  t0=$(start_time "$1"); [ -n "$t0" ] || return 1
  v=$(awk '$1 == "Rss:" { r = $2 } $1 == "Pss:" { p = $2 } END { if (r != "" && p != "") print r, p }' \
    "/proc/$1/smaps_rollup" 2>/dev/null)
  t1=$(start_time "$1")
  [ -n "$v" ] && [ "$t0" = "$t1" ] && echo "$v"
}
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
    if ! m=$(smaps "$p"); then echo "bench: monitor of $n (pid $p) gone before its memory was read" >&2; continue; fi
    echo "${m% *}" >> "$W/mon-rss.$t"; echo "${m#* }" >> "$W/mon-pss.$t"
    sum=0; cnt=0; whole=1
    for d in $(descendants "$p"); do
      if ! m=$(smaps "$d"); then whole=0; break; fi
      sum=$((sum + ${m#* })); cnt=$((cnt + 1))
    done
    if [ $whole = 1 ]; then
      echo "$sum" >> "$W/payload-pss.$t"; echo "$cnt" >> "$W/payload-procs.$t"
    else
      echo "bench: a process below $n's monitor ended during the read; its payload left out" >&2
    fi
  done
done
for i in $(seq 1 "$MEM_N"); do for t in $(tools "$i"); do quiet t_kill "$t" "$(name_of "$t" "m$i")"; done; done

# ---- 6. SEQ_N sequential starts and stops -k: one command per container, or one for all --------
# Copies of the `s` containers; one tool at a time (their SEQ_N containers all running), the
# modes' order rotating per round. LXC's start is lxc-start -d + lxc-wait, as in section 2.
echo "bench: $SEQ_N sequential starts and stops, $SEQ_ROUNDS rounds" >&2
SEQ_LXT=() SEQ_LXC=()
for i in $(seq 1 "$SEQ_N"); do
  for t in $(tools "$i"); do
    n=$(name_of "$t" "q$i"); track "$t" "$n"
    if quiet t_clone "$t" "$(name_of "$t" s)" "$n"; then
      if [ "$t" = lxt ]; then SEQ_LXT+=("$n"); else SEQ_LXC+=("$n"); fi
    else
      echo "bench: copy $n failed" >&2
    fi
  done
done
# running TOOL: how many of its SEQ containers are running, as the tool lists them
running() {
  if [ "$1" = lxt ]; then lxt ls --running; else lxc-ls -P "$LXCP" -1 --running; fi 2>/dev/null | grep -c '^l[a-z]*bench-q'
}
# seq_run MODE start|kill: all SEQ containers of MODE's tool, one after the other; the seconds go
# to $W/seq-VERB.MODE when every command exited 0 and all SEQ_N then are RUNNING / none is
seq_run() {
  local mode=$1 verb=$2 tool=${1%bulk} s e fails=0 n want
  local -a names
  if [ "$tool" = lxt ]; then names=("${SEQ_LXT[@]}"); else names=("${SEQ_LXC[@]}"); fi
  [ "${#names[@]}" = "$SEQ_N" ] || return 1
  s=$EPOCHREALTIME
  case $mode/$verb in
    lxc/start) for n in "${names[@]}"; do
        lxc-start -P "$LXCP" -n "$n" -d -s lxc.net.0.type=empty && lxc-wait -P "$LXCP" -n "$n" -s RUNNING -t 10 || fails=$((fails + 1))
      done ;;
    lxc/kill) for n in "${names[@]}"; do lxc-stop -P "$LXCP" -n "$n" -k || fails=$((fails + 1)); done ;;
    lxt/start) for n in "${names[@]}"; do lxt start -n "$n" || fails=$((fails + 1)); done ;;
    lxt/kill) for n in "${names[@]}"; do lxt stop -k -n "$n" || fails=$((fails + 1)); done ;;
    lxtbulk/start) lxt start "${names[@]}" || fails=$((fails + 1)) ;;
    lxtbulk/kill) lxt stop -k "${names[@]}" || fails=$((fails + 1)) ;;
  esac >/dev/null 2>>"$W/seq.err"
  e=$EPOCHREALTIME
  if [ "$verb" = start ]; then want=$SEQ_N; else want=0; fi
  n=$(running "$tool")
  if [ $fails -gt 0 ] || [ "$n" != "$want" ]; then
    echo "bench: $SEQ_N x $verb ($mode) left out: $fails failed, $n running after (want $want): $(tail -c 300 "$W/seq.err" | tr '\n' ' ')" >&2
    return 1
  fi
  s=${s/./}; e=${e/./}
  printf '%d.%03d\n' $(((e - s) / 1000000)) $(((e - s) / 1000 % 1000)) >> "$W/seq-$verb.$mode"
}
SEQ_MODES="lxc"; [ $HAVE_LXT = 1 ] && SEQ_MODES="lxc lxt lxtbulk"
# warm-up, untimed: the first start of a container does once-only work (its id map slice)
for m in $SEQ_MODES; do
  [ "$m" = lxt ] && continue
  seq_run "$m" start >/dev/null 2>&1; seq_run "$m" kill >/dev/null 2>&1
done
rm -f "$W"/seq-*
for r in $(seq 1 "$SEQ_ROUNDS"); do
  modes=$(echo $SEQ_MODES | awk -v r="$r" '{ for (i = 0; i < NF; i++) printf "%s ", $(((i + r) % NF) + 1) }')
  for m in $modes; do seq_run "$m" start; sleep 1; seq_run "$m" kill; sleep 1; done
done

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
report() {
  local op label target a b c n r less node_ms
  cat "$W"/*.node > "$W/all-node" 2>/dev/null
  echo "Run: $(date -u '+%Y-%m-%d %H:%M UTC'), N=$N ($STOP_N for clean stop, $MEM_N containers for memory," \
    "$SEQ_N for the sequential figures), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at the end;" \
    "\`node -e 0\` took $(bench_cell "$W/all-node" ms) over all its $(bench_num "$W/all-node") samples."
  echo "Versions: lxt \`$([ $HAVE_LXT = 1 ] && { lxt --version 2>/dev/null | head -1 || echo '?'; } || echo 'not found')\`," \
    "LXC $(lxc-start --version 2>/dev/null), node $(node --version), kernel $(uname -r)."
  [ $HAVE_LXT = 1 ] || echo "**lxt was not found (\`${LXT[*]}\`): LXC figures only.**"
  echo
  echo "| operation | lxt | node -e 0 | LXC | n (lxt/node/LXC) | lxt/LXC | (lxt − node)/LXC |"
  echo "|---|---|---|---|---|---|---|"
  while IFS='|' read -r op label target; do
    a=$(bench_med "$W/$op.lxt"); b=$(bench_med "$W/$op.lxc"); node_ms=$(bench_med "$W/$op.node")
    r=$(bench_ratio "$a" "$b"); less="–"
    if [ -n "$node_ms" ] && [ -n "$a" ]; then
      less=$(bench_ratio "$(awk -v a="$a" -v n="$node_ms" 'BEGIN { print a - n }')" "$b")
      [ "$target" = 1 ] && less="$less$(bench_verdict "$less" le 1 "$N" "$W/$op.lxt" "$W/$op.node" "$W/$op.lxc")"
    fi
    c=$([ -s "$W/$op.node" ] && bench_cell "$W/$op.node" ms || echo "–")
    n="$(bench_num "$W/$op.lxt")/$([ -s "$W/$op.node" ] && bench_num "$W/$op.node" || echo –)/$(bench_num "$W/$op.lxc")"
    echo "| $label | $(bench_cell "$W/$op.lxt" ms) | $c | $(bench_cell "$W/$op.lxc" ms) | $n | $r | $less |"
  done <<'OPS'
create|create -t busybox|0
destroy|destroy (stopped)|0
start|start → RUNNING|1
kill|stop -k|1
stop|stop (clean, SIGUSR1)|0
attach|attach -- true|1
info|info|1
ls|ls|1
ls-f|ls -f (1 running)|0
OPS
  echo
  echo "$SEQ_N sequential starts and stops -k, one tool at a time, $SEQ_ROUNDS rounds (seconds, median and min–max of rounds):"
  echo
  echo "| $SEQ_N in a row | lxt | LXC | rounds (lxt/LXC) | lxt/LXC (target ≤ 3) |"
  echo "|---|---|---|---|---|"
  for v in start kill; do
    for m in lxt lxtbulk; do
      if [ $v = start ]; then label="starts"; else label="stop -k"; fi
      if [ $m = lxt ]; then label="$label, one \`lxt\` command per container"; else label="$label, one \`lxt\` command for all $SEQ_N"; fi
      r=$(bench_ratio "$(bench_med "$W/seq-$v.$m")" "$(bench_med "$W/seq-$v.lxc")")
      echo "| $label | $(bench_cell "$W/seq-$v.$m" s) | $(bench_cell "$W/seq-$v.lxc" s) |" \
        "$(bench_num "$W/seq-$v.$m")/$(bench_num "$W/seq-$v.lxc") | $r$(bench_verdict "$r" le 3 "$SEQ_ROUNDS" "$W/seq-$v.$m" "$W/seq-$v.lxc") |"
    done
  done
  echo
  echo "Memory per running container, $MEM_N running per tool (KiB, median and min–max):"
  echo
  echo "| per container | lxt | LXC | n (lxt/LXC) | lxt/LXC |"
  echo "|---|---|---|---|---|"
  r=$(bench_ratio "$(bench_med "$W/mon-rss.lxt")" "$(bench_med "$W/mon-rss.lxc")")
  echo "| monitor RSS | $(bench_cell "$W/mon-rss.lxt" KiB) | $(bench_cell "$W/mon-rss.lxc" KiB) |" \
    "$(bench_num "$W/mon-rss.lxt")/$(bench_num "$W/mon-rss.lxc") | $r$(bench_verdict "$r" le 1 "$MEM_N" "$W/mon-rss.lxt" "$W/mon-rss.lxc") |"
  r=$(bench_ratio "$(bench_med "$W/mon-pss.lxt")" "$(bench_med "$W/mon-pss.lxc")")
  echo "| monitor PSS | $(bench_cell "$W/mon-pss.lxt" KiB) | $(bench_cell "$W/mon-pss.lxc" KiB) | $(bench_num "$W/mon-pss.lxt")/$(bench_num "$W/mon-pss.lxc") | $r |"
  r=$(bench_ratio "$(bench_med "$W/payload-pss.lxt")" "$(bench_med "$W/payload-pss.lxc")")
  echo "| payload PSS (processes below the monitor) | $(bench_cell "$W/payload-pss.lxt" KiB) | $(bench_cell "$W/payload-pss.lxc" KiB) |" \
    "$(bench_num "$W/payload-pss.lxt")/$(bench_num "$W/payload-pss.lxc") | $r |"
  a=$(bench_med "$W/payload-procs.lxt"); b=$(bench_med "$W/payload-procs.lxc")
  echo "| payload processes | ${a:-n/a} | ${b:-n/a} | | |"
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
