import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { dirname } from "node:path";
import { test } from "node:test";
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
import { printed } from "./harness.js";

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
