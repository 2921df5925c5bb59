import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  alive,
  cgroupDirsOf,
  exitOf,
  hostLeftovers,
  LXT as lxtBin,
  monitorPid,
  printed,
  runtimeLeftovers,
  Sandbox,
  skipReason,
  until,
} from "./harness.js";

const skip = skipReason();
if (skip) console.log(skip);

describe("lifecycle of a busybox container", { skip, timeout: 120_000 }, () => {
  let box: Sandbox;
  let c: string;
  before(() => {
    box = new Sandbox();
    c = box.name("life");
    box.ok(["create", "-n", c, "-t", "busybox"]);
  });
  after(() => box.cleanup());

  test("start returns once RUNNING; ls -f and info say so", () => {
    box.ok(["start", "-n", c]);
    const table = box.ok(["ls", "-f"]);
    assert.match(table, new RegExp(`^${c}\\s+RUNNING\\s+\\d+`, "m"));
    const info = JSON.parse(box.ok(["info", "-n", c, "--format", "json"]));
    assert.equal(info.state, "RUNNING");
    assert.ok(info.pid > 1);
    assert.ok(info.cgroups.length > 0, "info lists the container's cgroups");
    for (const dir of info.cgroups) assert.ok(existsSync(dir), `${dir} exists`);
    // The init sits in the container's cgroup of every hierarchy (the v1 ones
    // entered by the child itself, docs/helper-protocol.md, Start protocol).
    assert.deepEqual(cgroupDirsOf(info.pid).sort(), [...info.cgroups].sort());
    assert.ok(info.memory_bytes > 0, `memory use from the cgroup: ${info.memory_bytes}`);
    // CPU use is the cgroup's counter (v1 cpuacct.usage, else v2 cpu.stat),
    // read here before and after info, once the container has used some.
    box.ok([
      "attach",
      "-n",
      c,
      "--",
      "sh",
      "-c",
      "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done",
    ]);
    const dirs = cgroupDirsOf(info.pid);
    const v1 = dirs.find((d) => existsSync(join(d, "cpuacct.usage")));
    const v2 = dirs.find((d) => existsSync(join(d, "cgroup.controllers")));
    const used = () =>
      v1
        ? Number(readFileSync(join(v1, "cpuacct.usage"), "utf8")) / 1e9
        : Number(
            /^usage_usec (\d+)$/m.exec(readFileSync(join(v2 ?? "", "cpu.stat"), "utf8"))?.[1],
          ) / 1e6;
    const before = used();
    const cpu = JSON.parse(box.ok(["info", "-n", c, "--format", "json"])).cpu_seconds;
    const after = used();
    assert.ok(before > 0, `the container used CPU: ${before} s`);
    assert.ok(before <= cpu && cpu <= after, `info's ${cpu} s, the cgroup's ${before}..${after} s`);
  });

  test("the acceptance check: hostname, PID 1 is init, exit code 3", () => {
    const r = box.lxt(["attach", "-n", c, "--", "sh", "-c", "hostname; cat /proc/1/comm; exit 3"]);
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), [c, "init"]);
  });

  test("inside: no host process, hostname or host mount is visible", () => {
    const ps = box.ok([
      "attach",
      "-n",
      c,
      "--",
      "sh",
      "-c",
      "ls /proc | grep -E '^[0-9]+$' | wc -l",
    ]);
    assert.ok(Number(ps.trim()) < 20, `few processes inside, saw ${ps.trim()}`);
    const mine = box.lxt(["attach", "-n", c, "--", "test", "-e", `/proc/${process.pid}/cmdline`]);
    // pids are per namespace: if our pid exists inside it must not be us.
    if (mine.code === 0) {
      const cmd = box.ok(["attach", "-n", c, "--", "cat", `/proc/${process.pid}/cmdline`]);
      assert.ok(!cmd.includes("node"), "the test runner is not visible inside");
    }
    const host = hostname();
    const h = box.ok(["attach", "-n", c, "--", "hostname"]).trim();
    assert.notEqual(h, host);
    const mounts = box.ok(["attach", "-n", c, "--", "cat", "/proc/self/mountinfo"]);
    // Field 5 is the mount point as seen inside; none of the host's may show.
    const lines = mounts
      .trim()
      .split("\n")
      .map((l) => l.split(" "));
    const points = lines.map((f) => f[4] ?? "");
    for (const p of points) {
      assert.ok(
        !p.startsWith(box.lxcpath) && !p.startsWith("/work") && !p.startsWith("/run/lxt"),
        `host mount ${p} visible`,
      );
    }
    const hostPoints = new Set(
      readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .map((l) => l.split(" ")[4]),
    );
    const allowed = new Set([
      "/",
      "/proc",
      "/sys",
      "/dev",
      "/dev/pts",
      "/dev/shm",
      "/dev/mqueue",
      "/dev/console",
      "/dev/tty1",
      "/proc/sys",
      "/proc/sys/net",
      "/proc/sysrq-trigger",
      "/dev/ptmx",
    ]);
    for (const p of points) {
      if (!allowed.has(p)) assert.ok(!hostPoints.has(p), `unexpected mount point ${p} inside`);
    }
    const at = (p: string) => lines.find((f) => f[4] === p);
    assert.ok(at("/proc"), "/proc mounted");
    assert.ok(at("/sys")?.[5]?.split(",").includes("ro"), "/sys read-only");
    assert.ok(at("/dev"), "/dev mounted");
    assert.ok(at("/dev/pts"), "/dev/pts mounted");
    assert.ok(at("/dev/shm"), "/dev/shm mounted");
    assert.ok(at("/dev/mqueue"), "/dev/mqueue mounted");
  });

  test("inside: /dev holds the standard nodes; /proc/sys is read-only but net is not", () => {
    const out = box.ok([
      "attach",
      "-n",
      c,
      "--",
      "sh",
      "-c",
      "for n in null zero full random urandom tty console ptmx; do test -e /dev/$n && echo $n; done; " +
        "echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c; " +
        "echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo ro-broken || echo proc-sys-ro; " +
        "ls /proc/sys/net >/dev/null && echo net-visible; ip link 2>/dev/null | grep -c ': lo' || true",
    ]);
    for (const n of [
      "null",
      "zero",
      "full",
      "random",
      "urandom",
      "tty",
      "console",
      "ptmx",
      "null-ok",
      "proc-sys-ro",
      "net-visible",
    ]) {
      assert.match(out, new RegExp(`^${n}$`, "m"), `${n} in ${out}`);
    }
    assert.match(out, /^4$/m);
    const links = box.ok(["attach", "-n", c, "--", "ls", "/sys/class/net"]).trim().split(/\s+/);
    assert.deepEqual(links, ["lo"], "only lo in the container's network namespace");
  });

  test("attach: clean environment by default, -v, --keep-env, uid/gid, cwd", () => {
    process.env.LXT_TEST_LEAK = "from-host";
    try {
      const clean = box.ok(["attach", "-n", c, "-v", "FOO=bar", "--", "env"]);
      assert.match(clean, /^FOO=bar$/m);
      assert.match(clean, /^container=lxc$/m);
      assert.ok(!clean.includes("LXT_TEST_LEAK"), "host environment does not leak by default");
      const kept = box.ok(["attach", "-n", c, "--keep-env", "--", "env"]);
      assert.match(kept, /^LXT_TEST_LEAK=from-host$/m);
    } finally {
      delete process.env.LXT_TEST_LEAK;
    }
    const ids = box.ok([
      "attach",
      "-n",
      c,
      "-u",
      "1000",
      "-g",
      "1001",
      "--cwd",
      "/tmp",
      "--",
      "sh",
      "-c",
      "id -u; id -g; pwd",
    ]);
    assert.deepEqual(ids.trim().split("\n"), ["1000", "1001", "/tmp"]);
    const missing = box.lxt(["attach", "-n", c, "--", "/no/such/binary"]);
    assert.notEqual(missing.code, 0);
  });

  test("console: the init's console answers and Ctrl+a q detaches", async () => {
    const child = spawn(lxtBin, ["console", "-n", c], {
      env: { ...process.env, LXT_PATH: box.lxcpath },
    });
    // Enter for busybox init's "Please press Enter", then a command for the
    // shell it starts: both wait in the console's input until read.
    child.stdin.write("\n");
    child.stdin.write("echo console-$((40+2))\n");
    await printed(child, "console-42");
    child.stdin.write("\x01q");
    assert.equal(await exitOf(child), 0);
  });

  test("wait reaches RUNNING at once and times out waiting for STOPPED", () => {
    box.ok(["wait", "-n", c, "-s", "RUNNING", "-t", "1"]);
    const r = box.lxt(["wait", "-n", c, "-s", "STOPPED", "-t", "1"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /timed out/);
  });

  test("start of a running container and destroy without -f are refused", () => {
    const s = box.lxt(["start", "-n", c]);
    assert.notEqual(s.code, 0);
    assert.match(s.stderr, /RUNNING/);
    const d = box.lxt(["destroy", "-n", c]);
    assert.notEqual(d.code, 0);
    assert.match(d.stderr, /stop it first/);
  });

  test("clean stop: the halt signal, the init shuts down, everything goes", () => {
    const info = JSON.parse(box.ok(["info", "-n", c, "--format", "json"]));
    const monitor = monitorPid(box.lxcpath, c);
    box.ok(["stop", "-n", c, "-t", "20"]);
    assert.ok(!alive(monitor), "the monitor has exited when stop returns");
    assert.match(box.ok(["ls", "-f"]), new RegExp(`^${c}\\s+STOPPED`, "m"));
    for (const dir of info.cgroups) assert.ok(!existsSync(dir), `${dir} removed`);
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
    const after = JSON.parse(box.ok(["info", "-n", c, "--format", "json"]));
    assert.equal(after.state, "STOPPED");
    // busybox honours SIGUSR1: its init halts, and the kernel ends it with
    // SIGINT (pid_namespaces(7)); a SIGKILL would mean the timeout.
    assert.deepEqual(after.last_exit, { signal: 2 }, "the exit was recorded");
  });

  test("forced stop (-k) and destroy leave nothing", () => {
    box.ok(["start", "-n", c]);
    const info = JSON.parse(box.ok(["info", "-n", c, "--format", "json"]));
    const monitor = monitorPid(box.lxcpath, c);
    box.ok(["stop", "-n", c, "-k"]);
    assert.ok(!alive(monitor), "the monitor has exited when stop -k returns");
    assert.equal(JSON.parse(box.ok(["info", "-n", c, "--format", "json"])).state, "STOPPED");
    for (const dir of info.cgroups) assert.ok(!existsSync(dir));
    box.ok(["destroy", "-n", c]);
    assert.ok(!existsSync(`${box.lxcpath}/${c}`));
    assert.equal(box.ok(["ls"]).trim(), "");
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
    assert.deepEqual([...hostLeftovers(box.lxcpath), ...hostLeftovers(c)], []);
  });
});

describe("execute", { skip, timeout: 120_000 }, () => {
  let box: Sandbox;
  before(() => {
    box = new Sandbox();
  });
  after(() => box.cleanup());

  test("runs one command as the only payload and returns its exit code", () => {
    const c = box.name("exec");
    box.ok(["create", "-n", c, "-t", "busybox"]);
    const r = box.lxt(["execute", "-n", c, "--", "sh", "-c", "echo pid=$$; hostname; exit 7"]);
    assert.equal(r.code, 7, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.ok(lines.includes(c), r.stdout);
    assert.ok(!lines.includes("pid=1"), "PID 1 is the small init, not the command");
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
    assert.match(box.ok(["ls", "-f"]), new RegExp(`^${c}\\s+STOPPED`, "m"));
  });
});

describe("lxc.ephemeral", { skip, timeout: 120_000 }, () => {
  let box: Sandbox;
  before(() => {
    box = new Sandbox();
  });
  after(() => box.cleanup());

  test("an ephemeral container is destroyed when it stops", () => {
    const c = box.name("eph");
    box.ok(["create", "-n", c, "-t", "busybox"]);
    box.ok(["start", "-n", c, "-s", "lxc.ephemeral=1"]);
    assert.match(box.ok(["ls", "-f"]), new RegExp(`^${c}\\s+RUNNING`, "m"));
    const monitor = monitorPid(box.lxcpath, c);
    box.ok(["stop", "-n", c, "-k"]);
    assert.ok(!existsSync(`${box.lxcpath}/${c}`), "destroyed on stop");
    // Its exit hook (the destroy) ran to its end: nothing of it is left running.
    assert.ok(!alive(monitor), "the monitor has exited when stop returns");
    assert.deepEqual(hostLeftovers(c), []);
  });

  test("one that shuts itself down is destroyed by its monitor, with nobody running ls", async () => {
    const c = box.name("eph");
    box.ok(["create", "-n", c, "-t", "busybox"]);
    box.ok(["start", "-n", c, "-s", "lxc.ephemeral=1"]);
    const monitor = monitorPid(box.lxcpath, c);
    box.lxt(["attach", "-n", c, "--", "poweroff", "-f"]);
    // The monitor's last step is the destroy: once it has exited, the container is gone.
    assert.ok(await until(() => !alive(monitor), 30_000), "the monitor ended");
    assert.ok(!existsSync(`${box.lxcpath}/${c}`), "destroyed by the monitor's exit hook");
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
  });

  test("ls and info only report: an ephemeral container whose monitor was killed stays until asked", async () => {
    const c = box.name("eph");
    box.ok(["create", "-n", c, "-t", "busybox"]);
    box.ok(["start", "-n", c, "-s", "lxc.ephemeral=1"]);
    const monitor = monitorPid(box.lxcpath, c);
    // Killed, its exit hook never runs: the container is stopped, not destroyed.
    process.kill(monitor, "SIGKILL");
    assert.ok(await until(() => !alive(monitor), 10_000));
    assert.match(box.ok(["ls", "-f"]), new RegExp(`^${c}\\s+STOPPED`, "m"));
    assert.match(box.ok(["ls"]), new RegExp(`^${c}$`, "m"));
    assert.equal(JSON.parse(box.ok(["info", "-n", c, "--format", "json"])).state, "STOPPED");
    assert.ok(existsSync(`${box.lxcpath}/${c}/config`), "reads destroyed nothing");
    // The explicit sweep: a non-ephemeral container is left alone, this one goes.
    const keep = box.name("keep");
    box.ok(["create", "-n", keep, "-t", "busybox"]);
    box.ok(["destroy", "--if-ephemeral", "-n", keep]);
    assert.ok(existsSync(`${box.lxcpath}/${keep}/config`));
    box.ok(["destroy", "--if-ephemeral", "-n", c]);
    assert.ok(!existsSync(`${box.lxcpath}/${c}`));
    box.ok(["destroy", "-n", keep]);
  });
});

describe("terminals", { skip, timeout: 120_000 }, () => {
  let box: Sandbox;
  let c: string;
  before(() => {
    box = new Sandbox();
    c = box.name("tty");
    box.ok(["create", "-n", c, "-t", "busybox"]);
  });
  after(() => box.cleanup());

  test("start -F: the console is this terminal; the container ends with its init", async () => {
    const child = spawn(lxtBin, ["start", "-F", "-n", c], {
      env: { ...process.env, LXT_PATH: box.lxcpath },
    });
    child.stdin.write("\n");
    child.stdin.write("echo fg-$((20+1))\n");
    await printed(child, "fg-21");
    assert.match(box.ok(["info", "-n", c, "-s"]), /RUNNING/, "RUNNING while in the foreground");
    // poweroff(8) in a PID namespace: the kernel ends its init with SIGINT
    // (pid_namespaces(7)); start -F exits with the init's status, 128+2.
    child.stdin.write("poweroff -f\n");
    assert.equal(await exitOf(child), 130);
    assert.match(readFileSync(join(box.lxcpath, c, "last-exit"), "utf8"), /^signaled 2$/m);
    assert.match(box.ok(["info", "-n", c, "-s"]), /STOPPED/);
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
  });

  test("attach gives a pty when stdin is a terminal, so shells are interactive", () => {
    box.ok(["start", "-n", c]);
    const r = spawnSync(
      "script",
      ["-qec", `${lxtBin} attach -n ${c} -- sh -c 'tty; exit 4'`, "/dev/null"],
      {
        env: { ...process.env, LXT_PATH: box.lxcpath },
        encoding: "utf8",
        timeout: 20_000,
      },
    );
    assert.match(r.stdout, /\/dev\/pts\/\d+/, r.stdout + r.stderr);
    assert.equal(r.status, 4);
    const plain = box.ok(["attach", "-n", c, "--", "sh", "-c", "tty || true"]);
    assert.match(plain, /not a tty/, "no pty without a terminal");
    box.ok(["stop", "-n", c, "-k"]);
  });
});
