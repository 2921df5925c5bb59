#!/bin/bash
# cgroup2-smoke.sh: lxt's cgroup code on a pure cgroup-v2 kernel, for real.
#
# Meant to run as root inside the cgroup-v2-only VM, from the repo root:
#   /work/shared/vm-cgroup2/vm-test.sh 'bash test/vm/cgroup2-smoke.sh'
# after `npm run build` on the host. See test/vm/README.md.
#
# Phases (SMOKE_PHASES, default "root child scope"):
#   root   lxt runs in whatever cgroup the caller is in (the root cgroup in the VM)
#   child  the shell first moves itself into /sys/fs/cgroup/lxt-vm-caller, a
#          non-root cgroup that holds processes, as a systemd session would
#   share  a container joining another's namespaces, with a time offset
#   scope  `lxt start` with limits, run as the sole process of a fresh cgroup,
#          as `systemd-run --scope -p Delegate=yes lxt start` would; then
#          enforcement, live set/unset, freeze and clean removal
# In child, limits are refused (cgroup-delegation): the caller's cgroup holds
# the shell, which lxt must not move. In scope, lxt moves itself into a leaf
# and the limits are applied and enforced.
# Each check prints `ok NAME` or `not ok NAME: why`; the last line is
# `N passed, M failed`. Exit status: 0 if all passed, 1 otherwise, 2 if the
# host is not cgroup-v2-only (SMOKE_FORCE=1 runs anyway).
set -u

cd "$(dirname "$0")/../.." || exit 2
. test/vm/lib.sh
NAME=v2a
PHASES=${SMOKE_PHASES:-root child scope dirs share}
# make a /dev/loop-control node (c 10:237, not on the default allowlist) in /dev (a tmpfs without nodev, unlike the VM's /tmp) and open it
LOOPCTL='mknod /dev/lxt-lc c 10 237 && : < /dev/lxt-lc; s=$?; rm -f /dev/lxt-lc; exit $s'

if [ "$(id -u)" != 0 ]; then echo "cgroup2-smoke: must run as root" >&2; exit 2; fi
if [ "$(stat -fc %T "$CG" 2> /dev/null)" != cgroup2fs ] || grep -q ' - cgroup ' /proc/self/mountinfo; then
  echo "cgroup2-smoke: $CG is not a pure cgroup2 mount (run it in the VM)" >&2
  [ "${SMOKE_FORCE:-0}" = 1 ] || exit 2
fi
[ -x "$PWD/dist/lxt.cjs" ] || [ -e "$PWD/dist/lxt.cjs" ] || { echo "cgroup2-smoke: run npm run build first" >&2; exit 2; }

TMP=$(mktemp -d /tmp/lxt-vm-XXXX)
chmod 711 "$TMP"   # searchable by an unprivileged container's root (as lxt needs of a state root's parents)
trap 'rm -rf "$TMP"' EXIT

AA_LABEL=""
# the generated AppArmor profile, where the VM's kernel has AppArmor (Debian's does)
apparmor_checks() {
  local p=$1 pid=$2 label current out
  if [ "$(cat /sys/module/apparmor/parameters/enabled 2> /dev/null)" != Y ]; then
    echo "# $p: AppArmor not enabled in this kernel: no AppArmor checks"
    return
  fi
  "$LXT" info -n "$NAME" --format json > "$TMP/aa.json" 2>&1
  label=$(json_field apparmor "$TMP/aa.json")
  case $label in
    lxt-"$NAME"_*) ok "$p/apparmor-label" ;;
    *) notok "$p/apparmor-label" "info says '$label'"; return ;;
  esac
  AA_LABEL=$label
  current=$(cat "/proc/$pid/attr/current" 2>&1)
  if [ "$current" = "$label (enforce)" ]; then ok "$p/apparmor-init"
  else notok "$p/apparmor-init" "init's label '$current', want '$label (enforce)'"; fi
  current=$("$LXT" attach -n "$NAME" -- cat /proc/self/attr/current 2>&1)
  if [ "$current" = "$label (enforce)" ]; then ok "$p/apparmor-attach"
  else notok "$p/apparmor-attach" "attach's label '$current'"; fi
  # CAP_SYS_ADMIN is kept, so only the profile stops a debugfs mount
  if out=$("$LXT" attach -n "$NAME" -- sh -c 'mkdir -p /tmp/dbg && mount -t debugfs debugfs /tmp/dbg' 2>&1); then
    notok "$p/apparmor-mount-denied" "debugfs mounted"
  else ok "$p/apparmor-mount-denied"; fi
}

phase() {
  local p=$1 t0=$SECONDS
  export LXT_PATH
  LXT_PATH=$(mktemp -d "$TMP/state-XXXX")
  local own parent
  own=$(own_cgroup)
  parent="$CG${own%/}"
  echo "# phase $p: caller cgroup $own, subtree_control '$(cat "$parent/cgroup.subtree_control" 2> /dev/null)'"

  run "$p/create" "$LXT" create -n "$NAME" -t busybox
  run "$p/start" "$LXT" start -n "$NAME"

  # info --format json: state, pid, and the cgroups (one v2 dir below the caller's)
  local pid="" dir=""
  if "$LXT" info -n "$NAME" --format json > "$TMP/info.json" 2> "$TMP/out"; then
    pid=$(json_field pid "$TMP/info.json")
    local st dirs n
    st=$(json_field state "$TMP/info.json")
    dirs=$(json_cgroups "$TMP/info.json")
    n=$(printf '%s\n' "$dirs" | grep -c .)
    dir=$(printf '%s\n' "$dirs" | head -n1)
    if [ "$st" != RUNNING ]; then notok "$p/info-json" "state '$st'"
    elif [ "$n" != 1 ]; then notok "$p/info-json" "want 1 cgroup, got $n: $(echo $dirs)"
    elif [ "$dir" != "$parent/lxt.payload.$NAME" ]; then
      notok "$p/info-json" "cgroup $dir, want $parent/lxt.payload.$NAME"
    elif ! [ -d "$dir" ]; then notok "$p/info-json" "$dir is not a directory"
    else ok "$p/info-json"; fi
  else
    notok "$p/info-json" "$(tr '\n' ' ' < "$TMP/out" | cut -c1-400)"
  fi
  # the init, seen from here, is in that cgroup
  local initcg
  initcg=$(sed -n 's/^0:://p' "/proc/$pid/cgroup" 2> /dev/null)
  if [ -n "$pid" ] && [ "$CG$initcg" = "$dir" ]; then ok "$p/init-in-cgroup"
  else notok "$p/init-in-cgroup" "init pid '${pid}' is in '$initcg', want ${dir#"$CG"}"; fi

  # the cgroup namespace: the container sees its own cgroup as /
  local inside
  inside=$("$LXT" attach -n "$NAME" -- cat /proc/self/cgroup 2>&1)
  if [ "$inside" = "0::/" ]; then ok "$p/attach-cgroupns"
  else notok "$p/attach-cgroupns" "got '$(echo $inside)', want 0::/"; fi

  # the device allowlist: an eBPF program on the container's cgroup (root phase only: the VM is slow)
  if [ "$p" = root ]; then
    # on a privileged container: in a user namespace mknod is refused before the device check
    run "$p/create-privileged" "$LXT" create -n v2p -t busybox
    sed -i 's/^lxt.privileged = 0$/lxt.privileged = 1/' "$LXT_PATH/v2p/config"
    run "$p/start-privileged" "$LXT" start -n v2p
    inside=$("$LXT" attach -n v2p -- sh -c 'echo x > /dev/null && : < /dev/zero && : <> /dev/ptmx && echo fine' 2>&1)
    if [ "$inside" = fine ]; then ok "$p/devices-allowed"; else notok "$p/devices-allowed" "$(echo $inside)"; fi
    inside=$("$LXT" attach -n v2p -- sh -c "$LOOPCTL" 2>&1)
    case $inside in
      *"Operation not permitted"*) ok "$p/devices-refused" ;;
      *) notok "$p/devices-refused" "opening c 10:237 (not on the allowlist) gave '$(echo $inside)'" ;;
    esac
    run "$p/stop-privileged" "$LXT" stop -k -n v2p
    # lxc.cgroup2.devices.allow adds to the program: the open now gets past the device check
    run "$p/start-allow-rule" "$LXT" start -n v2p -s 'lxc.cgroup2.devices.allow=c 10:237 rw'
    if inside=$("$LXT" attach -n v2p -- sh -c "$LOOPCTL" 2>&1); then ok "$p/devices-allow-rule"
    else notok "$p/devices-allow-rule" "c 10:237 still refused: $(echo $inside)"; fi
    run "$p/destroy-privileged" "$LXT" destroy -f -n v2p
    apparmor_checks "$p" "$pid"
  fi

  run "$p/stop" "$LXT" stop -n "$NAME" -t 30
  if [ -n "$dir" ] && [ -e "$dir" ]; then notok "$p/stop-removes-cgroup" "$dir still there"
  else ok "$p/stop-removes-cgroup"; fi

  # limits on v2: memory.max and pids.max in the container's dir
  local rc=0
  "$LXT" start -n "$NAME" -s lxt.limits.memory=64M -s lxt.limits.processes=50 > "$TMP/out" 2>&1 || rc=$?
  if [ $rc = 0 ]; then
    ok "$p/start-limits"
    local mem pids
    mem=$(cat "$dir/memory.max" 2>&1)
    pids=$(cat "$dir/pids.max" 2>&1)
    if [ "$mem" = 67108864 ]; then ok "$p/memory.max"; else notok "$p/memory.max" "'$mem', want 67108864"; fi
    if [ "$pids" = 50 ]; then ok "$p/pids.max"; else notok "$p/pids.max" "'$pids', want 50"; fi
  elif [ "$p" = child ] && grep -q 'holds processes other than lxt' "$TMP/out"; then
    # Expected: the caller's cgroup also holds this shell, which lxt must not
    # move, so controllers cannot be enabled there (no internal processes).
    ok "$p/limits-refused"
    if grep -q 'systemd-run --scope -p Delegate=yes' "$TMP/out"; then ok "$p/refusal-hint"
    else notok "$p/refusal-hint" "$(tr '\n' ' ' < "$TMP/out" | cut -c1-300)"; fi
    # the refusal must be clean: no cgroup left, shell not moved, container stopped
    if ls -d "$parent"/lxt.payload.* "$parent"/lxt.monitor.* > /dev/null 2>&1; then notok "$p/refusal-clean" "left: $(echo "$parent"/lxt.*)"
    elif [ -n "$(cat "$parent/cgroup.subtree_control")" ]; then notok "$p/refusal-clean" "subtree_control '$(cat "$parent/cgroup.subtree_control")'"
    elif [ "$(own_cgroup)" != "${parent#"$CG"}" ]; then notok "$p/refusal-clean" "the shell moved to $(own_cgroup)"
    elif [ "$("$LXT" info -n "$NAME" -s 2>&1 | sed -n 's/^State: *//p')" != STOPPED ]; then notok "$p/refusal-clean" "not STOPPED"
    else ok "$p/refusal-clean"; fi
  else
    notok "$p/start-limits" "exit $rc: $(tr '\n' ' ' < "$TMP/out" | cut -c1-400)"
  fi
  if [ $rc != 0 ]; then
    # go on without limits, so that the freezer is still tested
    "$LXT" start -n "$NAME" > /dev/null 2>&1
  fi
  if "$LXT" info -n "$NAME" --format json > "$TMP/info.json" 2> /dev/null; then
    echo "# $p stats: memory_bytes=$(json_field memory_bytes "$TMP/info.json") pids=$(json_field pids "$TMP/info.json") cpu_seconds=$(json_field cpu_seconds "$TMP/info.json")"
  fi

  # freezer: cgroup.freeze / cgroup.events
  if run "$p/freeze" "$LXT" freeze -n "$NAME"; then
    if grep -qx 'frozen 1' "$dir/cgroup.events" 2> /dev/null; then ok "$p/cgroup.events-frozen"
    else notok "$p/cgroup.events-frozen" "$(tr '\n' ' ' < "$dir/cgroup.events" 2>&1)"; fi
  fi
  state_is "$p" info-frozen "$NAME" FROZEN
  run "$p/unfreeze" "$LXT" unfreeze -n "$NAME"
  state_is "$p" info-running "$NAME" RUNNING

  run "$p/stop-kill" "$LXT" stop -n "$NAME" -k
  if [ -n "$dir" ] && [ -e "$dir" ]; then notok "$p/cgroup-gone" "$dir still there, procs: $(cat "$dir/cgroup.procs" 2>&1 | tr '\n' ' ')"
  elif ls -d "$parent"/lxt.payload.* > /dev/null 2>&1; then notok "$p/cgroup-gone" "left: $(echo "$parent"/lxt.payload.*)"
  else ok "$p/cgroup-gone"; fi

  run "$p/destroy" "$LXT" destroy -n "$NAME"
  if [ -e "$LXT_PATH/$NAME" ]; then notok "$p/destroy-gone" "$LXT_PATH/$NAME still there"; else ok "$p/destroy-gone"; fi
  if [ -n "$AA_LABEL" ]; then
    if grep -q "^$AA_LABEL " /sys/kernel/security/apparmor/profiles; then notok "$p/apparmor-unloaded" "$AA_LABEL still loaded"
    else ok "$p/apparmor-unloaded"; fi
    AA_LABEL=""
  fi

  # leave nothing for the next phase, whatever failed
  "$LXT" stop -n "$NAME" -k > /dev/null 2>&1
  "$LXT" destroy -n "$NAME" -f > /dev/null 2>&1
  echo "# phase $p: $((SECONDS - t0)) s"
}

# lxt alone in a fresh cgroup C, as `systemd-run --scope -p Delegate=yes lxt
# start` puts it: lxt moves itself into C/lxt.monitor.NAME, enables the
# controllers in C, and the limits hold.
scope_phase() {
  local p=scope t0=$SECONDS rc=0
  export LXT_PATH
  LXT_PATH=$(mktemp -d "$TMP/state-XXXX")
  local scope="$CG$(own_cgroup | sed 's,/$,,')/lxt-vm-scope"
  local dir="$scope/lxt.payload.$NAME" leaf="$scope/lxt.monitor.$NAME"
  echo "# phase $p: lxt alone in ${scope#"$CG"}"
  run "$p/create" "$LXT" create -n "$NAME" -t busybox
  mkdir "$scope" || { notok "$p/setup" "mkdir $scope"; return; }
  # shellcheck disable=SC2016
  sh -c 'echo $$ > "$1/cgroup.procs" && exec "$2" start -n "$3" -s lxt.limits.memory=32M -s lxt.limits.processes=40 -s lxt.limits.cpu=0.5' \
    sh "$scope" "$LXT" "$NAME" > "$TMP/out" 2>&1 || rc=$?
  if [ $rc = 0 ]; then ok "$p/start-limits"
  else notok "$p/start-limits" "exit $rc: $(tr '\n' ' ' < "$TMP/out" | cut -c1-400)"; fi

  # layout: C empty, the monitor in the leaf, controllers on, limits written
  local mon
  mon=$(head -n1 "$leaf/cgroup.procs" 2> /dev/null)
  if [ -z "$(cat "$scope/cgroup.procs" 2>&1)" ] && [ -n "$mon" ] && grep -qx "0::${leaf#"$CG"}" "/proc/$mon/cgroup" 2> /dev/null; then ok "$p/monitor-in-leaf"
  else notok "$p/monitor-in-leaf" "C procs '$(cat "$scope/cgroup.procs" 2>&1 | tr '\n' ' ')', leaf procs '$(cat "$leaf/cgroup.procs" 2>&1 | tr '\n' ' ')'"; fi
  local sc
  sc=$(cat "$scope/cgroup.subtree_control" 2>&1)
  if echo "$sc" | grep -qw memory && echo "$sc" | grep -qw pids && echo "$sc" | grep -qw cpu; then ok "$p/subtree-control"
  else notok "$p/subtree-control" "'$sc'"; fi
  local mem pids cpu
  mem=$(cat "$dir/memory.max" 2>&1); pids=$(cat "$dir/pids.max" 2>&1); cpu=$(cat "$dir/cpu.max" 2>&1)
  if [ "$mem $pids $cpu" = "33554432 40 50000 100000" ]; then ok "$p/limits-written"
  else notok "$p/limits-written" "memory.max '$mem' pids.max '$pids' cpu.max '$cpu'"; fi

  # enforcement: a memory hog is OOM-killed inside, a fork loop stops at pids.max
  local out
  out=$("$LXT" attach -n "$NAME" -- sh -c 'dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo exit=$?' 2>&1)
  if echo "$out" | grep -q 'exit=137' && grep -Eq '^oom_kill [1-9]' "$dir/memory.events"; then ok "$p/oom-enforced"
  else notok "$p/oom-enforced" "'$(echo $out)', memory.events: $(tr '\n' ' ' < "$dir/memory.events" 2>&1)"; fi
  "$LXT" attach -n "$NAME" -- sh -c 'i=0; while [ $i -lt 60 ]; do sleep 30 & i=$((i+1)); done 2>/dev/null; killall sleep; true' > /dev/null 2>&1
  if grep -Eq '^max [1-9]' "$dir/pids.events"; then ok "$p/pids-enforced"
  else notok "$p/pids-enforced" "pids.events: $(tr '\n' ' ' < "$dir/pids.events" 2>&1)"; fi
  # cpu.max: a busy loop is throttled (counts, not timing: the VM is emulated)
  "$LXT" attach -n "$NAME" -- sh -c '(while :; do :; done) >/dev/null 2>&1 </dev/null & sleep 2; kill $!' > /dev/null 2>&1
  if grep -Eq '^nr_throttled [1-9]' "$dir/cpu.stat"; then ok "$p/cpu-throttled"
  else notok "$p/cpu-throttled" "cpu.stat: $(tr '\n' ' ' < "$dir/cpu.stat" 2>&1)"; fi

  # live changes from outside C: set, unset (back to max), a bad value refused
  run "$p/config-set" "$LXT" config set "$NAME" lxt.limits.processes 30
  if [ "$(cat "$dir/pids.max")" = 30 ]; then ok "$p/set-applied"; else notok "$p/set-applied" "pids.max $(cat "$dir/pids.max")"; fi
  run "$p/config-unset" "$LXT" config unset "$NAME" lxt.limits.processes
  if [ "$(cat "$dir/pids.max")" = max ]; then ok "$p/unset-applied"; else notok "$p/unset-applied" "pids.max $(cat "$dir/pids.max")"; fi
  if "$LXT" config set "$NAME" lxt.limits.memory 12Q > "$TMP/out" 2>&1; then notok "$p/bad-value" "12Q accepted"
  elif [ "$(cat "$dir/memory.max")" = 33554432 ]; then ok "$p/bad-value"; else notok "$p/bad-value" "memory.max changed"; fi

  # freeze and unfreeze
  run "$p/freeze" "$LXT" freeze -n "$NAME"
  if grep -qx 'frozen 1' "$dir/cgroup.events" 2> /dev/null; then ok "$p/frozen"; else notok "$p/frozen" "$(tr '\n' ' ' < "$dir/cgroup.events" 2>&1)"; fi
  run "$p/unfreeze" "$LXT" unfreeze -n "$NAME"

  # clean removal: payload and monitor leaf gone, C empty and removable
  run "$p/stop" "$LXT" stop -n "$NAME" -k
  if [ -e "$dir" ] || [ -e "$leaf" ]; then notok "$p/cgroups-gone" "left: $(ls -d "$dir" "$leaf" 2> /dev/null | tr '\n' ' ')"
  else ok "$p/cgroups-gone"; fi
  run "$p/destroy" "$LXT" destroy -n "$NAME" -f
  if rmdir "$scope" 2> /dev/null; then ok "$p/scope-removable"
  else notok "$p/scope-removable" "$(ls "$scope" | grep -v '^cgroup\.\|\.' | tr '\n' ' ') procs $(cat "$scope/cgroup.procs" 2>&1 | tr '\n' ' ')"; fi
  echo "# phase $p: $((SECONDS - t0)) s"
}

# lxc.cgroup.dir.*: lxt alone in a fresh cgroup C (as in a Delegate=yes
# service) with the container's, the init's (inner) and the monitor's
# cgroups named, and a pivot: controllers passed down the named path, the
# monitor in its own, the limit on the container's, out of the init's reach.
dirs_phase() {
  local p=dirs t0=$SECONDS rc=0 top mon
  export LXT_PATH
  LXT_PATH=$(mktemp -d "$TMP/state-XXXX")
  top="$CG$(own_cgroup | sed 's,/$,,')/lxt-vm-dirs"
  echo "# phase $p: lxt alone in ${top#"$CG"}"
  run "$p/create" "$LXT" create -n "$NAME" -t busybox --network empty
  printf '%s\n' "lxc.cgroup.dir.container = d/c" "lxc.cgroup.dir.monitor = d/mon" \
    "lxc.cgroup.dir.container.inner = ns" "lxc.cgroup.dir.monitor.pivot = pv" >> "$LXT_PATH/$NAME/config"
  mkdir "$top" || { notok "$p/setup" "mkdir $top"; return; }
  # shellcheck disable=SC2016
  sh -c 'echo $$ > "$1/cgroup.procs" && exec "$2" start -n "$3" -s lxt.limits.processes=40' \
    sh "$top" "$LXT" "$NAME" > "$TMP/out" 2>&1 || rc=$?
  if [ $rc = 0 ]; then ok "$p/start"; else notok "$p/start" "exit $rc: $(tr '\n' ' ' < "$TMP/out" | cut -c1-400)"; fi
  local init
  init=$("$LXT" info -n "$NAME" -p 2> /dev/null | awk '{print $NF}')
  if grep -qx "0::${top#"$CG"}/d/c/ns" "/proc/$init/cgroup" 2> /dev/null; then ok "$p/init-inner"
  else notok "$p/init-inner" "init in '$(cat "/proc/$init/cgroup" 2>&1)'"; fi
  mon=$(head -n1 "$top/d/mon/cgroup.procs" 2> /dev/null)
  if [ -n "$mon" ] && grep -q 'lxt monitor' "/proc/$mon/cmdline" 2> /dev/null; then ok "$p/monitor-named"
  else notok "$p/monitor-named" "d/mon holds '$(cat "$top/d/mon/cgroup.procs" 2>&1 | tr '\n' ' ')'"; fi
  if [ "$(cat "$top/d/c/pids.max" 2>&1)" = 40 ] && grep -qw pids "$top/d/c/cgroup.subtree_control"; then ok "$p/limit-outside"
  else notok "$p/limit-outside" "pids.max '$(cat "$top/d/c/pids.max" 2>&1)', subtree '$(cat "$top/d/c/cgroup.subtree_control" 2>&1)'"; fi
  if [ "$(stat -c %u "$top/d/c/ns/cgroup.procs")" != 0 ] && [ "$(stat -c %u "$top/d/c/cgroup.procs")" = 0 ]; then ok "$p/ownership"
  else notok "$p/ownership" "ns $(stat -c %u "$top/d/c/ns/cgroup.procs"), c $(stat -c %u "$top/d/c/cgroup.procs")"; fi
  run "$p/stop" "$LXT" stop -n "$NAME" -k
  if [ -e "$top/d/c" ] || [ -e "$top/d/mon" ]; then notok "$p/gone" "left: $(ls -d "$top/d/c" "$top/d/mon" 2> /dev/null | tr '\n' ' ')"
  elif [ -d "$top/pv" ]; then ok "$p/gone"; else notok "$p/gone" "the pivot $top/pv went too"; fi
  run "$p/destroy" "$LXT" destroy -n "$NAME" -f
  rmdir "$top/pv" "$top/d" "$top" 2> /dev/null || notok "$p/removable" "$(find "$top" -type d | tr '\n' ' ')"
  echo "# phase $p: $((SECONDS - t0)) s"
}

# A container that joins another's namespaces (cloned by an intermediate,
# its v2 cgroup entered by a write, not CLONE_INTO_CGROUP), with a time offset.
share_phase() {
  local p=share t0=$SECONDS a=v2s1 b=v2s2 pa pb
  export LXT_PATH
  LXT_PATH=$(mktemp -d "$TMP/state-XXXX")
  echo "# phase $p"
  run "$p/create-a" "$LXT" create -n "$a" -t busybox --network empty
  run "$p/create-b" "$LXT" create -n "$b" -t busybox --network empty
  printf '%s\n' "lxc.uts.name =" "lxc.namespace.share.net = $a" "lxc.namespace.share.uts = $a" \
    "lxc.time.offset.boot = 10h" "lxc.proc.oom_score_adj = 123" >> "$LXT_PATH/$b/config"
  run "$p/start-a" "$LXT" start -n "$a"
  run "$p/start-b" "$LXT" start -n "$b"
  pa=$("$LXT" info -n "$a" -p 2> /dev/null | awk '{print $NF}')
  pb=$("$LXT" info -n "$b" -p 2> /dev/null | awk '{print $NF}')
  if [ -n "$pb" ] && [ "$(readlink "/proc/$pb/ns/net")" = "$(readlink "/proc/$pa/ns/net")" ] &&
    [ "$(readlink "/proc/$pb/ns/uts")" = "$(readlink "/proc/$pa/ns/uts")" ]; then ok "$p/joined"
  else notok "$p/joined" "a $pa b $pb"; fi
  if grep -q "^0::.*/lxt.payload.$b\$" "/proc/$pb/cgroup" 2> /dev/null; then ok "$p/cgroup"
  else notok "$p/cgroup" "b's init in '$(cat "/proc/$pb/cgroup" 2>&1)'"; fi
  if grep -q 'boottime *36000 ' "/proc/$pb/timens_offsets" 2> /dev/null &&
    [ "$(cat "/proc/$pb/oom_score_adj" 2>&1)" = 123 ]; then ok "$p/offsets"
  else notok "$p/offsets" "$(cat "/proc/$pb/timens_offsets" "/proc/$pb/oom_score_adj" 2>&1 | tr '\n' ' ')"; fi
  run "$p/stop-b" "$LXT" stop -n "$b" -k
  run "$p/stop-a" "$LXT" stop -n "$a" -k
  run "$p/destroy" "$LXT" destroy -n "$a" -f
  "$LXT" destroy -n "$b" -f > /dev/null 2>&1
  echo "# phase $p: $((SECONDS - t0)) s"
}

for p in $PHASES; do
  case $p in
    root) phase root ;;
    child)
      orig=$(own_cgroup)
      caller="$CG${orig%/}/lxt-vm-caller"
      if mkdir "$caller" && echo $$ > "$caller/cgroup.procs"; then
        phase child
        echo $$ > "$CG${orig%/}/cgroup.procs"
        rmdir "$caller" 2> /dev/null || echo "# could not remove $caller"
      else
        notok child/setup "cannot move the shell into $caller"
      fi
      ;;
    scope) scope_phase ;;
    dirs) dirs_phase ;;
    share) share_phase ;;
    *) echo "cgroup2-smoke: unknown phase $p" >&2; exit 2 ;;
  esac
done

summary
