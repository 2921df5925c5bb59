import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  allKeySpecs,
  type CgroupLayout,
  checkKeyValue,
  type HostInfo,
  lookupKey,
  parseSignal,
  splitCommand,
  type Verdict,
} from "../../src/config/index.js";
import { LxtError } from "../../src/core/errors.js";

const HOST: HostInfo = { cgroupLayout: "v2", arch: "x86_64" };

function verdict(key: string, value: string, host: HostInfo = HOST): Verdict {
  return checkKeyValue(key, value, host, "t.conf");
}

function rejects(key: string, value: string, substring = "", host: HostInfo = HOST): void {
  assert.throws(
    () => verdict(key, value, host),
    (err: unknown) => {
      assert.ok(err instanceof LxtError, String(err));
      assert.equal(err.code, "config");
      assert.ok(err.message.startsWith("t.conf:1: "), err.message);
      assert.ok(err.message.includes(substring), `"${substring}" not in: ${err.message}`);
      return true;
    },
    `${key} = ${value} should be rejected`,
  );
}

/** Good and bad values of every implemented key. */
const IMPLEMENTED: Record<string, { good: string[]; bad: string[] }> = {
  "lxc.cgroup2.memory.max": { good: ["1G", "max"], bad: [] },
  "lxc.apparmor.profile": {
    good: ["generated", "unconfined", "unchanged", "lxc-container-default-cgns"],
    bad: ["two words"],
  },
  "lxc.apparmor.allow_nesting": { good: ["0", "1"], bad: ["2", "yes"] },
  "lxc.apparmor.allow_incomplete": { good: ["0", "1"], bad: ["2"] },
  "lxc.apparmor.raw": { good: ["deny /srv/** w,", "mount,"], bad: [] },
  "lxc.cgroup2.devices.allow": {
    good: ["c 1:3 rwm", "b *:* m", "a", "c 136:* rw"],
    bad: ["c 1:3", "x 1:3 rwm", "c 1:3 rwx", "c 4096:0 r"],
  },
  "lxt.limits.memory": {
    good: ["1048576", "512K", "256M", "2G", "1T", "64MiB", "50%", "12.5%"],
    bad: ["0", "12Q", "-1M", "0%", "101%", "1.5G", "max"],
  },
  "lxt.limits.memory.swap": { good: ["0", "1G"], bad: ["-1", "10%"] },
  "lxt.limits.cpu": { good: ["1", "0.5", "2.25", "0.01"], bad: ["0", "0.001", "-1", "1/2", "x"] },
  "lxt.limits.cpu.set": {
    good: ["0", "0-1", "0-1,3,5-7"],
    bad: ["1-0", "a", "0,", ""].filter(Boolean),
  },
  "lxt.limits.cpu.weight": { good: ["1", "100", "10000"], bad: ["0", "10001", "1.5"] },
  "lxt.limits.processes": { good: ["1", "100"], bad: ["0", "-5", "max"] },
  "lxt.limits.io.read.bps": {
    good: ["/dev/sda 10M", "8:0 1048576"],
    bad: ["/dev/sda", "sda 1M", "8:0 0", "8:0 x"],
  },
  "lxt.limits.io.write.bps": { good: ["/dev/vda 1G"], bad: ["10M"] },
  "lxt.limits.io.read.iops": { good: ["8:0 100"], bad: ["8:0 1M", "8:0 1.5"] },
  "lxt.limits.io.write.iops": { good: ["/dev/nvme0n1 500"], bad: ["/dev/x"] },
  "lxt.limits.io.weight": { good: ["1", "500", "10000"], bad: ["0", "10001"] },
  "lxc.uts.name": { good: ["c1", "web-01.example", "h".repeat(64)], bad: ["h".repeat(65)] },
  "lxc.rootfs.path": {
    good: [
      "/var/lib/lxt/c1/rootfs",
      "dir:/srv/rootfs",
      "btrfs:/var/lib/lxt/c1/rootfs",
      "overlayfs:/srv/base:/var/lib/lxt/c1/overlay/delta",
      "overlay:/srv/base:/var/lib/lxt/c1/overlay/delta",
      "loop:/var/lib/lxt/c1/rootdev",
      "lvm:/dev/vg/c1",
      "nbd:/srv/c1.qcow2:1",
      "rbd:pool/c1",
    ],
    bad: [
      "rootfs",
      "dir:rootfs",
      "tar:/x",
      "btrfs:rel",
      "overlayfs:/only-lower",
      "overlayfs:/a,b:/u",
      "overlayfs:/l:/u/../x",
      "loop:rootdev",
      "lvm:/dev/../sda",
    ],
  },
  "lxc.rootfs.options": {
    good: ["ro", "nosuid,nodev,noexec,noatime", "idmap=container", "rw,data=journal,discard"],
    bad: ["idmap=/proc/1/ns/user", "rbind", "rshared", "ro,,a b"],
  },
  "lxc.rootfs.managed": { good: ["0", "1"], bad: ["2", "no"] },
  "lxc.init.cmd": {
    good: ["/sbin/init", "/bin/sh -c 'echo hi'", '"/opt/my app/run" --flag'],
    bad: ["'unterminated", '"x'],
  },
  "lxc.execute.cmd": { good: ["/usr/bin/env FOO=1 sh"], bad: ["  '  "] },
  "lxc.init.cwd": { good: ["/", "/srv/app"], bad: ["srv", "./x"] },
  "lxc.init.uid": { good: ["0", "1000", "4294967294"], bad: ["-1", "root", "4294967295", "1.5"] },
  "lxc.init.gid": { good: ["0", "100"], bad: ["x", "-5"] },
  "lxc.environment": { good: ["A=1", "PATH", "EMPTY=", "X=a=b c"], bad: ["=1", "A B=1"] },
  "lxc.environment.runtime": { good: ["LANG=C"], bad: ["=x"] },
  "lxc.mount.entry": {
    good: [
      "proc proc proc nodev,noexec,nosuid 0 0",
      "/srv srv none bind,create=dir,optional 0 0",
      "dev/null proc/kcore none bind,relative 0 0",
      "tmpfs /tmp tmpfs mode=1777",
      "/a\\040b mnt/x none bind",
      "/srv srv none bind,create=dir,idmap=container 0 0",
      "/srv srv none rbind,idmap=/proc/1234/ns/user 0 0",
    ],
    bad: [
      "/srv",
      "/srv srv none bind,idmap= 0 0",
      "/srv srv none bind,idmap=proc/1/ns/user 0 0",
      "a b c d e f g",
      "/srv srv none create=pipe 0 0",
      "/srv / none bind 0 0",
      "/x ../y none bind",
      "a b c d x 0",
    ],
  },
  "lxc.mount.fstab": { good: ["/etc/fstab.c1", "fstab"], bad: [] },
  "lxc.mount.auto": {
    good: [
      "proc",
      "proc:mixed",
      "proc:rw",
      "sys",
      "sys:mixed",
      "sys:ro",
      "sys:rw",
      "cgroup",
      "cgroup:mixed",
      "cgroup:ro:force",
      "cgroup:force",
      "cgroup-full:rw",
      "proc sys cgroup",
      "proc shmounts:/run/shm",
      "shmounts:/srv/shared:/mnt/shared",
    ],
    bad: ["proc:ro", "sys:force", "dev", "cgroup:rw:force:x", "shmounts:", "shmounts"],
  },
  "lxc.autodev": { good: ["0", "1"], bad: ["2", "yes", "true"] },
  "lxc.autodev.tmpfs.size": { good: ["500000", "0"], bad: ["500K", "-1"] },
  "lxc.tty.max": { good: ["0", "4"], bad: ["-1", "four", "4 # comment"] },
  "lxc.tty.dir": { good: ["lxc"], bad: ["lxc/x", "..", "x".repeat(256)] },
  "lxc.pty.max": { good: ["0", "1024"], bad: ["many"] },
  "lxc.signal.halt": {
    good: ["SIGPWR", "PWR", "pwr", "30", "SIGRTMIN+3", "SIGRTMAX-2", "RTMIN"],
    bad: ["SIGFOO", "0", "65", "SIGRTMIN+31", "SIGRTMAX+1", "-1"],
  },
  "lxc.signal.reboot": { good: ["SIGINT", "SIGTERM"], bad: ["INTERRUPT"] },
  "lxc.signal.stop": { good: ["SIGKILL", "9"], bad: ["kill -9"] },
  "lxc.prlimit.nofile": {
    good: ["1024", "1024:4096", "unlimited", "1024:unlimited", "unlimited:unlimited", " 10 : 20 "],
    bad: ["lots", "4096:1024", "unlimited:10", "1:2:3", ":5", "-1"],
  },
  "lxc.sysctl.net.ipv4.ip_forward": { good: ["1"], bad: [] },
  "lxc.ephemeral": { good: ["0", "1"], bad: ["on"] },
  "lxt.lxcfs": { good: ["auto", "on", "off"], bad: ["yes", "1"] },
  "lxc.log.file": { good: ["/var/log/lxt/c1.log"], bad: [] },
  "lxc.log.level": {
    good: ["trace", "DEBUG", "info", "notice", "warn", "error", "crit", "alert", "fatal", "0", "8"],
    bad: ["9", "loud"],
  },
  "lxc.net.0.type": {
    good: ["empty", "veth", "none", "macvlan", "phys", "vlan", "ipvlan"],
    bad: ["bridge", "Empty"],
  },
  "lxc.net.0.flags": { good: ["up"], bad: ["down"] },
  "lxc.net.0.link": { good: ["lxtbr0", "br-lan"], bad: ["a/b", "sixteen-chars-xx"] },
  "lxc.net.0.name": { good: ["eth0"], bad: ["a b"] },
  "lxc.net.0.hwaddr": { good: ["00:16:3e:xx:xx:xx", "4A:49:43:49:79:01"], bad: ["00:16:3e"] },
  "lxc.net.0.mtu": { good: ["1500", "9000"], bad: ["67", "x"] },
  "lxc.net.0.ipv4.address": {
    good: ["10.0.3.5/24", "10.0.3.5/24 10.0.3.255"],
    bad: ["10.0.3.5/33"],
  },
  "lxc.net.0.ipv4.gateway": { good: ["auto", "dev", "10.0.3.1"], bad: ["10.0.3"] },
  "lxc.net.0.veth.pair": { good: ["vethc1"], bad: ["a:b"] },
  "lxc.net.0.veth.mode": { good: ["bridge", "router"], bad: ["nat"] },
  "lxc.net.0.veth.ipv4.route": { good: ["10.1.0.0/24"], bad: ["10.1.0.0"] },
  "lxc.net.0.veth.ipv6.route": { good: ["2001:db8::/64"], bad: ["2001:db8::"] },
  "lxc.net.0.ipv6.address": { good: ["2001:db8::2/64", "fd00::2"], bad: ["2001:db8::g/64"] },
  "lxc.net.0.ipv6.gateway": { good: ["auto", "dev", "fe80::1"], bad: ["10.0.3.1"] },
  "lxc.net.0.macvlan.mode": { good: ["private", "vepa", "bridge", "passthru"], bad: ["l2"] },
  "lxc.net.0.script.up": { good: ["/usr/local/bin/up"], bad: [] },
  "lxc.net.0.script.down": { good: ["/usr/local/bin/down"], bad: [] },
  "lxc.net.0.l2proxy": { good: ["0", "1"], bad: ["2", "yes"] },
  "lxc.net.0.vlan.id": { good: ["0", "1", "4094"], bad: ["4095", "none", "x"] },
  "lxc.net.0.ipvlan.mode": { good: ["l2", "l3", "l3s"], bad: ["l4", "bridge"] },
  "lxc.net.0.ipvlan.isolation": { good: ["bridge", "private", "vepa"], bad: ["l3"] },
  "lxc.net.0.veth.vlan.id": { good: ["none", "1", "4094"], bad: ["4095", "0", "-1"] },
  "lxc.net.0.veth.vlan.tagged.id": { good: ["1", "4094"], bad: ["none", "4095"] },
  "lxc.net.0.veth.n_rxqueues": { good: ["1", "4"], bad: ["0", "x"] },
  "lxc.net.0.veth.n_txqueues": { good: ["1", "4"], bad: ["0", "1025"] },
  "lxc.console.path": { good: ["none", "/dev/ttyS0", "/dev/pts/3"], bad: ["ttyS0", "pts/3"] },
  "lxc.console.logfile": { good: ["/var/log/lxt/c1.console"], bad: [] },
  "lxc.console.buffer.size": { good: ["auto", "0", "4096", "64KB", "1MB"], bad: ["lots", "-1"] },
  "lxc.console.size": { good: ["auto", "0", "128KB", "2MB"], bad: ["big"] },
  "lxc.console.rotate": { good: ["0", "1"], bad: ["yes"] },
  "lxc.cap.drop": {
    good: ["sys_admin", "sys_module mac_admin", "CAP_NET_RAW", "Sys_Time", "40"],
    bad: ["none", "sys_foo", "64"],
  },
  "lxc.cap.keep": { good: ["none", "chown kill", "cap_setuid"], bad: ["everything"] },
  "lxc.no_new_privs": { good: ["0", "1"], bad: ["yes"] },
  "lxc.idmap": {
    good: ["u 0 100000 65536", "g 0 100000 65536", "u 1000 1000 1"],
    bad: ["x 0 0 1", "u 0 100000", "u 0 100000 0", "u 0 4294967295 2", "u a 1 1"],
  },
  "lxt.privileged": { good: ["0", "1", "true", "false"], bad: ["yes", "2"] },
  "lxt.volatile.idmap.base": { good: ["1000000"], bad: ["-1", "x"] },
  "lxt.volatile.rootfs.shift": {
    good: ["u:0:1000000:65536,g:0:1000000:65536"],
    bad: ["u 0 1 1", "x:0:1:1"],
  },
  "lxc.seccomp.profile": { good: ["/usr/share/lxc/config/common.seccomp", "my.seccomp"], bad: [] },
  "lxc.cgroup.relative": { good: ["0", "1"], bad: ["yes", "2"] },
  "lxc.cgroup.dir": { good: ["lxt", "a/b/c", "lxt/"], bad: ["/abs", "a/../b"] },
  "lxc.cgroup.dir.container": { good: ["lxt/c1"], bad: ["/abs", "../up"] },
  "lxc.cgroup.dir.monitor": { good: ["lxt/m1"], bad: ["/abs"] },
  "lxc.cgroup.dir.monitor.pivot": { good: ["lxt.pivot"], bad: ["/abs"] },
  "lxc.cgroup.dir.container.inner": { good: ["ns"], bad: ["a/b", "."] },
  "lxc.start.auto": { good: ["0", "1"], bad: ["2", "yes"] },
  "lxc.start.delay": { good: ["0", "30"], bad: ["-1", "x"] },
  "lxc.start.order": { good: ["0", "-5", "100"], bad: ["x", "1.5"] },
  "lxc.group": { good: ["onboot", "web db"], bad: [] },
  "lxc.hook.version": { good: ["0", "1"], bad: ["2", "x"] },
  "lxc.hook.pre-start": { good: ["/bin/true", "/usr/share/lxcfs/lxc.mount.hook a b"], bad: [] },
  "lxc.hook.pre-mount": { good: ["/bin/true"], bad: [] },
  "lxc.hook.mount": { good: ["/bin/true"], bad: [] },
  "lxc.hook.autodev": { good: ["/bin/true"], bad: [] },
  "lxc.hook.start-host": { good: ["/bin/true"], bad: [] },
  "lxc.hook.start": { good: ["/bin/true"], bad: [] },
  "lxc.hook.stop": { good: ["/bin/true"], bad: [] },
  "lxc.hook.post-stop": { good: ["/bin/true"], bad: [] },
  "lxc.hook.clone": { good: ["/bin/true"], bad: [] },
  "lxc.hook.destroy": { good: ["/bin/true"], bad: [] },
  "lxc.environment.hooks": { good: ["A=1", "HOME"], bad: ["=x"] },
  "lxc.namespace.clone": {
    good: ["mount net ipc", "pid mnt uts ipc net cgroup time", "user\tmnt"],
    bad: ["net disk", "mnt pids"],
  },
  "lxc.namespace.keep": { good: ["net", "user net ipc"], bad: ["network"] },
  "lxc.namespace.share.net": { good: ["42", "c2", "/proc/1/ns/net", "/var/lib/lxc/c3"], bad: [] },
  "lxc.time.offset.boot": {
    good: ["-5m", "10s", "+2h", "200ms", "15us", "7ns", "3 s"],
    bad: ["5 minutes", "5", "1.5s", "10d", "99999999999999h"],
  },
  "lxc.time.offset.monotonic": { good: ["1h", "-300s"], bad: ["s", "-"] },
  "lxc.proc.oom_score_adj": { good: ["10", "-1000"], bad: [] },
  "lxc.init.groups": { good: ["10", "10,20", "10, 20"], bad: ["x", "10,,20", "-1", "4294967295"] },
  "lxc.keyring.session": { good: ["0", "1"], bad: ["2", "yes"] },
  "lxc.sched.core": { good: ["0", "1"], bad: ["2"] },
  "lxc.monitor.unshare": { good: ["0", "1", "2"], bad: ["yes", "-1"] },
  "lxc.monitor.signal.pdeath": { good: ["SIGKILL", "KILL", "9", "SIGTERM", "0"], bad: ["SIGNOPE"] },
  "lxc.seccomp.allow_nesting": { good: ["0", "1"], bad: ["2"] },
  "lxc.selinux.context": { good: ["unconfined_t", "system_u:system_r:lxc_t:s0:c22"], bad: [] },
  "lxc.selinux.context.keyring": { good: ["system_u:system_r:lxc_t:s0:c22"], bad: [] },
  "lxc.arch": { good: ["i686", "i386", "armhf", "linux32"], bad: [] },
  "lxc.seccomp.notify.proxy": {
    good: ["unix:/run/proxy.sock", "unix:@lxd/seccomp"],
    bad: ["/run/x.sock", "unix:", "unix:relative", `unix:/${"x".repeat(107)}`],
  },
  "lxc.seccomp.notify.cookie": { good: ["any text", "c1"], bad: [] },
};

describe("implemented keys", () => {
  for (const [key, { good, bad }] of Object.entries(IMPLEMENTED)) {
    it(key, () => {
      for (const v of good)
        assert.deepEqual(verdict(key, v), { status: "implemented" }, `${key} = ${v}`);
      for (const v of bad) rejects(key, v, key);
      // An empty value clears or resets every key.
      assert.deepEqual(verdict(key, ""), { status: "implemented" });
    });
  }

  it("covers every implemented key of the registry", () => {
    const tested = new Set(Object.keys(IMPLEMENTED).map((k) => lookupKey(k).spec.name));
    const notTested = allKeySpecs()
      .filter((s) => s.status === "implemented" && !tested.has(s.name))
      .map((s) => s.name);
    // Family roots and lxc.include only take empty values / are handled by the parser.
    // lxc.cgroup.* is ignored on this (v2) HOST: see "cgroup keys by host layout".
    assert.deepEqual(notTested.sort(), [
      "lxc.cgroup",
      "lxc.cgroup.[controller].[file]",
      "lxc.cgroup.devices.[file]",
      "lxc.cgroup2",
      "lxc.hook",
      "lxc.include",
      "lxc.net",
      "lxc.prlimit",
      "lxc.proc",
      "lxc.sysctl",
    ]);
  });

  it("accepts every prlimit resource and refuses unknown ones", () => {
    for (const r of [
      "as",
      "core",
      "cpu",
      "data",
      "fsize",
      "locks",
      "memlock",
      "msgqueue",
      "nice",
      "nofile",
      "nproc",
      "rss",
      "rtprio",
      "rttime",
      "sigpending",
      "stack",
    ]) {
      assert.equal(verdict(`lxc.prlimit.${r}`, "1").status, "implemented");
    }
    rejects("lxc.prlimit.files", "1", 'unknown resource "files"');
    rejects("lxc.prlimit.NOFILE", "1", "unknown resource");
  });

  it("accepts only namespaced sysctls", () => {
    for (const k of [
      "net.ipv4.ip_forward",
      "net/ipv6/conf/all/forwarding",
      "kernel.shmmax",
      "kernel.shm_rmid_forced",
      "kernel.msgmax",
      "kernel.sem",
      "kernel.sem_next_id",
      "fs.mqueue.queues_max",
      "kernel.hostname",
      "kernel.domainname",
    ]) {
      assert.equal(verdict(`lxc.sysctl.${k}`, "1").status, "implemented", k);
    }
    for (const k of [
      "kernel.pid_max",
      "vm.swappiness",
      "fs.file-max",
      "kernel.semaphore",
      "kernel.hostnames",
      "kernel.core_pattern",
      "net..x",
    ]) {
      rejects(`lxc.sysctl.${k}`, "1", "sysctl");
    }
  });
});

describe("family roots", () => {
  for (const key of [
    "lxc.net",
    "lxc.cgroup",
    "lxc.cgroup2",
    "lxc.prlimit",
    "lxc.sysctl",
    "lxc.proc",
    "lxc.hook",
  ]) {
    it(`${key} takes only an empty value`, () => {
      assert.deepEqual(verdict(key, ""), { status: "implemented" });
      rejects(key, "x", "must not have a value");
    });
  }
});

describe("value checks", () => {
  it("idmap, autostart, network and cgroup placement values", () => {
    rejects("lxc.idmap", "x 0 0 1", "u|g NSID HOSTID RANGE");
    rejects("lxc.start.auto", "2", "0 or 1");
    rejects("lxc.net.0.mtu", "12", "lxc.net.0.mtu");
    rejects("lxc.net.0.ipv4.address", "10.0.3.300/24", "ipv4 address");
    rejects("lxc.net.0.ipv6.address", "2001:db8::1/129", "ipv6 address");
    rejects("lxc.net.0.ipv4.gateway", "router", "auto, dev");
    rejects("lxc.net.0.veth.vlan.id", "4095", "lxc.net.0.veth.vlan.id");
    rejects("lxc.net.0.name", "a-very-long-interface-name", "interface name");
    rejects("lxc.cgroup.dir.container.inner", "a/b", "single directory");
    rejects("lxc.cgroup.dir", "../escape", "upwards");
  });
});

describe("ignored keys", () => {
  it("lxc.rootfs.mount is accepted silently", () => {
    assert.deepEqual(verdict("lxc.rootfs.mount", "/usr/lib/lxc/rootfs"), {
      status: "ignored",
      reason: "lxt chooses its own staging mount",
      warn: false,
    });
  });

  it("lxc.log.syslog is accepted with a warning and a checked facility", () => {
    assert.equal(verdict("lxc.log.syslog", "daemon").status, "ignored");
    assert.equal((verdict("lxc.log.syslog", "local7") as { warn: boolean }).warn, true);
    rejects("lxc.log.syslog", "kern", "expected one of daemon");
  });

  it("lxc.arch: the host's arch is silent, another 64-bit arch warns", () => {
    for (const a of ["x86_64", "amd64", "linux64"]) {
      assert.deepEqual(verdict("lxc.arch", a), {
        status: "ignored",
        reason: "matches the host",
        warn: false,
      });
    }
    assert.equal((verdict("lxc.arch", "aarch64") as { warn: boolean }).warn, true);
    assert.equal(verdict("lxc.arch", "arm64", { ...HOST, arch: "aarch64" }).status, "ignored");
    rejects("lxc.arch", "sparc", "expected one of");
  });
});

describe("cgroup keys by host layout", () => {
  const cases: [CgroupLayout, string, Verdict["status"]][] = [
    ["v2", "lxc.cgroup.devices.allow", "ignored"],
    ["v2", "lxc.cgroup2.devices.allow", "implemented"],
    ["v1", "lxc.cgroup.devices.allow", "implemented"],
    ["v1", "lxc.cgroup2.devices.allow", "ignored"],
    ["hybrid", "lxc.cgroup.devices.allow", "implemented"],
    ["hybrid", "lxc.cgroup2.devices.allow", "ignored"],
    ["v1", "lxc.cgroup.memory.limit_in_bytes", "implemented"],
    ["hybrid", "lxc.cgroup.memory.limit_in_bytes", "implemented"],
    ["v2", "lxc.cgroup.memory.limit_in_bytes", "ignored"],
    ["v2", "lxc.cgroup2.memory.max", "implemented"],
    ["hybrid", "lxc.cgroup2.memory.max", "ignored"],
    ["v1", "lxc.cgroup2.memory.max", "ignored"],
  ];
  for (const [layout, key, status] of cases) {
    it(`${key} on a ${layout} host is ${status}`, () => {
      const v = verdict(key, "c 1:3 rwm", { ...HOST, cgroupLayout: layout });
      assert.equal(v.status, status);
      if (v.status === "ignored") assert.equal(v.warn, true);
    });
  }

  it("lxc.cgroup.dir is not a v1 controller key", () => {
    assert.equal(
      verdict("lxc.cgroup.dir", "lxt", { ...HOST, cgroupLayout: "v2" }).status,
      "implemented",
    );
  });
});

describe("key lookup", () => {
  it("refuses unknown keys, suggesting a near one", () => {
    rejects("lxc.foo", "1", "unknown key lxc.foo");
    rejects("lxc.tty.mx", "1", "did you mean lxc.tty.max?");
    rejects("lxc.network.type", "veth", "unknown key lxc.network.type");
    rejects("LXC.tty.max", "1", "unknown key");
    rejects("lxt.foo", "1", "unknown key lxt.foo");
    rejects("lxc.cgroup2.", "1", "unknown key");
  });

  it("checks network indexes", () => {
    assert.equal(lookupKey("lxc.net.0.type").net?.index, 0);
    assert.equal(lookupKey("lxc.net.12.link").net?.index, 12);
    assert.equal(lookupKey("lxc.net.007.link").net?.index, 7);
    rejects("lxc.net.x.type", "empty", 'bad network index "x"');
    rejects("lxc.net.-1.type", "empty", "bad network index");
    rejects("lxc.net.1e3.type", "empty", "bad network index");
    rejects("lxc.net.0", "empty", "missing sub-key");
    rejects("lxc.net.0.bogus", "1", "unknown key lxc.net.0.bogus");
  });

  it("marks type-specific network keys", () => {
    assert.equal(lookupKey("lxc.net.0.veth.pair").net?.requiresType, "veth");
    assert.equal(lookupKey("lxc.net.0.vlan.id").net?.requiresType, "vlan");
    assert.equal(lookupKey("lxc.net.0.link").net?.requiresType, undefined);
  });

  it("registers every key of lxc.container.conf(5)", () => {
    const names = new Set(allKeySpecs().map((s) => s.name));
    for (const k of [
      "lxc.include",
      "lxc.arch",
      "lxc.uts.name",
      "lxc.signal.halt",
      "lxc.signal.reboot",
      "lxc.signal.stop",
      "lxc.execute.cmd",
      "lxc.init.cmd",
      "lxc.init.cwd",
      "lxc.init.uid",
      "lxc.init.gid",
      "lxc.init.groups",
      "lxc.sched.core",
      "lxc.proc.[file]",
      "lxc.ephemeral",
      "lxc.net",
      "lxc.net.[i].type",
      "lxc.net.[i].flags",
      "lxc.net.[i].link",
      "lxc.net.[i].l2proxy",
      "lxc.net.[i].mtu",
      "lxc.net.[i].name",
      "lxc.net.[i].hwaddr",
      "lxc.net.[i].ipv4.address",
      "lxc.net.[i].ipv4.gateway",
      "lxc.net.[i].ipv6.address",
      "lxc.net.[i].ipv6.gateway",
      "lxc.net.[i].script.up",
      "lxc.net.[i].script.down",
      "lxc.net.[i].veth.mode",
      "lxc.net.[i].veth.pair",
      "lxc.net.[i].veth.ipv4.route",
      "lxc.net.[i].veth.ipv6.route",
      "lxc.net.[i].veth.vlan.id",
      "lxc.net.[i].veth.vlan.tagged.id",
      "lxc.net.[i].vlan.id",
      "lxc.net.[i].macvlan.mode",
      "lxc.net.[i].ipvlan.mode",
      "lxc.net.[i].ipvlan.isolation",
      "lxc.pty.max",
      "lxc.console.buffer.size",
      "lxc.console.size",
      "lxc.console.logfile",
      "lxc.console.rotate",
      "lxc.console.path",
      "lxc.tty.max",
      "lxc.tty.dir",
      "lxc.autodev",
      "lxc.autodev.tmpfs.size",
      "lxc.mount.fstab",
      "lxc.mount.entry",
      "lxc.mount.auto",
      "lxc.rootfs.path",
      "lxc.rootfs.mount",
      "lxc.rootfs.options",
      "lxc.rootfs.managed",
      "lxc.cgroup.[controller].[file]",
      "lxc.cgroup2.[controller].[file]",
      "lxc.cgroup.dir",
      "lxc.cgroup.dir.container",
      "lxc.cgroup.dir.monitor",
      "lxc.cgroup.dir.monitor.pivot",
      "lxc.cgroup.dir.container.inner",
      "lxc.cgroup.relative",
      "lxc.cap.drop",
      "lxc.cap.keep",
      "lxc.namespace.clone",
      "lxc.namespace.keep",
      "lxc.namespace.share.[ns]",
      "lxc.time.offset.boot",
      "lxc.time.offset.monotonic",
      "lxc.prlimit.[name]",
      "lxc.sysctl.[name]",
      "lxc.apparmor.profile",
      "lxc.apparmor.allow_incomplete",
      "lxc.apparmor.allow_nesting",
      "lxc.apparmor.raw",
      "lxc.selinux.context",
      "lxc.selinux.context.keyring",
      "lxc.keyring.session",
      "lxc.seccomp.profile",
      "lxc.seccomp.allow_nesting",
      "lxc.seccomp.notify.proxy",
      "lxc.seccomp.notify.cookie",
      "lxc.no_new_privs",
      "lxc.idmap",
      "lxc.hook.version",
      "lxc.hook.pre-start",
      "lxc.hook.pre-mount",
      "lxc.hook.mount",
      "lxc.hook.autodev",
      "lxc.hook.start-host",
      "lxc.hook.start",
      "lxc.hook.stop",
      "lxc.hook.post-stop",
      "lxc.hook.clone",
      "lxc.hook.destroy",
      "lxc.log.level",
      "lxc.log.file",
      "lxc.log.syslog",
      "lxc.start.auto",
      "lxc.start.delay",
      "lxc.start.order",
      "lxc.monitor.unshare",
      "lxc.monitor.signal.pdeath",
      "lxc.group",
      "lxc.environment",
      "lxt.privileged",
    ]) {
      assert.ok(names.has(k), `${k} not registered`);
    }
  });

  it("has no duplicate names and a summary for each", () => {
    const specs = allKeySpecs();
    assert.equal(new Set(specs.map((s) => s.name)).size, specs.length);
    for (const s of specs) assert.ok(s.summary.length > 0, s.name);
  });
});

describe("value helpers", () => {
  it("parseSignal maps names to x86_64 numbers", () => {
    assert.equal(parseSignal("SIGPWR"), 30);
    assert.equal(parseSignal("sigusr1"), 10);
    assert.equal(parseSignal("SIGRTMIN"), 34);
    assert.equal(parseSignal("SIGRTMIN+3"), 37);
    assert.equal(parseSignal("SIGRTMAX-10"), 54);
    assert.equal(parseSignal("RTMAX"), 64);
    assert.equal(parseSignal("0", true), 0);
  });

  it("splitCommand splits like a shell without expansion", () => {
    assert.deepEqual(splitCommand("/sbin/init"), ["/sbin/init"]);
    assert.deepEqual(splitCommand("  a   b\tc "), ["a", "b", "c"]);
    assert.deepEqual(splitCommand(`sh -c 'echo "hi there"; ls'`), [
      "sh",
      "-c",
      'echo "hi there"; ls',
    ]);
    assert.deepEqual(splitCommand(`echo "a \\"b\\" c" d\\ e ''`), ["echo", 'a "b" c', "d e", ""]);
    assert.deepEqual(splitCommand("echo $HOME *"), ["echo", "$HOME", "*"]);
  });
});
