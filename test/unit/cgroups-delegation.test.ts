import assert from "node:assert/strict";
import { posix } from "node:path";
import { describe, it } from "node:test";
import {
  delegateForContainer,
  delegateV2,
  monitorLeafOf,
  parentPid,
  planV2Delegation,
  releaseMonitorLeaf,
  requiredV2Controllers,
  undoV2Delegation,
  type V2DelegationInput,
} from "../../src/cgroups/delegation.js";
import { LxtError } from "../../src/core/errors.js";
import type { CgroupFs } from "../../src/host/cgroup-fs.js";

function errno(code: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${path}`), { code });
}

/**
 * An in-memory cgroup2 tree with the kernel's delegation rules
 * (Documentation/admin-guide/cgroup-v2.rst): a child offers the controllers
 * its parent enabled; enabling needs the controller offered and, except at
 * the root, no processes in the cgroup (EBUSY); a process cannot be moved
 * into a non-root cgroup that has controllers enabled (EBUSY); the root has
 * no `cgroup.type`; rmdir is EBUSY with processes or children.
 */
class FakeV2 implements CgroupFs {
  readonly procs = new Map<string, number[]>();
  readonly subtree = new Map<string, string[]>();
  readonly writes: string[] = [];
  constructor(
    readonly root: string,
    rootControllers: string[],
  ) {
    this.procs.set(root, []);
    this.subtree.set(root, []);
    this.rootControllers = rootControllers;
  }
  private rootControllers: string[];
  controllersOf(dir: string): string[] {
    return dir === this.root ? this.rootControllers : (this.subtree.get(posix.dirname(dir)) ?? []);
  }
  addPid(dir: string, pid: number) {
    for (const [d, list] of this.procs)
      this.procs.set(
        d,
        list.filter((p) => p !== pid),
      );
    this.procs.get(dir)?.push(pid);
  }
  private split(path: string): [string, string] {
    return [posix.dirname(path), posix.basename(path)];
  }
  /** Parent pids for `/proc/PID/stat`. */
  readonly ppids = new Map<number, number>();
  readFile(path: string): string {
    const stat = /^\/proc\/(\d+)\/stat$/.exec(path);
    if (stat) {
      const ppid = this.ppids.get(Number(stat[1]));
      if (ppid === undefined) throw errno("ENOENT", path);
      return `${stat[1]} (x y) S ${ppid} 1 1`;
    }
    const [dir, file] = this.split(path);
    if (!this.procs.has(dir)) throw errno("ENOENT", path);
    if (file === "cgroup.procs") return (this.procs.get(dir) ?? []).map((p) => `${p}\n`).join("");
    if (file === "cgroup.controllers") return `${this.controllersOf(dir).join(" ")}\n`;
    if (file === "cgroup.subtree_control") return `${(this.subtree.get(dir) ?? []).join(" ")}\n`;
    if (file === "cgroup.type" && dir !== this.root) return "domain\n";
    if (this.exists(path)) return "max\n";
    throw errno("ENOENT", path);
  }
  writeFile(path: string, data: string): void {
    this.writes.push(`${path} ${data}`);
    const [dir, file] = this.split(path);
    if (!this.procs.has(dir)) throw errno("ENOENT", path);
    if (file === "cgroup.procs") {
      if (dir !== this.root && (this.subtree.get(dir) ?? []).length > 0) throw errno("EBUSY", path);
      this.addPid(dir, Number(data));
      return;
    }
    if (file === "cgroup.subtree_control") {
      const on = this.subtree.get(dir) ?? [];
      for (const w of data.split(" ")) {
        const c = w.slice(1);
        if (w.startsWith("+")) {
          if (!this.controllersOf(dir).includes(c)) throw errno("ENOENT", path);
          if (dir !== this.root && (this.procs.get(dir) ?? []).length > 0)
            throw errno("EBUSY", path);
          if (!on.includes(c)) on.push(c);
        } else
          this.subtree.set(
            dir,
            on.filter((x) => x !== c),
          );
      }
      if (data.startsWith("+")) this.subtree.set(dir, on);
      return;
    }
    if (!this.exists(path)) throw errno("ENOENT", path);
  }
  mkdir(path: string): void {
    if (this.procs.has(path)) throw errno("EEXIST", path);
    if (!this.procs.has(posix.dirname(path))) throw errno("ENOENT", path);
    this.procs.set(path, []);
    this.subtree.set(path, []);
  }
  rmdir(path: string): void {
    if (!this.procs.has(path)) throw errno("ENOENT", path);
    if ((this.procs.get(path) ?? []).length > 0 || this.children(path).length > 0)
      throw errno("EBUSY", path);
    this.procs.delete(path);
    this.subtree.delete(path);
  }
  children(dir: string): string[] {
    return [...this.procs.keys()].filter((d) => posix.dirname(d) === dir && d !== dir);
  }
  readdir(path: string) {
    if (!this.procs.has(path)) throw errno("ENOENT", path);
    return this.children(path).map((d) => ({ name: posix.basename(d), isDirectory: true }));
  }
  exists(path: string): boolean {
    if (this.procs.has(path)) return true;
    const [dir, file] = this.split(path);
    if (!this.procs.has(dir)) return false;
    if (file.startsWith("cgroup.")) return file !== "cgroup.type" || dir !== this.root;
    const controller = file.slice(0, file.indexOf("."));
    return this.controllersOf(dir).includes(controller);
  }
}

const ALL = ["cpuset", "cpu", "io", "memory", "hugetlb", "pids"];
const ME = 4242;

/** A root with every controller on, and C = /sys/fs/cgroup/scope below it. */
function tree(procsInC: number[]): FakeV2 {
  const fs = new FakeV2("/sys/fs/cgroup", ALL);
  fs.subtree.set("/sys/fs/cgroup", [...ALL]);
  fs.mkdir("/sys/fs/cgroup/scope");
  for (const p of procsInC) fs.addPid("/sys/fs/cgroup/scope", p);
  return fs;
}

const C = "/sys/fs/cgroup/scope";
const PAYLOAD = `${C}/lxt.payload.c1`;
const LEAF = `${C}/lxt.monitor.c1`;

function input(over: Partial<V2DelegationInput>): V2DelegationInput {
  return {
    parent: C,
    isRoot: false,
    procs: [ME],
    selfPid: ME,
    ours: [ME],
    available: ["cpu", "memory", "pids", "io"],
    enabled: [],
    required: [],
    wanted: ["cpu", "memory", "pids", "io"],
    leaf: LEAF,
    ...over,
  };
}

describe("planV2Delegation", () => {
  it("enables directly at the root, however many processes it holds", () => {
    const plan = planV2Delegation(input({ isRoot: true, procs: [1, 2, ME], required: ["memory"] }));
    assert.deepEqual(plan, {
      kind: "enable",
      parent: C,
      controllers: ["memory", "cpu", "pids", "io"],
    });
  });
  it("splits when lxt is alone in C", () => {
    const plan = planV2Delegation(input({ required: ["pids"] }));
    assert.equal(plan.kind, "split");
    assert.equal(plan.kind === "split" && plan.leaf, LEAF);
  });
  it("moves lxt's own helpers along, itself first", () => {
    const plan = planV2Delegation(input({ procs: [600, ME], ours: [ME, 600] }));
    assert.deepEqual(plan.kind === "split" && plan.pids, [ME, 600]);
  });
  it("is ready when everything wanted is on already", () => {
    const plan = planV2Delegation(
      input({ procs: [1, ME], enabled: ["cpu", "memory", "pids", "io"] }),
    );
    assert.deepEqual(plan, { kind: "ready", parent: "/sys/fs/cgroup/scope" });
  });
  it("goes without stats controllers when others share C and no limit needs them", () => {
    const plan = planV2Delegation(input({ procs: [77, ME] }), () => "bash");
    assert.equal(plan.kind, "without");
    assert.match(plan.kind === "without" ? plan.reason : "", /77 \(bash\)/);
  });
  it("refuses limits when others share C, naming them and the rule", () => {
    assert.throws(
      () => planV2Delegation(input({ procs: [77, 78, ME], required: ["memory"] }), (p) => `p${p}`),
      (err: unknown) =>
        err instanceof LxtError &&
        err.code === "cgroup-delegation" &&
        /memory controller/.test(err.message) &&
        /77 \(p77\), 78 \(p78\)/.test(err.message) &&
        /no internal processes/.test(err.message),
    );
  });
  it("refuses a required controller C does not offer", () => {
    assert.throws(
      () => planV2Delegation(input({ available: ["pids"], required: ["memory"] })),
      (err: unknown) =>
        err instanceof LxtError && err.code === "host" && /memory/.test(err.message),
    );
  });
});

describe("delegateV2 on a fake cgroup2 tree", () => {
  it("at the root (exempt from the rule) enables controllers without reading its process list", () => {
    const fs = new FakeV2("/sys/fs/cgroup", ALL);
    for (const p of [1, 2, 3, ME]) fs.addPid("/sys/fs/cgroup", p);
    const read: string[] = [];
    const readFile = fs.readFile.bind(fs);
    fs.readFile = (path: string) => {
      read.push(path);
      return readFile(path);
    };
    const r = delegateForContainer(
      "/sys/fs/cgroup/lxt.payload.c1",
      [{ version: 2, controller: "memory" }],
      fs,
      ME,
    );
    assert.equal(r.plan.kind, "enable");
    assert.deepEqual(fs.subtree.get("/sys/fs/cgroup"), ["memory", "cpu", "pids", "io"]);
    assert.ok(!read.includes("/sys/fs/cgroup/cgroup.procs"), read.join(" "));
    assert.deepEqual(fs.procs.get("/sys/fs/cgroup"), [1, 2, 3, ME]);
  });
  it("moves lxt into the leaf, enables controllers, and the payload gets memory.max", () => {
    const fs = tree([ME]);
    const r = delegateForContainer(PAYLOAD, [{ version: 2, controller: "memory" }], fs, ME);
    assert.equal(r.plan.kind, "split");
    assert.deepEqual(fs.procs.get(LEAF), [ME]);
    assert.deepEqual(fs.procs.get(C), []);
    assert.deepEqual(fs.subtree.get(C), ["memory", "cpu", "pids", "io"]);
    fs.mkdir(PAYLOAD);
    assert.ok(fs.exists(`${PAYLOAD}/memory.max`));
    assert.equal(r.warning, undefined);
  });
  it("takes lxt's lock helper along, and leaves a stranger's process alone", () => {
    const fs = tree([ME, 600]);
    fs.ppids.set(600, ME);
    fs.ppids.set(ME, 1);
    delegateForContainer(PAYLOAD, [{ version: 2, controller: "pids" }], fs, ME);
    assert.deepEqual(fs.procs.get(LEAF), [ME, 600]);
    const other = tree([ME, 700]);
    other.ppids.set(700, 1);
    assert.throws(
      () => delegateForContainer(PAYLOAD, [{ version: 2, controller: "pids" }], other, ME),
      /700/,
    );
  });
  it("reuses an empty leftover leaf", () => {
    const fs = tree([ME]);
    fs.mkdir(LEAF);
    delegateForContainer(PAYLOAD, [], fs, ME);
    assert.deepEqual(fs.procs.get(LEAF), [ME]);
  });
  it("leaves the caller's other processes where they are and refuses limits", () => {
    const fs = tree([ME, 100]);
    assert.throws(
      () => delegateForContainer(PAYLOAD, [{ version: 2, controller: "pids" }], fs, ME),
      /cgroup v2: cannot enable the pids controller/,
    );
    assert.deepEqual(fs.procs.get(C), [ME, 100]);
    assert.equal(fs.exists(LEAF), false);
    assert.deepEqual(fs.subtree.get(C), []);
  });
  it("warns and writes nothing without limits when others share C", () => {
    const fs = tree([ME, 100]);
    const r = delegateForContainer(PAYLOAD, [], fs, ME);
    assert.match(r.warning ?? "", /systemd-run --scope -p Delegate=yes/);
    assert.deepEqual(fs.writes, []);
  });
  it("does nothing on v2 core files only, at the root", () => {
    const fs = tree([]);
    const r = delegateForContainer(
      "/sys/fs/cgroup/lxt.payload.c1",
      [{ version: 2, controller: "cgroup" }],
      fs,
      ME,
    );
    assert.deepEqual(r.plan, { kind: "ready", parent: "/sys/fs/cgroup" });
  });
  it("undo turns controllers off, moves lxt back and removes the leaf", () => {
    const fs = tree([ME]);
    const r = delegateForContainer(PAYLOAD, [{ version: 2, controller: "memory" }], fs, ME);
    undoV2Delegation(r.done, fs, ME);
    assert.deepEqual(fs.subtree.get(C), []);
    assert.deepEqual(fs.procs.get(C), [ME]);
    assert.equal(fs.exists(LEAF), false);
  });
  it("lxc.cgroup.dir: the path is made and passes the controllers down; undo takes it away", () => {
    const fs = tree([ME]);
    const deep = `${C}/a/b/lxt.payload.c1`;
    const r = delegateForContainer(deep, [{ version: 2, controller: "memory" }], fs, ME, C);
    assert.equal(r.plan.kind, "split");
    assert.deepEqual(fs.procs.get(`${C}/a/b/lxt.monitor.c1`), [ME], "lxt in the leaf beside it");
    assert.deepEqual(fs.procs.get(C), []);
    assert.ok(fs.subtree.get(C)?.includes("memory"));
    assert.ok(fs.subtree.get(`${C}/a`)?.includes("memory"));
    assert.ok(fs.subtree.get(`${C}/a/b`)?.includes("memory"));
    fs.mkdir(deep);
    assert.ok(fs.exists(`${deep}/memory.max`), "the payload has its limit file");
    fs.rmdir(deep); // as the start's cgroups step undoes it, before this one
    undoV2Delegation(r.done, fs, ME);
    assert.deepEqual(fs.procs.get(C), [ME]);
    assert.equal(fs.exists(`${C}/a`), false, "the path it made is gone");
    assert.deepEqual(fs.subtree.get(C), []);
  });
  it("lxc.cgroup.dir: a path that exists is used and kept", () => {
    const fs = tree([ME]);
    fs.mkdir(`${C}/a`);
    const r = delegateForContainer(`${C}/a/lxt.payload.c1`, [], fs, ME, C);
    assert.deepEqual(r.done?.made, []);
    undoV2Delegation(r.done, fs, ME);
    assert.equal(fs.exists(`${C}/a`), true);
  });
  it("undo keeps controllers another container under C still uses", () => {
    const fs = tree([ME]);
    fs.mkdir(`${C}/lxt.payload.other`);
    const r = delegateForContainer(PAYLOAD, [{ version: 2, controller: "memory" }], fs, ME);
    undoV2Delegation(r.done, fs, ME);
    assert.ok(fs.subtree.get(C)?.includes("memory"));
    assert.deepEqual(fs.procs.get(LEAF), [ME], "lxt cannot go back into C");
  });
  it("a failing required controller undoes the move", () => {
    const fs = tree([ME]);
    const plan = {
      kind: "split" as const,
      parent: C,
      leaf: LEAF,
      pids: [ME],
      controllers: ["rdma"],
    };
    assert.throws(() => delegateV2(plan, ["rdma"], fs, ME), /enable the rdma controller/);
    assert.deepEqual(fs.procs.get(C), [ME]);
    assert.equal(fs.exists(LEAF), false);
  });
});

describe("parentPid", () => {
  it("reads the field after a comm with spaces and parentheses", () => {
    assert.equal(parentPid("618 (lxt shim (x)) S 4242 618 1 0"), 4242);
  });
});

describe("monitor leaf", () => {
  it("sits beside the payload with the same suffix", () => {
    assert.equal(monitorLeafOf(`${C}/lxt.payload.c1-2`), `${C}/lxt.monitor.c1-2`);
  });
  it("is removed once the monitor left, and kept while it is there", async () => {
    const fs = tree([]);
    fs.mkdir(LEAF);
    fs.addPid(LEAF, 9);
    await releaseMonitorLeaf(PAYLOAD, fs, [], 50);
    assert.ok(fs.exists(LEAF));
    fs.procs.set(LEAF, []);
    await releaseMonitorLeaf(PAYLOAD, fs, [], 50);
    assert.equal(fs.exists(LEAF), false);
    await releaseMonitorLeaf(undefined, fs);
  });
  it("requiredV2Controllers ignores v1 and core files", () => {
    assert.deepEqual(
      requiredV2Controllers([
        { version: 2, controller: "memory" },
        { version: 2, controller: "memory" },
        { version: 2, controller: "cgroup" },
        { version: 1, controller: "pids" },
      ]),
      ["memory"],
    );
  });
});
