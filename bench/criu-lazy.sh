#!/usr/bin/env bash
# bench/criu-lazy.sh [MIB] [ROUNDS]: criu's post-copy against a plain dump and
# restore, below lxt (docs/migrate.md). One bare process tree (bash in a PID
# namespace of its own holding MIB MiB, default 256, and reading it all every
# round) is moved back and forth on this host, interleaved: plain (`criu dump`,
# the images copied, `criu restore`) and lazy (`criu dump --lazy-pages` serving
# its memory on loopback, the images copied, `criu lazy-pages --page-server` +
# `criu restore --lazy-pages`). Per move: the time from the dump's start until
# the restore returns (the tree runs again), until every page is over, the
# images' size and the CPU time of the criu processes (utime+stime).
# Needs root, criu >= 4.2 and, where root lacks CAP_SYS_RESOURCE,
# fs.pipe-max-size >= 4194304 (scripts/setup.sh). Only loopback.
set -euo pipefail
BENCH_TAG=bench/criu-lazy
source "$(dirname "$0")/lib.sh"
bench_need_root
bench_need criu unshare setsid bc
MIB=${1:-256} ROUNDS=${2:-3}
bench_positive "$MIB" "MIB must be a positive integer"
bench_positive "$ROUNDS" "ROUNDS must be a positive integer"
[ "$(cat /proc/sys/fs/pipe-max-size)" -ge 4194304 ] || [ $((($(sed -n 's/^CapEff:\s*//p' /proc/self/status | sed 's/^/16#/') >> 24) & 1)) -eq 1 ] ||
  die "fs.pipe-max-size < 4194304 without CAP_SYS_RESOURCE: criu's page server fails (scripts/setup.sh sets it)"

dir=$(mktemp -d /tmp/lxt-bench-lazy-XXXXXX)
tree=
cleanup() {
  [ -n "$tree" ] && kill -9 "$tree" 2>/dev/null || true
  jobs -p | xargs -r kill -9 2>/dev/null || true
  rm -rf --one-file-system "$dir"
}
trap cleanup EXIT
port=$((27100 + RANDOM % 800))

(cd "$dir" && exec unshare -p -f setsid bash -c \
  "x=\$(head -c $((MIB << 20)) /dev/zero | tr '\\0' x); n=0; while :; do echo \"\$n \${#x}\" > $dir/count; n=\$((n+1)); sleep 0.1; done" \
  </dev/null >/dev/null 2>&1) &
ns=$!
for _ in $(seq 600); do [ -s "$dir/count" ] && break; sleep 0.1; done
[ -s "$dir/count" ] || die "the tree never started"
tree=$(pgrep -P "$ns")

# This shell's and its waited-for children's (the criu processes') CPU ticks.
cpu() { awk '{print $14 + $15 + $16 + $17}' "/proc/$$/stat"; }
tick_ms=$((1000 / $(getconf CLK_TCK)))
ms() { echo "($2 - $1) * 1000 / 1" | bc; }
echo "load: $(cut -d' ' -f1-3 /proc/loadavg); $MIB MiB; $ROUNDS rounds, interleaved"
printf '%-6s %-6s %18s %14s %10s %10s\n' round mode "until running, ms" "all pages, ms" "images, kB" "CPU, ms"
# Round 0 warms up and is not shown: its plain dump ends the first tree, whose
# reaped CPU time (building its string) would land in that round's figure.
for r in $(seq 0 "$ROUNDS"); do
  for mode in plain lazy; do
    rm -rf "$dir/img" "$dir/tgt" "$dir/pid"
    mkdir "$dir/img"
    c0=$(cpu) t0=$(date +%s.%N)
    if [ "$mode" = plain ]; then
      criu dump -t "$tree" -D "$dir/img" -v4 -o dump.log || die "plain dump failed ($dir/img/dump.log)"
      cp -a "$dir/img" "$dir/tgt"
      criu restore -D "$dir/tgt" -d --pidfile "$dir/pid" -v4 -o restore.log || die "plain restore failed"
      t1=$(date +%s.%N) t2=$t1
    else
      criu dump -t "$tree" -D "$dir/img" --lazy-pages --address 127.0.0.1 --port "$port" -v4 -o dump.log &
      dump=$!
      until grep -q "Starting page server" "$dir/img/dump.log" 2>/dev/null; do
        kill -0 "$dump" 2>/dev/null || die "lazy dump failed ($dir/img/dump.log)"
        sleep 0.01
      done
      cp -a "$dir/img" "$dir/tgt"
      criu lazy-pages --page-server --address 127.0.0.1 --port "$port" -D "$dir/tgt" -v4 -o lazy.log &
      lazy=$!
      until grep -q "Waiting for incoming" "$dir/tgt/lazy.log" 2>/dev/null; do sleep 0.01; done
      criu restore -D "$dir/tgt" --lazy-pages -d --pidfile "$dir/pid" -v4 -o restore.log || die "lazy restore failed"
      t1=$(date +%s.%N)
      wait "$dump" || die "the lazy dump failed serving pages"
      wait "$lazy" || die "criu lazy-pages failed"
      t2=$(date +%s.%N)
    fi
    c1=$(cpu)
    tree=$(cat "$dir/pid")
    [ "$r" -gt 0 ] || continue
    printf '%-6s %-6s %18s %14s %10s %10s\n' "$r" "$mode" "$(ms "$t0" "$t1")" "$(ms "$t0" "$t2")" \
      "$(du -sk "$dir/tgt" | cut -f1)" "$(((c1 - c0) * tick_ms))"
  done
done
sleep 0.5
read -r n len <"$dir/count"
[ "$len" -eq $((MIB << 20)) ] || die "the tree's memory came back changed (length $len)"
echo "the tree counted to $n and still holds its $MIB MiB; load: $(cut -d' ' -f1-3 /proc/loadavg)"
