#!/bin/bash
# Checkpoint, restore and live move of a privileged busybox container (no NIC) running a counter:
# the dump and restore times `lxt checkpoint -v` / `lxt restore -v` print, and for `lxt move -v`
# between two lxtd hosts on this machine (two state roots, each served by an lxtd on 127.0.0.1)
# the bytes sent, the time the container was stopped (checkpoint to the remote's restore
# returning, as the sender sees it) and the whole move. The container goes back and forth N
# times; the counter must have gone on after each move (same process, no reset).
#
# Usage: bench/migrate.sh [N]   N moves (default 5); prints a markdown section
# Env:   LXT=CMD                the lxt measured (words allowed); default lxt
#        LXTD=CMD               its lxtd; default lxtd
# Root only; needs criu >= 4.1 (scripts/criu.sh). Traffic stays on loopback; everything made is
# removed on exit.
set -u
BENCH_TAG=bench/migrate
. "$(dirname "$0")/lib.sh"
N=${1:-5}
bench_positive "$N" "usage: bench/migrate.sh [N]  (N a positive integer, got '$N')"
bench_need_root
read -r -a LXTD <<< "${LXTD:-lxtd}"
bench_need criu "${LXT[0]}" "${LXTD[0]}"

W=$(mktemp -d /var/tmp/bench-migrate.XXXXXX)
chmod 711 "$W"
C=lxtbench-mig-$$
on() { local h=$1; shift; LXT_PATH="$W/$h" lxt "$@"; }

cleanup() {
  trap - EXIT INT TERM
  local h p pids=()
  for h in a b; do bench_destroy_on "$h"; done
  for h in a b; do [ -f "$W/lxtd-$h.pid" ] && pids+=("$(cat "$W/lxtd-$h.pid")"); done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
  for h in a b; do bench_sweep_networks "$W/$h"; rm -rf "$(bench_rundir "$W/$h")"; done
  rm -rf "$W"
}
bench_destroy_on() { quiet on "$1" stop -k -n "$C"; quiet on "$1" destroy -f -s -n "$C"; }
trap cleanup EXIT INT TERM

# start_daemon HOST: lxtd on the host's state root, HTTPS on a port the kernel picks; prints the
# port (run in $(...): its pid goes to a file, for cleanup)
start_daemon() {
  local h=$1 out="$W/lxtd-$1.out" i
  mkdir -p "$W/$h"
  "${LXTD[@]}" --foreground -P "$W/$h" --https 127.0.0.1:0 >"$out" 2>"$W/lxtd-$h.log" &
  echo $! >"$W/lxtd-$h.pid"
  for ((i = 0; i < 300; i++)); do grep -q "lxtd: listening" "$out" && break; sleep 0.1; done
  grep -q "lxtd: listening" "$out" || die "lxtd for $h did not start: $(tail -3 "$W/lxtd-$h.log")"
  sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$out" | head -1
}
PA=$(start_daemon a)
PB=$(start_daemon b)
on a remote add b "https://127.0.0.1:$PB" --token "$(on b trust token bench-a)" >/dev/null || die "remote add b"
on b remote add a "https://127.0.0.1:$PA" --token "$(on a trust token bench-b)" >/dev/null || die "remote add a"

on a create -n "$C" -t busybox --network empty >/dev/null || die "create"
sed -i 's/^lxt.privileged = 0$/lxt.privileged = 1/' "$W/a/$C/config"
cat >"$W/a/$C/rootfs/counter.sh" <<'SH'
#!/bin/sh
i=0
while true; do i=$((i+1)); echo "$$ $i" > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.05; done
SH
chmod 755 "$W/a/$C/rootfs/counter.sh"
on a start -n "$C" 2>/dev/null || die "start"
on a attach -n "$C" -- sh -c 'setsid /counter.sh </dev/null >/dev/null 2>&1 &'
count() { on "$1" attach -n "$C" -- cat /tmp/count; }
sleep 0.5

# Checkpoint and restore in place.
D="$W/ckpt"
DUMP=() REST=()
for ((i = 0; i < N; i++)); do
  rm -rf "$D"
  d=$(on a checkpoint -v -s -n "$C" -D "$D" | sed -n 's/.* in \([0-9]*\) ms$/\1/p')
  r=$(on a restore -v -n "$C" -D "$D" 2>/dev/null | sed -n 's/.* in \([0-9]*\) ms$/\1/p')
  [ -n "$d" ] && [ -n "$r" ] || die "checkpoint/restore $i failed"
  DUMP+=("$d") REST+=("$r")
done

# Moves back and forth.
BYTES=() DOWN=() WALL=()
from=a to=b
for ((i = 0; i < N; i++)); do
  read -r pid0 n0 <<< "$(count $from)"
  t0=$(date +%s%N)
  out=$(on $from move -v -q "$C" "$to:") || die "move $i ($from -> $to) failed"
  t1=$(date +%s%N)
  read -r pid1 n1 <<< "$(count $to)"
  [ "$pid1" = "$pid0" ] && [ "$n1" -ge "$n0" ] || die "the counter was reset: $pid0 $n0 -> $pid1 $n1"
  BYTES+=("$(sed -n 's/.*(\([0-9]*\) bytes sent.*/\1/p' <<< "$out")")
  DOWN+=("$(sed -n 's/.*stopped for \([0-9]*\) ms.*/\1/p' <<< "$out")")
  WALL+=($(((t1 - t0) / 1000000)))
  tmp=$from from=$to to=$tmp
done
# Where the container ended up is where cleanup looks too.

med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "## Checkpoint, restore and live move (busybox, privileged, no NIC; $N runs; medians)"
echo
echo "| figure | median | runs |"
echo "| --- | --- | --- |"
echo "| checkpoint (criu dump, -s) | $(med "${DUMP[@]}") ms | ${DUMP[*]} |"
echo "| restore | $(med "${REST[@]}") ms | ${REST[*]} |"
echo "| move: stopped (checkpoint to remote restore) | $(med "${DOWN[@]}") ms | ${DOWN[*]} |"
echo "| move: whole command | $(med "${WALL[@]}") ms | ${WALL[*]} |"
echo "| move: bytes sent | $(med "${BYTES[@]}") | ${BYTES[*]} |"
