import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  allocateSlice,
  formatIdmap,
  hostRoot,
  idmapProblem,
  newRootRangeStart,
  parseIdmapLine,
  parseIdmapText,
  parseSubid,
  rootRanges,
  SLICE_SIZE,
  sliceMap,
} from "../../src/config/idmap.js";
import { defaultSecurity } from "../../src/config/security.js";
import { delegateCgroups, idmapSource } from "../../src/container/userns.js";

describe("lxc.idmap lines", () => {
  test("parses u|g NSID HOSTID RANGE with any blanks", () => {
    assert.deepEqual(parseIdmapLine("u 0 100000 65536"), {
      kind: "u",
      nsid: 0,
      hostid: 100000,
      range: 65536,
    });
    assert.deepEqual(parseIdmapLine("g  1000\t1000 1"), {
      kind: "g",
      nsid: 1000,
      hostid: 1000,
      range: 1,
    });
  });
  for (const bad of ["x 0 0 1", "u 0 1", "u 0 1 0", "u -1 0 1", "u 0 4294967295 2", "u 0 1 1 1"]) {
    test(`refuses "${bad}"`, () => assert.throws(() => parseIdmapLine(bad), /invalid value/));
  }
  test("a whole map needs root of both kinds and no overlap", () => {
    const l = (v: string) => parseIdmapLine(v);
    assert.equal(idmapProblem(sliceMap(1000000)), undefined);
    assert.match(idmapProblem([l("u 0 100000 65536")]) ?? "", /no gid line/);
    assert.match(idmapProblem([l("u 1 100000 5"), l("g 0 1 1")]) ?? "", /uid 0 .* not mapped/);
    assert.match(
      idmapProblem([l("u 0 100000 10"), l("u 5 200000 10"), l("g 0 1 1")]) ?? "",
      /overlap inside/,
    );
    assert.match(
      idmapProblem([l("u 0 100000 10"), l("u 10 100005 10"), l("g 0 1 1")]) ?? "",
      /overlap on the host/,
    );
    // LXC's usual "pass one id through" layout is fine.
    assert.equal(
      idmapProblem([
        l("u 0 100000 1000"),
        l("u 1000 1000 1"),
        l("u 1001 101001 64535"),
        l("g 0 100000 65536"),
      ]),
      undefined,
    );
  });
  test("compact text round-trips, strictly", () => {
    const m = sliceMap(1065536);
    assert.equal(formatIdmap(m), "u:0:1065536:65536,g:0:1065536:65536");
    assert.deepEqual(parseIdmapText(formatIdmap(m)), m);
    assert.throws(() => parseIdmapText("u 0 1 1"), /u:NSID/);
    assert.equal(hostRoot(m, "g"), 1065536);
  });
});

describe("/etc/subuid", () => {
  test("parses names and ids, skips comments, names file and line on errors", () => {
    const r = parseSubid(
      "# c\nubuntu:100000:65536\n\nroot:1000000:1000000000\n0:5:5\n",
      "/etc/subuid",
    );
    assert.equal(r.length, 3);
    assert.deepEqual(
      rootRanges(r).map((x) => x.start),
      [1000000, 5],
    );
    assert.throws(() => parseSubid("root:1:x\n", "/etc/subuid"), /\/etc\/subuid:1: expected/);
    assert.throws(() => parseSubid("ok:1:1\nroot:1:0\n", "F"), /F:2/);
  });
  test("a new root range starts past every existing one", () => {
    assert.equal(newRootRangeStart([]), 1000000);
    assert.equal(newRootRangeStart(parseSubid("u:100000:65536\n", "f")), 1000000);
    assert.equal(newRootRangeStart(parseSubid("u:2000000:10\n", "f")), 2000010);
  });
});

describe("slice allocation", () => {
  const root = [{ owner: "root", start: 1000000, count: 1000000000 }];
  test("the lowest free slice, past used ones and explicit maps", () => {
    assert.equal(allocateSlice(root, root, []), 1000000);
    assert.equal(allocateSlice(root, root, [{ start: 1000000, count: SLICE_SIZE }]), 1065536);
    // A hole big enough is reused; a small one is skipped.
    const used = [
      { start: 1000000, count: SLICE_SIZE },
      { start: 1131072, count: SLICE_SIZE },
      { start: 1065536, count: 10 },
    ];
    assert.equal(allocateSlice(root, root, used), 1196608);
    assert.equal(allocateSlice(root, root, [{ start: 1065536, count: SLICE_SIZE }]), 1000000);
  });
  test("two allocations in a row never overlap", () => {
    const used: { start: number; count: number }[] = [];
    for (let i = 0; i < 5; i++) {
      const b = allocateSlice(root, root, used) as number;
      for (const u of used) assert.ok(b >= u.start + u.count || b + SLICE_SIZE <= u.start);
      used.push({ start: b, count: SLICE_SIZE });
    }
  });
  test("must fit both the uid and the gid ranges; undefined when full", () => {
    const g = [{ owner: "root", start: 1100000, count: 200000 }];
    assert.equal(allocateSlice(root, g, []), 1100000);
    const small = [{ owner: "root", start: 1000000, count: 65535 }];
    assert.equal(allocateSlice(small, small, []), undefined);
    assert.equal(allocateSlice(root, root, [{ start: 0, count: 2000000000 }]), undefined);
  });
});

describe("privileged or not", () => {
  test("lxc.idmap: its map; lxt.privileged = 0: a slice; neither (an LXC config): privileged", () => {
    const sec = defaultSecurity();
    assert.equal(idmapSource(sec), "privileged");
    assert.equal(idmapSource({ ...sec, privileged: false }), "slice");
    assert.equal(idmapSource({ ...sec, privileged: true }), "privileged");
    assert.equal(idmapSource({ ...sec, idmap: sliceMap(100000) }), "config");
    assert.throws(
      () =>
        idmapSource({
          ...sec,
          idmap: sliceMap(100000),
          privileged: true,
          privilegedAt: { file: "c", line: 3 },
        }),
      /c:3: .*both set/,
    );
  });
});

describe("the container's root owns its cgroups (temp-dir tree)", () => {
  /** A v2 directory and two v1 ones (one without `tasks`), with delegated and limit files. */
  const tree = (root: string) => {
    const files: Record<string, string[]> = {
      "unified/lxt.payload.c1": [
        "cgroup.procs",
        "cgroup.threads",
        "cgroup.subtree_control",
        "cgroup.controllers",
        "memory.max",
      ],
      "memory/lxt.payload.c1": ["cgroup.procs", "tasks", "memory.limit_in_bytes"],
      "name=x/lxt.payload.c1": ["cgroup.procs", "notify_on_release"],
    };
    for (const [dir, names] of Object.entries(files)) {
      mkdirSync(join(root, dir), { recursive: true });
      for (const f of names) writeFileSync(join(root, dir, f), "");
    }
    return {
      v2: join(root, "unified/lxt.payload.c1"),
      v1: [join(root, "memory/lxt.payload.c1"), join(root, "name=x/lxt.payload.c1")],
    };
  };

  test("the directories and the delegation files go to the map's root; limit files stay", () => {
    const root = mkdtempSync(join(tmpdir(), "lxt-deleg-"));
    try {
      const calls: string[] = [];
      // Root's lines are not the first ones: uid 0 -> 300000, gid 0 -> 400000.
      const idmap = [
        parseIdmapLine("u 1 200000 10"),
        parseIdmapLine("u 0 300000 1"),
        parseIdmapLine("g 0 400000 65536"),
      ];
      delegateCgroups(tree(root), idmap, (p, uid, gid) =>
        calls.push(`${p.slice(root.length + 1)} ${uid} ${gid}`),
      );
      assert.deepEqual(calls, [
        "unified/lxt.payload.c1 300000 400000",
        "unified/lxt.payload.c1/cgroup.procs 300000 400000",
        "unified/lxt.payload.c1/cgroup.threads 300000 400000",
        "unified/lxt.payload.c1/cgroup.subtree_control 300000 400000",
        "memory/lxt.payload.c1 300000 400000",
        "memory/lxt.payload.c1/cgroup.procs 300000 400000",
        "memory/lxt.payload.c1/tasks 300000 400000",
        "name=x/lxt.payload.c1 300000 400000",
        "name=x/lxt.payload.c1/cgroup.procs 300000 400000",
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("v1 only; a map without root's gid is refused before anything changes", () => {
    const root = mkdtempSync(join(tmpdir(), "lxt-deleg-"));
    try {
      const { v1 } = tree(root);
      const calls: string[] = [];
      const record = (p: string, uid: number, gid: number) =>
        calls.push(`${p.slice(root.length + 1)} ${uid} ${gid}`);
      delegateCgroups({ v1: [v1[0] as string] }, sliceMap(100000), record);
      assert.deepEqual(calls, [
        "memory/lxt.payload.c1 100000 100000",
        "memory/lxt.payload.c1/cgroup.procs 100000 100000",
        "memory/lxt.payload.c1/tasks 100000 100000",
      ]);
      calls.length = 0;
      assert.throws(
        () => delegateCgroups({ v1 }, [parseIdmapLine("u 0 100000 65536")], record),
        /the id map has no gid 0/,
      );
      assert.deepEqual(calls, []);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("root's ranges on the host (temp files)", () => {
  test("added once, atomically, past other users' ranges, with a message; kept after", async () => {
    const { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { rootSubids } = await import("../../src/host/subid.js");
    const dir = mkdtempSync(join(tmpdir(), "lxt-subid-"));
    const uid = join(dir, "subuid");
    const gid = join(dir, "subgid");
    writeFileSync(uid, "ubuntu:100000:65536\nbig:1000000:2000000", { mode: 0o644 });
    const files = { uid, gid };
    try {
      const notes: string[] = [];
      const r = rootSubids(files, notes);
      assert.deepEqual(r.uids, [{ owner: "root", start: 3000000, count: 1000000000 }]);
      assert.deepEqual(r.gids, [{ owner: "root", start: 1000000, count: 1000000000 }]);
      assert.equal(
        readFileSync(uid, "utf8"),
        "ubuntu:100000:65536\nbig:1000000:2000000\nroot:3000000:1000000000\n",
      );
      assert.equal(readFileSync(gid, "utf8"), "root:1000000:1000000000\n");
      assert.equal(statSync(uid).mode & 0o777, 0o644);
      assert.equal(notes.length, 2);
      assert.match(notes[0] ?? "", /subuid had no range for root: added "root:3000000:1000000000"/);
      const again: string[] = [];
      rootSubids(files, again);
      assert.deepEqual(again, []);
      writeFileSync(uid, "root:x:1\n");
      assert.throws(() => rootSubids(files, []), /subuid:1: expected NAME:START:COUNT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
