import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { containerPaths } from "../../src/container/paths.js";
import { applyStart } from "../../src/container/start-apply.js";
import { planStart } from "../../src/container/start-plan.js";
import type { LxtError } from "../../src/core/errors.js";
import { RecordingRunner } from "../../src/host/runner.js";
import { fakeCgroupHost } from "./support/cgroup-host.js";
import { testCaller, testContext } from "./support/context.js";

const tmp = mkdtempSync(join(tmpdir(), "lxt-unit-scope-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const CALLER = 777;
const HOLD = 888;

/**
 * A systemd host on a fake cgroup v2 tree: StartTransientUnit makes the
 * scope's cgroup and puts the hold process in it, StopUnit removes it.
 */
function systemdHost(config: string, systemd = true) {
  const root = join(tmp, `t${n++}`);
  const host = fakeCgroupHost(root, "v2", CALLER, "memory pids");
  const cg = join(root, "cg");
  // The root offers more than the login's user.slice: what a scope may get.
  writeFileSync(join(cg, "cgroup.controllers"), "cpu memory pids io");
  const scope = join(cg, "machine.slice", "lxt-c1.scope");
  let holdIn = "/user.slice";
  const run = new RecordingRunner((argv) => {
    if (argv.includes("StartTransientUnit")) {
      mkdirSync(join(cg, "machine.slice"), { recursive: true });
      host.fs.mkdir(scope);
      holdIn = "/machine.slice/lxt-c1.scope";
      return '{"type":"o","data":["/org/freedesktop/systemd1/job/1"]}';
    }
    if (argv.includes("StopUnit")) rmSync(scope, { recursive: true, force: true });
    return "";
  });
  const released: number[] = [];
  const fs = {
    ...host.fs,
    readFile: (p: string) =>
      p === `/proc/${HOLD}/cgroup`
        ? `0::${holdIn}\n`
        : p === `/proc/${HOLD}/mountinfo`
          ? host.fs.readFile(`/proc/${CALLER}/mountinfo`)
          : host.fs.readFile(p),
  };
  const ctx = testContext({
    lxcpath: join(root, "lib"),
    runDir: join(root, "run"),
    host: {
      cgroupFs: fs,
      kill: () => {},
      run,
      facts: {
        apparmor: () => ({ enabled: false, mountFeature: false, why: "not in unit tests" }),
        lxcfs: () => undefined,
        systemd: () => systemd,
        selinux: () => false,
      },
      hold: async () => ({
        pid: HOLD,
        release: async () => {
          released.push(HOLD);
        },
      }),
    },
  });
  const paths = containerPaths(ctx, "c1");
  mkdirSync(paths.rootfs, { recursive: true });
  writeFileSync(paths.config, `lxc.rootfs.path = dir:${paths.rootfs}\n${config}`);
  const caller = { ...testCaller({}), cgroupPid: CALLER };
  return { host, ctx, paths, caller, run, scope, released };
}

describe("start on a systemd host", () => {
  test("plans a scope; lxc.cgroup.relative = 1, or no systemd, plans none", () => {
    const s = systemdHost("");
    assert.equal(planStart(s.ctx, s.paths, { caller: s.caller }).scope, true);
    const rel = systemdHost("lxc.cgroup.relative = 1\n");
    const plan = planStart(rel.ctx, rel.paths, { caller: rel.caller });
    assert.equal(plan.scope, false);
    assert.equal(plan.cgroups.v2, join(rel.host.own.v2 ?? "", "lxt.payload.c1"));
    const plain = systemdHost("", false);
    assert.equal(planStart(plain.ctx, plain.paths, { caller: plain.caller }).scope, false);
  });

  test("limits are checked against what the scope will have, not the login's cgroup", () => {
    // user.slice offers memory and pids only; a scope gets what the root offers.
    const s = systemdHost("lxt.limits.cpu = 0.5\n");
    const plan = planStart(s.ctx, s.paths, { caller: s.caller });
    assert.deepEqual(
      plan.limits.map((w) => [w.file, w.value]),
      [["cpu.max", "50000 100000"]],
    );
    const rel = systemdHost("lxc.cgroup.relative = 1\nlxt.limits.cpu = 0.5\n");
    assert.throws(
      () => planStart(rel.ctx, rel.paths, { caller: rel.caller }),
      (e: LxtError) => e.code === "config" && /no cpu controller available/.test(e.message),
    );
  });

  test("the scope holds the cgroups; a later failure stops it and ends the hold", async () => {
    const s = systemdHost("lxt.limits.memory = 64M\n");
    const plan = planStart(s.ctx, s.paths, { caller: s.caller });
    // The v2 device program needs the helper, which this context does not have.
    await assert.rejects(applyStart(s.ctx, plan), (e: LxtError) => e.step === "devices");
    const start = s.run.calls.find((c) => c.includes("StartTransientUnit")) ?? [];
    const pids = start.indexOf("PIDs");
    assert.deepEqual(start.slice(pids, pids + 4), ["PIDs", "au", "1", String(HOLD)]);
    assert.equal(start[start.indexOf("Slice") + 2], "machine.slice");
    assert.equal(start[start.indexOf("Delegate") + 2], "true");
    const leaf = join(s.scope, "lxt.monitor.c1");
    const payload = join(s.scope, "lxt.payload.c1");
    assert.deepEqual(plan.cgroups, { v2: payload, v1: [] }, "the cgroups beneath the scope");
    assert.deepEqual(plan.launch.monitorCgroups, [leaf]);
    const writes = s.host.writes.map(([p, d]) => `${p} ${d}`);
    // The hold left the scope's own cgroup, which then enabled the controllers.
    assert.ok(writes.includes(`${leaf}/cgroup.procs ${HOLD}`), writes.join("\n"));
    assert.ok(writes.includes(`${s.scope}/cgroup.subtree_control +memory`), writes.join("\n"));
    assert.ok(writes.includes(`${payload}/memory.max ${64 * 1024 * 1024}`), writes.join("\n"));
    // Undone: the scope stopped (and gone), the hold ended, nothing left.
    assert.ok(s.run.calls.some((c) => c.includes("StopUnit") && c.includes("lxt-c1.scope")));
    assert.equal(existsSync(s.scope), false);
    assert.deepEqual(s.released, [HOLD]);
    assert.equal(existsSync(s.paths.runtimeDir), false);
  });
});
