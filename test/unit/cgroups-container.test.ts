import assert from "node:assert/strict";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import {
  cgroupInUse,
  cgroupIsEmpty,
  createContainerCgroups,
  listPids,
  planContainerCgroups,
  removeContainerCgroups,
} from "../../src/cgroups/container.js";
import type { CgroupLayout, Hierarchy } from "../../src/cgroups/layout.js";
import { LxtError } from "../../src/core/errors.js";
import type { CgroupFs, KillFn } from "../../src/host/cgroup-fs.js";
import { nodeCgroupFs } from "../../src/host/cgroup-fs.js";
import { cgroupRmdir } from "./support/cgroup-host.js";

function errno(code: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${path}`), { code });
}

/**
 * cgroupfs semantics over a temp dir: mkdir fills in control files (empty
 * cpuset files in a cpuset hierarchy, as the kernel does without
 * clone_children); rmdir succeeds with control files present but is EBUSY
 * while the cgroup has processes or children.
 */
function cgroupfsOn(base: CgroupFs = nodeCgroupFs): CgroupFs {
  return {
    ...base,
    mkdir: (p) => {
      base.mkdir(p);
      fs.writeFileSync(join(p, "cgroup.procs"), "");
      if (fs.existsSync(join(dirname(p), "cpuset.cpus"))) {
        fs.writeFileSync(join(p, "cpuset.cpus"), "");
        fs.writeFileSync(join(p, "cpuset.mems"), "");
      }
    },
    rmdir: cgroupRmdir,
  };
}

/** A kill that takes the pid out of every cgroup.procs below `root`, except stubborn ones. */
function fakeKill(root: string, stubborn: number[] = []) {
  const calls: Array<[number, string]> = [];
  const kill: KillFn = (pid, sig) => {
    calls.push([pid, sig]);
    if (stubborn.includes(pid)) return;
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name === "cgroup.procs") {
          const left = fs
            .readFileSync(p, "utf8")
            .split("\n")
            .filter((l) => l !== "" && Number(l) !== pid);
          fs.writeFileSync(p, left.map((l) => `${l}\n`).join(""));
        }
      }
    };
    walk(root);
  };
  return { kill, calls };
}

function hierarchy(
  version: 1 | 2,
  controllers: string[],
  mountPoint: string,
  own: string,
): Hierarchy {
  return {
    version,
    controllers,
    id: version === 2 ? 0 : 1,
    mountPoint,
    mountRoot: "/",
    ownPath: own,
    ownDir: join(mountPoint, own),
  };
}

let root: string;
let layout: CgroupLayout;

beforeEach(() => {
  root = fs.mkdtempSync(join(tmpdir(), "lxt-cgroups-"));
  layout = {
    kind: "hybrid",
    hierarchies: [
      hierarchy(2, [], join(root, "unified"), "/user.slice"),
      hierarchy(1, ["cpuset"], join(root, "cpuset"), "/"),
      hierarchy(1, ["memory"], join(root, "memory"), "/user.slice/s1"),
      hierarchy(1, ["name=systemd"], join(root, "systemd"), "/user.slice/s1"),
    ],
  };
  for (const h of layout.hierarchies) {
    fs.mkdirSync(h.ownDir, { recursive: true });
    fs.writeFileSync(join(h.ownDir, "cgroup.procs"), "1234\n");
  }
  fs.writeFileSync(join(root, "cpuset", "cpuset.cpus"), "0-3\n");
  fs.writeFileSync(join(root, "cpuset", "cpuset.mems"), "0\n");
});

afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe("planContainerCgroups", () => {
  it("puts lxt.payload.<name> under the own cgroup in every hierarchy", () => {
    const plan = planContainerCgroups(layout, "c1", () => false);
    assert.deepEqual(plan, {
      v2: join(root, "unified/user.slice/lxt.payload.c1"),
      v1: [
        join(root, "cpuset/lxt.payload.c1"),
        join(root, "memory/user.slice/s1/lxt.payload.c1"),
        join(root, "systemd/user.slice/s1/lxt.payload.c1"),
      ],
    });
  });

  it("suffixes the name in all hierarchies when any one has it in use", () => {
    const taken = new Set([
      join(root, "memory/user.slice/s1/lxt.payload.c1"),
      join(root, "unified/user.slice/lxt.payload.c1-1"),
    ]);
    const plan = planContainerCgroups(layout, "c1", (d) => taken.has(d));
    assert.equal(plan.v2, join(root, "unified/user.slice/lxt.payload.c1-2"));
    assert.ok(plan.v1.every((d) => d.endsWith("/lxt.payload.c1-2")));
  });

  it("skips a populated leftover but reuses an empty one", () => {
    const cgfs = cgroupfsOn();
    const first = planContainerCgroups(layout, "c1", (d) => cgroupInUse(d, cgfs));
    createContainerCgroups(first, cgfs);
    assert.deepEqual(
      planContainerCgroups(layout, "c1", (d) => cgroupInUse(d, cgfs)),
      first,
      "empty leftover reused",
    );
    fs.writeFileSync(join(first.v1[1] ?? "", "cgroup.procs"), "77\n");
    const next = planContainerCgroups(layout, "c1", (d) => cgroupInUse(d, cgfs));
    assert.ok(next.v2?.endsWith("lxt.payload.c1-1"));
  });

  it("rejects names that are not one path component", () => {
    for (const bad of ["", ".", "..", "a/b", "a\nb"]) {
      assert.throws(
        () => planContainerCgroups(layout, bad, () => false),
        (err: unknown) => err instanceof LxtError && err.code === "name",
      );
    }
  });

  it("gives an empty plan for a host without cgroups", () => {
    assert.deepEqual(
      planContainerCgroups({ kind: "none", hierarchies: [] }, "c1", () => false),
      {
        v1: [],
      },
    );
  });
});

describe("createContainerCgroups", () => {
  it("makes every dir and copies cpuset.cpus and cpuset.mems from the parent in v1", () => {
    const cgfs = cgroupfsOn();
    const plan = planContainerCgroups(layout, "c1", () => false);
    createContainerCgroups(plan, cgfs);
    for (const d of [plan.v2 ?? "", ...plan.v1]) assert.ok(fs.statSync(d).isDirectory(), d);
    const cpuset = plan.v1[0] ?? "";
    assert.equal(fs.readFileSync(join(cpuset, "cpuset.cpus"), "utf8"), "0-3");
    assert.equal(fs.readFileSync(join(cpuset, "cpuset.mems"), "utf8"), "0");
  });

  it("leaves v2 cpuset files alone (empty means inherit there)", () => {
    fs.writeFileSync(join(root, "unified/user.slice/cpuset.cpus"), "0-3\n");
    const cgfs = cgroupfsOn();
    const plan = planContainerCgroups(layout, "c1", () => false);
    createContainerCgroups(plan, cgfs);
    assert.equal(fs.readFileSync(join(plan.v2 ?? "", "cpuset.cpus"), "utf8"), "");
  });

  it("recreates an empty leftover so no stale settings survive", () => {
    const cgfs = cgroupfsOn();
    const plan = planContainerCgroups(layout, "c1", () => false);
    createContainerCgroups(plan, cgfs);
    const mem = plan.v1[1] ?? "";
    fs.writeFileSync(join(mem, "memory.limit_in_bytes"), "1000");
    createContainerCgroups(plan, cgfs);
    assert.equal(fs.existsSync(join(mem, "memory.limit_in_bytes")), false);
  });

  it("refuses a dir that is in use", () => {
    const cgfs = cgroupfsOn();
    const plan = planContainerCgroups(layout, "c1", () => false);
    createContainerCgroups(plan, cgfs);
    fs.writeFileSync(join(plan.v1[2] ?? "", "cgroup.procs"), "5\n");
    assert.throws(() => createContainerCgroups(plan, cgfs), /already in use/);
  });

  it("removes what it made when a mkdir fails, and names the dir", () => {
    const plan = planContainerCgroups(layout, "c1", () => false);
    const failing = plan.v1[1] ?? "";
    const base = cgroupfsOn();
    const cgfs: CgroupFs = {
      ...base,
      mkdir: (p) => {
        if (p === failing) throw errno("EACCES", p);
        base.mkdir(p);
      },
    };
    assert.throws(
      () => createContainerCgroups(plan, cgfs),
      (err: unknown) =>
        err instanceof LxtError && err.message === `create cgroup ${failing}: EACCES: ${failing}`,
    );
    for (const d of [plan.v2 ?? "", ...plan.v1]) assert.equal(fs.existsSync(d), false, d);
  });

  it("rolls back when the cpuset copy fails", () => {
    fs.rmSync(join(root, "cpuset", "cpuset.mems"));
    const base = cgroupfsOn();
    const cgfs: CgroupFs = {
      ...base,
      mkdir: (p) => {
        base.mkdir(p);
        if (p.includes("/cpuset/")) fs.writeFileSync(join(p, "cpuset.mems"), "");
      },
    };
    const plan = planContainerCgroups(layout, "c1", () => false);
    assert.throws(() => createContainerCgroups(plan, cgfs), /copy cpuset\.mems from parent/);
    for (const d of [plan.v2 ?? "", ...plan.v1]) assert.equal(fs.existsSync(d), false, d);
  });
});

describe("removeContainerCgroups", () => {
  it("kills every pid, nested cgroups included, then removes all dirs", async () => {
    const cgfs = cgroupfsOn();
    const plan = planContainerCgroups(layout, "c1", () => false);
    createContainerCgroups(plan, cgfs);
    const v2 = plan.v2 ?? "";
    fs.writeFileSync(join(v2, "cgroup.procs"), "100\n101\n");
    cgfs.mkdir(join(v2, "init.scope"));
    fs.writeFileSync(join(v2, "init.scope", "cgroup.procs"), "102\n");
    fs.writeFileSync(join(plan.v1[1] ?? "", "cgroup.procs"), "100\n101\n102\n");

    assert.deepEqual(listPids(v2, cgfs), [100, 101]);
    assert.equal(cgroupIsEmpty(v2, cgfs), false);
    assert.equal(cgroupIsEmpty(plan.v1[0] ?? "", cgfs), true);

    const { kill, calls } = fakeKill(root);
    await removeContainerCgroups(plan, cgfs, kill, { pollMs: 1 });
    for (const d of [v2, ...plan.v1]) assert.equal(fs.existsSync(d), false, d);
    assert.deepEqual(calls.map(([p]) => p).sort(), [100, 101, 102]);
    assert.ok(calls.every(([, s]) => s === "SIGKILL"));
    // The parents are untouched.
    assert.ok(fs.existsSync(join(root, "memory/user.slice/s1/cgroup.procs")));

    await removeContainerCgroups(plan, cgfs, kill);
    assert.equal(cgroupIsEmpty(v2, cgfs), true);
    assert.deepEqual(listPids(v2, cgfs), []);
  });

  it("writes cgroup.kill where the kernel has it", async () => {
    const cgfs = cgroupfsOn();
    const plan = planContainerCgroups(layout, "c1", () => false);
    createContainerCgroups(plan, cgfs);
    const v2 = plan.v2 ?? "";
    fs.writeFileSync(join(v2, "cgroup.kill"), "");
    fs.writeFileSync(join(v2, "cgroup.procs"), "100\n");
    const { kill } = fakeKill(root);
    const writes: string[] = [];
    await removeContainerCgroups(plan, { ...cgfs, writeFile: (p) => writes.push(p) }, kill, {
      pollMs: 1,
    });
    assert.deepEqual(writes, [join(v2, "cgroup.kill")]);
  });

  it("retries rmdir while the cgroup is busy", async () => {
    const cgfs = cgroupfsOn();
    const plan = { v1: [join(root, "memory/user.slice/s1/lxt.payload.c1")] };
    createContainerCgroups(plan, cgfs);
    let busy = 3;
    const flaky: CgroupFs = {
      ...cgfs,
      rmdir: (p) => {
        if (busy-- > 0) throw errno("EBUSY", p);
        cgfs.rmdir(p);
      },
    };
    await removeContainerCgroups(plan, flaky, fakeKill(root).kill, { pollMs: 1 });
    assert.equal(fs.existsSync(plan.v1[0] ?? ""), false);
  });

  it("times out on a pid that will not die, still removing the other dirs", async () => {
    const cgfs = cgroupfsOn();
    const plan = planContainerCgroups(layout, "c1", () => false);
    createContainerCgroups(plan, cgfs);
    const mem = plan.v1[1] ?? "";
    fs.writeFileSync(join(mem, "cgroup.procs"), "666\n");
    await assert.rejects(
      removeContainerCgroups(plan, cgfs, fakeKill(root, [666]).kill, {
        timeoutMs: 30,
        pollMs: 5,
      }),
      (err: unknown) =>
        err instanceof LxtError &&
        err.code === "timeout" &&
        err.message.startsWith(`remove cgroup ${mem}: pids 666 still there`),
    );
    assert.equal(fs.existsSync(mem), true);
    assert.equal(fs.existsSync(plan.v2 ?? ""), false);
    assert.equal(fs.existsSync(plan.v1[2] ?? ""), false);
  });

  it("never kills its own process", async () => {
    const cgfs = cgroupfsOn();
    const plan = { v1: [join(root, "cpuset/lxt.payload.c1")] };
    createContainerCgroups(plan, cgfs);
    fs.writeFileSync(join(plan.v1[0] ?? "", "cgroup.procs"), `${process.pid}\n`);
    const { kill, calls } = fakeKill(root);
    await assert.rejects(
      removeContainerCgroups(plan, cgfs, kill, { selfPid: process.pid }),
      (err: unknown) => err instanceof LxtError && err.code === "internal",
    );
    assert.deepEqual(calls, []);
  });

  it("ignores ESRCH from kill", async () => {
    const cgfs = cgroupfsOn();
    const plan = { v1: [join(root, "cpuset/lxt.payload.c1")] };
    createContainerCgroups(plan, cgfs);
    const procs = join(plan.v1[0] ?? "", "cgroup.procs");
    fs.writeFileSync(procs, "9\n");
    await removeContainerCgroups(
      plan,
      cgfs,
      (pid) => {
        fs.writeFileSync(procs, "");
        throw errno("ESRCH", String(pid));
      },
      { pollMs: 1 },
    );
    assert.equal(fs.existsSync(plan.v1[0] ?? ""), false);
  });
});
