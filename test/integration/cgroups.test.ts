import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import {
  appendFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  statSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { type TestContext, test } from "node:test";
import {
  allDirs,
  cgroupInUse,
  createContainerCgroups,
  listPids,
  planContainerCgroups,
  removeContainerCgroups,
} from "../../src/cgroups/container.js";
import { readCgroupLayout } from "../../src/cgroups/layout.js";
import { readCgroupStats } from "../../src/cgroups/stats.js";
import { nodeCgroupFs, nodeKill } from "../../src/host/cgroup-fs.js";
import {
  hasCmd,
  hostLeftovers,
  LXT,
  printed,
  runtimeRoot,
  Sandbox,
  skipReason,
  testArgs,
} from "./harness.js";

const isRoot = process.getuid?.() === 0;

test("container cgroups on the real host: create, populate, read, remove", async (t) => {
  if (!isRoot) {
    t.skip("SKIP: needs root");
    return;
  }
  const fs = nodeCgroupFs;
  const layout = readCgroupLayout(fs);
  if (layout.kind === "none") {
    t.skip("SKIP: no cgroup hierarchy mounted");
    return;
  }
  const name = `lxt-cgtest-${randomBytes(4).toString("hex")}`;
  const plan = planContainerCgroups(layout, name, (d) => cgroupInUse(d, fs));
  const dirs = allDirs(plan);
  assert.equal(dirs.length, layout.hierarchies.length);
  // Beneath this process's own cgroup in every hierarchy.
  for (const h of layout.hierarchies) {
    assert.ok(
      dirs.some((d) => dirname(d) === h.ownDir),
      `no dir under ${h.ownDir}`,
    );
  }

  // The child waits on stdin so that it is moved before it does any work
  // (memory charged before a move stays with the old cgroup), and says when
  // its work is done.
  const child = spawn(
    "sh",
    ["-c", "read x; i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; echo done; exec sleep 60"],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const exited = once(child, "exit");
  t.after(async () => {
    child.kill("SIGKILL");
    await removeContainerCgroups(plan, fs, nodeKill).catch(() => {});
  });
  const pid = child.pid;
  assert.ok(pid !== undefined);

  createContainerCgroups(plan, fs);
  for (const d of dirs) {
    fs.writeFile(`${d}/cgroup.procs`, String(pid));
    assert.deepEqual(listPids(d, fs), [pid], d);
  }
  child.stdin.write("go\n");
  await printed(child, "done");

  const stats = readCgroupStats(plan, layout, fs);
  t.diagnostic(`layout ${layout.kind}, dirs ${dirs.join(" ")}`);
  t.diagnostic(`stats ${JSON.stringify(stats, (_k, v) => (typeof v === "bigint" ? `${v}` : v))}`);
  assert.ok(stats.cpuUsageNs !== undefined && stats.cpuUsageNs > 0n, "cpu usage");
  const memoryShown =
    layout.hierarchies.some((h) => h.version === 1 && h.controllers.includes("memory")) ||
    (plan.v2 !== undefined && fs.exists(`${plan.v2}/memory.current`));
  if (memoryShown) assert.ok((stats.memoryBytes ?? 0) > 0, "memory usage");
  else t.diagnostic("memory controller not available to this cgroup: not checked");

  await removeContainerCgroups(plan, fs, nodeKill);
  const [, signal] = await exited;
  assert.equal(signal, "SIGKILL");
  for (const d of dirs) assert.equal(fs.exists(d), false, `${d} still there`);
});

/** Whether PID 1's mounts can be reached (ptrace access to PID 1; some sandboxes deny it). */
function pid1RootReachable(): boolean {
  try {
    return (
      existsSync("/proc/1/root/sys/fs/cgroup") &&
      readdirSync("/proc/1/root/sys/fs/cgroup").length > 0
    );
  } catch {
    return false;
  }
}

/** A state root and a network namespace whose `ip netns exec` hides /sys/fs/cgroup; removed after. */
function privateSysBox(t: TestContext) {
  const box = new Sandbox();
  const ns = `lxt-cgns-${randomBytes(3).toString("hex")}`;
  execFileSync("ip", ["netns", "add", ns]);
  t.after(() => {
    box.cleanup();
    execFileSync("ip", ["netns", "delete", ns]);
  });
  const inNs = (args: string[]) =>
    spawnSync("ip", ["netns", "exec", ns, ...args], {
      env: { ...process.env, LXT_PATH: box.lxcpath },
      encoding: "utf8",
      timeout: 60_000,
    });
  // `ip netns exec` mounts a fresh sysfs: no hierarchy shows in its namespace.
  const mounts = inNs(["cat", "/proc/self/mountinfo"]).stdout;
  assert.doesNotMatch(mounts, / - cgroup2? /, "a cgroup mount is visible under ip netns exec");
  const lxt = (args: string[]) => inNs([LXT, ...testArgs(args)]);
  const n = box.name("ns");
  const made = lxt(["create", "-t", "busybox", "-n", n]);
  assert.equal(made.status, 0, made.stderr);
  appendFileSync(join(box.lxcpath, n, "config"), "lxc.init.cmd = /bin/sleep 600\n");
  return { box, lxt, n };
}

const netnsWhy = skipReason() ?? (hasCmd("ip") ? undefined : "SKIP: no ip command");

test("under ip netns exec (a private /sys), a container still gets its cgroups, through PID 1's mounts", {
  skip:
    netnsWhy ??
    (pid1RootReachable()
      ? undefined
      : "SKIP: /proc/1/root is not reachable here (no ptrace access to PID 1); the refusal is tested instead"),
}, (t) => {
  const { lxt, n } = privateSysBox(t);
  const ok = (args: string[]) => {
    const r = lxt(args);
    assert.equal(r.status, 0, `lxt ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  ok(["start", "-n", n]);
  const info = JSON.parse(ok(["info", "-n", n, "--format", "json"])) as {
    pid: number;
    cgroups: string[];
  };
  assert.equal(info.cgroups.length, readCgroupLayout(nodeCgroupFs).hierarchies.length);
  for (const dir of info.cgroups) {
    assert.ok(dir.startsWith("/proc/1/root/sys/fs/cgroup/"), dir);
    assert.ok(listPids(dir, nodeCgroupFs).includes(info.pid), `init ${info.pid} not in ${dir}`);
  }
  ok(["stop", "-k", "-n", n]);
  for (const dir of info.cgroups) assert.equal(existsSync(dir), false, `${dir} left`);
});

test("under ip netns exec, where PID 1's mounts are out of reach too, start refuses and makes nothing", {
  skip:
    netnsWhy ??
    (pid1RootReachable()
      ? "SKIP: /proc/1/root is reachable here: the container gets its cgroups (tested above)"
      : undefined),
}, (t) => {
  const { box, lxt, n } = privateSysBox(t);
  const before = hostLeftovers(n);
  const r = lxt(["start", "-n", n]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(
      `start ${n}: no cgroup hierarchy is mounted in lxt's mount namespace .*ip netns exec.*/proc/1/root.*a container needs a cgroup`,
    ),
  );
  assert.equal(existsSync(join(runtimeRoot(box.lxcpath), n)), false, "runtime directory left");
  assert.deepEqual(hostLeftovers(n), before);
  assert.match(lxt(["info", "-n", n, "-s"]).stdout, /STOPPED/);
});

test("lxc.cgroup.dir: the container's cgroups beneath that path under the caller's, in every hierarchy; the path stays", (t) => {
  const why = skipReason();
  if (why) {
    t.skip(why);
    return;
  }
  const box = new Sandbox();
  const n = box.name("dir");
  const top = `lxtdir-${randomBytes(3).toString("hex")}`;
  const layout = readCgroupLayout(nodeCgroupFs);
  const paths = layout.hierarchies.map((h) => join(h.ownDir, top));
  t.after(() => {
    box.cleanup();
    for (const p of paths) for (const d of [join(p, "inner"), p]) rmdirQuiet(d);
  });
  box.ok(["create", "-t", "busybox", "-n", n]);
  appendFileSync(
    join(box.lxcpath, n, "config"),
    `lxc.init.cmd = /bin/sleep 600\nlxc.cgroup.dir = ${top}/inner\nlxt.limits.processes = 77\n`,
  );
  box.ok(["start", "-n", n]);
  const info = JSON.parse(box.ok(["info", "-n", n, "--format", "json"])) as {
    pid: number;
    cgroups: string[];
  };
  assert.deepEqual(
    [...info.cgroups].sort(),
    paths.map((p) => join(p, "inner", `lxt.payload.${n}`)).sort(),
  );
  for (const dir of info.cgroups)
    assert.ok(listPids(dir, nodeCgroupFs).includes(info.pid), `init not in ${dir}`);
  const pids = info.cgroups.find((d) => existsSync(join(d, "pids.max")));
  assert.ok(pids, "a pids controller for the limit");
  assert.equal(readFileSync(join(pids, "pids.max"), "utf8").trim(), "77");
  box.ok(["stop", "-k", "-n", n]);
  for (const dir of info.cgroups) assert.equal(existsSync(dir), false, `${dir} left`);
  for (const p of paths)
    assert.equal(existsSync(join(p, "inner")), true, `${p}/inner kept, as LXC`);
});

function rmdirQuiet(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // gone already
  }
}

test("lxc.cgroup.dir.container/.monitor/.container.inner/.monitor.pivot: each cgroup where the config says, in every hierarchy", (t) => {
  const why = skipReason();
  if (why) {
    t.skip(why);
    return;
  }
  const box = new Sandbox();
  const n = box.name("dirs");
  const top = `lxtdirs-${randomBytes(3).toString("hex")}`;
  const layout = readCgroupLayout(nodeCgroupFs);
  const under = (rel: string) => layout.hierarchies.map((h) => join(h.ownDir, rel));
  t.after(() => {
    box.cleanup();
    for (const rel of [`${top}/c/ns`, `${top}/c`, `${top}/mon`, `${top}/pivot`, top])
      for (const d of under(rel)) rmdirQuiet(d);
  });
  box.ok(["create", "-t", "busybox", "-n", n]);
  appendFileSync(
    join(box.lxcpath, n, "config"),
    [
      "lxc.init.cmd = /bin/sleep 600",
      `lxc.cgroup.dir.container = ${top}/c`,
      `lxc.cgroup.dir.monitor = ${top}/mon`,
      "lxc.cgroup.dir.container.inner = ns",
      `lxc.cgroup.dir.monitor.pivot = ${top}/pivot`,
      "lxt.limits.processes = 66",
      "",
    ].join("\n"),
  );
  box.ok(["start", "-n", n]);
  const info = JSON.parse(box.ok(["info", "-n", n, "--format", "json"])) as {
    pid: number;
    cgroups: string[];
  };
  // info (limits, stats, freezer) reports the container's cgroups; the init is one level down.
  assert.deepEqual([...info.cgroups].sort(), under(`${top}/c`).sort());
  for (const dir of under(`${top}/c/ns`))
    assert.ok(listPids(dir, nodeCgroupFs).includes(info.pid), `init not in ${dir}`);
  const monitor = Number(
    readFileSync(join(runtimeRoot(box.lxcpath), n, "monitor"), "utf8").split(" ")[0],
  );
  for (const dir of under(`${top}/mon`))
    assert.ok(listPids(dir, nodeCgroupFs).includes(monitor), `monitor not in ${dir}`);
  const pids = under(`${top}/c`).find((d) => existsSync(join(d, "pids.max")));
  assert.ok(pids, "a pids controller for the limit");
  assert.equal(readFileSync(join(pids, "pids.max"), "utf8").trim(), "66");
  // Unprivileged: the init's cgroup is its root's, the one with the limits stays root's.
  assert.notEqual(statSync(join(pids, "ns", "cgroup.procs")).uid, 0);
  assert.equal(statSync(join(pids, "cgroup.procs")).uid, 0);
  box.ok(["stop", "-k", "-n", n]);
  for (const dir of [...under(`${top}/c`), ...under(`${top}/mon`)])
    assert.equal(existsSync(dir), false, `${dir} left`);
  for (const dir of under(`${top}/pivot`)) assert.equal(existsSync(dir), true, `pivot ${dir} kept`);
});
