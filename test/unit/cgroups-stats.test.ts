import assert from "node:assert/strict";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { CgroupLayout, Hierarchy } from "../../src/cgroups/layout.js";
import { flatKeyed, readCgroupStats } from "../../src/cgroups/stats.js";
import { LxtError } from "../../src/core/errors.js";
import type { CgroupFs } from "../../src/host/cgroup-fs.js";
import { nodeCgroupFs } from "../../src/host/cgroup-fs.js";

let root: string;

beforeEach(() => {
  root = fs.mkdtempSync(join(tmpdir(), "lxt-cgstats-"));
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

function hierarchy(version: 1 | 2, controllers: string[], name: string): Hierarchy {
  const mountPoint = join(root, name);
  return {
    version,
    controllers,
    id: 0,
    mountPoint,
    mountRoot: "/",
    ownPath: "/",
    ownDir: mountPoint,
  };
}

/** Writes `files` (name → content) into `dir`, creating it. */
function populate(dir: string, files: Record<string, string>): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(join(dir, name), content);
}

const CPU_STAT = `usage_usec 5000123
user_usec 4000000
system_usec 1000123
nr_periods 0
`;

describe("readCgroupStats", () => {
  it("reads a v2 cgroup", () => {
    const layout: CgroupLayout = {
      kind: "v2",
      hierarchies: [hierarchy(2, ["cpu", "memory", "pids"], "unified")],
    };
    const v2 = join(root, "unified/lxt.payload.c1");
    populate(v2, {
      "cpu.stat": CPU_STAT,
      "memory.current": "8192\n",
      "memory.peak": "16384\n",
      "pids.current": "3\n",
    });
    assert.deepEqual(readCgroupStats({ v2, v1: [] }, layout, nodeCgroupFs), {
      cpuUsageNs: 5000123000n,
      memoryBytes: 8192,
      memoryPeakBytes: 16384,
      pids: 3,
    });
  });

  it("reads v1 controllers from their own hierarchies, comounts included", () => {
    const layout: CgroupLayout = {
      kind: "v1",
      hierarchies: [
        hierarchy(1, ["name=systemd"], "systemd"),
        hierarchy(1, ["cpu", "cpuacct"], "cpu,cpuacct"),
        hierarchy(1, ["memory"], "memory"),
        hierarchy(1, ["pids"], "pids"),
      ],
    };
    const dirs = {
      v1: ["systemd", "cpu,cpuacct", "memory", "pids"].map((h) => join(root, h, "lxt.payload.c1")),
    };
    // A decoy in the named hierarchy must not be read.
    populate(dirs.v1[0] ?? "", { "pids.current": "99\n" });
    populate(dirs.v1[1] ?? "", { "cpuacct.usage": "123456789012345678\n" });
    populate(dirs.v1[2] ?? "", {
      "memory.usage_in_bytes": "4096\n",
      "memory.max_usage_in_bytes": "65536\n",
    });
    populate(dirs.v1[3] ?? "", { "pids.current": "2\n" });
    assert.deepEqual(readCgroupStats(dirs, layout, nodeCgroupFs), {
      cpuUsageNs: 123456789012345678n,
      memoryBytes: 4096,
      memoryPeakBytes: 65536,
      pids: 2,
    });
  });

  it("prefers the v1 hierarchy with the controller on a hybrid host, v2 for the rest", () => {
    const layout: CgroupLayout = {
      kind: "hybrid",
      hierarchies: [hierarchy(2, [], "unified"), hierarchy(1, ["cpuacct"], "cpuacct")],
    };
    const dirs = {
      v2: join(root, "unified/lxt.payload.c1"),
      v1: [join(root, "cpuacct/lxt.payload.c1")],
    };
    populate(dirs.v2, { "cpu.stat": CPU_STAT, "pids.current": "4\n" });
    populate(dirs.v1[0] ?? "", { "cpuacct.usage": "42\n" });
    assert.deepEqual(readCgroupStats(dirs, layout, nodeCgroupFs), { cpuUsageNs: 42n, pids: 4 });
  });

  it("leaves out what is missing or unreadable as a number", () => {
    const layout: CgroupLayout = { kind: "v2", hierarchies: [hierarchy(2, [], "unified")] };
    const v2 = join(root, "unified/lxt.payload.c1");
    populate(v2, { "cpu.stat": "user_usec 1\n", "memory.current": "max\n" });
    assert.deepEqual(readCgroupStats({ v2, v1: [] }, layout, nodeCgroupFs), {});
    assert.deepEqual(
      readCgroupStats({ v1: [] }, { kind: "none", hierarchies: [] }, nodeCgroupFs),
      {},
    );
    // The dir itself gone (container stopped): still no error.
    fs.rmSync(v2, { recursive: true });
    assert.deepEqual(readCgroupStats({ v2, v1: [] }, layout, nodeCgroupFs), {});
  });

  it("reports other read errors with the path", () => {
    const layout: CgroupLayout = { kind: "v2", hierarchies: [hierarchy(2, [], "unified")] };
    const v2 = join(root, "unified/lxt.payload.c1");
    const denied: CgroupFs = {
      ...nodeCgroupFs,
      readFile: (p) => {
        throw Object.assign(new Error(`EACCES: ${p}`), { code: "EACCES" });
      },
    };
    assert.throws(
      () => readCgroupStats({ v2, v1: [] }, layout, denied),
      (err: unknown) =>
        err instanceof LxtError && err.message.startsWith(`read cgroup stats: ${v2}/cpu.stat`),
    );
  });
});

describe("flatKeyed", () => {
  it("finds a key", () => {
    assert.equal(flatKeyed(CPU_STAT, "system_usec"), "1000123");
    assert.equal(flatKeyed(CPU_STAT, "usage"), undefined);
  });
});
