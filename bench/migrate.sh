#!/bin/bash
# A live move between two lxtd hosts on one LAN, seen from a TCP client (docs/migrate.md). Three
# network namespaces made here: host a and host b, each an lxtd (HTTPS over a veth between them)
# with a managed network of one name and subnet (10.78.0.0/24; a: gateway .1, DHCP .2-.99; b: .254,
# .100-.199), the two bridges joined at layer 2 by a veth "wire"; and a client plugged into a's
# bridge. A privileged busybox container on that network serves a counter (busybox nc, one reply
# per request); the client (test/integration/lan-client.cjs) holds one connection and asks every
# 20 ms after each reply. The container goes back and forth N times, idle and holding 256 MiB of
# incompressible-ish memory (base64 of 192 MiB of /dev/urandom in a shell variable); the memory
# case both plain ("mem") and by post-copy ("lazy": move --lazy), interleaved: one container,
# its moves alternating plain and --lazy, 2N moves. Per move:
#   - the client's longest gap between two replies across the move (its downtime), checked
#     gap-free: each reply one more than the last, the connection never broken;
#   - the time the sender says the container was stopped (checkpoint to the remote's restore),
#     the bytes sent and those sent while stopped (delta and CRIU's images); for --lazy, how long
#     the remote fetched pages after its restore returned (the container running there);
#   - the floor: bytes sent while stopped / the hosts' link bandwidth (measured here once:
#     python3 sending 256 MiB over the same veth, plain TCP), and the stop over it;
#   - CPU time: utime+stime of the move command and its children (tar, criu dump) and of both
#     lxtd and their waited-for children (tar, criu lazy-pages; criu restore is the monitor's:
#     not counted).
#
# Usage: bench/migrate.sh [N]   N moves per case (default 3); prints a markdown section
# Env:   LXT=CMD   the lxt measured (words allowed); default lxt
#        LXTD=CMD  its lxtd; default lxtd
#        CASES     "idle mem lazy" (default) or some of them
# Root only; needs criu >= 4.2 (scripts/criu.sh), node, python3. Traffic stays in the namespaces
# made here; everything made is removed on exit.
set -u
BENCH_TAG=bench/migrate
. "$(dirname "$0")/lib.sh"
N=${1:-3}
bench_positive "$N" "usage: bench/migrate.sh [N]  (N a positive integer, got '$N')"
bench_need_root
read -r -a LXTD <<< "${LXTD:-lxtd}"
read -r -a CASES <<< "${CASES:-idle mem lazy}"
bench_need criu node python3 nsenter "${LXT[0]}" "${LXTD[0]}"
CLIENT=$(cd "$(dirname "$0")/.." && pwd)/test/integration/lan-client.cjs
[ -f "$CLIENT" ] || die "no $CLIENT"

W=$(mktemp -d /var/tmp/bench-migrate.XXXXXX)
chmod 711 "$W"
T=$(printf '%x' $$)
C=lxtbench-mig-$$
LAN=lxtbml$T
declare -A NS=([a]=lxtbm-a-$T [b]=lxtbm-b-$T [c]=lxtbm-c-$T)
declare -A ADDR=([a]=10.254.0.1 [b]=10.254.0.2)
ins() { local n=$1; shift; nsenter --net="/run/netns/${NS[$n]}" "$@"; }
on() { local h=$1; shift; LXT_PATH="$W/$h" ins "$h" "${LXT[@]}" "$@"; }
exec 3>/dev/null

cleanup() {
  trap - EXIT INT TERM
  local h p pids=()
  exec 3>&-
  [ -f "$W/client.pid" ] && kill "$(cat "$W/client.pid")" 2>/dev/null
  for h in a b; do quiet on "$h" stop -k -n "$C"; quiet on "$h" destroy -f -s -n "$C"; done
  for h in a b; do [ -f "$W/lxtd-$h.pid" ] && pids+=("$(cat "$W/lxtd-$h.pid")"); done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
  for h in a b; do
    [ -d "/run/netns" ] && [ -e "/run/netns/${NS[$h]}" ] && quiet on "$h" network delete "$LAN"
    p=$(cat "$(bench_rundir "$W/$h")/.networks/$LAN/dnsmasq.pid" 2>/dev/null) && kill "$p" 2>/dev/null
    rm -rf "$(bench_rundir "$W/$h")"
  done
  for h in a b c; do ip netns del "${NS[$h]}" 2>/dev/null; done
  bench_remove "$W"
}
trap cleanup EXIT INT TERM

for h in a b c; do ip netns add "${NS[$h]}" && ins "$h" ip link set lo up || die "netns $h"; done
# veth NAME1 NS1 NAME2 NS2: a pair between two namespaces, both ends up
veth() {
  ip link add "$1" netns "${NS[$2]}" type veth peer name "$3" netns "${NS[$4]}" || die "veth $1"
  ins "$2" ip link set "$1" up && ins "$4" ip link set "$3" up
}
veth ha a hb b
ins a ip addr add 10.254.0.1/24 dev ha && ins b ip addr add 10.254.0.2/24 dev hb || die "host link"

start_daemon() {
  local h=$1 out="$W/lxtd-$1.out" i
  mkdir -p "$W/$h"
  : >"$out"
  # exec all the way down (nsenter, the launcher's exec node): $! is lxtd itself, for its CPU time
  (LXT_PATH="$W/$h" exec nsenter --net="/run/netns/${NS[$h]}" "${LXTD[@]}" --foreground -P "$W/$h" \
    --https "${ADDR[$h]}:8443" >"$out" 2>"$W/lxtd-$h.log") &
  echo $! >"$W/lxtd-$h.pid"
  for ((i = 0; i < 600; i++)); do grep -q "lxtd: listening" "$out" && break; sleep 0.1; done
  grep -q "lxtd: listening" "$out" || die "lxtd for $h did not start: $(tail -3 "$W/lxtd-$h.log")"
}
start_daemon a
start_daemon b
on a remote add b "https://${ADDR[b]}:8443" --token "$(on b trust token bench-a)" >/dev/null || die "remote add b"
on b remote add a "https://${ADDR[a]}:8443" --token "$(on a trust token bench-b)" >/dev/null || die "remote add a"

# The LAN: one subnet, a gateway and a DHCP range per host, the bridges joined, the client on a's.
on a network create "$LAN" --ipv4 10.78.0.1/24 --dhcp-range 10.78.0.2-10.78.0.99 --nat false >/dev/null || die "network a"
on b network create "$LAN" --ipv4 10.78.0.254/24 --dhcp-range 10.78.0.100-10.78.0.199 --nat false >/dev/null || die "network b"
veth la a lb b
ins a ip link set la master "$LAN" && ins b ip link set lb master "$LAN" || die "wire"
veth lc a eth0 c
ins a ip link set lc master "$LAN" && ins c ip addr add 10.78.0.250/24 dev eth0 || die "client link"

# The hosts' link bandwidth (bytes/s): 256 MiB over TCP between a and b, timed by the receiver.
BW=$(python3 - "${NS[a]}" "${NS[b]}" <<'PY'
import os, socket, subprocess, sys, time
a, b = sys.argv[1], sys.argv[2]
recv = subprocess.Popen(["nsenter", f"--net=/run/netns/{b}", "python3", "-c", """
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.254.0.2", 9911)); s.listen(1); print("up", flush=True)
c, _ = s.accept(); n = 0; t0 = None
while True:
    d = c.recv(1 << 20)
    if t0 is None: t0 = time.monotonic()
    if not d: break
    n += len(d)
print(n / (time.monotonic() - t0))
"""], stdout=subprocess.PIPE, text=True)
recv.stdout.readline()
subprocess.run(["nsenter", f"--net=/run/netns/{a}", "python3", "-c", """
import socket
s = socket.create_connection(("10.254.0.2", 9911)); b = bytes(1 << 20)
for _ in range(256): s.sendall(b)
s.close()
"""], check=True)
print(int(float(recv.stdout.readline())))
PY
) || die "bandwidth"

cat >"$W/serve.sh" <<'SH'
#!/bin/sh
i=0
while read -r _; do i=$((i+1)); echo $i; done
SH
cat >"$W/mem.sh" <<'SH'
#!/bin/sh
x=$(head -c 201326592 /dev/urandom | base64)
echo "${#x}" > /tmp/mem.ready
while :; do sleep 1; done
SH

# cpu_of PID: utime+stime+cutime+cstime in clock ticks
cpu_of() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
TCK=$(getconf CLK_TCK)

# gap FILE T0 T1: the longest gap (ms) between two replies, the later after T0, up to the first
# reply after T1; fails (prints "broken: ...") when a reply is not one more than the last
gap() {
  awk -v t0="$2" -v t1="$3" '
    $1 == "ERR" || $1 == "CLOSED" { print "broken: " $0; bad = 1; exit }
    { if (p != "" && $2 != p + 1) { print "broken: " p " then " $2; bad = 1; exit }
      if (pt != "" && $1 > t0 && $1 - pt > g) g = $1 - pt
      p = $2; pt = $1; if ($1 > t1) exit }
    END { if (!bad) print g + 0 }' "$1"
}

# The runs: one container each, its moves' results filed under the keys in turn.
RUNS=()
for c in "${CASES[@]}"; do
  case $c in
    idle) RUNS+=(idle) ;;
    mem | lazy) [[ " ${RUNS[*]} " == *" mem"* ]] || RUNS+=("$(for k in mem lazy; do [[ " ${CASES[*]} " == *" $k "* ]] && printf '%s,' $k; done)") ;;
    *) die "unknown case '$c' (idle, mem, lazy)" ;;
  esac
done

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A R
for run in "${RUNS[@]}"; do
  IFS=, read -r -a keys <<< "$run"
  case=${keys[0]}
  on a create -n "$C" -t busybox --network "$LAN" >/dev/null || die "create"
  sed -i 's/^lxt.privileged = 0$/lxt.privileged = 1/' "$W/a/$C/config"
  install -m 755 "$W/serve.sh" "$W/a/$C/rootfs/serve.sh"
  install -m 755 "$W/mem.sh" "$W/a/$C/rootfs/mem.sh"
  on a start -n "$C" 2>/dev/null || die "start"
  on a attach -n "$C" -- sh -c "setsid nc -ll -p 7000 -e /serve.sh </dev/null >/dev/null 2>&1 &"
  if [ "$case" != idle ]; then
    on a attach -n "$C" -- sh -c "setsid /mem.sh </dev/null >/dev/null 2>&1 &"
    for ((i = 0; i < 600; i++)); do quiet on a attach -n "$C" -- test -s /tmp/mem.ready && break; sleep 0.5; done
    on a attach -n "$C" -- test -s /tmp/mem.ready || die "the memory workload never got ready"
  fi
  ip=$(on a attach -n "$C" -- ip -o -4 addr show eth0 | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p')
  [ -n "$ip" ] || die "no address on eth0"
  rm -f "$W/cin" && mkfifo "$W/cin" && : >"$W/client.out"
  ins c ip neigh flush all
  ins c node "$CLIENT" "$ip" 7000 <"$W/cin" >"$W/client.out" &
  echo $! >"$W/client.pid"
  exec 3>"$W/cin"
  for ((i = 0; i < 200; i++)); do [ "$(wc -l <"$W/client.out")" -ge 5 ] && break; sleep 0.1; done
  [ "$(wc -l <"$W/client.out")" -ge 5 ] || die "the client got no replies: $(cat "$W/client.out")"
  from=a to=b
  for ((i = 0; i < N * ${#keys[@]}; i++)); do
    case=${keys[i % ${#keys[@]}]}
    flags=()
    [ "$case" = lazy ] && flags=(--lazy)
    c0=$(($(cpu_of "$(cat "$W/lxtd-a.pid")") + $(cpu_of "$(cat "$W/lxtd-b.pid")") + $(cpu_of $$)))
    t0=$(now_ms)
    out=$(on $from move -v -q "${flags[@]}" "$C" "$to:") || die "move $i ($case, $from -> $to) failed"
    t1=$(now_ms)
    c1=$(($(cpu_of "$(cat "$W/lxtd-a.pid")") + $(cpu_of "$(cat "$W/lxtd-b.pid")") + $(cpu_of $$)))
    for ((j = 0; j < 600; j++)); do
      [ "$(tail -1 "$W/client.out" | cut -d' ' -f1)" -gt "$t1" ] 2>/dev/null && break
      sleep 0.1
    done
    g=$(gap "$W/client.out" "$t0" "$t1")
    [[ $g =~ ^[0-9]+$ ]] || die "move $i: the client's connection: $g"
    R[$case.gap]+="$g " R[$case.wall]+="$((t1 - t0)) " R[$case.cpu]+="$(((c1 - c0) * 1000 / TCK)) "
    R[$case.down]+="$(sed -n 's/.*stopped for \([0-9]*\) ms.*/\1/p' <<< "$out") "
    R[$case.bytes]+="$(sed -n 's/.*(\([0-9]*\) bytes sent.*/\1/p' <<< "$out") "
    R[$case.sbytes]+="$(sed -n 's/.*; \([0-9]*\) bytes sent while stopped.*/\1/p' <<< "$out") "
    R[$case.pages]+="$(sed -n 's/.*came over in \([0-9]*\) ms.*/\1/p' <<< "$out") "
    tmp=$from from=$to to=$tmp
  done
  exec 3>&-
  wait "$(cat "$W/client.pid")" 2>/dev/null
  rm -f "$W/client.pid"
  on $from stop -k -n "$C" >/dev/null 2>&1
  on $from destroy -f -s -n "$C" >/dev/null || die "destroy"
done

med() { [ $# -gt 0 ] && printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
MB() { awk -v b="${1:-0}" 'BEGIN { if (b >= 1e6) printf "%.1f MB", b / 1e6; else printf "%.0f kB", b / 1e3 }'; }
echo "## A live move on one LAN, seen from a TCP client (bench/migrate.sh; $N moves per case; medians)"
echo
echo "Hosts' link (veth, TCP): $(awk -v b="$BW" 'BEGIN { printf "%.0f MB/s", b / 1e6 }'); load at the start: $LOAD0; at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| figure | ${CASES[*]/#/| } |" | sed 's/| |/|/; s/  */ /g'
echo "| --- |$(printf ' --- |%.0s' "${CASES[@]}")"
row() {
  local label=$1 key=$2 fmt=${3:-ms} c line
  line="| $label |"
  for c in "${CASES[@]}"; do
    read -r -a v <<< "${R[$c.$key]:-}"
    case $fmt in
      ms) [ ${#v[@]} -gt 0 ] && line+=" $(med "${v[@]}") ms (${v[*]}) |" || line+=" – |" ;;
      mb) line+=" $(MB "$(med "${v[@]}")") |" ;;
    esac
  done
  echo "$line"
}
row "client's longest gap (downtime)" gap
row "stopped, as the sender says" down
row "pages fetched after the restore (--lazy)" pages
row "whole move" wall
row "CPU (move + both lxtd)" cpu
row "bytes sent" bytes mb
row "bytes sent while stopped" sbytes mb
line="| floor: bytes while stopped / link |"
line2="| stop over the floor |"
for c in "${CASES[@]}"; do
  read -r -a v <<< "${R[$c.sbytes]:-}"
  read -r -a d <<< "${R[$c.down]:-}"
  sb=$(med "${v[@]}") dn=$(med "${d[@]}")
  fl=$(awk -v b="${sb:-0}" -v bw="$BW" 'BEGIN { printf "%.2f", b / bw * 1000 }')
  line+=" $fl ms |"
  line2+=" $(awk -v d="${dn:-0}" -v f="$fl" 'BEGIN { if (f > 0) printf "%.0f×", d / f; else print "–" }') |"
done
echo "$line"
echo "$line2"
