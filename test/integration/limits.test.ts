import assert from "node:assert/strict";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { readCgroupLayout } from "../../src/cgroups/layout.js";
import { controllerVersion } from "../../src/cgroups/limits.js";
import { nodeCgroupFs } from "../../src/host/cgroup-fs.js";
import { cgroupDirsOf, hostLeftovers, runtimeRoot, Sandbox, skipReason, until } from "./harness.js";

const skip = skipReason();

describe("resource limits, live changes, freeze and stats", {
  skip,
  timeout: Number(process.env.LXT_TEST_TIMEOUT_MS ?? 120_000),
}, () => {
  let box: Sandbox;
  let c: string;
  // File names of this host's layout, per controller.
  let memMax = "memory.max";
  let v2Only = false;
  let cpuQuota = (q: number) => `${q} 100000`;
  let readQuota = (text: string) => Number(text.split(" ")[0]);
  before(() => {
    box = new Sandbox();
    c = box.name("lim");
    box.ok(["create", "-n", c, "-t", "busybox"]);
    appendFileSync(
      join(box.lxcpath, c, "config"),
      [
        "lxt.limits.memory = 32M",
        "lxt.limits.memory.swap = 0",
        "lxt.limits.processes = 40",
        "lxt.limits.cpu = 0.5",
        "",
      ].join("\n"),
    );
    const layout = readCgroupLayout(nodeCgroupFs);
    v2Only = layout.kind === "v2";
    if (controllerVersion(layout, "memory") === 1) memMax = "memory.limit_in_bytes";
    if (controllerVersion(layout, "cpu") === 1) {
      cpuQuota = (q) => String(q);
      readQuota = (text) => Number(text);
    }
    box.ok(["start", "-n", c]);
  });
  after(() => box.cleanup());

  const cg = (file: string) => box.ok(["cgroup", "-n", c, file]).trim();
  const quotaFile = () => (cpuQuota(1) === "1" ? "cpu.cfs_quota_us" : "cpu.max");
  const info = () => JSON.parse(box.ok(["info", "-n", c, "--format", "json"]));
  const sh = (script: string) => box.lxt(["attach", "-n", c, "--", "sh", "-c", script]);

  test("limits from the config are in place when the init runs", () => {
    assert.equal(cg(memMax), String(32 * 1024 * 1024));
    assert.equal(cg("pids.max"), "40");
    assert.equal(readQuota(cg(quotaFile())), 50_000);
  });

  test("a memory hog inside is OOM-killed; the container carries on and info counts it", () => {
    const r = sh("dd if=/dev/zero of=/dev/null bs=64M count=1; echo exit=$?");
    assert.match(r.stdout, /exit=137/, `${r.stdout}\n${r.stderr}`);
    const i = info();
    assert.equal(i.state, "RUNNING");
    assert.ok(i.oom_kills >= 1, `oom_kills ${i.oom_kills}`);
    assert.ok(i.memory_peak_bytes <= 32 * 1024 * 1024, `peak ${i.memory_peak_bytes}`);
    assert.equal(sh("echo alive").stdout.trim(), "alive");
  });

  test("a fork loop stops at the PID limit", async () => {
    // Sleeps that last until killed (their output not tied to the attach, which
    // returns when the loop ends), so they pile up however slow forks are. The
    // shell ends at its first refused fork (EAGAIN).
    const r = sh(
      "i=0; while [ $i -lt 80 ]; do sleep 100000 >/dev/null 2>&1 </dev/null & i=$((i+1)); done",
    );
    assert.match(r.stderr, /can't fork: Resource temporarily unavailable/);
    const pids = info().pids;
    const events = cg("pids.events");
    assert.ok(pids <= 40, `pids ${pids}`);
    assert.match(events, /^max [1-9]\d*$/m, `pids.events: ${events}`);
    // Later tests need room to fork. The sleeps are killed from the host:
    // inside there is no room left to fork a kill.
    const procs = cgroupDirsOf(info().pid)
      .filter((d) => existsSync(join(d, "cgroup.procs")))
      .flatMap((d) => readFileSync(join(d, "cgroup.procs"), "utf8").split("\n"))
      .filter(Boolean)
      .map(Number);
    const sleeps = [...new Set(procs)].filter((p) => {
      try {
        return readFileSync(`/proc/${p}/comm`, "utf8").trim() === "sleep";
      } catch {
        return false;
      }
    });
    assert.ok(sleeps.length >= 30, `${sleeps.length} sleeps`);
    for (const p of sleeps) process.kill(p, "SIGKILL");
    // Their parent, the container's init, reaps them.
    assert.ok(await until(() => info().pids < 10, 60_000), "the sleeps ended");
  });

  test("a busy loop under lxt.limits.cpu = 0.5 gets about half a CPU", async (t) => {
    const started = sh(
      "(while :; do :; done) >/dev/null 2>&1 </dev/null & (while :; do :; done) >/dev/null 2>&1 </dev/null & echo started",
    );
    assert.match(started.stdout, /started/);
    await sleep(300);
    const t0 = Date.now();
    const cpu0 = info().cpu_seconds;
    await sleep(2000);
    const cpu1 = info().cpu_seconds;
    const fraction = (cpu1 - cpu0) / ((Date.now() - t0) / 1000);
    sh("killall sh 2>/dev/null; true");
    t.diagnostic(`CPU fraction under a 0.5 limit: ${fraction.toFixed(3)}`);
    assert.ok(fraction > 0.3 && fraction < 0.7, `fraction ${fraction}`);
  });

  test("live: lxt cgroup writes a file, config set persists and applies at once", () => {
    box.ok(["cgroup", "-n", c, "pids.max", "55"]);
    assert.equal(cg("pids.max"), "55");
    box.ok(["config", "set", c, "lxt.limits.processes", "60"]);
    assert.equal(cg("pids.max"), "60");
    assert.equal(box.ok(["config", "get", c, "lxt.limits.processes"]).trim(), "60");
    box.ok(["config", "set", c, "lxt.limits.cpu", "0.25"]);
    assert.equal(readQuota(cg(quotaFile())), 25_000);
    box.ok(["config", "set", c, "lxt.limits.memory", "48M"]);
    assert.equal(cg(memMax), String(48 * 1024 * 1024));
  });

  test("live unset: config unset and set KEY '' put the cgroup file back to its default", () => {
    const unlimited = (text: string) => text === "max" || Number(text) > 2 ** 60;
    box.ok(["config", "set", c, "lxt.limits.processes", "33"]);
    assert.equal(cg("pids.max"), "33");
    box.ok(["config", "unset", c, "lxt.limits.processes"]);
    assert.equal(cg("pids.max"), "max");
    assert.equal(box.ok(["config", "get", c, "lxt.limits.processes"]).trim(), "");
    const again = box.lxt(["config", "unset", c, "lxt.limits.processes"]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /lxt\.limits\.processes is not set/);
    box.ok(["config", "set", c, "lxt.limits.cpu", ""]);
    const q = cg(quotaFile());
    assert.ok(q.startsWith("max") || q === "-1", `quota ${q}`);
    // memory.swap (v1 memsw is memory + swap) goes first, then memory itself.
    box.ok(["config", "unset", c, "lxt.limits.memory.swap"]);
    box.ok(["config", "unset", c, "lxt.limits.memory"]);
    assert.ok(unlimited(cg(memMax)), cg(memMax));
    // Back as they were, for the tests that follow.
    box.ok(["config", "set", c, "lxt.limits.memory", "48M"]);
    box.ok(["config", "set", c, "lxt.limits.memory.swap", "0"]);
    box.ok(["config", "set", c, "lxt.limits.processes", "60"]);
    assert.equal(cg("pids.max"), "60");
    assert.equal(cg(memMax), String(48 * 1024 * 1024));
  });

  test("bad values are refused and nothing changes", () => {
    const config = join(box.lxcpath, c, "config");
    const before = readFileSync(config, "utf8");
    const mem = cg(memMax);
    for (const [key, value] of [
      ["lxt.limits.memory", "12Q"],
      ["lxt.limits.cpu", "0"],
      ["lxt.limits.memory.nope", "1"],
      [v2Only ? "lxc.cgroup2.devices.allow" : "lxc.cgroup.devices.allow", "c 1:3 rwx"],
    ] as const) {
      const r = box.lxt(["config", "set", c, key, value]);
      assert.notEqual(r.code, 0, `${key} = ${value} accepted`);
      assert.match(r.stderr, new RegExp(key.replace(/\./g, "\\.")));
    }
    const r = box.lxt(["cgroup", "-n", c, memMax, "lots"]);
    assert.notEqual(r.code, 0);
    assert.equal(readFileSync(config, "utf8"), before);
    assert.equal(cg(memMax), mem);
  });

  test("a bad limit at start rolls the start back and names key, file and line", () => {
    const d = box.name("limbad");
    box.ok(["create", "-n", d, "-t", "busybox"]);
    const config = join(box.lxcpath, d, "config");
    // LXC ignores lxc.cgroup.* on a cgroup2-only host, and lxc.cgroup2.* elsewhere.
    const raw = v2Only ? "lxc.cgroup2" : "lxc.cgroup";
    appendFileSync(config, `${raw}.pids.max = bogus\n`);
    const line = readFileSync(config, "utf8").trimEnd().split("\n").length;
    const r = box.lxt(["start", "-n", d]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      new RegExp(
        `${config}:${line}: ${raw.replace(".", "\\.")}\\.pids\\.max: write "bogus" to .*pids\\.max`,
      ),
    );
    assert.match(box.ok(["info", "-n", d, "-s"]), /STOPPED/);
    // Cgroups and mounts named after it (monitors of other containers may run).
    assert.deepEqual(
      hostLeftovers(d).filter((l) => !l.startsWith("process:")),
      [],
    );
  });

  test("freeze and unfreeze: FROZEN in ls and info; a frozen container still stops", () => {
    box.ok(["freeze", "-n", c]);
    assert.match(box.ok(["ls", "-f"]), new RegExp(`^${c}\\s+FROZEN\\s+\\d+`, "m"));
    assert.equal(info().state, "FROZEN");
    const attach = sh("true");
    assert.notEqual(attach.code, 0);
    assert.match(attach.stderr, /FROZEN/);
    box.ok(["unfreeze", "-n", c]);
    assert.equal(info().state, "RUNNING");
    assert.equal(sh("echo thawed").stdout.trim(), "thawed");
    box.ok(["freeze", "-n", c]);
    box.ok(["stop", "-n", c, "-t", "10"]);
    assert.equal(info().state, "STOPPED");
    // Halted by its init (SIGINT from the kernel, pid_namespaces(7)), not SIGKILLed after the timeout.
    assert.deepEqual(info().last_exit, { signal: 2 }, "stopped cleanly, not by the timeout");
  });

  test("a frozen container ends with its monitor: SIGTERM thaws it, kills it, cleans up", async (t) => {
    box.ok(["start", "-n", c]);
    const dirs: string[] = info().cgroups;
    if (!dirs.some((d) => existsSync(join(d, "freezer.state")))) {
      box.ok(["stop", "-k", "-n", c]);
      return t.skip("SKIP: no v1 freezer here (v2 frozen tasks die of SIGKILL)");
    }
    box.ok(["freeze", "-n", c]);
    const monitor = readFileSync(join(runtimeRoot(box.lxcpath), c, "monitor"), "utf8");
    // What a host shutdown or an admin does; the monitor must not wait forever on a frozen init.
    process.kill(Number(monitor.split(" ")[0]), "SIGTERM");
    try {
      assert.ok(await until(() => info().state === "STOPPED", 10_000), "stopped by its monitor");
      assert.deepEqual(info().last_exit, { signal: 9 });
      for (const d of dirs) assert.ok(!existsSync(d), `${d} removed by the monitor`);
    } finally {
      // A monitor that did not thaw would wait forever: thaw so the cleanup can end it.
      for (const d of dirs) {
        const state = join(d, "freezer.state");
        if (existsSync(state)) writeFileSync(state, "THAWED");
      }
    }
  });

  test("top --format json shows running containers with their usage", () => {
    box.ok(["start", "-n", c]);
    const rows = JSON.parse(box.ok(["top", "--format", "json", "--delay", "0.2"]));
    const row = rows.find((r: { name: string }) => r.name === c);
    assert.ok(row, JSON.stringify(rows));
    assert.equal(row.state, "RUNNING");
    assert.equal(typeof row.cpu_percent, "number");
    assert.ok(row.memory_bytes > 0 && row.pids >= 1);
    box.ok(["stop", "-n", c, "-k"]);
  });
});
