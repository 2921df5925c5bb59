#!/bin/bash
# Time from `lxt start` returning to the container having its IPv4 address, on a managed network
# (bridge + dnsmasq), entirely inside a network namespace this script makes: N new busybox
# containers (create, then start, as a new user does); once start returns, the init's eth0 is
# looked at (nsenter + ip, a few ms) every 10 ms until it has an IPv4 address. The figure is
# the time from start's return to the look that saw it (0-ish when the first look did). With
# LXT_BEFORE set, a second lxt (e.g. a build of an older commit) is measured the same way in the
# same run, on a network of its own.
#
# Usage: bench/address.sh [N]   N starts per lxt (default 5); prints a markdown section
# Env:   LXT=CMD                the lxt measured (words allowed); default lxt
#        LXT_BEFORE=CMD         another lxt to measure beside it (optional)
# Root only. DHCP traffic stays inside the namespace; everything made is removed on exit.
set -u
BENCH_TAG=bench/address
. "$(dirname "$0")/lib.sh"
N=${1:-5}
bench_positive "$N" "usage: bench/address.sh [N]  (N a positive integer, got '$N')"
bench_need_root
bench_need ip nsenter "${LXT[0]}"
read -r -a BEFORE <<< "${LXT_BEFORE:-}"

NS=benchaddr-$$
W=$(mktemp -d /var/tmp/bench-addr-work.XXXXXX)
# an unprivileged container's root must reach its rootfs beneath it
chmod 711 "$W"
NAMES=()
inns() { nsenter --net="/run/netns/$NS" "$@"; }
# tool_lxt TOOL ARGS...: TOOL is "after" (LXT) or "before" (LXT_BEFORE), each on its own state root
tool_lxt() {
  local t=$1; shift
  if [ "$t" = after ]; then inns env LXT_PATH="$W/root-after" "${LXT[@]}" "$@"
  else inns env LXT_PATH="$W/root-before" "${BEFORE[@]}" "$@"; fi
}

cleanup() {
  trap - EXIT INT TERM
  local t n
  for n in "${NAMES[@]}"; do
    quiet tool_lxt "${n%%:*}" stop -k -n "${n#*:}"
    quiet tool_lxt "${n%%:*}" destroy -f -n "${n#*:}"
  done
  for t in after before; do
    [ -d "$W/root-$t" ] || continue
    quiet tool_lxt "$t" network delete "bab$t"
    bench_remove "$(bench_rundir "$W/root-$t")"
  done
  quiet ip netns del "$NS"
  bench_remove "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# init_pid TOOL NAME: the init's pid, from the runtime directory's `state` (RUNNING PID START)
init_pid() { local st; read -r st pid _ < "$(bench_rundir "$W/root-$1")/$2/state" && echo "$pid"; }
# has_addr PID: whether eth0 in PID's network namespace has an IPv4 address (one nsenter + ip)
has_addr() { [ -n "$(nsenter --net="/proc/$1/ns/net" ip -4 -o addr show dev eth0 2>/dev/null)" ]; }

# measure TOOL OCTET: N new busybox containers (create, start: a new user's first start), each on
# a network 10.0.OCTET.0/24 of the tool's own; after start returns, eth0 is looked at every few ms
measure() {
  local t=$1 n i k t0 seen ok pid
  mkdir -p "$W/root-$t"
  tool_lxt "$t" network create "bab$t" --ipv4 "10.0.$2.1/24" --nat false >/dev/null \
    || die "$t: network create failed"
  for ((i = 0; i < N; i++)); do
    n=addr-$t-$i
    NAMES+=("$t:$n")
    tool_lxt "$t" create -t busybox -n "$n" --network "bab$t" -q >/dev/null || die "$t: create failed"
    tool_lxt "$t" start -n "$n" || die "$t: start failed"
    t0=$(now_ms)
    pid=$(init_pid "$t" "$n") || die "$t: no state file for $n"
    ok=
    for ((k = 0; k < 6000; k++)); do
      seen=$(now_ms)
      if has_addr "$pid"; then ok=1; break; fi
      sleep 0.01
    done
    [ -n "$ok" ] || die "$t: no address 60 s after start"
    echo $(( seen - t0 )) >> "$W/$t.ms"
    [ "$k" -eq 0 ] && echo 1 >> "$W/$t.first"
    tool_lxt "$t" stop -k -n "$n" >/dev/null || die "$t: stop failed"
    tool_lxt "$t" destroy -n "$n" >/dev/null || die "$t: destroy failed"
  done
}

ip netns add "$NS" || die "ip netns add $NS failed"
inns ip link set lo up
[ ${#BEFORE[@]} -gt 0 ] && measure before 181
measure after 182

echo "Address after start (bench/address.sh, $N new busybox containers each, on a managed network in a namespace"
echo "of its own; ms from \`start\` returning to the first look at eth0 that saw an IPv4 address):"
echo
echo "| lxt | time to address, median (min–max) | first look saw it |"
echo "| --- | --- | --- |"
for t in before after; do
  [ -s "$W/$t.ms" ] || continue
  first=$(bench_num "$W/$t.first")
  label=$t; [ "$t" = after ] && label="this build (${LXT[*]})"; [ "$t" = before ] && label="before (${BEFORE[*]})"
  echo "| $label | $(bench_cell "$W/$t.ms" ms) | $first of $N |"
done
