#!/bin/bash
# The VM phase of `npm test`: lxt where users are, in three throw-away VMs
# booted cgroup-v2-only under QEMU (software emulation; test/vm/README.md):
#   1. test/vm/cgroup2-smoke.sh: no systemd; lxt in the root cgroup, in a
#      login-like cgroup it may not split, and alone in a delegated scope.
#   2. test/vm/systemd-host.sh: a Debian 12 host as users have it: systemd as
#      PID 1, lxt run from a root login's scope in user.slice, AppArmor on.
#   3. test/vm/deb.sh: the Debian package on that host (LXT_VM_DEB=0: left out).
# Run from the repo root, as root, after `npm run build`. Prints each phase's
# wall time. Exit 0 when all passed, 1 when one failed; a host that cannot
# run the VM prints `SKIP: reason` and exits 0 (a skip is not a pass: the
# line says so).
set -u
cd "$(dirname "$0")/../.." || exit 2

skip() { echo "SKIP: VM phase: $*"; exit 0; }
[ "$(id -u)" = 0 ] || skip "needs root (qemu shares the host's / read-only)"
command -v qemu-system-x86_64 > /dev/null || skip "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
[ -e dist/lxt.cjs ] && [ -x native/build/lxt-shim ] || { echo "VM phase: run npm run build first" >&2; exit 2; }

VM=test/vm/vm-test.sh
failed=0
phase() { # NAME ENV... -- CMD
  local name=$1 t0 rc=0
  shift
  t0=$(date +%s)
  echo "# VM phase $name"
  env "$@" || rc=$?
  echo "# VM phase $name: exit $rc, $(($(date +%s) - t0)) s"
  [ "$rc" = 0 ] || failed=1
}

phase cgroup2-smoke VM_TIMEOUT=600 bash "$VM" 'bash test/vm/cgroup2-smoke.sh'
phase systemd-host VM_TIMEOUT=600 VM_SYSTEMD=1 VM_KARGS="apparmor=1 security=apparmor" \
  bash "$VM" 'bash test/vm/systemd-host.sh'

# 3. test/vm/deb.sh: the Debian package, built here, installed, upgraded under a
#    running container, removed and purged in a VM with systemd as PID 1.
#    ~3.5 min on a quiet host (test/vm/README.md); LXT_VM_DEB=0 leaves it out.
if [ "${LXT_VM_DEB:-1}" = 0 ]; then echo "SKIP: VM phase deb (LXT_VM_DEB=0)"; else phase deb bash test/vm/deb.sh; fi
exit "$failed"
