#!/bin/bash
# Where an lxt command's time goes: start, attach, info, ls and stop -k on one busybox container,
# each run N times with LXT_PHASES=1 (src/cli/phases.ts), interleaved with `node -e 0`, printed as
# a markdown table of the median time each phase takes after the one before it.
#
# Usage: bench/phases.sh [N]      N rounds (default 10); each round runs every verb once
# Env:   LXT=CMD                  the lxt command, may hold words ("node dist/lxt.cjs"); default lxt
#        BENCH_PHASES_RAW=FILE    also keep the raw samples (one `sample VERB T0 T1` line per run,
#                                 then its `lxt-phase EPOCH_MS NAME` lines)
# Root only. A private state root under /var/tmp, removed on exit; the container has no network.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH_TAG=bench/phases
. "$HERE/lib.sh"
N=${1:-10}
bench_positive "$N" "usage: bench/phases.sh [N]  (N a positive integer, got '$N')"
bench_need_root
bench_need node
command -v "${LXT[0]}" >/dev/null 2>&1 || die "lxt command '${LXT[*]}' not found (set LXT=...)"

LXTP=$(mktemp -d /var/tmp/lxtphases.XXXXXX)
W=$(mktemp -d /var/tmp/phases-work.XXXXXX)
LXCP=""
export LXT_PATH=$LXTP
C=lxtphases-a
LXT_NAMES=("$C") LXC_NAMES=()
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# sample VERB CMD...: run CMD with LXT_PHASES=1, its output discarded; on success append
# `sample VERB T0 T1` (bash's clock before and after, s.µs) and its phase lines to $W/samples.
# A failed run is reported and left out (the n column shows it).
sample() {
  local verb=$1 s e rc; shift
  s=$EPOCHREALTIME; LXT_PHASES=1 "$@" >/dev/null 2>"$W/err"; rc=$?; e=$EPOCHREALTIME
  if [ $rc -ne 0 ]; then
    echo "bench/phases: $verb failed (rc=$rc): $(head -c 300 "$W/err" | tr '\n' ' ')" >&2
    return $rc
  fi
  { echo "sample $verb $s $e"; grep '^lxt-phase ' "$W/err"; } >> "$W/samples"
}
state_is() { [ "$(lxt info -n "$C" -s 2>/dev/null | awk '{ print $2 }')" = "$1" ]; }

lxt create -n "$C" -t busybox --network empty >/dev/null || die "create $C failed"
# The first start of a container does once-only work (its id map slice, the idmapped-mount probe
# of a new filesystem): done here, outside the samples.
{ lxt start -n "$C" && lxt stop -n "$C" -k; } >/dev/null || die "warm-up start/stop of $C failed"
echo "bench/phases: N=$N, state root $LXTP" >&2
for i in $(seq 1 "$N"); do
  sample "node -e 0" node -e 0
  sample start lxt start -n "$C" && ! state_is RUNNING && echo "bench/phases: start: not RUNNING" >&2
  sleep 0.3
  sample info lxt info -n "$C"
  sample "attach -- true" lxt attach -n "$C" -- true
  sample ls lxt ls
  sleep 0.3
  sample "stop -k" lxt stop -n "$C" -k && ! state_is STOPPED && echo "bench/phases: stop -k: not STOPPED" >&2
  sleep 0.3
done
[ -n "${BENCH_PHASES_RAW:-}" ] && cp "$W/samples" "$BENCH_PHASES_RAW"

echo "Run: $(date -u '+%Y-%m-%d %H:%M UTC'), N=$N, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at the end;" \
  "lxt \`${LXT[*]}\`, node $(node --version)."
echo
# Each cell: the median over runs of (this phase − the one before), in ms; the first phase of a
# run follows bash's clock before the exec, and "process gone" is bash's clock after the wait.
# Rows are every verb's phases merged in the order they occur (a topological sort of the runs'
# sequences); a phase passed twice in one run (a second lock) is counted apart as "NAME #2".
awk '
function median(key,   n, i, j, t, a) {
  n = cnt[key]; for (i = 1; i <= n; i++) a[i] = val[key, i]
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function add(key, v) { val[key, ++cnt[key]] = v }
function phase(p) { if (!(p in seen)) { seen[p] = ++np; pname[np] = p } }
function edge(a, b) { if (!((a, b) in e)) { e[a, b] = 1; indeg[b]++; succ[a] = succ[a] SUBSEP b } }
function close_run(   k) {
  if (verb == "") return
  phase("process gone"); add(verb SUBSEP "process gone", t1 - last); if (prev != "") edge(prev, "process gone")
  add(verb SUBSEP "total", t1 - t0); runs[verb]++
}
$1 == "sample" {
  close_run()
  verb = $2; for (k = 3; k < NF - 1; k++) verb = verb " " $k
  nrun++; t0 = $(NF - 1) * 1000; t1 = $NF * 1000; last = t0; prev = ""
  if (!(verb in vseen)) { vseen[verb] = ++nv; vname[nv] = verb }
  next
}
$1 == "lxt-phase" {
  p = $3; for (k = 4; k <= NF; k++) p = p " " $k
  if (++rep[nrun, p] > 1) p = p " #" rep[nrun, p]   # a phase passed again in one run
  phase(p); add(verb SUBSEP p, $2 - last); last = $2
  if (prev != "") edge(prev, p); prev = p
}
END {
  close_run()
  # Kahn: among the phases with nothing left before them, the one seen first.
  for (out = 0; out < np; ) {
    best = 0
    for (i = 1; i <= np; i++) if (!(i in done) && indeg[pname[i]] + 0 == 0 && (best == 0 || i < best)) best = i
    if (best == 0) for (i = 1; i <= np; i++) if (!(i in done)) { best = i; break }   # a cycle: seen order
    done[best] = 1; order[++out] = pname[best]
    m = split(succ[pname[best]], s, SUBSEP); for (j = 2; j <= m; j++) indeg[s[j]]--
  }
  hdr = "| phase (ms after the one before) |"; sep = "|---|"
  for (v = 1; v <= nv; v++) { hdr = hdr " " vname[v] " |"; sep = sep "---|" }
  print hdr; print sep
  for (r = 1; r <= np; r++) {
    line = "| " order[r] " |"
    for (v = 1; v <= nv; v++) {
      key = vname[v] SUBSEP order[r]
      line = line " " ((key in cnt) ? sprintf("%.1f", median(key)) : "") " |"
    }
    print line
  }
  line = "| **total: exec → process gone** |"
  for (v = 1; v <= nv; v++) line = line " **" sprintf("%.1f", median(vname[v] SUBSEP "total")) "** |"
  print line
  line = "| n |"
  for (v = 1; v <= nv; v++) line = line " " runs[vname[v]] " |"
  print line
}' "$W/samples"
