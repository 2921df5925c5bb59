/**
 * The process and namespace keys on real containers, checked from the host
 * and from inside: time namespace offsets, /proc files, supplementary
 * groups, the session keyring, the 32-bit personality, shared and kept
 * namespaces, the parent-death signal, the monitor's own mount namespace,
 * core scheduling and SELinux where the host lacks them.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runtimeRoot, Sandbox, skipReason } from "./harness.js";

const skip = skipReason();
if (skip) console.log(skip);

/** Polls `fn` until it returns a value (the thing happened) or `ms` pass. */
async function until<T>(what: string, fn: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("process and namespace keys", { skip }, () => {
  let box: Sandbox;
  before(() => {
    box = new Sandbox();
  });
  after(() => box.cleanup());

  /** A new busybox container with `lines` appended to its config. */
  const make = (lines: string[]): string => {
    const c = box.name("pk");
    box.ok(["create", "-n", c, "-t", "busybox"]);
    appendFileSync(join(box.lxcpath, c, "config"), `${lines.join("\n")}\n`);
    return c;
  };
  const initPid = (c: string): number =>
    JSON.parse(box.ok(["info", "-n", c, "--format", "json"])).pid as number;
  const stateOf = (c: string): string =>
    JSON.parse(box.ok(["info", "-n", c, "--format", "json"])).state as string;
  const sh = (c: string, cmd: string) => box.ok(["attach", "-n", c, "--", "sh", "-c", cmd]);
  const ns = (pid: number | string, name: string) => readlinkSync(`/proc/${pid}/ns/${name}`);

  test("time offsets: the init's time namespace, seen in /proc/uptime inside", () => {
    const c = make(["lxc.time.offset.boot = 10h", "lxc.time.offset.monotonic = -5s"]);
    box.ok(["start", "-n", c]);
    const host = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
    const inside = Number(sh(c, "cat /proc/uptime").split(" ")[0]);
    // Ten hours ahead of the host, within the time the attach took.
    assert.ok(inside - host >= 36000 && inside - host < 36060, `${inside} vs host ${host}`);
    const offsets = readFileSync(`/proc/${initPid(c)}/timens_offsets`, "utf8");
    assert.match(offsets, /monotonic\s+-5\s+0/);
    assert.match(offsets, /boottime\s+36000\s+0/);
    assert.notEqual(ns(initPid(c), "time"), ns("self", "time"));
    box.ok(["stop", "-n", c, "-k"]);
  });

  test("lxc.proc, lxc.init.groups and lxc.arch = i686 on the init and in attach", () => {
    const c = make(["lxc.proc.oom_score_adj = 321", "lxc.init.groups = 10,20", "lxc.arch = i686"]);
    box.ok(["start", "-n", c]);
    const pid = initPid(c);
    assert.equal(readFileSync(`/proc/${pid}/oom_score_adj`, "utf8").trim(), "321");
    // As the container sees its ids (the host sees them through the map).
    assert.match(sh(c, "cat /proc/1/status"), /^Groups:\s+10 20\s*$/m);
    assert.equal(readFileSync(`/proc/${pid}/personality`, "utf8").trim(), "00000008");
    assert.equal(sh(c, "uname -m").trim(), "i686");
    box.ok(["stop", "-n", c, "-k"]);
  });

  test("lxc.keyring.session: a session keyring of the container's own, or none of its own", async () => {
    // /proc/keys unmasked (proc:rw), read by the init, which has the keyring.
    const probe = [
      "lxc.mount.auto =",
      "lxc.mount.auto = proc:rw sys:ro",
      'lxc.init.cmd = /bin/sh -c "cat /proc/keys > /keys.txt.tmp; mv /keys.txt.tmp /keys.txt; exec /bin/sleep 1000"',
    ];
    const keys = async (c: string) => {
      box.ok(["start", "-n", c]);
      const file = join(box.lxcpath, c, "rootfs", "keys.txt");
      const text = await until("the init's /proc/keys", () =>
        existsSync(file) ? readFileSync(file, "utf8") : undefined,
      );
      box.ok(["stop", "-n", c, "-k"]);
      return text;
    };
    // Owned by the container's root (uid 0 inside): made for it.
    const own = /keyring\s+_ses/;
    const mine = (await keys(make(probe))).split("\n").filter((l) => own.test(l));
    assert.equal(mine.length, 1, "one session keyring");
    assert.match(mine[0] as string, /perm \w+\s+0\s+0\s+keyring/);
    const kept = await keys(make([...probe, "lxc.keyring.session = 0"]));
    assert.ok(!kept.split("\n").some((l) => own.test(l) && /\s0\s+0\s+keyring/.test(l)), kept);
  });

  test("lxc.namespace.share.*: net, ipc, uts and time of a running container and of a pid", () => {
    const a = make(["lxc.time.offset.boot = 3h"]);
    box.ok(["start", "-n", a]);
    const b = make([
      "lxc.uts.name =",
      `lxc.namespace.share.net = ${a}`,
      `lxc.namespace.share.ipc = ${join(box.lxcpath, a)}`,
      `lxc.namespace.share.uts = ${initPid(a)}`,
      `lxc.namespace.share.time = ${a}`,
    ]);
    box.ok(["start", "-n", b]);
    const [pa, pb] = [initPid(a), initPid(b)];
    for (const n of ["net", "ipc", "uts", "time"]) assert.equal(ns(pb, n), ns(pa, n), n);
    assert.match(readFileSync(`/proc/${pb}/timens_offsets`, "utf8"), /boottime\s+10800\s+0/);
    for (const n of ["pid", "mnt", "user"]) assert.notEqual(ns(pb, n), ns(pa, n), n);
    assert.equal(sh(b, "hostname").trim(), a);
    // The monitor's cgroups for b: its init is in them although cloned by an intermediate.
    assert.match(readFileSync(`/proc/${pb}/cgroup`, "utf8"), new RegExp(`lxt.payload.${b}`));
    box.ok(["stop", "-n", b, "-k"]);
    box.ok(["stop", "-n", a, "-k"]);
    const r = box.lxt(["start", "-n", b]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      new RegExp(`config:\\d+: lxc.namespace.share.net: container ${a} .* is not running`),
    );
  });

  test("lxc.namespace.share.user and .pid: one user and pid namespace for two containers with one map", () => {
    const map = ["lxc.idmap = u 0 3000000000 65536", "lxc.idmap = g 0 3000000000 65536"];
    const a = make(map);
    box.ok(["start", "-n", a]);
    const b = make([
      ...map,
      `lxc.namespace.share.user = ${a}`,
      `lxc.namespace.share.pid = ${a}`,
      "lxc.init.cmd = /bin/sleep 600",
    ]);
    box.ok(["start", "-n", b]);
    const [pa, pb] = [initPid(a), initPid(b)];
    for (const n of ["user", "pid"]) assert.equal(ns(pb, n), ns(pa, n), n);
    assert.notEqual(ns(pb, "mnt"), ns(pa, "mnt"));
    assert.equal(
      readFileSync(`/proc/${pb}/uid_map`, "utf8"),
      readFileSync(`/proc/${pa}/uid_map`, "utf8"),
    );
    // b's init, as a's pid namespace numbers it, runs as the shared namespace's root.
    const inA = readFileSync(`/proc/${pb}/status`, "utf8").match(/^NSpid:\s+\d+\s+(\d+)$/m)?.[1];
    assert.ok(inA && inA !== "1", `b's pid in a's namespace: ${inA}`);
    assert.match(sh(a, `cat /proc/${inA}/status`), /^Uid:\s+0\s+0/m);
    box.ok(["stop", "-n", b, "-k"]);
    box.ok(["stop", "-n", a, "-k"]);
  });

  test("lxc.namespace.keep = ipc: the init keeps the starter's IPC namespace", () => {
    const c = make(["lxc.namespace.keep = ipc"]);
    box.ok(["start", "-n", c]);
    const pid = initPid(c);
    assert.equal(ns(pid, "ipc"), ns("self", "ipc"));
    assert.notEqual(ns(pid, "uts"), ns("self", "uts"));
    box.ok(["stop", "-n", c, "-k"]);
  });

  test("lxc.monitor.unshare: the monitor has a mount namespace of its own", () => {
    const c = make(["lxc.monitor.unshare = 1"]);
    box.ok(["start", "-n", c]);
    const monitor = readFileSync(join(runtimeDirOf(c), "monitor"), "utf8").split(" ")[0];
    assert.notEqual(ns(monitor as string, "mnt"), ns("self", "mnt"));
    box.ok(["stop", "-n", c, "-k"]);
  });

  test("lxc.monitor.signal.pdeath = SIGTERM: the init gets SIGTERM when its monitor dies", async () => {
    const c = make([
      "lxc.monitor.signal.pdeath = SIGTERM",
      `lxc.init.cmd = /bin/sh -c "trap 'echo term > /pdeath; exit 0' TERM; while :; do sleep 1; done"`,
    ]);
    box.ok(["start", "-n", c]);
    const monitor = Number(readFileSync(join(runtimeDirOf(c), "monitor"), "utf8").split(" ")[0]);
    process.kill(monitor, "SIGKILL");
    const file = join(box.lxcpath, c, "rootfs", "pdeath");
    const got = await until("the init's trap", () =>
      existsSync(file) ? readFileSync(file, "utf8") : undefined,
    );
    assert.equal(got.trim(), "term");
    // The next command repairs what the killed monitor left.
    assert.equal(stateOf(c), "STOPPED");
    const r = box.lxt(["start", "-n", make(["lxc.monitor.signal.pdeath = 0"])]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /lxc.monitor.signal.pdeath: 0 lets the init outlive its monitor/);
  });

  test("lxc.sched.core = 1: a core-scheduling domain, or refused where the kernel has none", () => {
    const c = make(["lxc.sched.core = 1"]);
    const r = box.lxt(["start", "-n", c]);
    if (!readFileSync("/proc/self/sched", "utf8").includes("core_cookie")) {
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /config:\d+: lxc.sched.core: the kernel has no core scheduling/);
      assert.equal(stateOf(c), "STOPPED");
      return;
    }
    assert.equal(r.code, 0, r.stderr);
    box.ok(["stop", "-n", c, "-k"]);
  });

  test("lxc.seccomp.notify.proxy: the init's notify syscalls reach the proxy, in LXC's format, and its answer", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lxt-test-proxy-"));
    const sock = join(dir, "proxy.sock");
    const log = join(dir, "log");
    // EDOM: an answer mknod never gives by itself.
    const proxy = spawn(
      "python3",
      [join(import.meta.dirname, "seccomp-proxy.py"), sock, log, "33"],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    try {
      await once(proxy.stdout, "data");
      writeFileSync(join(dir, "profile"), "2\ndenylist\nmknod notify\nmknodat notify\n");
      const c = make([
        `lxc.seccomp.profile = ${join(dir, "profile")}`,
        `lxc.seccomp.notify.proxy = unix:${sock}`,
        "lxc.seccomp.notify.cookie = lxt cookie",
        'lxc.init.cmd = /bin/sh -c "mknod /n c 1 3 2>/err; echo $? > /rc.tmp; mv /rc.tmp /rc; exec /bin/sleep 1000"',
      ]);
      box.ok(["start", "-n", c]);
      const rootfs = join(box.lxcpath, c, "rootfs");
      await until("the init's mknod", () => (existsSync(join(rootfs, "rc")) ? true : undefined));
      assert.match(readFileSync(join(rootfs, "err"), "utf8"), /out of domain/i);
      const got = JSON.parse(readFileSync(log, "utf8").trim().split("\n")[0] as string);
      const monitor = Number(readFileSync(join(runtimeDirOf(c), "monitor"), "utf8").split(" ")[0]);
      assert.equal(got.init, initPid(c));
      // The caller (mknod, forked by the init's shell), as the host numbers it.
      assert.ok(got.pid > 0 && got.pid !== got.init, `caller ${got.pid}, init ${got.init}`);
      assert.equal(got.monitor, monitor);
      assert.equal(got.cookie, "lxt cookie");
      assert.ok([133, 259].includes(got.nr), `mknod or mknodat: ${got.nr}`);
      assert.deepEqual(
        got.fds.map((f: string) => f.replace(/\d+/g, "N")),
        ["/proc/N", "/proc/N/mem", "anon_inode:seccomp notify"],
      );
      box.ok(["stop", "-n", c, "-k"]);
      // Without a proxy listening, the start fails naming the key and the socket.
      const gone = once(proxy, "exit");
      proxy.kill("SIGKILL");
      await gone;
      const r = box.lxt(["start", "-n", c]);
      assert.notEqual(r.code, 0);
      assert.match(
        r.stderr,
        /config:\d+: lxc.seccomp.notify.proxy: connect to the proxy .*: ECONNREFUSED/,
      );
      assert.equal(stateOf(c), "STOPPED");
    } finally {
      proxy.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("lxc.selinux.context: unconfined_t runs; another is refused here, naming what is missing", () => {
    const ok = make(["lxc.selinux.context = unconfined_t"]);
    box.ok(["start", "-n", ok]);
    box.ok(["stop", "-n", ok, "-k"]);
    if (existsSync("/sys/fs/selinux/enforce")) {
      console.log("SKIP: this host has SELinux; the refusal is for hosts without it");
      return;
    }
    const c = make(["lxc.selinux.context = system_u:system_r:lxc_t:s0:c22"]);
    const r = box.lxt(["start", "-n", c]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /config:\d+: lxc.selinux.context = system_u:system_r:lxc_t:s0:c22: the host has no SELinux/,
    );
    assert.equal(stateOf(c), "STOPPED");
  });

  /** The container's runtime directory (its `monitor` file: pid and start time). */
  function runtimeDirOf(c: string): string {
    return join(runtimeRoot(box.lxcpath), c);
  }
});
