#!/bin/bash
# lxt vs LXC networking, side by side, entirely inside a network namespace this script makes:
# start latency of a busybox container with one veth NIC on a bridge (the same bench-made
# bridge for both tools, static addresses, so no DHCP server is involved), and TCP throughput
# with iperf3 container↔container and host↔container (the "host" is the namespace itself).
# iperf3 runs from the host's binary inside each container's network namespace (nsenter -n):
# the path measured is the NICs' (veth → bridge → veth), the same kernel path for both tools.
#
# Usage: bench/net.sh [N]     N start iterations per tool (default 10); prints a markdown section
# Env:   LXT=CMD              the lxt command (words allowed); default lxt
#        BENCH_NET_SECS=S     seconds per iperf3 run (default 5)
#        BENCH_NET_RUNS=R     iperf3 runs per direction and tool (default 3)
# Root only. Traffic stays inside the namespace; everything made is removed on exit.
set -u
BENCH_TAG=bench/net
. "$(dirname "$0")/lib.sh"
N=${1:-10}
SECS=${BENCH_NET_SECS:-5}
RUNS=${BENCH_NET_RUNS:-3}

bench_positive "$N" "usage: bench/net.sh [N]  (N a positive integer, got '$N')"
bench_need_root
BENCH_NEED_HINT="scripts/setup.sh installs iperf3 and LXC" \
  bench_need lxc-create lxc-start lxc-wait lxc-stop lxc-destroy lxc-info iperf3 ip nsenter "${LXT[0]}"

NS=benchnet-$$
BR=benchbr0
LXTP=$(mktemp -d /var/tmp/lxtbench-net.XXXXXX)
LXCP=$(mktemp -d /var/tmp/lxcbench-net.XXXXXX)
W=$(mktemp -d /var/tmp/bench-net-work.XXXXXX)
inns() { nsenter --net="/run/netns/$NS" "$@"; }
lxt() { inns env LXT_PATH="$LXTP" "${LXT[@]}" "$@"; }
# LXC checks bridges in /sys/class/net, which shows the namespace sysfs was mounted in:
# `ip netns exec` remounts /sys for the namespace (nsenter does not).
lxc() { local v=$1; shift; ip netns exec "$NS" "lxc-$v" -P "$LXCP" "$@"; }

cleanup() {
  trap - EXIT INT TERM
  bench_destroy lxt lxtnet-s lxtnet-e lxtnet-S lxtnet-E lxtnet-a lxtnet-b
  bench_destroy lxc lxcnet-s lxcnet-e lxcnet-S lxcnet-E lxcnet-a lxcnet-b
  pkill_ns
  bench_sweep_networks "$LXTP"
  quiet ip netns del "$NS"
  bench_remove "$LXTP" "$(bench_rundir "$LXTP")" "$LXCP" "$W"
}
# iperf3 servers this script started (by pid, never by name)
SERVERS=()
pkill_ns() { local p; for p in "${SERVERS[@]}"; do quiet kill "$p"; done; SERVERS=(); }
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NS" || die "ip netns add $NS failed"
inns ip link set lo up
inns ip link add "$BR" type bridge
inns ip addr add 10.201.0.1/24 dev "$BR"
inns ip link set "$BR" up

# NAME TOOL LAST-OCTET: a busybox container with one veth on $BR and a static address
nic_lines() {
  printf 'lxc.net.0.type = veth\nlxc.net.0.link = %s\nlxc.net.0.flags = up\nlxc.net.0.ipv4.address = 10.201.0.%s/24\nlxc.net.0.ipv4.gateway = 10.201.0.1\n' "$BR" "$1"
}
# INIT (optional): lxc.init.cmd; the throughput containers run `sleep` so that no DHCP client
# (busybox rcS's udhcpc) touches their static addresses.
make_lxt() {
  lxt create -t busybox --network empty -n "$1" >/dev/null && nic_lines "$2" >> "$LXTP/$1/config" &&
    if [ -n "${3:-}" ]; then echo "lxc.init.cmd = $3" >> "$LXTP/$1/config"; fi
}
make_lxc() {
  nic_lines "$2" > "$W/$1.conf"; if [ -n "${3:-}" ]; then echo "lxc.init.cmd = $3" >> "$W/$1.conf"; fi
  lxc create -n "$1" -t busybox -f "$W/$1.conf" >/dev/null 2>&1
}
start_of() {
  if [ "$1" = lxt ]; then lxt start -n "$2"
  else lxc start -n "$2" -d && lxc wait -n "$2" -s RUNNING -t 10; fi
}
kill_of() { if [ "$1" = lxt ]; then lxt stop -k -n "$2"; else lxc stop -k -n "$2"; fi; }
pid_of() {
  if [ "$1" = lxt ]; then lxt info -n "$2" --format json | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' | head -1
  else lxc info -n "$2" -p -H; fi
}

state_of() {
  if [ "$1" = lxt ]; then lxt info -n "$2" -s; else lxc info -n "$2" -s; fi 2>/dev/null | awk '$1 == "State:" { print $2 }'
}
# tm FILE TOOL NAME CMD...: ms into FILE, and "ITERATION ms" into FILE.by-iter (i: the loop's),
# when CMD exits 0 and NAME is RUNNING afterwards; anything else is reported and left out
tm() {
  local f=$1 tool=$2 name=$3 s e ms st; shift 3
  s=$EPOCHREALTIME; "$@" >/dev/null 2>"$W/last.err" || { echo "bench/net: failed: $* :: $(head -c 300 "$W/last.err")" >&2; return 1; }
  e=$EPOCHREALTIME
  st=$(state_of "$tool" "$name")
  [ "$st" = RUNNING ] || { echo "bench/net: $* exited 0 but $name is ${st:-unknown}: left out" >&2; return 1; }
  s=${s/./}; e=${e/./}
  ms=$(printf '%d.%03d' $(((e - s) / 1000)) $(((e - s) % 1000)))
  echo "$ms" >> "$f"; echo "${i:-0} $ms" >> "$f.by-iter"
}

echo "bench/net: start latency with one veth NIC, N=$N" >&2
make_lxt lxtnet-s 10 || die "lxt create failed"
make_lxc lxcnet-s 20 || die "lxc-create failed"
# the same containers without a NIC, for the NIC's own share of the start
lxt create -t busybox --network empty -n lxtnet-e >/dev/null || die "lxt create failed"
printf 'lxc.net.0.type = empty\n' > "$W/empty.conf"
lxc create -n lxcnet-e -t busybox -f "$W/empty.conf" >/dev/null 2>&1 || die "lxc-create failed"
# and both pairs again with `sleep` as init: the busybox init's rcS starts right away and
# competes for the CPU with the starting tool (more so with a NIC: it checks eth0), so the
# NIC's own setup is measured apart from what the container does once it runs
make_lxt lxtnet-S 11 "/bin/sleep 100000" || die "lxt create failed"
make_lxc lxcnet-S 21 "/bin/sleep 100000" || die "lxc-create failed"
lxt create -t busybox --network empty -n lxtnet-E >/dev/null && echo "lxc.init.cmd = /bin/sleep 100000" >> "$LXTP/lxtnet-E/config" || die "lxt create failed"
printf 'lxc.net.0.type = empty\nlxc.init.cmd = /bin/sleep 100000\n' > "$W/empty-sleep.conf"
lxc create -n lxcnet-E -t busybox -f "$W/empty-sleep.conf" >/dev/null 2>&1 || die "lxc-create failed"
# Each iteration starts both tools' containers with the NIC and without, close in time, so the
# NIC's share is taken per iteration (with − without) and its median reported: the machine's
# speed drifts over a run (other VMs on the host), which a difference of whole-run medians
# takes for the NIC. The order alternates (tools, and with/without) so neither goes first.
for i in $(seq 1 "$N"); do
  if (( i % 2 )); then order="lxc lxt"; variants="s e S E"; else order="lxt lxc"; variants="e s E S"; fi
  for c in $variants; do
    for t in $order; do tm "$W/start-$c.$t" "$t" "${t}net-$c" start_of "$t" "${t}net-$c"; sleep 0.3; done
    sleep 0.3
    for t in $order; do quiet kill_of "$t" "${t}net-$c"; sleep 0.3; done
  done
done

echo "bench/net: iperf3 throughput, ${RUNS}x${SECS}s per direction and tool" >&2
SLEEP="/bin/sleep 100000"
make_lxt lxtnet-a 31 "$SLEEP"; make_lxt lxtnet-b 32 "$SLEEP"; make_lxc lxcnet-a 41 "$SLEEP"; make_lxc lxcnet-b 42 "$SLEEP"
for t in lxt lxc; do for x in a b; do start_of "$t" "${t}net-$x" >/dev/null 2>&1 || die "$t start ${t}net-$x failed"; done; done
sleep 1
# gbit SERVER-PID CLIENT-NS-ARGS... ADDRESS: one iperf3 run, Gbit/s received
gbit() {
  local srv=$1 addr=$2; shift 2
  timeout $((SECS + 20)) nsenter -t "$srv" -n iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
  SERVERS+=($!)
  sleep 0.3
  timeout $((SECS + 15)) "$@" iperf3 -c "$addr" -p 5201 -t "$SECS" -J 2>/dev/null |
    awk '/"sum_received"/ { f = 1 } f && /"bits_per_second"/ { gsub(/[,}]/, "", $2); printf "%.2f\n", $2 / 1e9; exit }'
  wait "${SERVERS[-1]}" 2>/dev/null
  SERVERS=()
}
for r in $(seq 1 "$RUNS"); do
  for t in lxt lxc; do
    pa=$(pid_of "$t" "${t}net-a"); pb=$(pid_of "$t" "${t}net-b")
    [ -n "$pa" ] && [ -n "$pb" ] || die "no init pid for $t"
    ip_a=$([ $t = lxt ] && echo 10.201.0.31 || echo 10.201.0.41)
    v=$(gbit "$pa" "$ip_a" nsenter -t "$pb" -n); [ -n "$v" ] && echo "$v" >> "$W/c2c.$t"
    v=$(gbit "$pa" "$ip_a" nsenter --net="/run/netns/$NS"); [ -n "$v" ] && echo "$v" >> "$W/h2c.$t"
  done
done

cellu() { bench_cell "$@"; }
med() { bench_med "$1"; }
num() { bench_num "$1"; }
ratio() { bench_ratio "$1" "$2"; }

echo "Networking (bench/net.sh, in a namespace of its own, one veth on a bench-made bridge, static addresses):"
echo
echo "| figure | lxt | LXC | n (lxt/LXC) | lxt/LXC |"
echo "|---|---|---|---|---|"
# share WITH WITHOUT: the median over iterations of (start with − start without), one tool
share() {
  [ -s "$1.by-iter" ] && [ -s "$2.by-iter" ] || return 0
  awk 'NR == FNR { w[$1] = $2; next } ($1 in w) { print w[$1] - $2 }' "$1.by-iter" "$2.by-iter" |
    sort -g | awk '{ a[NR] = $1 } END { if (NR) printf "%.1f", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# start_rows WITH WITHOUT LABEL: the two starts and the NIC's share. Near zero (or below,
# within noise) a ratio of shares means nothing, so the verdict compares the shares
# themselves: lxt's no more than LXC's.
start_rows() {
  local a=$1 b=$2 what=$3 r v dl dc
  r=$(ratio "$(med "$W/start-$a.lxt")" "$(med "$W/start-$a.lxc")")
  echo "| start → RUNNING, 1 veth NIC, $what | $(cellu "$W/start-$a.lxt" ms) | $(cellu "$W/start-$a.lxc" ms) | $(num "$W/start-$a.lxt")/$(num "$W/start-$a.lxc") | ${r:-–} |"
  r=$(ratio "$(med "$W/start-$b.lxt")" "$(med "$W/start-$b.lxc")")
  echo "| start → RUNNING, no NIC, $what | $(cellu "$W/start-$b.lxt" ms) | $(cellu "$W/start-$b.lxc" ms) | $(num "$W/start-$b.lxt")/$(num "$W/start-$b.lxc") | ${r:-–} |"
  dl=$(share "$W/start-$a.lxt" "$W/start-$b.lxt"); dc=$(share "$W/start-$a.lxc" "$W/start-$b.lxc")
  r=$(awk -v a="${dl:-}" -v b="${dc:-}" 'BEGIN { if (a == "" || b == "") exit; if (a > 0.5 && b > 0.5) printf "%.2f", a / b; else printf "Δ %.1f ms", a - b }')
  # lxt's share no more than LXC's: their difference ≤ 0, when all four figures have their N samples
  v=$(bench_verdict "$(awk -v a="${dl:-}" -v b="${dc:-}" 'BEGIN { if (a != "" && b != "") print a - b }')" le 0 "$N" \
    "$W/start-$a.lxt" "$W/start-$b.lxt" "$W/start-$a.lxc" "$W/start-$b.lxc")
  echo "| the NIC's share of start, $what (median of per-iteration with − without) | ${dl:-n/a} ms | ${dc:-n/a} ms | | ${r:-–}${v} |"
}
start_rows s e "busybox init"
start_rows S E "init = sleep"
r=$(ratio "$(med "$W/c2c.lxt")" "$(med "$W/c2c.lxc")")
echo "| TCP container↔container (iperf3, ${SECS}s) | $(cellu "$W/c2c.lxt" Gbit/s) | $(cellu "$W/c2c.lxc" Gbit/s) | $(num "$W/c2c.lxt")/$(num "$W/c2c.lxc") | ${r:-–}$(bench_verdict "$r" ge 1 "$RUNS" "$W/c2c.lxt" "$W/c2c.lxc") |"
r=$(ratio "$(med "$W/h2c.lxt")" "$(med "$W/h2c.lxc")")
echo "| TCP host↔container (iperf3, ${SECS}s) | $(cellu "$W/h2c.lxt" Gbit/s) | $(cellu "$W/h2c.lxc" Gbit/s) | $(num "$W/h2c.lxt")/$(num "$W/h2c.lxc") | ${r:-–}$(bench_verdict "$r" ge 1 "$RUNS" "$W/h2c.lxt" "$W/h2c.lxc") |"
