/**
 * `lxt checkpoint` / `lxt restore` with CRIU (docs/checkpoint.md): a
 * privileged busybox container running a counter is dumped, left running
 * or stopped (-s), restored into a container its monitor owns again, and
 * the counter goes on from where it was. A restore that fails leaves
 * nothing behind. An unprivileged container (user namespace, idmapped
 * rootfs) comes back too, with criu 4.2.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, type TestContext, test } from "node:test";
import { readCgroupLayout } from "../../src/cgroups/layout.js";
import { controllerVersion } from "../../src/cgroups/limits.js";
import { nodeCgroupFs } from "../../src/host/cgroup-fs.js";
import {
  alive,
  cgroupDirsOf,
  criuSkip,
  hostLeftovers,
  monitorPid,
  runtimeLeftovers,
  Sandbox,
  skipReason,
  until,
} from "./harness.js";

const skip = skipReason() ?? criuSkip();
if (skip) console.log(skip);

const COUNTER = `#!/bin/sh
i=0
while true; do i=$((i+1)); echo "$$ $i" > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.05; done
`;

describe("checkpoint and restore", { skip, timeout: 240_000 }, () => {
  let box: Sandbox;
  let c: string;
  let dirs: string;
  before(() => {
    box = new Sandbox();
    dirs = mkdtempSync(join(tmpdir(), "lxt-ckpt-"));
    c = box.name("ckpt");
    box.ok(["create", "-n", c, "-t", "busybox"]);
    const cfg = join(box.lxcpath, c, "config");
    writeFileSync(
      cfg,
      readFileSync(cfg, "utf8").replace(/^lxt\.privileged = 0$/m, "lxt.privileged = 1"),
    );
    writeFileSync(join(box.lxcpath, c, "rootfs", "counter.sh"), COUNTER, { mode: 0o755 });
    box.ok(["start", "-n", c]);
    startCounter(c);
  });
  after(() => {
    box.cleanup();
    rmSync(dirs, { recursive: true, force: true });
  });

  /** The counter's pid (inside) and its last count, in container NAME. */
  const count = (name = c): [number, number] => {
    const [pid, n] = box.ok(["attach", "-n", name, "--", "cat", "/tmp/count"]).trim().split(" ");
    return [Number(pid), Number(n)];
  };
  const startCounter = (name: string) =>
    box.ok([
      "attach",
      "-n",
      name,
      "--",
      "sh",
      "-c",
      "setsid /counter.sh </dev/null >/dev/null 2>&1 &",
    ]);
  /** True (skipped) when the earlier test that makes checkpoint DIR was skipped. */
  const noCheckpoint = (t: TestContext, dir: string): boolean => {
    const none = !existsSync(join(dirs, dir, "lxt-checkpoint.json"));
    if (none) t.skip(`no checkpoint in ${dir}: the test that makes it was skipped`);
    return none;
  };
  const state = () => JSON.parse(box.ok(["info", "-n", c, "--format", "json"])).state as string;

  test("a dump without -s leaves the container running, the counter going", async () => {
    assert.ok(await until(() => count()[1] > 0, 10_000), "counter started");
    const init = JSON.parse(box.ok(["info", "-n", c, "--format", "json"])).pid;
    const out = box.ok(["checkpoint", "-n", c, "-D", join(dirs, "live"), "-v"]);
    assert.match(out, /dumped .* in \d+ ms/);
    assert.ok(readdirSync(join(dirs, "live")).includes("inventory.img"));
    assert.equal(state(), "RUNNING");
    assert.equal(JSON.parse(box.ok(["info", "-n", c, "--format", "json"])).pid, init);
    const [, before] = count();
    assert.ok(await until(() => count()[1] > before, 10_000), "counter still counting");
  });

  test("a directory that holds a checkpoint is refused", () => {
    const r = box.lxt(["checkpoint", "-n", c, "-D", join(dirs, "live")]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /already holds a checkpoint/);
    assert.equal(state(), "RUNNING");
  });

  test("-s stops it; restore brings it back, monitored, and the counter continues", async () => {
    const [pid0] = count();
    const out = box.ok(["checkpoint", "-n", c, "-D", join(dirs, "stop"), "-s", "-v"]);
    const dumpMs = Number(/in (\d+) ms/.exec(out)?.[1]);
    assert.equal(state(), "STOPPED");
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
    // The value on disk when it stopped: the counter's last write.
    const dumped = Number(
      execFileSync("cat", [join(box.lxcpath, c, "rootfs", "tmp", "count")], { encoding: "utf8" })
        .trim()
        .split(" ")[1],
    );
    const r = box.ok(["restore", "-n", c, "-D", join(dirs, "stop"), "-v"]);
    const restoreMs = Number(/in (\d+) ms/.exec(r)?.[1]);
    console.log(`dump ${dumpMs} ms, restore ${restoreMs} ms (lxt's own timing)`);
    assert.equal(state(), "RUNNING");
    // The same process (its pid inside the container) goes on counting: no reset.
    assert.ok(await until(() => count()[1] > dumped, 10_000), "counter continues");
    const [pid1, n1] = count();
    assert.equal(pid1, pid0);
    assert.ok(n1 > dumped, `${n1} > ${dumped}`);
    // Owned by a monitor, in the container's own cgroups.
    const info = JSON.parse(box.ok(["info", "-n", c, "--format", "json"]));
    const mon = monitorPid(box.lxcpath, c);
    assert.ok(alive(mon));
    assert.equal(
      Number(execFileSync("ps", ["-o", "ppid=", "-p", String(info.pid)], { encoding: "utf8" })),
      mon,
    );
    assert.ok(cgroupDirsOf(info.pid).some((d) => d.includes(`lxt.payload.${c}`)));
    // The init's console is the new monitor's pty: what it writes reaches the console log.
    const marker = `restored-${Date.now()}`;
    box.ok(["attach", "-n", c, "--", "sh", "-c", `echo ${marker} > /proc/1/fd/1`]);
    const log = join(box.lxcpath, c, "console.log");
    assert.ok(
      await until(() => readFileSync(log, "utf8").includes(marker), 10_000),
      "console output after restore",
    );
    box.ok(["stop", "-n", c]);
    assert.equal(state(), "STOPPED");
    assert.deepEqual(hostLeftovers(c), []);
  });

  test("checkpoint -r is restore; restoring a running container is refused", (t) => {
    if (noCheckpoint(t, "stop")) return;
    box.ok(["checkpoint", "-r", "-n", c, "-D", join(dirs, "stop")]);
    assert.equal(state(), "RUNNING");
    const r = box.lxt(["restore", "-n", c, "-D", join(dirs, "stop")]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /RUNNING/);
    box.ok(["stop", "-n", c]);
  });

  test("a restore that fails leaves no cgroups, mounts, processes or runtime files", (t) => {
    if (noCheckpoint(t, "stop")) return;
    const broken = join(dirs, "broken");
    execFileSync("cp", ["-a", join(dirs, "stop"), broken]);
    for (const f of readdirSync(broken)) if (f.startsWith("pages-")) unlinkSync(join(broken, f));
    const r = box.lxt(["restore", "-n", c, "-D", broken]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /restore .*: criu restore failed: .*log: .*restore\.log/);
    assert.equal(state(), "STOPPED");
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
    assert.deepEqual(hostLeftovers(c), []);
  });

  test("no checkpoint in the directory: a clear error", () => {
    const r = box.lxt(["restore", "-n", c, "-D", join(dirs, "nothing")]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /holds no lxt checkpoint/);
  });

  test("cgroup limits from the config are in force after a restore, the process in the container's cgroups", async () => {
    const l = box.name("ckptl");
    box.ok(["create", "-n", l, "-t", "busybox"]);
    const cfg = join(box.lxcpath, l, "config");
    writeFileSync(
      cfg,
      readFileSync(cfg, "utf8")
        .replace(/^lxt\.privileged = 0$/m, "lxt.privileged = 1")
        .concat("lxt.limits.memory = 48M\nlxt.limits.processes = 45\nlxt.limits.cpu = 0.5\n"),
    );
    writeFileSync(join(box.lxcpath, l, "rootfs", "counter.sh"), COUNTER, { mode: 0o755 });
    box.ok(["start", "-n", l]);
    const layout = readCgroupLayout(nodeCgroupFs);
    const memMax =
      controllerVersion(layout, "memory") === 1 ? "memory.limit_in_bytes" : "memory.max";
    const cpu1 = controllerVersion(layout, "cpu") === 1;
    const limits = () => {
      const cg = (f: string) => box.ok(["cgroup", "-n", l, f]).trim();
      const quota = cpu1 ? cg("cpu.cfs_quota_us") : cg("cpu.max").split(" ")[0];
      return [cg(memMax), cg("pids.max"), quota];
    };
    const want = [String(48 * 1024 * 1024), "45", "50000"];
    assert.deepEqual(limits(), want);
    startCounter(l);
    assert.ok(
      await until(() => box.lxt(["attach", "-n", l, "--", "cat", "/tmp/count"]).code === 0, 10_000),
    );
    const [pid0] = count(l);
    box.ok(["checkpoint", "-n", l, "-D", join(dirs, "limits"), "-s"]);
    assert.equal(JSON.parse(box.ok(["info", "-n", l, "--format", "json"])).state, "STOPPED");
    box.ok(["restore", "-n", l, "-D", join(dirs, "limits")]);
    assert.deepEqual(limits(), want);
    const info = JSON.parse(box.ok(["info", "-n", l, "--format", "json"]));
    assert.ok(cgroupDirsOf(info.pid).some((d) => d.includes(`lxt.payload.${l}`)));
    const [pid1, n1] = count(l);
    assert.equal(pid1, pid0, "the same counter process");
    assert.ok(await until(() => count(l)[1] > n1, 10_000), "counter continues");
    // The pids limit binds the restored tree: 45 tasks at most.
    const r = box.lxt([
      "attach",
      "-n",
      l,
      "--",
      "sh",
      "-c",
      "for i in $(seq 60); do sleep 5 & done; wait",
    ]);
    assert.match(r.stderr, /can't fork|Resource temporarily unavailable/);
    box.ok(["stop", "-k", "-n", l]);
    assert.deepEqual(hostLeftovers(l), []);
  });

  test("unprivileged (idmapped rootfs): -s and restore, the counter continues in the same user namespace map", async () => {
    const u = box.name("ckptu");
    box.ok(["create", "-n", u, "-t", "busybox"]);
    writeFileSync(join(box.lxcpath, u, "rootfs", "counter.sh"), COUNTER, { mode: 0o755 });
    box.ok(["start", "-n", u]);
    const info = () => JSON.parse(box.ok(["info", "-n", u, "--format", "json"]));
    const at = () => count(u);
    const dir = join(dirs, "unpriv");
    if (criuSkip([4, 2])) {
      // criu 4.1 was never shown to restore one: refused before anything is dumped.
      const r = box.lxt(["checkpoint", "-n", u, "-D", dir, "-s"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /unprivileged containers .* criu 4\.2/);
      assert.equal(info().state, "RUNNING");
      box.ok(["stop", "-k", "-n", u]);
      return;
    }
    const uidMap = () => readFileSync(`/proc/${info().pid}/uid_map`, "utf8").trim();
    const map0 = uidMap();
    assert.notEqual(map0.split(/\s+/)[1], "0", "a user namespace mapping root elsewhere");
    startCounter(u);
    assert.ok(
      await until(() => box.lxt(["attach", "-n", u, "--", "cat", "/tmp/count"]).code === 0, 10_000),
    );
    const [pid0] = at();
    box.ok(["checkpoint", "-n", u, "-D", dir, "-s"]);
    assert.equal(info().state, "STOPPED");
    const dumped = Number(
      readFileSync(join(box.lxcpath, u, "rootfs", "tmp", "count"), "utf8")
        .trim()
        .split(" ")[1],
    );
    // criu reads a clock image before the user namespace's maps exist: DIR's parents must be searchable.
    const refused = box.lxt(["restore", "-n", u, "-D", dir]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /is not searchable by others/);
    assert.equal(info().state, "STOPPED");
    chmodSync(dirs, 0o711);
    box.ok(["restore", "-n", u, "-D", dir]);
    assert.equal(info().state, "RUNNING");
    assert.equal(uidMap(), map0);
    assert.ok(await until(() => at()[1] > dumped, 10_000), "counter continues");
    assert.equal(at()[0], pid0, "the same process");
    // Root inside still owns its files through the idmapped rootfs.
    assert.match(box.ok(["attach", "-n", u, "--", "stat", "-c", "%u", "/bin"]), /^0\n?$/);
    // The idmapped view made for criu is gone from the host.
    assert.ok(!readFileSync("/proc/self/mountinfo", "utf8").includes(".criu-root"));
    box.ok(["stop", "-n", u]);
    assert.deepEqual(hostLeftovers(u), []);
  });
});
