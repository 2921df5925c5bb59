#!/bin/bash
# deb.sh: the Debian package on a Debian 12 host as users have it, systemd as
# PID 1. Run on the host as root after `npm run build` (test/vm/run.sh does):
# it builds the package under dist/vm-deb (the VM has no network; it sees the
# host's / read-only), the same package with a lower version for the upgrade,
# and runs itself in the systemd VM, whose writes all vanish with it:
#   deb.sh                      host side: build, then the VM
#   deb.sh OLD.deb NEW.deb      VM side (VM_SYSTEMD=1 test/vm/vm-test.sh ...)
# Checks: install the older build (units: lxtd installed, not enabled; every
# other unit enabled; lxtd starts and stops on request; root's subordinate
# ids); a container with the packaged lxt in its default state root, in its
# own scope; the newer build installed over it (same monitor, RUNNING,
# attach); remove (container stopped, state kept, units masked); purge (no
# file, unit, link, cgroup or state left).
# Prints `ok NAME` / `not ok NAME: why`, then `N passed, M failed`.
set -u
cd "$(dirname "$0")/../.." || exit 2
if [ $# = 0 ]; then
  dir=dist/vm-deb
  rm -rf "$dir" && mkdir -p "$dir"
  trap 'rm -rf "$dir"' EXIT
  new=$(node --import tsx scripts/deb/build.ts --fast --out "$dir") || exit 1
  old=$(node --import tsx scripts/deb/build.ts --repack "$new" --version 0.0.1~old --out "$dir") || exit 1
  VM_TIMEOUT=900 VM_SYSTEMD=1 bash test/vm/vm-test.sh "bash test/vm/deb.sh $old $new"
  exit
fi
. test/vm/lib.sh
OLD=$1 NEW=$2
if [ "$(cat /proc/1/comm)" != systemd ]; then echo "deb: PID 1 is not systemd (VM_SYSTEMD=1)" >&2; exit 2; fi
if dpkg-query -W lxt > /dev/null 2>&1; then echo "deb: a package lxt is installed already" >&2; exit 2; fi
TMP=$(mktemp -d /tmp/lxt-vm-deb-XXXX)
trap 'rm -rf "$TMP"' EXIT
LXT=/usr/bin/lxt
unset LXT_PATH LXT_SHIM LXT_RUNDIR LXT_CODE_CACHE_DIR
export LXT_NO_HOST_NETWORK=1
UNITS=$(cd scripts && ls ./*.service | sed 's|^\./||')
n=vmdeb
monitor() { cat /run/lxt/*/$n/monitor 2> /dev/null | awk '{print $1}'; }
# step NAME CMD...: run (lib.sh), then the step's wall time in the VM as a TAP comment:
# what this phase spends its minutes on.
step() {
  local t0=$EPOCHREALTIME rc=0
  run "$@" || rc=$?
  echo "# $1: $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
  return $rc
}
# man-db's trigger would index every man page over 9p under emulation (minutes): off in this VM.
rm -f /var/lib/man-db/auto-update
# setup.sh's own units (in /etc, from the host's tree) would shadow the package's: gone, as
# `systemctl disable` and rm would leave it (one daemon-reload: ~10 s each in this VM).
for u in $UNITS; do rm -f "/etc/systemd/system/$u" /etc/systemd/system/*.wants/"$u"; done
systemctl daemon-reload

step install-old dpkg -i "$OLD"
for u in $UNITS; do
  state=$(systemctl is-enabled "$u" 2> /dev/null)
  want=enabled; [ "$u" = lxtd.service ] && want=disabled
  if [ "$state" = "$want" ]; then ok "unit/$u-$want"; else notok "unit/$u-$want" "is-enabled says '$state'"; fi
done
step lxtd-start systemctl start lxtd.service
# Type=simple: active at once; the socket comes when lxtd has loaded (seconds in this VM).
until_true 120 test -S /var/lib/lxt/.lxtd/unix.socket
if systemctl is-active --quiet lxtd.service && [ -S /var/lib/lxt/.lxtd/unix.socket ]; then ok lxtd-active; else notok lxtd-active "$(systemctl status lxtd.service 2>&1 | tail -5 | tr '\n' ' ')"; fi
step lxtd-stop systemctl stop lxtd.service
if grep -q '^root:[0-9]*:[0-9]*$' /etc/subuid && grep -q '^root:[0-9]*:[0-9]*$' /etc/subgid; then ok subids; else notok subids "no root range"; fi

step create "$LXT" create -n $n -t busybox --network empty
step start "$LXT" start -n $n
state_is container running $n RUNNING
if systemctl is-active --quiet "lxt-$n.scope"; then ok container/scope; else notok container/scope "no lxt-$n.scope"; fi
mon=$(monitor)

step install-new dpkg -i "$NEW"
if [ -n "$mon" ] && [ "$(monitor)" = "$mon" ] && kill -0 "$mon" 2> /dev/null; then ok upgrade/same-monitor; else notok upgrade/same-monitor "monitor was '$mon', now '$(monitor)'"; fi
state_is upgrade running $n RUNNING
out=$("$LXT" attach -n $n -- cat /proc/1/comm 2>&1)
if [ "$out" = init ]; then ok upgrade/attach; else notok upgrade/attach "'$out'"; fi

files=$(dpkg -L lxt)
step remove dpkg -r lxt
if [ -n "$mon" ] && kill -0 "$mon" 2> /dev/null; then notok remove/stopped "monitor $mon alive"; else ok remove/stopped; fi
if [ -e /var/lib/lxt/$n/config ]; then ok remove/state-kept; else notok remove/state-kept "no /var/lib/lxt/$n/config"; fi
state=$(systemctl is-enabled lxtd.service 2> /dev/null)
if [ "$state" = masked ]; then ok remove/masked; else notok remove/masked "lxtd.service is '$state'"; fi

step purge dpkg -P lxt
# dpkg -L lists directories too; /lib is a link to usr/lib on Debian 12.
left=$(for f in $files; do [ ! -d "$f" ] && { [ -f "$f" ] || [ -L "$f" ]; } && echo "$f"; done)
if [ -z "$left" ]; then ok purge/files; else notok purge/files "$(echo $left)"; fi
units=$(systemctl list-unit-files --no-legend 'lxt*' 2> /dev/null; systemctl list-units --all --no-legend 'lxt*' 2> /dev/null)
if [ -z "$units" ]; then ok purge/units; else notok purge/units "$(echo $units)"; fi
links=$(find /etc/systemd/system -lname '*lxt*' -o -name 'lxt*' 2> /dev/null)
if [ -z "$links" ]; then ok purge/links; else notok purge/links "$(echo $links)"; fi
if [ -e /var/lib/lxt ] || [ -e /var/cache/lxt ]; then notok purge/state "$(ls -d /var/lib/lxt /var/cache/lxt 2>&1)"; else ok purge/state; fi
if [ -z "$(find "$CG" -name '*lxt*' 2> /dev/null | head -n1)" ]; then ok purge/cgroups; else notok purge/cgroups "$(find "$CG" -name '*lxt*' | head -3)"; fi
summary
