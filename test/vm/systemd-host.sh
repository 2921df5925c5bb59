#!/bin/bash
# systemd-host.sh: lxt on a Debian 12 host as users have it: systemd as PID 1,
# cgroup v2 only, AppArmor on, lxt run from a root login's scope in
# user.slice (not delegated). Meant to run as root inside the VM:
#   VM_SYSTEMD=1 VM_KARGS="apparmor=1 security=apparmor" \
#     test/vm/vm-test.sh 'bash test/vm/systemd-host.sh'
# after `npm run build` on the host (test/vm/run.sh does both; see
# test/vm/README.md). Checks:
#   demo      the README's first container: busybox on the default network
#             lxtbr0 (made on first start; the VM has no NIC, nothing leaves it),
#             a DHCP lease, attach, stop, destroy, network delete
#   scope     a container with limits starts from the login scope: it gets
#             lxt-NAME.scope in machine.slice (Delegate=yes) holding its
#             monitor and payload; machinectl and systemctl show it; limits
#             are enforced (OOM kill, pids, CPU); freeze; its idmap
#             (unprivileged); stop leaves no scope and no cgroup
#   crash     a SIGKILLed monitor: its init (confined by the generated
#             AppArmor profile) dies with it, the scope goes by itself,
#             `ls` says STOPPED
#   confine   a privileged container: the v2 device program allows and
#             refuses nodes; the generated AppArmor profile denies a debugfs
#             mount (EACCES) that works in an unconfined twin (CAP_SYS_ADMIN
#             is kept): only the profile refuses it
#   relative  lxc.cgroup.relative = 1: no scope, beneath the caller's cgroup
#   netns     `ip netns exec` (a private /sys): the cgroups are found through
#             PID 1's mounts, never a container without one
#   lxtd      the daemon as its systemd unit (scripts/lxtd.service, ExecStart
#             pointed at this tree): the stock `lxc` client launches a
#             container through it, which gets its own scope in machine.slice
#             (not the daemon's cgroup); stopping the unit leaves the container
#             running, a restarted lxtd finds it, the unit's cgroup goes
#   autostart scripts/lxt-autostart.service (ExecStart/ExecStop pointed at
#             this tree): starting the unit starts the lxc.start.auto
#             container (own scope in machine.slice, not the unit's cgroup)
#             and not the other; stopping it stops both cleanly; its
#             lxc.hook.start ran in the init's AppArmor profile
# Prints `ok NAME` / `not ok NAME: why`, then `N passed, M failed`; exit 0
# when all passed.
set -u
cd "$(dirname "$0")/../.." || exit 2
. test/vm/lib.sh

if [ "$(id -u)" != 0 ]; then echo "systemd-host: must run as root" >&2; exit 2; fi
[ -e dist/lxt.cjs ] || { echo "systemd-host: run npm run build first" >&2; exit 2; }
if [ "$(cat /proc/1/comm)" != systemd ] || ! [ -d /run/systemd/system ]; then
  echo "systemd-host: PID 1 is not systemd (run it with VM_SYSTEMD=1)" >&2; exit 2
fi

TMP=$(mktemp -d /tmp/lxt-vm-XXXX)
chmod 711 "$TMP"   # searchable by an unprivileged container's root
trap 'rm -rf "$TMP"' EXIT
export LXT_PATH="$TMP/state"
mkdir -m 711 "$LXT_PATH"
LOGIN=$(own_cgroup)
echo "# caller cgroup $LOGIN; AppArmor enabled: $(cat /sys/module/apparmor/parameters/enabled 2> /dev/null)"
case $LOGIN in /user.slice/*) ok env/login-scope ;; *) notok env/login-scope "caller in $LOGIN, want a scope in user.slice" ;; esac
# shellcheck disable=SC2012
no_lxt_cgroups() { [ -z "$(find "$CG" -name '*lxt*' 2> /dev/null | head -n1)" ]; }
scope_gone() { ! systemctl is-active --quiet "lxt-$1.scope" && ! [ -e "$CG/machine.slice/lxt-$1.scope" ]; }
not_a_machine() { ! machinectl show "$1" > /dev/null 2>&1; }

demo_phase() {
  local p=demo t0=$SECONDS n=demo addr
  run "$p/create" "$LXT" create -n $n -t busybox
  run "$p/start" "$LXT" start -n $n
  out=$("$LXT" attach -n $n -- sh -c 'echo "hello from $(hostname), PID 1 is $(cat /proc/1/comm)"' 2>&1)
  if [ "$out" = "hello from $n, PID 1 is init" ]; then ok "$p/attach"; else notok "$p/attach" "'$out'"; fi
  lease() { "$LXT" attach -n $n -- ip -4 -o addr show eth0 2> /dev/null | grep -q ' inet 10\.'; }
  if until_true 60 lease; then ok "$p/dhcp-lease"; else notok "$p/dhcp-lease" "no IPv4 on eth0 after 60 s"; fi
  addr=$("$LXT" ls -f 2> /dev/null | awk -v n=$n '$1 == n {print $4}')
  case $addr in 10.*) ok "$p/ls-address" ;; *) notok "$p/ls-address" "ls -f IPV4 '$addr'" ;; esac
  run "$p/network-show" "$LXT" network show lxtbr0
  run "$p/stop" "$LXT" stop -n $n
  run "$p/destroy" "$LXT" destroy -n $n
  run "$p/network-delete" "$LXT" network delete lxtbr0
  if ip link show lxtbr0 > /dev/null 2>&1 || nft list tables 2> /dev/null | grep -q lxt; then
    notok "$p/network-gone" "$(ip -br link | grep lxt) $(nft list tables | grep lxt)"
  else ok "$p/network-gone"; fi
  echo "# phase $p: $((SECONDS - t0)) s"
}

scope_phase() {
  local p=scope t0=$SECONDS n=sd1 scope dir mon init out
  scope="$CG/machine.slice/lxt-$n.scope"
  dir="$scope/lxt.payload.$n"
  run "$p/create" "$LXT" create -n $n -t busybox --network empty
  run "$p/set-memory" "$LXT" config set $n lxt.limits.memory 32M
  run "$p/set-processes" "$LXT" config set $n lxt.limits.processes 40
  run "$p/set-cpu" "$LXT" config set $n lxt.limits.cpu 0.5
  run "$p/start-limits" "$LXT" start -n $n
  "$LXT" info -n $n --format json > "$TMP/info.json" 2>&1
  init=$(json_field pid "$TMP/info.json")
  if [ "$(json_cgroups "$TMP/info.json" | head -n1)" = "$dir" ] && grep -qx "0::${dir#"$CG"}" "/proc/$init/cgroup" 2> /dev/null; then
    ok "$p/payload-in-scope"
  else notok "$p/payload-in-scope" "info cgroups '$(json_cgroups "$TMP/info.json" | tr '\n' ' ')', init in '$(cat "/proc/$init/cgroup" 2>&1)'"; fi
  mon=$(head -n1 "$scope/lxt.monitor.$n/cgroup.procs" 2> /dev/null)
  if [ -n "$mon" ] && grep -q 'lxt monitor' "/proc/$mon/cmdline" 2> /dev/null; then ok "$p/monitor-in-scope"
  else notok "$p/monitor-in-scope" "monitor leaf procs '$(cat "$scope/lxt.monitor.$n/cgroup.procs" 2>&1 | tr '\n' ' ')'"; fi
  if [ "$(systemctl show -P Delegate "lxt-$n.scope")" = yes ] && [ "$(systemctl show -P Slice "lxt-$n.scope")" = machine.slice ]; then ok "$p/delegated-unit"
  else notok "$p/delegated-unit" "Delegate=$(systemctl show -P Delegate "lxt-$n.scope") Slice=$(systemctl show -P Slice "lxt-$n.scope")"; fi
  if systemctl status "lxt-$n.scope" --no-pager > "$TMP/st" 2>&1 && grep -q "lxt.payload.$n" "$TMP/st"; then ok "$p/systemctl-status"
  else notok "$p/systemctl-status" "$(head -c 400 "$TMP/st" | tr '\n' ' ')"; fi
  if machinectl list --no-legend 2> /dev/null | awk '{print $1}' | grep -qx $n; then ok "$p/machinectl-list"
  else notok "$p/machinectl-list" "$(machinectl list --no-legend 2>&1 | tr '\n' ' ')"; fi
  if machinectl status $n --no-pager > "$TMP/ms" 2>&1 && grep -q "Leader: $init" "$TMP/ms" && grep -q "Unit: lxt-$n.scope" "$TMP/ms"; then ok "$p/machinectl-status"
  else notok "$p/machinectl-status" "$(head -c 400 "$TMP/ms" | tr '\n' ' ')"; fi
  # limits written and enforced
  if [ "$(cat "$dir/memory.max" "$dir/pids.max" "$dir/cpu.max" 2>&1 | tr '\n' ' ')" = "33554432 40 50000 100000 " ]; then ok "$p/limits-written"
  else notok "$p/limits-written" "$(cat "$dir/memory.max" "$dir/pids.max" "$dir/cpu.max" 2>&1 | tr '\n' ' ')"; fi
  out=$("$LXT" attach -n $n -- sh -c 'dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo exit=$?' 2>&1)
  if echo "$out" | grep -q 'exit=137' && grep -Eq '^oom_kill [1-9]' "$dir/memory.events"; then ok "$p/oom-enforced"
  else notok "$p/oom-enforced" "'$(echo $out)', memory.events: $(tr '\n' ' ' < "$dir/memory.events" 2>&1)"; fi
  "$LXT" attach -n $n -- sh -c 'i=0; while [ $i -lt 60 ]; do sleep 30 & i=$((i+1)); done 2>/dev/null; killall sleep; true' > /dev/null 2>&1
  if grep -Eq '^max [1-9]' "$dir/pids.events"; then ok "$p/pids-enforced"
  else notok "$p/pids-enforced" "pids.events: $(tr '\n' ' ' < "$dir/pids.events" 2>&1)"; fi
  "$LXT" attach -n $n -- sh -c '(while :; do :; done) >/dev/null 2>&1 </dev/null & sleep 2; kill $!' > /dev/null 2>&1
  if grep -Eq '^nr_throttled [1-9]' "$dir/cpu.stat"; then ok "$p/cpu-throttled"
  else notok "$p/cpu-throttled" "cpu.stat: $(tr '\n' ' ' < "$dir/cpu.stat" 2>&1)"; fi
  # unprivileged: uid 0 inside is a high uid outside, from root's subuid range
  local map
  map=$(awk '{print $1, $2, $3}' "/proc/$init/uid_map" 2> /dev/null)
  case $map in "0 "[1-9]*" 65536") ok "$p/idmap" ;; *) notok "$p/idmap" "uid_map '$map'" ;; esac
  if [ "$(stat -c %u "/proc/$init")" -ge 100000 ] && [ "$("$LXT" attach -n $n -- id -u 2>&1)" = 0 ]; then ok "$p/uid-0-inside-only"
  else notok "$p/uid-0-inside-only" "host uid $(stat -c %u "/proc/$init")"; fi
  # freeze through the scope's payload cgroup
  run "$p/freeze" "$LXT" freeze -n $n
  if grep -qx 'frozen 1' "$dir/cgroup.events" 2> /dev/null; then ok "$p/frozen"; else notok "$p/frozen" "$(tr '\n' ' ' < "$dir/cgroup.events" 2>&1)"; fi
  state_is "$p" info-frozen $n FROZEN
  run "$p/unfreeze" "$LXT" unfreeze -n $n
  # stop: no scope, no machine, no cgroup, when stop returns
  run "$p/stop" "$LXT" stop -n $n
  if scope_gone $n; then ok "$p/scope-gone"; else notok "$p/scope-gone" "$(systemctl is-active "lxt-$n.scope") $(ls -d "$scope" 2>&1)"; fi
  if not_a_machine $n; then ok "$p/machine-gone"; else notok "$p/machine-gone" "machinectl still lists $n"; fi
  if no_lxt_cgroups; then ok "$p/no-cgroups"; else notok "$p/no-cgroups" "$(find "$CG" -name '*lxt*' | tr '\n' ' ')"; fi
  # the login scope was left alone: nothing moved, no controllers enabled there
  if [ "$(own_cgroup)" = "$LOGIN" ] && [ -z "$(cat "$CG$LOGIN/cgroup.subtree_control")" ]; then ok "$p/login-untouched"
  else notok "$p/login-untouched" "now in $(own_cgroup), subtree_control '$(cat "$CG$LOGIN/cgroup.subtree_control")'"; fi
  echo "# phase $p: $((SECONDS - t0)) s"
}

crash_phase() {
  local p=crash t0=$SECONDS n=sdc mon
  run "$p/create" "$LXT" create -n $n -t busybox --network empty
  run "$p/start" "$LXT" start -n $n
  mon=$(head -n1 "$CG/machine.slice/lxt-$n.scope/lxt.monitor.$n/cgroup.procs" 2> /dev/null)
  if [ -z "$mon" ]; then notok "$p/monitor" "no monitor in the scope"; return; fi
  kill -9 "$mon"
  # The init dies with its monitor (PR_SET_PDEATHSIG); the scope, empty, goes.
  if until_true 30 scope_gone $n; then ok "$p/scope-gone"; else notok "$p/scope-gone" "lxt-$n.scope still there after 30 s"; fi
  state_is "$p" ls-stopped $n STOPPED
  if no_lxt_cgroups; then ok "$p/no-cgroups"; else notok "$p/no-cgroups" "$(find "$CG" -name '*lxt*' | tr '\n' ' ')"; fi
  run "$p/destroy" "$LXT" destroy -n $n
  echo "# phase $p: $((SECONDS - t0)) s"
}

confine_phase() {
  local p=confine t0=$SECONDS n=sdp label out loopctl
  # a /dev/loop-control node (c 10:237, not on the default allowlist), made and opened inside
  loopctl='mknod /dev/lxt-lc c 10 237 && : < /dev/lxt-lc; s=$?; rm -f /dev/lxt-lc; exit $s'
  run "$p/create" "$LXT" create -n $n -t busybox --network empty
  run "$p/privileged" "$LXT" config set $n lxt.privileged 1
  run "$p/start" "$LXT" start -n $n
  out=$("$LXT" attach -n $n -- sh -c 'echo x > /dev/null && : < /dev/zero && : <> /dev/ptmx && echo fine' 2>&1)
  if [ "$out" = fine ]; then ok "$p/devices-allowed"; else notok "$p/devices-allowed" "$(echo $out)"; fi
  out=$("$LXT" attach -n $n -- sh -c "$loopctl" 2>&1)
  case $out in *"Operation not permitted"*) ok "$p/devices-refused" ;; *) notok "$p/devices-refused" "c 10:237 gave '$(echo $out)'" ;; esac
  "$LXT" info -n $n --format json > "$TMP/aa.json" 2>&1
  label=$(json_field apparmor "$TMP/aa.json")
  case $label in lxt-"$n"_*) ok "$p/apparmor-label" ;; *) notok "$p/apparmor-label" "info says '$label'" ;; esac
  if [ "$("$LXT" attach -n $n -- cat /proc/self/attr/current 2>&1)" = "$label (enforce)" ]; then ok "$p/apparmor-attach"
  else notok "$p/apparmor-attach" "attach's label '$("$LXT" attach -n $n -- cat /proc/self/attr/current 2>&1)'"; fi
  # CAP_SYS_ADMIN is kept in a privileged container: the same debugfs mount
  # that works unconfined (checked first, on a twin with lxc.apparmor.profile =
  # unconfined) is refused (EACCES) under the generated profile: only the
  # profile stops it.
  run "$p/twin-create" "$LXT" create -n sdu -t busybox --network empty
  run "$p/twin-privileged" "$LXT" config set sdu lxt.privileged 1
  run "$p/twin-unconfined" "$LXT" config set sdu lxc.apparmor.profile unconfined
  run "$p/twin-start" "$LXT" start -n sdu
  run "$p/unconfined-mounts" "$LXT" attach -n sdu -- sh -c 'mkdir -p /tmp/dbg && mount -t debugfs debugfs /tmp/dbg && umount /tmp/dbg'
  run "$p/twin-destroy" "$LXT" destroy -f -n sdu
  if "$LXT" attach -n $n -- sh -c 'mkdir -p /tmp/dbg && mount -t debugfs debugfs /tmp/dbg' > "$TMP/out" 2>&1; then
    notok "$p/apparmor-denies-mount" "debugfs mounted"
  elif grep -q 'Permission denied' "$TMP/out"; then ok "$p/apparmor-denies-mount"
  else notok "$p/apparmor-denies-mount" "refused, but not with EACCES: '$(tr '\n' ' ' < "$TMP/out")'"; fi
  run "$p/stop" "$LXT" stop -n $n -k
  run "$p/allow-rule" "$LXT" start -n $n -s 'lxc.cgroup2.devices.allow=c 10:237 rw'
  if out=$("$LXT" attach -n $n -- sh -c "$loopctl" 2>&1); then ok "$p/devices-allow-rule"
  else notok "$p/devices-allow-rule" "c 10:237 still refused: $(echo $out)"; fi
  run "$p/destroy" "$LXT" destroy -f -n $n
  if grep -q "^$label " /sys/kernel/security/apparmor/profiles 2> /dev/null; then notok "$p/profile-unloaded" "$label still loaded"
  else ok "$p/profile-unloaded"; fi
  if scope_gone $n && no_lxt_cgroups; then ok "$p/nothing-left"; else notok "$p/nothing-left" "$(find "$CG" -name '*lxt*' | tr '\n' ' ')"; fi
  echo "# phase $p: $((SECONDS - t0)) s"
}

relative_phase() {
  local p=relative t0=$SECONDS n=sdr init
  run "$p/create" "$LXT" create -n $n -t busybox --network empty
  run "$p/set" "$LXT" config set $n lxc.cgroup.relative 1
  run "$p/start" "$LXT" start -n $n
  init=$("$LXT" info -n $n -p 2> /dev/null | awk '{print $NF}')
  if grep -qx "0::$LOGIN/lxt.payload.$n" "/proc/$init/cgroup" 2> /dev/null && scope_gone $n; then ok "$p/beneath-caller"
  else notok "$p/beneath-caller" "init in '$(cat "/proc/$init/cgroup" 2>&1)'"; fi
  run "$p/destroy" "$LXT" destroy -f -n $n
  if no_lxt_cgroups; then ok "$p/no-cgroups"; else notok "$p/no-cgroups" "$(find "$CG" -name '*lxt*' | tr '\n' ' ')"; fi
  echo "# phase $p: $((SECONDS - t0)) s"
}

netns_phase() {
  local p=netns t0=$SECONDS n=sdn dir init
  # `ip netns exec` mounts a fresh sysfs: lxt sees no hierarchy in its own
  # mount namespace and finds them through PID 1's (/proc/1/root).
  ip netns add lxt-vmns || { notok "$p/setup" "ip netns add"; return; }
  run "$p/create" "$LXT" create -n $n -t busybox --network empty
  run "$p/start" ip netns exec lxt-vmns "$LXT" start -n $n
  "$LXT" info -n $n --format json > "$TMP/info.json" 2>&1
  dir=$(json_cgroups "$TMP/info.json" | head -n1)
  init=$(json_field pid "$TMP/info.json")
  if [ "$dir" = "/proc/1/root$CG/machine.slice/lxt-$n.scope/lxt.payload.$n" ] && grep -qx "$init" "$dir/cgroup.procs"; then ok "$p/cgroup-through-pid1"
  else notok "$p/cgroup-through-pid1" "info cgroups '$dir', init $init"; fi
  run "$p/stop" ip netns exec lxt-vmns "$LXT" stop -n $n -k
  if scope_gone $n && no_lxt_cgroups; then ok "$p/nothing-left"; else notok "$p/nothing-left" "$(find "$CG" -name '*lxt*' | tr '\n' ' ')"; fi
  run "$p/destroy" "$LXT" destroy -n $n
  ip netns delete lxt-vmns
  echo "# phase $p: $((SECONDS - t0)) s"
}

lxtd_phase() {
  local p=lxtd t0=$SECONDS n=sdapi sock="$LXT_PATH/.lxtd/unix.socket" conf="$TMP/lxdconf" init
  mkdir -p "$conf" /run/systemd/system/lxtd.service.d
  printf 'default-remote: local\nremotes: {}\naliases: {}\n' > "$conf/config.yml"
  cp scripts/lxtd.service /run/systemd/system/lxtd.service
  printf '[Service]\nExecStart=\nExecStart=%s/bin/lxtd --foreground -P %s\n' "$PWD" "$LXT_PATH" \
    > /run/systemd/system/lxtd.service.d/test.conf
  systemctl daemon-reload
  run "$p/unit-start" systemctl start lxtd
  lxd() { LXD_SOCKET=$sock LXD_CONF=$conf lxc "$@"; }
  if until_true 30 lxd info > /dev/null 2>&1; then ok "$p/answers"; else notok "$p/answers" "$(journalctl -u lxtd --no-pager | tail -5 | tr '\n' ' ')"; fi
  run "$p/launch" env LXD_SOCKET="$sock" LXD_CONF="$conf" lxc launch busybox $n --no-profiles
  init=$("$LXT" info -n $n --format json 2> /dev/null | sed -n 's/^  "pid": \([0-9]*\),$/\1/p')
  if grep -qx "0::/machine.slice/lxt-$n.scope/lxt.payload.$n" "/proc/$init/cgroup" 2> /dev/null; then ok "$p/own-scope"
  else notok "$p/own-scope" "init $init in '$(cat "/proc/$init/cgroup" 2>&1)'"; fi
  run "$p/unit-stop" systemctl stop lxtd
  if "$LXT" ls -f 2> /dev/null | grep -q "^$n *RUNNING"; then ok "$p/outlives-daemon"; else notok "$p/outlives-daemon" "$("$LXT" ls -f 2>&1 | tr '\n' ' ')"; fi
  if [ ! -e "$CG/system.slice/lxtd.service" ]; then ok "$p/unit-cgroup-gone"; else notok "$p/unit-cgroup-gone" "$CG/system.slice/lxtd.service left"; fi
  run "$p/unit-restart" systemctl start lxtd
  until_true 30 lxd info > /dev/null 2>&1
  if lxd list $n --format csv -c ns 2> /dev/null | grep -qx "$n,RUNNING"; then ok "$p/found-again"; else notok "$p/found-again" "$(lxd list --format csv -c ns 2>&1 | tr '\n' ' ')"; fi
  run "$p/delete" env LXD_SOCKET="$sock" LXD_CONF="$conf" lxc delete -f $n
  systemctl stop lxtd
  rm -rf /run/systemd/system/lxtd.service /run/systemd/system/lxtd.service.d
  systemctl daemon-reload
  if scope_gone $n && no_lxt_cgroups; then ok "$p/nothing-left"; else notok "$p/nothing-left" "$(find "$CG" -name '*lxt*' | tr '\n' ' ')"; fi
  echo "# phase $p: $((SECONDS - t0)) s"
}

autostart_phase() {
  local p=autostart t0=$SECONDS a=sdauto b=sdmanual unit=lxt-autostart.service init
  run "$p/create" "$LXT" create -n $a -t busybox --network empty
  run "$p/create-other" "$LXT" create -n $b -t busybox --network empty
  printf '%s\n' "lxc.start.auto = 1" \
    "lxc.hook.start = /bin/sh -c 'cat /proc/self/attr/current > /start-hook.label'" >> "$LXT_PATH/$a/config"
  mkdir -p /run/systemd/system/$unit.d
  cp scripts/lxt-autostart.service /run/systemd/system/$unit
  # The unit's own commands, with this tree's lxt and state root.
  sed -n 's|^\(Exec[A-Za-z]*\)=/usr/local/bin/lxt \(.*\)$|\1=\n\1='"$PWD"'/bin/lxt \2 -P '"$LXT_PATH"'|p' scripts/lxt-autostart.service \
    | sed '1i [Service]' > /run/systemd/system/$unit.d/test.conf
  systemctl daemon-reload
  run "$p/unit-start" systemctl start $unit
  init=$("$LXT" info -n $a --format json 2> /dev/null | sed -n 's/^  "pid": \([0-9]*\),$/\1/p')
  if grep -qx "0::/machine.slice/lxt-$a.scope/lxt.payload.$a" "/proc/$init/cgroup" 2> /dev/null; then ok "$p/started-own-scope"
  else notok "$p/started-own-scope" "init '$init' in '$(cat "/proc/$init/cgroup" 2>&1)'"; fi
  if [ -n "$init" ] && [ "$("$LXT" attach -n $a -- cat /start-hook.label 2>&1)" = "$(cat "/proc/$init/attr/current" 2>&1)" ] \
    && grep -q "^lxt-" "/proc/$init/attr/current"; then ok "$p/start-hook-confined"
  else notok "$p/start-hook-confined" "hook '$("$LXT" attach -n $a -- cat /start-hook.label 2>&1)', init '$(cat "/proc/$init/attr/current" 2>&1)'"; fi
  if "$LXT" ls -f 2> /dev/null | grep -q "^$b *STOPPED"; then ok "$p/not-auto-stays"; else notok "$p/not-auto-stays" "$("$LXT" ls -f 2>&1 | tr '\n' ' ')"; fi
  run "$p/start-other" "$LXT" start -n $b
  run "$p/unit-stop" systemctl stop $unit
  if "$LXT" ls -f 2> /dev/null | grep -cE "^($a|$b) +STOPPED" | grep -qx 2; then ok "$p/all-stopped"; else notok "$p/all-stopped" "$("$LXT" ls -f 2>&1 | tr '\n' ' ')"; fi
  # A clean halt (busybox's init ends with SIGINT's status), not the SIGKILL after -t.
  if [ -s "$LXT_PATH/$a/last-exit" ] && ! grep -qx "signaled 9" "$LXT_PATH/$a/last-exit"; then ok "$p/clean-halt"; else notok "$p/clean-halt" "$(cat "$LXT_PATH/$a/last-exit" 2>&1)"; fi
  rm -rf /run/systemd/system/$unit /run/systemd/system/$unit.d
  systemctl daemon-reload
  run "$p/destroy" "$LXT" destroy -n $a
  run "$p/destroy-other" "$LXT" destroy -n $b
  if scope_gone $a && scope_gone $b && no_lxt_cgroups; then ok "$p/nothing-left"; else notok "$p/nothing-left" "$(find "$CG" -name '*lxt*' | tr '\n' ' ')"; fi
  echo "# phase $p: $((SECONDS - t0)) s"
}

for p in ${PHASES:-demo scope crash confine relative netns lxtd autostart}; do
  "${p}_phase"
done
summary
