#!/bin/bash
# lxtd (the LXD API over lxt) against LXC's own tools, side by side in one run, busybox containers
# with no network. Requests go only to lxtd's unix socket, from one Node process
# (bench/api-client.mjs) so that no client start-up is counted.
#
#   start:  PUT /1.0/instances/NAME/state {start} → operation Success (wait)   vs lxc-start -d + lxc-wait RUNNING
#   list:   GET /1.0/instances?recursion=2 with M running                      vs lxc-ls -f with M running
#   bulk:   N created and started through the API (CONC clients at once)       vs lxc-create + lxc-start -d, N in a row
#   RSS:    lxtd's VmRSS after each bulk
#   exec:   POST /1.0/instances/NAME/exec `true` (no websockets) → operation Success, return 0
#           vs lxc-attach -- true, in one running container per tool
#
# Usage: bench/api.sh [N]       N start samples per tool (default 10)
# Env:   BENCH_API_BULK="100 200"   bulk sizes (each also the M of the list figure; default "100 200")
#        BENCH_API_CONC=8          clients at once for the bulk (default 8)
#        BENCH_API_LIST=10         list samples per tool and size (default 10)
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
for v in "${BULK[@]}" "$CONC" "$LISTN"; do bench_positive "$v" "BENCH_API_* must be positive integers"; done
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
LXTD_PHASES=$W/phases "${LXTD[@]}" --foreground -P "$LXTP" > "$W/lxtd.out" 2> "$W/lxtd.err" &
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
declare -A API_BULK LXC_BULK RSS
for M in "${BULK[@]}"; do
  echo "bench/api: bulk $M through the API ($CONC at once), then $M by LXC's tools in a row" >&2
  names=()
  for i in $(seq 0 $((M - 1))); do names+=("lxtapibench-m$M-$i"); done
  LXT_NAMES+=("${names[@]}")
  out=$("${CLIENT[@]}" "$SOCK" bulk "lxtapibench-m$M-" "$M" "$CONC" 2>> "$W/bulk.err")
  read -r _ _ secs failed <<< "$out"
  running=$(lxt ls --running 2>/dev/null | grep -c "^lxtapibench-m$M-")
  if [ "${failed:-1}" = 0 ] && [ "$running" = "$M" ]; then API_BULK[$M]=$secs
  else warn "API bulk $M: ${failed:-?} failed, $running running"; API_BULK[$M]=""; fi
  RSS[$M]=$(rss_kb "$DPID")
  : > "$W/api-list-$M"
  "${CLIENT[@]}" "$SOCK" list "$LISTN" "$M" 2>> "$W/bulk.err" | awk '{ print $2 }' >> "$W/api-list-$M"

  lnames=()
  for i in $(seq 0 $((M - 1))); do lnames+=("lxcapibench-m$M-$i"); done
  LXC_NAMES+=("${lnames[@]}")
  s=$EPOCHREALTIME fails=0
  for n in "${lnames[@]}"; do
    lxc-create -P "$LXCP" -n "$n" -t busybox -f "$W/lxc.conf" >/dev/null 2>&1 &&
      lxc-start -P "$LXCP" -n "$n" -d -s lxc.net.0.type=empty || fails=$((fails + 1))
  done
  e=$EPOCHREALTIME
  lrunning=$(lxc-ls -P "$LXCP" -1 --running | grep -c "^lxcapibench-m$M-")
  if [ $fails = 0 ] && [ "$lrunning" = "$M" ]; then LXC_BULK[$M]=$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }')
  else warn "LXC bulk $M: $fails failed, $lrunning running"; LXC_BULK[$M]=""; fi
  : > "$W/lxc-list-$M"
  for i in $(seq 1 "$LISTN"); do
    s=$EPOCHREALTIME; out=$(lxc-ls -P "$LXCP" -f); e=$EPOCHREALTIME
    [ "$(grep -c "^lxcapibench-m$M-.* RUNNING" <<< "$out")" = "$M" ] &&
      awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", (e - s) * 1000 }' >> "$W/lxc-list-$M"
  done
  # Gone before the next size: each size is measured from an empty host.
  "${CLIENT[@]}" "$SOCK" delete "${names[@]}" 2>/dev/null
  bench_destroy lxc "${lnames[@]}"
  LXT_NAMES=("$A") LXC_NAMES=("$B")
done

# ---- report ------------------------------------------------------------------------------------
{
  echo "## lxtd through its API vs LXC's tools (bench/api.sh, $(date -u '+%Y-%m-%d %H:%M UTC'))"
  echo
  echo "N=$N start samples per tool; bulk sizes ${BULK[*]} ($CONC API clients at once, LXC's tools in a row);" \
    "$LISTN list samples per size; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at the end;" \
    "lxtd \`${LXTD[*]}\`, LXC $(lxc-start --version 2>/dev/null), node $(node --version)." \
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
  echo "| created and started | lxtd API | LXC's tools, in a row | API/LXC | lxtd RSS after | per 1000, linear from this size |"
  echo "|---|---|---|---|---|---|"
  for M in "${BULK[@]}"; do
    a=${API_BULK[$M]} l=${LXC_BULK[$M]}
    echo "| $M | ${a:-n/a (see stderr)} s | ${l:-n/a (see stderr)} s | $(bench_ratio "$a" "$l") |" \
      "$(awk -v k="${RSS[$M]:-0}" 'BEGIN { printf "%.0f MiB", k / 1024 }') |" \
      "$([ -n "$a" ] && awk -v a="$a" -v m="$M" 'BEGIN { printf "%.0f s", a * 1000 / m }' || echo –) |"
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
