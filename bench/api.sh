#!/bin/bash
# lxtd (the LXD API over lxt) against LXC's own tools, side by side in one run, busybox containers
# with no network. Requests go only to lxtd's unix socket, from one Node process
# (bench/api-client.mjs) so that no client start-up is counted.
#
#   start:  PUT /1.0/instances/NAME/state {start} → operation Success (wait)   vs lxc-start -d + lxc-wait RUNNING
#   list:   GET /1.0/instances?recursion=2 with M running                      vs lxc-ls -f with M running
#           (the first, cold sample apart; warm samples alternated when both tools' M can run at once)
#   bulk:   N created and started through the API (CONC clients at once)       vs lxc-create + lxc-start -d, CONC at once
#           with the CPU of each (lxtd, its monitors and the containers' cgroups vs LXC's tools,
#           monitors and containers) and the delete of the N
#   RSS:    lxtd's VmRSS after each bulk
#   exec:   POST /1.0/instances/NAME/exec `true` (no websockets) → operation Success, return 0
#           vs lxc-attach -- true, in one running container per tool
#
# Usage: bench/api.sh [N]       N start samples per tool (default 10)
# Env:   BENCH_API_BULK="100 200"   bulk sizes (each also the M of the list figure; default "100 200")
#        BENCH_API_CONC=8          clients at once for the bulk, and LXC's tools at once (default 8)
#        BENCH_API_INODE_PAUSE=90  seconds between one tool's bulk delete and the next bulk
#        BENCH_API_LIST=10         list samples per tool and size (default 10)
#        BENCH_API_POOL=2          lxtd's --helper-pool (monitors and lock helpers made ahead of demand; 0: none)
#        BENCH_API_SHARED=1        lxtd's --shared-busybox (instances over one shared busybox tree; 0: a tree each)
#        BENCH_NO_WRITE=1          print only, leave RESULTS.md alone
#        LXTD=CMD                  the daemon (default: bin/lxtd of this checkout)
# Root only. Private state roots under /var/tmp, all removed on exit. Start phases: the daemon
# runs with LXTD_PHASES (src/cli/lxtd.ts) and the table "where the API start's time goes" is
# made from its marks and the client's clock (one request at a time, so marks do not interleave).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH_TAG=bench/api
. "$HERE/lib.sh"
N=${1:-10}
bench_positive "$N" "usage: bench/api.sh [N]  (N a positive integer, got '$N')"
read -r -a BULK <<< "${BENCH_API_BULK:-100 200}"
CONC=${BENCH_API_CONC:-8}
LISTN=${BENCH_API_LIST:-10}
POOL=${BENCH_API_POOL:-2}
SHARED=()
[ "${BENCH_API_SHARED:-1}" = 1 ] && SHARED=(--shared-busybox)
for v in "${BULK[@]}" "$CONC" "$LISTN"; do bench_positive "$v" "BENCH_API_* must be positive integers"; done
[[ "$POOL" =~ ^[0-9]+$ ]] || die "BENCH_API_POOL must be a whole number, got '$POOL'"
bench_need_root
bench_need lxc-create lxc-start lxc-wait lxc-stop lxc-ls lxc-destroy node
read -r -a LXTD <<< "${LXTD:-$HERE/../bin/lxtd}"
CLIENT=(node "$HERE/api-client.mjs")

LXTP=$(mktemp -d /var/tmp/lxtapibench.XXXXXX)
LXCP=$(mktemp -d /var/tmp/lxcapibench.XXXXXX)
W=$(mktemp -d /var/tmp/apibench-work.XXXXXX)
export LXT_PATH=$LXTP
SOCK=$LXTP/.lxtd/unix.socket
LXT_NAMES=() LXC_NAMES=()
DPID=""
api_cleanup() {
  trap - EXIT INT TERM
  if [ -S "$SOCK" ] && [ ${#LXT_NAMES[@]} -gt 0 ]; then
    "${CLIENT[@]}" "$SOCK" delete "${LXT_NAMES[@]}" 2>/dev/null
  fi
  [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
  bench_cleanup
}
trap api_cleanup EXIT
trap 'exit 130' INT TERM

# The default profile without a NIC (no network is made), as the tests' sandbox writes it.
mkdir -p "$LXTP/.lxtd/profiles"
printf 'description: bench, no NIC\nconfig: {}\ndevices:\n  root:\n    path: /\n    pool: default\n    type: disk\n' \
  > "$LXTP/.lxtd/profiles/default.yaml"
LXTD_PHASES=$W/phases "${LXTD[@]}" --foreground -P "$LXTP" --helper-pool "$POOL" "${SHARED[@]}" > "$W/lxtd.out" 2> "$W/lxtd.err" &
DPID=$!
for _ in $(seq 1 100); do grep -q "listening" "$W/lxtd.out" 2>/dev/null && break; sleep 0.05; done
grep -q "listening" "$W/lxtd.out" || die "lxtd did not start: $(head -c 500 "$W/lxtd.err")"
printf 'lxc.net.0.type = empty\n' > "$W/lxc.conf"

lxc_running() { [ "$(lxc-info -P "$LXCP" -n "$1" -s 2>/dev/null | awk '{ print $2 }')" = RUNNING ]; }

# ---- 1. start latency: one container per tool, started and stopped N times, interleaved -------
A=lxtapibench-a B=lxcapibench-a
LXT_NAMES+=("$A") LXC_NAMES+=("$B")
lxt create -n "$A" -t busybox --network empty >/dev/null || die "create $A failed"
lxc-create -P "$LXCP" -n "$B" -t busybox -f "$W/lxc.conf" >/dev/null 2>&1 || die "lxc-create $B failed"
# Warm-up (the first start's once-only work: id map slice, idmapped-mount probe).
"${CLIENT[@]}" "$SOCK" start "$A" >/dev/null && "${CLIENT[@]}" "$SOCK" stop "$A" >/dev/null
: > "$W/phases"
echo "bench/api: $N start samples per tool" >&2
for i in $(seq 1 "$N"); do
  "${CLIENT[@]}" "$SOCK" start "$A" >> "$W/api-start.raw"
  "${CLIENT[@]}" "$SOCK" stop "$A" >/dev/null
  s=$EPOCHREALTIME
  if lxc-start -P "$LXCP" -n "$B" -d -s lxc.net.0.type=empty && lxc-wait -P "$LXCP" -n "$B" -s RUNNING -t 10; then
    e=$EPOCHREALTIME
    lxc_running "$B" && awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", (e - s) * 1000 }' >> "$W/lxc-start"
  else
    warn "lxc-start $B failed"
  fi
  lxc-stop -P "$LXCP" -n "$B" -k >/dev/null 2>&1
done
sleep 1.2   # the daemon flushes its phase marks each second
awk '$1 == "start" { printf "%.3f\n", $5 - $3 }' "$W/api-start.raw" > "$W/api-start"

# Where the API start's time goes: client marks (request sent, 202 received, wait answered) and
# the daemon's marks between them, each phase's median gap to the one before.
# phase_table RAW TAG: the samples are RAW's lines `TAG X T0 T1 T2` (start and exec both).
phase_table() {
  awk -v tag="$2" '
    FNR == NR { if ($1 == tag) { n++; t0[n] = $3; t1[n] = $4; t2[n] = $5 } next }
    $1 == "lxt-phase" { name = $3; for (k = 4; k <= NF; k++) name = name " " $k; pt[++m] = $2; pn[m] = name }
    function add(k, v) { if (!(k in seen)) { seen[k] = ++np; order[np] = k } val[k, ++cnt[k]] = v }
    function med(k,   i, j, a, t, c) {
      c = cnt[k]; for (i = 1; i <= c; i++) a[i] = val[k, i]
      for (i = 2; i <= c; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return (c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
    }
    END {
      for (r = 1; r <= n; r++) {
        last = t0[r]; accepted = 0
        for (i = 1; i <= m; i++) {
          if (pt[i] < t0[r] || pt[i] > t2[r]) continue
          if (!accepted && pt[i] > t1[r]) { add("client: 202 received", t1[r] - last); last = t1[r]; accepted = 1 }
          k = pn[i]; if (++rep[r, k] > 1) k = k " #" rep[r, k]   # a phase passed again (a second lock)
          add(k, pt[i] - last); last = pt[i]
        }
        if (!accepted) { add("client: 202 received", t1[r] - last); last = t1[r] }
        add("client: wait answered (Success)", t2[r] - last)
        add("**total: request → Success**", t2[r] - t0[r])
      }
      print "| phase (ms after the one before; daemon marks between the client'"'"'s) | median |"
      print "|---|---|"
      for (k = 1; k <= np; k++) printf "| %s | %.2f |\n", order[k], med(order[k])
      printf "| n | %d |\n", n
    }' "$1" "$W/phases"
}

# ---- 2. bulk create+start, RSS, and list with M running ----------------------------------------
bench_exec() {
  echo "bench/api: $N exec samples per tool" >&2
  "${CLIENT[@]}" "$SOCK" start "$A" >/dev/null || { warn "exec: start $A failed"; return; }
  lxc-start -P "$LXCP" -n "$B" -d -s lxc.net.0.type=empty && lxc-wait -P "$LXCP" -n "$B" -s RUNNING -t 10 ||
    { warn "exec: lxc-start $B failed"; return; }
  # Warm-up: each tool's first attach.
  "${CLIENT[@]}" "$SOCK" exec "$A" 1 >/dev/null
  lxc-attach -P "$LXCP" -n "$B" -- true
  : > "$W/api-exec" ; : > "$W/api-exec.raw" ; : > "$W/lxc-exec"
  for _ in $(seq 1 "$N"); do
    "${CLIENT[@]}" "$SOCK" exec "$A" 1 | tee -a "$W/api-exec.raw" | awk '$1 == "exec" { print $2 }' >> "$W/api-exec"
    s=$EPOCHREALTIME
    if lxc-attach -P "$LXCP" -n "$B" -- true; then
      e=$EPOCHREALTIME
      awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", (e - s) * 1000 }' >> "$W/lxc-exec"
    else
      warn "lxc-attach $B failed"
    fi
  done
  "${CLIENT[@]}" "$SOCK" stop "$A" >/dev/null
  lxc-stop -P "$LXCP" -n "$B" -k >/dev/null 2>&1
  sleep 1.2   # the daemon flushes its phase marks each second
}
bench_exec

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# CPU of processes, in ms: `proc_ms PID...` = utime + stime + reaped children's, of each PID.
proc_ms() {
  local p t=0 tck
  tck=$(getconf CLK_TCK)
  for p in "$@"; do
    t=$((t + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo $((t * 1000 / tck))
}
# lxtd's CPU with its living children (the monitors: theirs comes back to lxtd only when reaped).
lxtd_ms() { proc_ms "$DPID" $(cat /proc/"$DPID"/task/*/children 2>/dev/null); }
# LXC's monitors of this run's lxcpath (daemonized by lxc-start -d: no one reaps them here).
lxc_monitors_ms() { proc_ms $(pgrep -f "^\[lxc monitor\] $LXCP " 2>/dev/null); }
# The containers' own CPU (their payload cgroups, cpuacct), in ms: `cg_ms lxt|lxc PREFIX`.
cg_ms() {
  cat /sys/fs/cgroup/cpuacct/"$1".payload."$2"*/cpuacct.usage 2>/dev/null |
    awk '{ t += $1 } END { printf "%.0f", t / 1e6 }'
}
# Host ptys left to devpts instances (each lxt container holds 2 of the host's, LXC's take theirs
# from their own instances, which share kernel.pty.max - kernel.pty.reserve).
pty_free() {
  echo $(($(cat /proc/sys/kernel/pty/max) - $(cat /proc/sys/kernel/pty/reserve) - $(cat /proc/sys/kernel/pty/nr)))
}
# ext4 without a journal (this VM's root) will not reuse an inode freed in the last 60 s (300 s
# while its inode-table block is not yet written back) and looks at each such one when it
# allocates (find_inode_bit → recently_deleted), so a bulk create right after a bulk delete pays
# that scan per inode (~440 per busybox container). Each bulk starts after this pause when the
# other tool's containers were just deleted (writeback comes within ~30 s, then 60 s).
INODE_PAUSE=${BENCH_API_INODE_PAUSE:-90}

# lxc_bulk PREFIX M: M containers created and started by LXC's tools, CONC at once (as the API's
# clients); prints "SECONDS FAILED".
lxc_bulk() {
  local s e fails
  s=$EPOCHREALTIME
  fails=$(seq 0 $(($2 - 1)) | xargs -P "$CONC" -I{} sh -c \
    'lxc-create -P "$1" -n "$2{}" -t busybox -f "$3" >/dev/null 2>&1 && lxc-start -P "$1" -n "$2{}" -d -s lxc.net.0.type=empty || echo fail' \
    sh "$LXCP" "$1" "$W/lxc.conf" | grep -c fail)
  e=$EPOCHREALTIME
  awk -v s="$s" -v e="$e" -v f="$fails" 'BEGIN { printf "%.3f %d\n", e - s, f }'
}
api_list_once() { "${CLIENT[@]}" "$SOCK" list 1 "$1" 2>> "$W/bulk.err" | awk '{ print $2 }'; }
lxc_list_once() {
  local s e out
  s=$EPOCHREALTIME; out=$(lxc-ls -P "$LXCP" -f); e=$EPOCHREALTIME
  [ "$(grep -c "^$2.* RUNNING" <<< "$out")" = "$1" ] && awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", (e - s) * 1000 }'
}

declare -A API_BULK LXC_BULK RSS API_CPU LXC_CPU API_DEL LXC_DEL TOGETHER API_COLD LXC_COLD LOADS
for M in "${BULK[@]}"; do
  echo "bench/api: bulk $M through the API, then $M by LXC's tools ($CONC at once each)" >&2
  names=() lnames=()
  for i in $(seq 0 $((M - 1))); do names+=("lxtapibench-m$M-$i") lnames+=("lxcapibench-m$M-$i"); done
  LXT_NAMES+=("${names[@]}")
  c0=$(lxtd_ms)
  out=$("${CLIENT[@]}" "$SOCK" bulk "lxtapibench-m$M-" "$M" "$CONC" 2>> "$W/bulk.err")
  c1=$(lxtd_ms)
  read -r _ _ secs failed <<< "$out"
  running=$(lxt ls --running 2>/dev/null | grep -c "^lxtapibench-m$M-")
  if [ "${failed:-1}" = 0 ] && [ "$running" = "$M" ]; then API_BULK[$M]=$secs
  else warn "API bulk $M: ${failed:-?} failed, $running running"; API_BULK[$M]=""; fi
  API_CPU[$M]=$((c1 - c0 + $(cg_ms lxt "lxtapibench-m$M-")))
  RSS[$M]=$(rss_kb "$DPID")
  LOADS[$M]="$(cut -d' ' -f1 /proc/loadavg)"
  : > "$W/api-list-$M"; : > "$W/lxc-list-$M"
  # Both tools' M running at once when the host's ptys allow: the list samples are interleaved.
  if [ "$(pty_free)" -gt $((2 * M + 256)) ]; then TOGETHER[$M]=1; else TOGETHER[$M]=0; fi
  api_delete() {
    local s e d0 d1
    d0=$(lxtd_ms); s=$EPOCHREALTIME
    "${CLIENT[@]}" "$SOCK" delete "${names[@]}" 2>/dev/null
    e=$EPOCHREALTIME; d1=$(lxtd_ms)
    API_DEL[$M]="$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.1f", e - s }') s, lxtd $((d1 - d0)) ms CPU"
    LXT_NAMES=("$A")
  }
  if [ "${TOGETHER[$M]}" = 0 ]; then
    API_COLD[$M]=$(api_list_once "$M")
    for _ in $(seq 1 "$LISTN"); do api_list_once "$M" >> "$W/api-list-$M"; done
    # Gone before LXC's bulk: 1000 of ours hold ~2000 of the host's ptys, and LXC's containers
    # take theirs from kernel.pty.max - kernel.pty.reserve (at 1000 they failed to start).
    api_delete
    sleep "$INODE_PAUSE"
  fi
  LXC_NAMES+=("${lnames[@]}")
  t0=$(lxc_monitors_ms)
  read -r lsecs lfails < <(/usr/bin/time -f "%U %S" -o "$W/lxc-time" bash -c "$(declare -f lxc_bulk); CONC=$CONC LXCP=$LXCP W=$W; lxc_bulk lxcapibench-m$M- $M")
  lrunning=$(lxc-ls -P "$LXCP" -1 --running | grep -c "^lxcapibench-m$M-")
  if [ "$lfails" = 0 ] && [ "$lrunning" = "$M" ]; then LXC_BULK[$M]=$lsecs
  else warn "LXC bulk $M: $lfails failed, $lrunning running"; LXC_BULK[$M]=""; fi
  LXC_CPU[$M]=$(awk -v m="$(($(lxc_monitors_ms) - t0 + $(cg_ms lxc "lxcapibench-m$M-")))" '{ printf "%.0f", ($1 + $2) * 1000 + m }' "$W/lxc-time")
  LXC_COLD[$M]=$(lxc_list_once "$M" "lxcapibench-m$M-")
  if [ "${TOGETHER[$M]}" = 1 ]; then
    API_COLD[$M]=$(api_list_once "$M")
    for _ in $(seq 1 "$LISTN"); do
      api_list_once "$M" >> "$W/api-list-$M"
      lxc_list_once "$M" "lxcapibench-m$M-" >> "$W/lxc-list-$M"
    done
    api_delete
  else
    for _ in $(seq 1 "$LISTN"); do lxc_list_once "$M" "lxcapibench-m$M-" >> "$W/lxc-list-$M"; done
  fi
  s=$EPOCHREALTIME
  bench_destroy lxc "${lnames[@]}"
  LXC_DEL[$M]="$(awk -v s="$s" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.1f", e - s }') s"
  LXC_NAMES=("$B")
  [ "$M" != "${BULK[-1]}" ] && sleep "$INODE_PAUSE"   # the next size starts on inodes freed long enough ago
done

# ---- report ------------------------------------------------------------------------------------
{
  echo "## lxtd through its API vs LXC's tools (bench/api.sh, $(date -u '+%Y-%m-%d %H:%M UTC'))"
  echo
  echo "N=$N start samples per tool; bulk sizes ${BULK[*]} ($CONC API clients at once, LXC's tools $CONC at once);" \
    "$LISTN list samples per size; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at the end;" \
    "lxtd \`${LXTD[*]} --helper-pool $POOL ${SHARED[*]}\`, LXC $(lxc-start --version 2>/dev/null), node $(node --version)." \
    "API requests from one Node process over the unix socket (no client start-up counted)."
  echo
  echo "| operation | lxtd API | LXC | n (API/LXC) | API/LXC (target) |"
  echo "|---|---|---|---|---|"
  r=$(bench_ratio "$(bench_med "$W/api-start")" "$(bench_med "$W/lxc-start")")
  echo "| start → Running (request → operation Success; lxc-start -d + lxc-wait) | $(bench_cell "$W/api-start" ms) |" \
    "$(bench_cell "$W/lxc-start" ms) | $(bench_num "$W/api-start")/$(bench_num "$W/lxc-start") |" \
    "$r (≤ 0.5)$(bench_verdict "$r" le 0.5 "$N" "$W/api-start" "$W/lxc-start") |"
  r=$(bench_ratio "$(bench_med "$W/api-exec")" "$(bench_med "$W/lxc-exec")")
  echo "| exec \`true\` to its exit code (no websockets; lxc-attach -- true) | $(bench_cell "$W/api-exec" ms) |" \
    "$(bench_cell "$W/lxc-exec" ms) | $(bench_num "$W/api-exec")/$(bench_num "$W/lxc-exec") |" \
    "$r (≤ 0.5)$(bench_verdict "$r" le 0.5 "$N" "$W/api-exec" "$W/lxc-exec") |"
  for M in "${BULK[@]}"; do
    r=$(bench_ratio "$(bench_med "$W/api-list-$M")" "$(bench_med "$W/lxc-list-$M")")
    echo "| list recursion=2, $M running (lxc-ls -f) | $(bench_cell "$W/api-list-$M" ms) | $(bench_cell "$W/lxc-list-$M" ms) |" \
      "$(bench_num "$W/api-list-$M")/$(bench_num "$W/lxc-list-$M") |" \
      "$r$([ "$M" = 100 ] && echo " (≤ 0.1)$(bench_verdict "$r" le 0.1 "$LISTN" "$W/api-list-$M" "$W/lxc-list-$M")") |"
  done
  echo
  echo "| created and started ($CONC at once each) | lxtd API | LXC's tools | API/LXC | CPU per container: lxtd+monitors+containers / LXC's tools+monitors+containers | lxtd RSS after | load at the end | list, cold (API / lxc-ls -f) | deleted (API: stop+delete, all at once / LXC, in a row) |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for M in "${BULK[@]}"; do
    a=${API_BULK[$M]} l=${LXC_BULK[$M]}
    echo "| $M | ${a:-n/a (see stderr)} s | ${l:-n/a (see stderr)} s | $(bench_ratio "$a" "$l") |" \
      "$((API_CPU[$M] / M)) ms / $((LXC_CPU[$M] / M)) ms |" \
      "$(awk -v k="${RSS[$M]:-0}" 'BEGIN { printf "%.0f MiB", k / 1024 }') | ${LOADS[$M]} |" \
      "${API_COLD[$M]:-–} ms / ${LXC_COLD[$M]:-–} ms | ${API_DEL[$M]:-–} / ${LXC_DEL[$M]:-–} |"
  done
  echo
  for M in "${BULK[@]}"; do
    if [ "${TOGETHER[$M]}" = 1 ]; then
      echo "List $M: both tools' $M running at once, each warm sample of the API alternated with one \`lxc-ls -f\` (after one cold sample each, shown apart)."
    else
      echo "List $M: the host's ptys do not hold both tools' $M at once: the API's samples ran with its $M only, then LXC's with its own (not interleaved); a ${INODE_PAUSE} s pause after the API's delete (ext4 without a journal will not reuse an inode freed less than 60–300 s ago, and looks at each when it allocates)."
    fi
  done
  echo
  echo "Where the API start's time goes (LXTD_PHASES marks of the daemon between the client's, medians over the N samples):"
  echo
  phase_table "$W/api-start.raw" start
  echo
  echo "Where the API exec's time goes (the same, over the N exec samples):"
  echo
  phase_table "$W/api-exec.raw" exec
} > "$W/report.md"
cat "$W/report.md"
[ -s "$W/bulk.err" ] && { echo "bench/api: client errors:" >&2; head -20 "$W/bulk.err" >&2; }
if [ "${BENCH_NO_WRITE:-}" != 1 ]; then
  { echo; cat "$W/report.md"; } >> "$HERE/RESULTS.md"
  echo "bench/api: appended to bench/RESULTS.md" >&2
fi
