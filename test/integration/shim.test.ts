/**
 * Root integration tests of the native helper (native/build/lxt-shim) against
 * docs/helper-protocol.md: plans are written by hand here, containers are a
 * busybox rootfs in a temp dir, and behaviour is checked from the inside.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { until } from "./harness.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const SHIM = path.join(REPO, "native/build/lxt-shim");
const BUSYBOX = "/bin/busybox";

const MS_RDONLY = 1;
const MS_NOSUID = 2;
const MS_NODEV = 4;
const MS_NOEXEC = 8;
const MS_BIND = 4096;

/** Percent-encoding of one plan field (docs/helper-protocol.md, "Encoding"). */
function enc(s: string): string {
  if (s === "") return "%";
  let out = "";
  for (const b of Buffer.from(s)) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9._/:=,+@-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

type Rec = [string, ...string[]];

function planText(recs: Rec[]): string {
  return `lxt-plan 1\n${recs.map(([op, ...f]) => [op, ...f.map(enc)].join(" ")).join("\n")}\n`;
}

interface MountInfo {
  root: string;
  mnt: string;
  fstype: string;
  opts: string[];
}

function mountinfo(): MountInfo[] {
  return fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .trim()
    .split("\n")
    .map((l) => {
      const [a = "", b = ""] = l.split(" - ");
      const f = a.split(" ");
      const g = b.split(" ");
      return {
        root: f[3] ?? "",
        mnt: f[4] ?? "",
        fstype: g[0] ?? "",
        opts: (g[2] ?? "").split(","),
      };
    });
}

function within(root: string, p: string): string {
  if (root === "/") return p;
  return p.startsWith(root) ? p.slice(root.length) || "/" : p;
}

interface Cgroups {
  v1: string[];
  v2: string | null;
}

/** A fresh cgroup named `name` under this process's cgroup in every hierarchy. */
function makeCgroups(name: string): Cgroups {
  const mi = mountinfo();
  const cg: Cgroups = { v1: [], v2: null };
  for (const line of fs.readFileSync("/proc/self/cgroup", "utf8").trim().split("\n")) {
    const i = line.indexOf(":");
    const j = line.indexOf(":", i + 1);
    const id = line.slice(0, i);
    const ctrls = line.slice(i + 1, j);
    const p = line.slice(j + 1);
    if (id === "0") {
      const m = mi.find((x) => x.fstype === "cgroup2");
      if (m) cg.v2 = path.join(m.mnt, within(m.root, p), name);
      continue;
    }
    const want = ctrls.split(",");
    const m = mi.find((x) => x.fstype === "cgroup" && want.every((c) => x.opts.includes(c)));
    if (m) cg.v1.push(path.join(m.mnt, within(m.root, p), name));
  }
  for (const d of [...cg.v1, ...(cg.v2 ? [cg.v2] : [])]) {
    fs.mkdirSync(d);
    // cpuset v1 refuses tasks until cpus and mems are set.
    for (const f of ["cpuset.cpus", "cpuset.mems"]) {
      const file = path.join(d, f);
      if (fs.existsSync(file) && fs.readFileSync(file, "utf8").trim() === "") {
        fs.writeFileSync(file, fs.readFileSync(path.join(d, "..", f)));
      }
    }
  }
  return cg;
}

function cgroupPaths(cg: Cgroups): string[] {
  return [...cg.v1, ...(cg.v2 ? [cg.v2] : [])];
}

function removeCgroups(cg: Cgroups): void {
  for (const d of cgroupPaths(cg)) {
    if (!fs.existsSync(d)) continue;
    for (const pid of fs.readFileSync(path.join(d, "cgroup.procs"), "utf8").split("\n")) {
      if (pid) process.kill(Number(pid), "SIGKILL");
    }
    for (let i = 0; i < 100; i++) {
      try {
        fs.rmdirSync(d);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EBUSY") throw e;
        execFileSync("sleep", ["0.02"]);
      }
    }
  }
}

/** Minimal busybox rootfs: applets are symlinks to bin/busybox. */
function makeRootfs(dir: string): void {
  for (const d of ["bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "victim"]) {
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  }
  fs.copyFileSync(BUSYBOX, path.join(dir, "bin/busybox"));
  fs.chmodSync(path.join(dir, "bin/busybox"), 0o755);
  for (const a of [
    "sh",
    "cat",
    "echo",
    "sleep",
    "ls",
    "grep",
    "hostname",
    "id",
    "pwd",
    "env",
    "touch",
    "test",
    "stat",
    "kill",
    "tr",
  ]) {
    fs.symlinkSync("busybox", path.join(dir, "bin", a));
  }
  fs.symlinkSync("../bin/busybox", path.join(dir, "sbin/init"));
  fs.chmodSync(path.join(dir, "tmp"), 0o1777);
}

interface Started {
  child: ChildProcess;
  status: string;
  ms: number;
  exit: Promise<number | null>;
}

/** Spawn the monitor like TypeScript does: new session, status on fd 3; `env` adds to ours. */
function startMonitor(planFile: string, env: NodeJS.ProcessEnv = {}): Promise<Started> {
  const t0 = process.hrtime.bigint();
  const child = spawn(SHIM, ["monitor", planFile], {
    stdio: ["ignore", "pipe", "pipe", "pipe"],
    detached: true,
    env: { ...process.env, ...env },
  });
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let buf = "";
    const status = child.stdio[3] as net.Socket;
    const done = (line: string) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      resolve({ child, status: line, ms, exit });
    };
    status.on("data", (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split("\n");
      for (const l of lines.slice(0, -1)) {
        if (l.startsWith("running ") || l.startsWith("error ")) return done(l);
      }
    });
    status.on("close", () => done(buf.trim()));
    child.on("error", reject);
  });
}

/** One control-socket request; resolves with everything read until close. */
function control(sock: string, req: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(sock);
    let out = "";
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`control ${req}: timeout, got ${JSON.stringify(out)}`));
    }, timeoutMs);
    c.on("connect", () => c.write(`${req}\n`));
    c.on("data", (d) => {
      out += d.toString();
    });
    c.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
    c.on("error", reject);
  });
}

function attach(args: string[], argv: string[]) {
  const r = spawnSync(SHIM, ["attach", ...args, "--", ...argv], {
    encoding: "utf8",
    timeout: 10_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function vmRssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? -1);
}

if (process.getuid?.() !== 0 || !fs.existsSync(BUSYBOX)) {
  test.skip(`SKIP: lxt-shim integration tests need root and ${BUSYBOX}`);
} else {
  describe("lxt-shim", () => {
    const tag = `lxt-shimtest-${randomBytes(4).toString("hex")}`;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${tag}-`));
    const rootfs = path.join(tmp, "rootfs");
    const made: Cgroups[] = [];
    const monitors: ChildProcess[] = [];
    let seq = 0;

    /** A runtime dir, cgroups and the monitor records for one container. */
    function container(extra: Rec[], childRecs: Rec[], exec: string[]) {
      const name = `${tag}-${++seq}`;
      const runtime = path.join(tmp, `run-${seq}`);
      fs.mkdirSync(runtime);
      const cg = makeCgroups(name);
      made.push(cg);
      const recs: Rec[] = [
        ["name", name],
        ["runtime", runtime],
        ["exit-file", path.join(tmp, `exit-${seq}`)],
        ["namespaces", "pid,mnt,uts,ipc,net,cgroup"],
        ...cg.v1.map((d): Rec => ["cgroup1", d]),
        ...(cg.v2 ? [["cgroup2", cg.v2] as Rec] : []),
        ...cgroupPaths(cg).map((d): Rec => ["cgroup-kill", d]),
        ...extra,
        ["rootfs", rootfs],
        ["hostname", name.slice(0, 63)],
        ["mount", "proc", "/proc", "proc", String(MS_NOSUID | MS_NODEV | MS_NOEXEC), "", "0", ""],
        [
          "mount",
          "sysfs",
          "/sys",
          "sysfs",
          String(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC),
          "",
          "0",
          "",
        ],
        ["mount", "tmpfs", "/dev", "tmpfs", String(MS_NOSUID), "mode=755", "0", ""],
        ["mknod", "/dev/null", "666", "1", "3", "/dev/null"],
        ["mknod", "/dev/zero", "666", "1", "5", "/dev/zero"],
        ["mkdir", "/dev/pts", "755"],
        [
          "mount",
          "devpts",
          "/dev/pts",
          "devpts",
          String(MS_NOSUID | MS_NOEXEC),
          "newinstance,ptmxmode=0666,mode=0620",
          "0",
          "",
        ],
        ["symlink", "pts/ptmx", "/dev/ptmx"],
        ...childRecs,
        ["env", "PATH=/bin:/sbin"],
        ["exec", ...exec],
      ];
      const planFile = path.join(runtime, "plan");
      fs.writeFileSync(planFile, planText(recs));
      return { name, runtime, cg, planFile, exitFile: path.join(tmp, `exit-${seq}`) };
    }

    before(() => {
      execFileSync("make", ["-s", "-C", path.join(REPO, "native")], { stdio: "inherit" });
      makeRootfs(rootfs);
    });

    after(() => {
      for (const m of monitors) if (m.exitCode === null && m.pid) process.kill(m.pid, "SIGKILL");
      for (const cg of made) removeCgroups(cg);
      const leakedMounts = mountinfo().filter((m) => m.mnt.includes(tmp));
      fs.rmSync(tmp, { recursive: true, force: true });
      assert.deepEqual(leakedMounts, [], "no mount of the test dir is left on the host");
      for (const cg of made)
        for (const d of cgroupPaths(cg)) assert.ok(!fs.existsSync(d), `${d} removed`);
      const procs = fs.readdirSync("/proc").filter((p) => {
        if (!/^\d+$/.test(p)) return false;
        try {
          return fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes(tag);
        } catch {
          return false;
        }
      });
      assert.deepEqual(procs, [], "no process of the test is left");
    });

    test("version", () => {
      assert.match(
        execFileSync(SHIM, ["version"], { encoding: "utf8" }),
        /^lxt-shim \S+ plan=1\n$/,
      );
    });

    test("host-hook records run with the child's pid before it is released", async () => {
      const out = path.join(tmp, "hook-out");
      const c = container(
        [
          ["netdev", "lxtvhooktest"],
          ["host-hook", "/bin/sh", "-c", `readlink /proc/$1/ns/net > ${out}`, "sh", "{pid}"],
        ],
        [["pivot"]],
        ["/bin/sh", "-c", "exec sleep 1000"],
      );
      const s = await startMonitor(c.planFile);
      monitors.push(s.child);
      assert.match(s.status, /^running \d+ \d+$/);
      const initPid = s.status.split(" ")[1] ?? "";
      assert.equal(fs.readFileSync(out, "utf8"), `${fs.readlinkSync(`/proc/${initPid}/ns/net`)}\n`);
      assert.notEqual(
        fs.readlinkSync(`/proc/${initPid}/ns/net`),
        fs.readlinkSync("/proc/self/ns/net"),
      );
      assert.equal(
        await control(path.join(c.runtime, "control.sock"), "stop 9 5"),
        "stopping\nsignaled 9\n",
      );
      assert.equal(await s.exit, 0);

      const failing = container(
        [["host-hook", "/bin/sh", "-c", "exit 3"]],
        [["pivot"]],
        ["/bin/true"],
      );
      const f = await startMonitor(failing.planFile);
      assert.equal(f.status, "error hook exit:3 /bin/sh 0");
      assert.equal(await f.exit, 1);
      assert.ok(!fs.existsSync(failing.runtime), "runtime directory removed");
    });

    test("exit-hook records run last: after the cleanup and the exit file, only for an init that ran", async () => {
      const out = path.join(tmp, "exit-hook-out");
      const hook = (c: { runtime: string; exitFile: string }): Rec => [
        "exit-hook",
        "/bin/sh",
        "-c",
        `{ test -e $1 && echo runtime-left || echo runtime-gone; cat $2; echo "pid $3"; } >> ${out}`,
        "sh",
        c.runtime,
        c.exitFile,
        "{pid}",
      ];
      /** Appends the hook to a plan (its records are position-independent). */
      const withHook = (c: { runtime: string; exitFile: string; planFile: string }) =>
        fs.appendFileSync(c.planFile, planText([hook(c)]).slice("lxt-plan 1\n".length));
      const c = container([], [["pivot"]], ["/bin/sh", "-c", "exit 4"]);
      withHook(c);
      const s = await startMonitor(c.planFile);
      const init = s.status.split(" ")[1];
      assert.equal(await s.exit, 0);
      // The monitor waited for its hook: the file is complete once it has exited.
      assert.equal(fs.readFileSync(out, "utf8"), `runtime-gone\nexited 4\npid ${init}\n`);

      const failing = container([], [["pivot"]], ["/nonexistent"]);
      withHook(failing);
      const f = await startMonitor(failing.planFile);
      assert.match(f.status, /^error exec/);
      assert.equal(await f.exit, 1);
      assert.equal(
        fs.readFileSync(out, "utf8").split("\n").length,
        4,
        "no hook after a failed start",
      );
    });

    test("a busybox container: inside view, control socket, attach, stop", async (t) => {
      // An absolute symlink in the rootfs that names a host path (the rootfs's
      // own victim dir); in-root resolution must not follow it to the host.
      const victimHost = path.join(rootfs, "victim");
      fs.symlinkSync(victimHost, path.join(rootfs, "evil"));
      fs.mkdirSync(path.join(rootfs, victimHost), { recursive: true });
      const c = container(
        [
          ["console", "/dev/console"],
          ["tty", "/dev/tty1"],
          ["console-log", path.join(tmp, "console.log")],
        ],
        [
          ["mount", "tmpfs", "/evil", "tmpfs", "0", "", "0", ""],
          // sysctls resolve in-root wherever they sit; then /proc/sys goes read-only.
          ["sysctl", "kernel/domainname", "lxtdomain"],
          [
            "mount",
            "/proc/sys",
            "/proc/sys",
            "",
            String(MS_BIND),
            "",
            String(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC),
            "src-in-root",
          ],
          ["pivot"],
          ["rlimit", "7", "1000", "2000"],
          ["env", "HOME=/"],
        ],
        ["/bin/sh", "-c", "echo pid=$$; while read l; do echo got:$l; done; exec sleep 1000"],
      );
      const s = await startMonitor(c.planFile);
      monitors.push(s.child);
      assert.match(s.status, /^running \d+ \d+$/);
      const [, initPid = "", initStart = ""] = s.status.split(" ");
      t.diagnostic(`spawn to running: ${s.ms.toFixed(1)} ms`);

      const monitorPid = s.child.pid ?? 0;
      assert.equal(
        fs.readFileSync(path.join(c.runtime, "monitor"), "utf8").split(" ")[0],
        String(monitorPid),
      );
      assert.equal(
        fs.readFileSync(path.join(c.runtime, "state"), "utf8"),
        `RUNNING ${initPid} ${initStart}\n`,
      );
      assert.equal(
        (fs.statSync(path.join(c.runtime, "control.sock")).mode & 0o777).toString(8),
        "600",
      );
      assert.match(
        fs.readFileSync(`/proc/${monitorPid}/cmdline`, "utf8"),
        new RegExp(`^\\[lxt monitor\\] ${c.name}`),
      );
      assert.equal(fs.readFileSync(`/proc/${monitorPid}/comm`, "utf8"), "lxt monitor\n");
      const rss = vmRssKb(monitorPid);
      t.diagnostic(`monitor VmRSS: ${rss} kB`);
      assert.ok(rss > 0 && rss <= 1536, `monitor RSS ${rss} kB <= 1.5 MB`);
      for (const d of cgroupPaths(c.cg)) {
        assert.ok(
          fs.readFileSync(path.join(d, "cgroup.procs"), "utf8").split("\n").includes(initPid),
          `init in ${d}`,
        );
      }
      const sock = path.join(c.runtime, "control.sock");
      assert.equal(await control(sock, "state"), `RUNNING ${initPid} ${initStart}\n`);
      assert.match(await control(sock, "bogus"), /^error socket request % 22\n$/);

      const at = ["--pid", initPid, "--pid-start", initStart];
      const inside = attach(
        [...at, "--env", "PATH=/bin"],
        [
          "sh",
          "-c",
          [
            "cat /proc/1/cmdline | tr '\\0' ' '; echo",
            "hostname",
            "cat /proc/sys/kernel/domainname",
            "(echo x > /proc/sys/kernel/domainname) 2>/dev/null || echo procsys-ro",
            "test -r /proc/self/stat && echo proc-ok",
            "touch /sys/lxt-x 2>/dev/null || echo sys-ro",
            "test -c /dev/null && echo x > /dev/null && echo null-ok",
            "test -c /dev/console && echo console-ok",
            "test -c /dev/tty1 && echo tty1-ok",
            "grep -q ' /victim ' /proc/mounts || echo victim-untouched",
            `grep -q ' ${victimHost} tmpfs' /proc/mounts && echo evil-in-root`,
            "grep 'open files' /proc/1/limits",
          ].join("; "),
        ],
      );
      assert.equal(inside.status, 0, inside.stderr);
      const lines = inside.stdout.split("\n");
      assert.match(lines[0] ?? "", /^\/bin\/sh -c echo pid=/, "pid 1 is the init");
      assert.equal(lines[1], c.name);
      assert.equal(lines[2], "lxtdomain");
      for (const w of [
        "procsys-ro",
        "proc-ok",
        "sys-ro",
        "null-ok",
        "console-ok",
        "tty1-ok",
        "victim-untouched",
        "evil-in-root",
      ]) {
        assert.ok(lines.includes(w), `${w} in ${inside.stdout}`);
      }
      assert.match(inside.stdout, /Max open files\s+1000\s+2000/);
      assert.deepEqual(
        fs.readdirSync(victimHost),
        [],
        "nothing mounted through the symlink on the host path",
      );

      const r = attach(
        [...at, "--env", "FOO=bar", "--cwd", "/tmp", "--uid", "1000", "--gid", "1000"],
        ["/bin/sh", "-c", "env; pwd; id -u; id -g; echo $$; exit 7"],
      );
      assert.equal(r.status, 7, r.stderr);
      const out = r.stdout.split("\n");
      assert.ok(out.includes("FOO=bar") && !out.some((l) => l.startsWith("HOME=")), r.stdout);
      assert.ok(out.includes("/tmp") && out.includes("1000"), r.stdout);
      assert.ok(
        Number(out[out.length - 2]) < 100,
        "attached process is in the container's pid namespace",
      );

      const stale = attach(
        ["--pid", initPid, "--pid-start", String(Number(initStart) + 1)],
        ["/bin/true"],
      );
      assert.equal(stale.status, 126);
      assert.match(stale.stderr, /^error attach pid-start \S+ 3\n$/);
      const missing = attach(at, ["no-such-command"]);
      assert.equal(missing.status, 127);
      assert.match(missing.stderr, /^error exec execve no-such-command 2\n$/);

      // console round trip: a second client is busy, a missing pty is none.
      assert.equal(await control(sock, "console 5"), "none\n");
      const con = net.createConnection(sock);
      let seen = "";
      con.on("data", (d) => {
        seen += d.toString();
      });
      await new Promise((res) => con.on("connect", res));
      con.write("console 0\n");
      assert.ok(await until(() => seen.startsWith("ok\n"), 60_000), seen);
      assert.equal(await control(sock, "console 0"), "busy\n");
      con.write("ping\n");
      assert.ok(await until(() => seen.includes("got:ping"), 60_000), seen);
      con.destroy();
      assert.ok(
        await until(
          () => fs.readFileSync(path.join(tmp, "console.log"), "utf8").includes("got:ping"),
          60_000,
        ),
      );
      assert.match(fs.readFileSync(path.join(tmp, "console.log"), "utf8"), /pid=1\r?\n/);

      // pid 1 ignores SIGTERM without a handler, so the timeout's SIGKILL ends it.
      const waiter = control(sock, "wait");
      const stop = await control(sock, "stop 15 1");
      assert.equal(stop, "stopping\nsignaled 9\n");
      assert.equal(await waiter, "signaled 9\n");
      assert.equal(await s.exit, 0);
      assert.equal(fs.readFileSync(c.exitFile, "utf8"), "signaled 9\n");
      assert.ok(!fs.existsSync(c.runtime), "runtime dir removed");
      for (const d of cgroupPaths(c.cg))
        assert.ok(!fs.existsSync(d), `${d} removed by the monitor`);
    });

    test("init-shim: pid 1 forwards and propagates the command's status", async () => {
      const c = container(
        [
          ["init-shim", "1"],
          ["foreground", "1"],
          ["stdio", "null"],
        ],
        [["pivot"]],
        ["/bin/sh", "-c", "exit 3"],
      );
      const s = await startMonitor(c.planFile);
      assert.match(s.status, /^running /);
      assert.equal(await s.exit, 3);
      assert.equal(fs.readFileSync(c.exitFile, "utf8"), "exited 3\n");
      assert.ok(!fs.existsSync(c.runtime));

      const k = container(
        [
          ["init-shim", "1"],
          ["stdio", "null"],
        ],
        [["pivot"]],
        ["/bin/sh", "-c", "sleep 1000 & wait"],
      );
      const s2 = await startMonitor(k.planFile);
      monitors.push(s2.child);
      assert.match(s2.status, /^running /);
      const sock = path.join(k.runtime, "control.sock");
      assert.equal(await control(sock, "stop 15 -1"), "stopping\nexited 143\n");
      assert.equal(await s2.exit, 0);
      assert.ok(!fs.existsSync(k.runtime));
    });

    test("a missing exec binary is an error record; nothing is left", async () => {
      const c = container([["console", "/dev/console"]], [["pivot"]], ["/no/such/init"]);
      const s = await startMonitor(c.planFile);
      assert.equal(s.status, "error exec execve /no/such/init 2");
      assert.equal(await s.exit, 1);
      assert.ok(!fs.existsSync(c.runtime), "runtime dir removed");
      for (const d of cgroupPaths(c.cg)) assert.ok(!fs.existsSync(d), `${d} removed`);
      assert.ok(!fs.existsSync(c.exitFile));
    });

    test("an apparmor record the kernel cannot apply is an error record; nothing is left", async (t) => {
      const aa = "/sys/module/apparmor/parameters/enabled";
      if (fs.existsSync(aa) && fs.readFileSync(aa, "utf8").trim() === "Y")
        return t.skip("SKIP: AppArmor is enabled here (this checks the failure path)");
      const c = container([["apparmor", "lxt-none_0"]], [["pivot"]], ["/bin/true"]);
      const s = await startMonitor(c.planFile);
      assert.match(s.status, /^error apparmor (open|write) \S+ \d+$/);
      assert.equal(await s.exit, 1);
      assert.ok(!fs.existsSync(c.runtime), "runtime dir removed");
      for (const d of cgroupPaths(c.cg)) assert.ok(!fs.existsSync(d), `${d} removed`);
    });

    test("malformed plans are refused with an error plan line", async () => {
      const runtime = path.join(tmp, "never");
      const ok = (rest: string) =>
        `lxt-plan 1\nname x\nruntime ${runtime}\n${rest}exec /bin/true\n`;
      const bad: [string, string][] = [
        ["empty", ""],
        ["no header", "name x\n"],
        ["wrong version", "lxt-plan 2\nname x\n"],
        ["truncated line", `lxt-plan 1\nname x\nruntime ${runtime}\nexec /bin/tr`],
        ["bad escape", ok("hostname a%G1\n")],
        ["short escape", ok("hostname a%4\n")],
        ["nul escape", ok("hostname a%00b\n")],
        ["raw byte", ok("hostname a\tb\n")],
        ["unknown op", ok("frobnicate 1\n")],
        ["missing field", ok("rootfs /r\nmount proc /proc proc 0 % 0\n")],
        ["extra field", ok("name y z\n")],
        ["double space", ok("hostname  a\n")],
        ["trailing space", ok("hostname a \n")],
        ["empty line", ok("\n")],
        ["duplicate once", ok("hostname a\nhostname b\n")],
        ["missing exec", `lxt-plan 1\nname x\nruntime ${runtime}\n`],
        ["missing runtime", "lxt-plan 1\nname x\nexec /bin/true\n"],
        ["relative runtime", "lxt-plan 1\nname x\nruntime rel\nexec /bin/true\n"],
        ["bad namespace", ok("namespaces pid,time\n")],
        ["user without maps", ok("namespaces pid,mnt,user\n")],
        ["maps without user", ok("namespaces pid,mnt\nidmap u 0 1000 1\nidmap g 0 1000 1\n")],
        ["uid map only", ok("namespaces mnt,user\nidmap u 0 1000 1\n")],
        ["bad idmap kind", ok("namespaces mnt,user\nidmap x 0 1000 1\nidmap g 0 1000 1\n")],
        ["idmap count 0", ok("namespaces mnt,user\nidmap u 0 1000 0\nidmap g 0 1000 1\n")],
        ["idmap past 2^32", ok("namespaces mnt,user\nidmap u 0 4294967295 2\nidmap g 0 1000 1\n")],
        ["idmap missing field", ok("namespaces mnt,user\nidmap u 0 1000\nidmap g 0 1 1\n")],
        ["idmapped-mount without user", ok("namespaces mnt\nidmapped-mount /r\n")],
        [
          "relative idmapped-mount",
          ok("namespaces mnt,user\nidmap u 0 1 1\nidmap g 0 1 1\nidmapped-mount r\n"),
        ],
        ["mount before rootfs", ok("mount proc /proc proc 0 % 0 %\n")],
        [
          "mount before rootfs without a mount namespace",
          ok("namespaces pid,uts\nmount overlay /r overlay 0 % 0 %\nrootfs /r\n"),
        ],
        ["bad flags", ok("rootfs /r\nmount proc /proc proc 12x % 0 %\n")],
        ["bad mount opt", ok("rootfs /r\nmount proc /proc proc 0 % 0 sometimes\n")],
        ["relative target", ok("rootfs /r\nmkdir dev 755\n")],
        ["bad mode", ok("rootfs /r\nmkdir /dev 999\n")],
        ["block device", ok("rootfs /r\nmknod /dev/sda 60660 8 0 %\n")],
        ["rlimit soft > hard", ok("rlimit 7 10 5\n")],
        ["rlimit resource", ok("rlimit 99 1 1\n")],
        ["src-in-root relative", ok("rootfs /r\nmount proc /p % 4096 % 0 src-in-root\n")],
        ["sysctl escape", ok("rootfs /r\npivot\nsysctl kernel/../../x 1\n")],
        ["bad uid", ok("uid -5\n")],
        ["leading zero", ok("uid 007\n")],
        ["bad bool", ok("foreground yes\n")],
        ["env without =", ok("env FOO\n")],
        ["huge field", ok(`hostname ${"a".repeat(200_000)}\n`)],
        ["huge plan", ok(`env A=${"b".repeat(2_000_000)}\n`)],
        ["binary", "\u0000\u0001\u0002garbage\n"],
        ["relative hook", ok("host-hook sh -c true\n")],
        ["empty hook", ok("host-hook\n")],
        ["netdev too long", ok("netdev lxtv0123456789ab\n")],
        ["netdev with a slash", ok("netdev a/b\n")],
        ["netdev dot-dot", ok("netdev ..\n")],
        ["net unknown verb", ok("net frob x\n")],
        ["net veth short", ok("net veth a b 0 - - 0\n")],
        ["net veth bad mtu", ok("net veth a b 12 - - 0 0\n")],
        ["net veth bad mac", ok("net veth a b 0 00:11:22:33:44 - 0 0\n")],
        ["net veth bad master", ok("net veth a b 0 - x/y 0 0\n")],
        ["net veth too many queues", ok("net veth a b 0 - - 1025 0\n")],
        ["net vlan id over 4094", ok("net vlan eth0 v0 4095 0 -\n")],
        ["net ipvlan bad mode", ok("net ipvlan eth0 v0 l4 bridge 0\n")],
        ["net ipvlan bad isolation", ok("net ipvlan eth0 v0 l3 open 0\n")],
        ["net bridge-vlan pvid 0", ok("net bridge-vlan v0 br0 0 -\n")],
        ["net bridge-vlan empty tag", ok("net bridge-vlan v0 br0 - 10,,20\n")],
        ["net bridge-vlan tag none", ok("net bridge-vlan v0 br0 - none\n")],
        ["net addr bad address", ok("net addr eth0 10.0.0.300/24\n")],
        ["net addr prefix too long", ok("net addr eth0 10.0.0.1/33\n")],
        ["net route mixed families", ok("net route ::/0 10.0.0.1 eth0\n")],
        ["net route gateway with a prefix", ok("net route 0.0.0.0/0 10.0.0.1/24 eth0\n")],
        ["net macvlan bad mode", ok("net macvlan eth0 mv0 bogus 0 -\n")],
        ["net pin relative", ok("net pin netns\n")],
        ["net name too long", ok("net up abcdefghijklmnop\n")],
        ["caps not ascending", ok("caps 2,1\n")],
        ["caps repeated", ok("caps 1,1\n")],
        ["caps past 63", ok("caps 64\n")],
        ["caps leading zero", ok("caps 01\n")],
        ["duplicate caps", ok("caps 1\ncaps 2\n")],
        ["bad no-new-privs", ok("no-new-privs 2\n")],
        ["apparmor with a blank", ok("apparmor a%20b\n")],
        ["apparmor twice", ok("apparmor a\napparmor b\n")],
        ["rule before seccomp", ok("seccomp-rule all errno:1 mkdir\n")],
        ["bad default action", ok("seccomp notify x86_64\n")],
        ["foreign native arch", ok("seccomp allow aarch64\n")],
        ["unknown arch", ok("seccomp allow x86_64,vax\n")],
        ["repeated arch", ok("seccomp allow x86_64,x86,x86\n")],
        ["rule arch not in filter", ok("seccomp allow x86_64\nseccomp-rule arm errno:1 mkdir\n")],
        [
          "rule with the default action",
          ok("seccomp allow x86_64\nseccomp-rule all allow mkdir\n"),
        ],
        ["errno too big", ok("seccomp allow x86_64\nseccomp-rule all errno:4096 mkdir\n")],
        ["bad syscall name", ok("seccomp allow x86_64\nseccomp-rule all kill Mkdir\n")],
        ["number for all arches", ok("seccomp allow x86_64\nseccomp-rule all kill 83\n")],
        ["bad condition op", ok("seccomp allow x86_64\nseccomp-rule all kill mkdir 0,like,1\n")],
        ["condition arg 6", ok("seccomp allow x86_64\nseccomp-rule all kill mkdir 6,eq,1\n")],
        [
          "masked_eq without value",
          ok("seccomp allow x86_64\nseccomp-rule all kill mkdir 0,masked_eq,1\n"),
        ],
        ["eq with a mask", ok("seccomp allow x86_64\nseccomp-rule all kill mkdir 0,eq,1,1\n")],
        [
          "arg compared twice",
          ok("seccomp allow x86_64\nseccomp-rule all kill mkdir 0,eq,1 0,eq,2\n"),
        ],
        [
          "u64 overflow",
          ok("seccomp allow x86_64\nseccomp-rule all kill mkdir 0,eq,18446744073709551616\n"),
        ],
      ];
      for (const [what, text] of bad) {
        const f = path.join(tmp, "bad-plan");
        fs.writeFileSync(f, text);
        const s = await startMonitor(f);
        assert.match(s.status, /^error plan \S+ \S+ \d+$/, `${what}: ${s.status}`);
        assert.equal(await s.exit, 1, what);
      }
      assert.ok(!fs.existsSync(runtime));
    });

    test("a child killed before its exec is an error naming the signal, not running", async () => {
      // The host-hook runs while the child waits for the monitor's go-ahead
      // before its exec (docs/helper-protocol.md, "Start protocol").
      const c = container(
        [["host-hook", "/bin/sh", "-c", "kill -9 $1", "sh", "{pid}"]],
        [["pivot"]],
        ["/bin/sleep", "1000"],
      );
      const s = await startMonitor(c.planFile);
      monitors.push(s.child);
      assert.equal(s.status, "error exec signal:9 /bin/sleep 0");
      assert.equal(await s.exit, 1);
      assert.ok(!fs.existsSync(c.runtime), "runtime dir removed");
      for (const d of cgroupPaths(c.cg)) assert.ok(!fs.existsSync(d), `${d} removed`);
      assert.ok(!fs.existsSync(c.exitFile), "no exit record: there was no init");
    });

    /** The container's v1 freezer cgroup, if this host has that hierarchy. */
    const freezerOf = (cg: Cgroups) =>
      cg.v1.find((d) => fs.existsSync(path.join(d, "freezer.state")));
    const freeze = async (dir: string) => {
      fs.writeFileSync(path.join(dir, "freezer.state"), "FROZEN");
      const frozen = () => fs.readFileSync(path.join(dir, "freezer.state"), "utf8").trim();
      assert.ok(await until(() => frozen() === "FROZEN", 5000), `${dir} frozen`);
    };
    /** Thaws what a failed test left frozen, so the cleanup can kill it. */
    const thaw = (dir: string) => {
      if (fs.existsSync(dir)) fs.writeFileSync(path.join(dir, "freezer.state"), "THAWED");
    };
    const exitWithin = (s: Started, ms: number) =>
      Promise.race([s.exit, new Promise((r) => setTimeout(() => r("still running"), ms))]);

    test("a frozen container (v1 freezer) ends when its monitor gets SIGTERM", async (t) => {
      const c = container([], [["pivot"]], ["/bin/sleep", "1000"]);
      const freezer = freezerOf(c.cg);
      if (!freezer) return t.skip("SKIP: no v1 freezer here (v2 frozen tasks die of SIGKILL)");
      const s = await startMonitor(c.planFile);
      monitors.push(s.child);
      assert.match(s.status, /^running /);
      try {
        await freeze(freezer);
        // Host shutdown, or anyone ending the monitor: the container goes with it.
        process.kill(s.child.pid ?? 0, "SIGTERM");
        assert.equal(await exitWithin(s, 10_000), 0, "the monitor thawed, killed and ended");
        assert.equal(fs.readFileSync(c.exitFile, "utf8"), "signaled 9\n");
        for (const d of cgroupPaths(c.cg)) assert.ok(!fs.existsSync(d), `${d} removed`);
      } finally {
        thaw(freezer);
      }
    });

    test("stop -k ends a container with a frozen sub-cgroup (as its root may freeze one)", async (t) => {
      const c = container([], [["pivot"]], ["/bin/sh", "-c", "sleep 1000 & exec sleep 1001"]);
      const freezer = freezerOf(c.cg);
      if (!freezer) return t.skip("SKIP: no v1 freezer here (v2 frozen tasks die of SIGKILL)");
      const s = await startMonitor(c.planFile);
      monitors.push(s.child);
      assert.match(s.status, /^running /);
      const init = s.status.split(" ")[1];
      const procs = () =>
        fs.readFileSync(path.join(freezer, "cgroup.procs"), "utf8").split("\n").filter(Boolean);
      assert.ok(await until(() => procs().length === 2, 5000), "init and its sleeper");
      const sleeper = procs().find((p) => p !== init) ?? "";
      const sub = path.join(freezer, "sub");
      fs.mkdirSync(sub);
      try {
        fs.writeFileSync(path.join(sub, "cgroup.procs"), sleeper);
        await freeze(sub);
        // The dying init waits for every task of its pid namespace, the frozen one too.
        const sock = path.join(c.runtime, "control.sock");
        assert.equal(await control(sock, "stop 9 0"), "stopping\nsignaled 9\n");
        assert.equal(await exitWithin(s, 10_000), 0);
        for (const d of [sub, ...cgroupPaths(c.cg)]) assert.ok(!fs.existsSync(d), `${d} removed`);
      } finally {
        thaw(sub);
      }
    });

    test("every record kind has a bound: one more is an error naming record, line and limit", async () => {
      const runtime = path.join(tmp, "never");
      const bounds: [op: string, limit: number, record: string, prelude?: string][] = [
        ["cgroup1", 64, "cgroup1 /sys/fs/cgroup/x"],
        ["cgroup-kill", 64, "cgroup-kill /sys/fs/cgroup/x"],
        ["tty", 63, "tty /dev/tty1"],
        ["idmap", 64, "idmap u 0 100000 1"],
        ["idmapped-mount", 64, "idmapped-mount /srv/r", "namespaces mnt,user"],
        ["mount", 4096, "mount proc /proc proc 0 % 0 %", "rootfs /r"],
        ["mkdir", 4096, "mkdir /d 755", "rootfs /r"],
        ["mknod", 4096, "mknod /dev/null 666 1 3 %", "rootfs /r"],
        ["symlink", 4096, "symlink a /b", "rootfs /r"],
        ["sysctl", 4096, "sysctl kernel/domainname x"],
        ["rlimit", 4096, "rlimit 7 1 1"],
        ["env", 4096, "env A=1"],
        ["host-hook", 256, "host-hook /bin/true"],
        ["stop-hook", 256, "stop-hook /bin/true"],
        ["net", 4096, "net up lo"],
        ["netdev", 1024, "netdev lxtv0"],
        ...(process.arch === "x64"
          ? [
              ["seccomp-rule", 8192, "seccomp-rule all errno:1 mkdir", "seccomp allow x86_64"] as [
                string,
                number,
                string,
                string,
              ],
            ]
          : []),
      ];
      for (const [op, limit, record, prelude] of bounds) {
        const head = ["lxt-plan 1", "name x", `runtime ${runtime}`, ...(prelude ? [prelude] : [])];
        const f = path.join(tmp, "bounded-plan");
        fs.writeFileSync(
          f,
          `${[...head, ...Array(limit + 1).fill(record), "exec /bin/true"].join("\n")}\n`,
        );
        const s = await startMonitor(f);
        const line = head.length + limit + 1;
        assert.equal(s.status, `error plan ${op}:max=${limit} ${f}:${line} 7`, op);
        assert.equal(await s.exit, 1, op);
      }
      assert.ok(!fs.existsSync(runtime));
    });

    test("LXT_SHIM_SEALED in the caller's environment does not turn off the sealed copy", async () => {
      const c = container(
        [
          ["init-shim", "1"],
          ["stdio", "null"],
        ],
        [["pivot"]],
        ["/bin/sleep", "1000"],
      );
      const s = await startMonitor(c.planFile, { LXT_SHIM_SEALED: "1" });
      monitors.push(s.child);
      assert.match(s.status, /^running /);
      const init = s.status.split(" ")[1];
      // pid 1 stays the helper's image: a sealed memfd copy, never the host file (CVE-2019-5736).
      assert.match(fs.readlinkSync(`/proc/${init}/exe`), /^\/memfd:lxt-shim/);
      assert.match(fs.readlinkSync(`/proc/${s.child.pid}/exe`), /^\/memfd:lxt-shim/);
      const sock = path.join(c.runtime, "control.sock");
      assert.equal(await control(sock, "stop 9 0"), "stopping\nsignaled 9\n");
      assert.equal(await s.exit, 0);
    });

    test("lock blocks a second locker until the first's stdin closes", async () => {
      const file = path.join(tmp, "lock");
      const locker = () => {
        const p = spawn(SHIM, ["lock", file], { stdio: ["pipe", "pipe", "inherit"] });
        let out = "";
        p.stdout.on("data", (d) => {
          out += d.toString();
        });
        return { p, out: () => out, exit: new Promise((r) => p.on("exit", r)) };
      };
      const a = locker();
      assert.ok(await until(() => a.out() === "locked\n", 60_000));
      const b = locker();
      // The kernel lists a blocked flock request as "-> FLOCK ... PID" in /proc/locks.
      const blocked = new RegExp(`-> FLOCK\\s+ADVISORY\\s+WRITE ${b.p.pid} `, "m");
      assert.ok(await until(() => blocked.test(fs.readFileSync("/proc/locks", "utf8")), 60_000));
      assert.equal(b.out(), "", "second locker waits");
      a.p.stdin.end();
      assert.equal(await a.exit, 0);
      assert.ok(await until(() => b.out() === "locked\n", 60_000));
      b.p.stdin.end();
      assert.equal(await b.exit, 0);
      assert.equal((fs.statSync(file).mode & 0o777).toString(8), "600");
    });
  });
}
