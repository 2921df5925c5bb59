#!/bin/bash
# `lxt __complete` (what shell completion runs on Tab) with many containers: wall time of
# `__complete containers|running|stopped` against `node -e 0` (the floor every lxt command
# pays), interleaved, each answer checked. Target: under 50 ms with 100 containers.
# These kinds come from the small entry (src/cli/complete-entry.ts); `__complete -- running`
# (a line only the full verb takes) is the same answer through the CLI bundle, for comparison.
#
# Usage: bench/complete.sh [ITER]   ITER samples per figure (default 20)
# Env:   LXT=CMD                    the lxt command, may hold words (default lxt)
#        BENCH_COMPLETE_N=N         containers (default 100), half of them running
#        BENCH_NO_WRITE=1           print the table only (this script never edits RESULTS.md)
# Root only. A private state root under /var/tmp; every container stopped and destroyed on exit.
# Network: none (--network empty).
set -u
BENCH_TAG=bench/complete
. "$(dirname "$0")/lib.sh"
ITER=${1:-20}
N=${BENCH_COMPLETE_N:-100}
bench_positive "$ITER" "usage: bench/complete.sh [ITER]"
bench_positive "$N" "BENCH_COMPLETE_N must be a positive integer"
bench_need_root
bench_need busybox node
command -v "${LXT[0]}" > /dev/null || die "lxt command '${LXT[*]}' not found (set LXT=...)"

LXTP=$(mktemp -d /var/tmp/lxtcmpl.XXXXXX)
W=$(mktemp -d /var/tmp/cmpl-work.XXXXXX)
LXCP='' LXT_NAMES=() LXC_NAMES=()
export LXT_PATH=$LXTP
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

echo "$BENCH_TAG: creating $N containers, starting $((N / 2))" >&2
for i in $(seq -w 1 "$N"); do
  LXT_NAMES+=("cmpl$i")
  lxt create -n "cmpl$i" -t busybox --network empty > /dev/null || die "create cmpl$i failed"
done
start=()
for ((i = 0; i < N / 2; i++)); do start+=(-n "${LXT_NAMES[i]}"); done
lxt start "${start[@]}" || die "start failed"

# sample FILE EXPECTED_LINES CMD...: one timed run in ms, kept only when CMD printed that many lines
sample() {
  local file=$1 want=$2 t0 t1 out; shift 2
  t0=$(date +%s%N)
  out=$("$@") || return 0
  t1=$(date +%s%N)
  [ "$want" = - ] || [ "$(grep -c . <<< "$out")" = "$want" ] || { warn "$* printed $(grep -c . <<< "$out") lines, not $want"; return 0; }
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", (b - a) / 1e6 }' >> "$file"
}
run=$((N / 2)) stop=$((N - N / 2))
lxt __complete containers > /dev/null # the verb's code cache is learnt on its first run
for ((k = 0; k < ITER; k++)); do
  sample "$W/node" - node -e 0
  sample "$W/all" "$N" lxt __complete containers
  sample "$W/running" "$run" lxt __complete running
  sample "$W/stopped" "$stop" lxt __complete stopped
  sample "$W/full" "$run" lxt __complete -- running
done

echo
echo "\`lxt __complete\` with $N containers ($run running), N=$ITER, median (min–max), $(date -u +%F), load $(cut -d' ' -f1-3 /proc/loadavg):"
echo
echo "| command | wall | over \`node -e 0\` |"
echo "| --- | --- | --- |"
base=$(bench_med "$W/node")
echo "| \`node -e 0\` | $(bench_cell "$W/node" ms) | – |"
for f in all running stopped full; do
  kind=$f; [ "$f" = all ] && kind=containers; [ "$f" = full ] && kind="-- running"
  med=$(bench_med "$W/$f")
  over=$(awk -v a="$med" -v b="$base" 'BEGIN { if (a == "" || b == "") print "–"; else printf "%+.1f ms", a - b }')
  verdict=$(bench_verdict "$med" le 50 "$ITER" "$W/$f")
  [ "$f" = full ] && verdict='' # for comparison: the target is the shells' lines above
  echo "| \`lxt __complete $kind\` | $(bench_cell "$W/$f" ms)$verdict | $over |"
done
