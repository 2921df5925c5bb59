import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { containerPaths } from "../../src/container/paths.js";
import { applyStart, START_STEPS } from "../../src/container/start-apply.js";
import { planStart } from "../../src/container/start-plan.js";
import type { LxtError } from "../../src/core/errors.js";
import type { RecordingRunner } from "../../src/host/runner.js";
import { type FakeCgroupHost, fakeCgroupHost } from "./support/cgroup-host.js";
import { testCaller, testContext } from "./support/context.js";

const tmp = mkdtempSync(join(tmpdir(), "lxt-unit-start-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

/** A state root with one container `name` whose config is `config`, on a fake host. */
function setup(kind: "v2" | "hybrid", config: string, name = "c1") {
  const root = join(tmp, `t${n++}`);
  const host: FakeCgroupHost = fakeCgroupHost(root, kind, 777);
  const ctx = testContext({
    lxcpath: join(root, "lib"),
    runDir: join(root, "run"),
    host: { cgroupFs: host.fs, kill: () => {} },
  });
  const paths = containerPaths(ctx, name);
  mkdirSync(paths.rootfs, { recursive: true });
  writeFileSync(paths.config, `lxc.rootfs.path = dir:${paths.rootfs}\n${config}`);
  const caller = { ...testCaller({ GREETING: "hi" }), cgroupPid: 777 };
  return { root, host, ctx, paths, caller };
}

describe("planStart: everything decided, nothing made", () => {
  test("a busybox-like config becomes a complete plan beneath the caller's cgroups", () => {
    const { host, ctx, paths, caller } = setup(
      "hybrid",
      "lxc.uts.name = web\nlxc.tty.max = 2\nlxc.mount.auto = proc:mixed sys:ro\nlxc.environment = GREETING\nlxc.prlimit.nofile = 1024:4096\nlxc.mount.entry = /srv srv none bind,ro,create=dir 0 0\nlxt.limits.memory = 64M\n",
    );
    const plan = planStart(ctx, paths, { caller });
    const { launch } = plan;
    assert.equal(launch.hostname, "web");
    assert.equal(launch.rootfs, paths.rootfs);
    assert.deepEqual(launch.init.argv, ["/sbin/init"]);
    assert.equal(launch.ttyMax, 2);
    assert.equal(launch.stdio, "console");
    assert.ok(launch.env.includes("GREETING=hi"), "lxc.environment = NAME: the caller's value");
    assert.ok(
      launch.env.includes("container=lxc") && launch.env.includes("container_ttys=tty1 tty2"),
    );
    assert.deepEqual(launch.rlimits, [{ resource: 7, soft: 1024, hard: 4096 }]);
    const entry = launch.mountEntries[0];
    assert.equal(entry?.target, "/srv");
    assert.equal((entry?.remountFlags ?? 0) & 1, 1, "read-only bind needs a remount");
    assert.deepEqual(launch.mountAuto, { proc: "mixed", sys: "ro", cgroup: undefined });
    // The caller is in /user.slice of every hierarchy: the container goes beneath it.
    assert.deepEqual(plan.cgroups, {
      v2: join(host.own.v2 ?? "", "lxt.payload.c1"),
      v1: host.own.v1.map((d) => join(d, "lxt.payload.c1")),
    });
    assert.deepEqual(launch.cgroups, plan.cgroups);
    assert.deepEqual(
      plan.limits.map((w) => [w.version, w.file, w.value]),
      [[2, "memory.max", String(64 * 1024 * 1024)]],
    );
    assert.equal(plan.idmap, "privileged");
    assert.equal(launch.net, undefined, "NIC records come from the network step");
    assert.equal(launch.userns, undefined, "the id map comes from its step");
    assert.match(plan.warnings.join("\n"), /privileged and not confined by AppArmor/);
    // Nothing was made, run or locked.
    assert.deepEqual(host.writes, []);
    assert.deepEqual((ctx.host.run as RecordingRunner).calls, []);
    assert.deepEqual(ctx.locks.taken, []);
    assert.equal(existsSync(paths.runtimeDir), false);
    assert.equal(existsSync(plan.cgroups.v2 ?? "/"), false);
  });

  test("a taken cgroup name gets a suffix; an empty leftover is reused", () => {
    const { host, ctx, paths, caller } = setup("v2", "");
    const taken = join(host.own.v2 ?? "", "lxt.payload.c1");
    host.fs.mkdir(taken);
    assert.equal(planStart(ctx, paths, { caller }).cgroups.v2, taken, "empty: reused");
    writeFileSync(join(taken, "cgroup.procs"), "999\n");
    assert.equal(planStart(ctx, paths, { caller }).cgroups.v2, `${taken}-1`);
  });

  test("execute mode: the command, inherited stdio, the init shim, no ttys", () => {
    const { ctx, paths, caller } = setup("v2", "lxc.tty.max = 4\n");
    const plan = planStart(ctx, paths, {
      caller,
      execute: { argv: ["sh", "-c", "true"], uid: 5 },
    });
    assert.deepEqual(plan.launch.init.argv, ["sh", "-c", "true"]);
    assert.equal(plan.launch.init.uid, 5);
    assert.equal(plan.launch.stdio, "inherit");
    assert.ok(plan.launch.initShim && plan.launch.foreground);
    assert.equal(plan.launch.ttyMax, 0);
  });

  test("-s overrides apply after the file; the foreground's stdio is the caller's", () => {
    const { ctx, paths, caller } = setup("v2", "lxc.uts.name = a\n");
    const plan = planStart(ctx, paths, {
      caller,
      defines: ["lxc.uts.name=b"],
      foreground: [0, 1, 2],
    });
    assert.equal(plan.launch.hostname, "b");
    assert.deepEqual(plan.foreground, [0, 1, 2]);
    assert.equal(plan.launch.foreground, true);
  });

  test("an ephemeral container's plan has its destroy as the monitor's exit hook, when the front-end says how to run lxt", () => {
    const { ctx, paths, caller } = setup("v2", "lxc.ephemeral = 1\n", "e1");
    const lxtCommand = {
      argv: ["/usr/bin/node", "/opt/lxt/dist/lxt.cjs"],
      env: { LXT_RUNDIR: "/r" },
    };
    const withLxt = { ...ctx, settings: { ...ctx.settings, lxtCommand } };
    const hooks = planStart(withLxt, paths, { caller }).launch.exitHooks ?? [];
    assert.equal(hooks.length, 1);
    const [env = "", ...argv] = hooks[0] ?? [];
    assert.match(env, /^\/.*\/env$/);
    assert.deepEqual(argv, [
      "-i",
      "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
      "LXT_RUNDIR=/r",
      "/usr/bin/node",
      "/opt/lxt/dist/lxt.cjs",
      "destroy",
      "--if-ephemeral",
      "-n",
      "e1",
      "-P",
      paths.lxcpath,
    ]);
    // Without the command, or for a container that is not ephemeral: none.
    assert.equal(planStart(ctx, paths, { caller }).launch.exitHooks, undefined);
    const other = setup("v2", "", "p1");
    const plain = planStart(
      { ...other.ctx, settings: { ...other.ctx.settings, lxtCommand } },
      other.paths,
      {
        caller: other.caller,
      },
    );
    assert.equal(plain.launch.exitHooks, undefined);
  });

  test("lxc.cgroup.dir.*: the container's, the init's and the monitor's cgroups where the config says", () => {
    const { host, ctx, paths, caller } = setup(
      "hybrid",
      "lxc.cgroup.dir.container = lxt/c1\nlxc.cgroup.dir.monitor = lxt/mon\nlxc.cgroup.dir.container.inner = ns\nlxc.cgroup.dir.monitor.pivot = lxt.pivot\nlxt.limits.memory = 64M\n",
    );
    const plan = planStart(ctx, paths, { caller });
    const at = (rel: string) => ({
      v2: join(host.own.v2 ?? "", rel),
      v1: host.own.v1.map((d) => join(d, rel)),
    });
    const all = (d: { v2?: string; v1: string[] }) => [d.v2 ?? "", ...d.v1];
    assert.deepEqual(plan.cgroups, at("lxt/c1"), "limits, stats and the freezer there");
    assert.deepEqual(plan.launch.cgroups, at("lxt/c1/ns"), "the init one level down");
    assert.deepEqual(plan.launch.killCgroups, all(at("lxt/c1")));
    assert.deepEqual(plan.launch.monitorCgroups, all(at("lxt/mon")));
    assert.deepEqual(plan.launch.monitorPivot, all(at("lxt.pivot")));
    assert.equal(plan.extras.base, host.own.v2);
    assert.deepEqual(
      plan.limits.map((w) => w.file),
      ["memory.max"],
    );
    // A named container cgroup in use is refused, not suffixed.
    mkdirSync(join(host.own.v2 ?? "", "lxt", "c1", "busy"), { recursive: true });
    assert.throws(
      () => planStart(ctx, paths, { caller }),
      (e: LxtError) =>
        e.code === "exists" && /lxc\.cgroup\.dir\.container: .*lxt\/c1 is in use/.test(e.message),
    );
  });

  test("refusals name the start and the place: a rootfs option LXC refuses, an entry LXC refuses, no rootfs, a rootfs that is not a directory, an unset variable", () => {
    const rootfsIdmap = setup("v2", "lxc.rootfs.options = idmap=container\n");
    assert.throws(
      () => planStart(rootfsIdmap.ctx, rootfsIdmap.paths, { caller: rootfsIdmap.caller }),
      (e: LxtError) =>
        e.code === "config" &&
        e.message.startsWith("start c1: ") &&
        e.message.includes(
          `${rootfsIdmap.paths.config}:2: lxc.rootfs.options: idmap=container needs a user namespace`,
        ),
    );
    const idmapped = setup("v2", "lxc.mount.entry = tmpfs mnt tmpfs create=dir,idmap=container\n");
    assert.throws(
      () => planStart(idmapped.ctx, idmapped.paths, { caller: idmapped.caller }),
      (e: LxtError) =>
        e.code === "config" &&
        e.message.startsWith("start c1: ") &&
        e.message.includes(
          `${idmapped.paths.config}:2: lxc.mount.entry: only a bind mount (bind or rbind) can be idmapped`,
        ),
    );
    const none = setup("v2", "");
    writeFileSync(none.paths.config, "lxc.uts.name = x\n");
    assert.throws(
      () => planStart(none.ctx, none.paths, { caller: none.caller }),
      /lxc\.rootfs\.path is not set/,
    );
    const file = setup("v2", "");
    rmSync(file.paths.rootfs, { recursive: true });
    writeFileSync(file.paths.rootfs, "");
    assert.throws(
      () => planStart(file.ctx, file.paths, { caller: file.caller }),
      (e: LxtError) => e.code === "start" && /rootfs .*: not a directory/.test(e.message),
    );
    const unset = setup("v2", "lxc.environment = NOT_IN_THE_CALLERS_ENV\n");
    assert.throws(
      () => planStart(unset.ctx, unset.paths, { caller: unset.caller }),
      (e: LxtError) => e.code === "config" && /not set in the caller's environment/.test(e.message),
    );
  });
});

describe("applyStart: named steps, each undone when a later one fails", () => {
  test("the steps, in order", () => {
    assert.deepEqual(START_STEPS, [
      "rootfs device",
      "id map",
      "runtime directory",
      "network",
      "systemd scope",
      "plan",
      "cgroup delegation",
      "cgroups",
      "cgroup ownership",
      "limits",
      "devices",
      "apparmor",
      "forwards",
      "monitor",
    ]);
  });

  test("a failed step is named and every earlier step is undone", async () => {
    // The v2 device program needs the helper, which this context does not have.
    const { host, ctx, paths, caller } = setup("v2", "lxt.limits.memory = 64M\n");
    const plan = planStart(ctx, paths, { caller });
    await assert.rejects(applyStart(ctx, plan), (e: LxtError) => {
      assert.equal(e.step, "devices");
      assert.equal(e.code, "start");
      assert.match(e.message, /^start c1: devices: attach the device program to /);
      return true;
    });
    const payload = plan.cgroups.v2 ?? "";
    const control = join(host.own.v2 ?? "", "cgroup.subtree_control");
    // What the steps before it did, in order: controllers on, the limit written.
    const did = host.writes.map(([p, d]) => `${p.slice(host.root.length)} ${d}`);
    const on = did.indexOf(`${control.slice(host.root.length)} +memory`);
    const limit = did.indexOf(`${join(payload, "memory.max").slice(host.root.length)} 67108864`);
    const off = did.indexOf(`${control.slice(host.root.length)} -memory`);
    assert.ok(on >= 0 && limit > on, did.join("\n"));
    assert.ok(off > limit, `controllers turned off again last:\n${did.join("\n")}`);
    // ... and undone: no cgroup, no runtime directory (with its plan), no lock left.
    assert.equal(existsSync(payload), false);
    assert.equal(existsSync(paths.runtimeDir), false);
    assert.deepEqual(
      readdirSync(host.own.v2 ?? "").filter((e) => e.startsWith("lxt.")),
      [],
    );
    assert.equal(ctx.locks.held.size, 0);
  });
});
