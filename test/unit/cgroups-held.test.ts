/**
 * Reading cgroup files cheaply and never stale: `readsOnce` (one read per
 * file for one container's figures) and `heldCgroupFs` (a daemon's kept
 * descriptors, re-read at offset 0; on a real cgroupfs when this runs as root).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { CgroupLayout, Hierarchy } from "../../src/cgroups/layout.js";
import { readCgroupMetrics } from "../../src/cgroups/metrics.js";
import { readCgroupStats, readsOnce } from "../../src/cgroups/stats.js";
import { type CgroupFs, heldCgroupFs, nodeCgroupFs } from "../../src/host/cgroup-fs.js";

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(join(tmpdir(), "lxt-cgheld-"));
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

/** `nodeCgroupFs` counting the reads of each path. */
function counting(): { fs: CgroupFs; reads: Map<string, number> } {
  const reads = new Map<string, number>();
  return {
    reads,
    fs: {
      ...nodeCgroupFs,
      readFile: (p) => {
        reads.set(p, (reads.get(p) ?? 0) + 1);
        return nodeCgroupFs.readFile(p);
      },
    },
  };
}

function v1(name: string, controllers: string[]): Hierarchy {
  const mountPoint = join(root, name);
  return {
    version: 1,
    controllers,
    id: 0,
    mountPoint,
    mountRoot: "/",
    ownPath: "/",
    ownDir: mountPoint,
  };
}

describe("readsOnce", () => {
  it("reads a file once, and gives its error again without reading", () => {
    const file = join(root, "f");
    fs.writeFileSync(file, "one");
    const { fs: base, reads } = counting();
    const once = readsOnce(base);
    assert.equal(once.readFile(file), "one");
    fs.writeFileSync(file, "two");
    assert.equal(once.readFile(file), "one");
    assert.equal(reads.get(file), 1);
    const missing = join(root, "none");
    assert.throws(() => once.readFile(missing), { code: "ENOENT" });
    assert.throws(() => once.readFile(missing), { code: "ENOENT" });
    assert.equal(reads.get(missing), 1);
  });
});

describe("readCgroupStats reads each file once, and only what is asked", () => {
  const memory = () => v1("memory", ["memory"]);
  const blkio = () => v1("blkio", ["blkio"]);
  const setup = () => {
    const layout: CgroupLayout = { kind: "v1", hierarchies: [memory(), blkio()] };
    const mem = join(root, "memory", "c");
    const blk = join(root, "blkio", "c");
    fs.mkdirSync(mem, { recursive: true });
    fs.mkdirSync(blk, { recursive: true });
    fs.writeFileSync(join(mem, "memory.usage_in_bytes"), "1000\n");
    fs.writeFileSync(join(mem, "memory.memsw.usage_in_bytes"), "1500\n");
    fs.writeFileSync(
      join(blk, "blkio.throttle.io_service_bytes_recursive"),
      "8:0 Read 10\n8:0 Write 20\nTotal 30\n",
    );
    return { layout, dirs: { v1: [mem, blk] }, mem, blk };
  };

  it("shares memory usage between usage and swap, blkio between read and write", () => {
    const { layout, dirs, mem, blk } = setup();
    const { fs: base, reads } = counting();
    const s = readCgroupStats(dirs, layout, base);
    assert.equal(s.memoryBytes, 1000);
    assert.equal(s.memorySwapBytes, 500);
    assert.equal(s.ioReadBytes, 10);
    assert.equal(s.ioWriteBytes, 20);
    assert.equal(reads.get(join(mem, "memory.usage_in_bytes")), 1);
    assert.equal(reads.get(join(blk, "blkio.throttle.io_service_bytes_recursive")), 1);
  });

  it("`only` leaves the other figures' files unread", () => {
    const { layout, dirs, blk } = setup();
    const { fs: base, reads } = counting();
    const s = readCgroupStats(dirs, layout, base, ["memoryBytes"]);
    assert.deepEqual(s, { memoryBytes: 1000 });
    assert.equal(reads.get(join(blk, "blkio.throttle.io_service_bytes_recursive")), undefined);
  });
});

describe("readCgroupMetrics reads a scrape's files only", () => {
  const setup = (leastLimit: string) => {
    const layout: CgroupLayout = { kind: "v1", hierarchies: [v1("memory", ["memory"])] };
    const mem = join(root, "memory", "c");
    fs.mkdirSync(mem, { recursive: true });
    const stat = `total_rss 4096\ntotal_cache 8192\nhierarchical_memory_limit ${leastLimit}\n`;
    fs.writeFileSync(join(mem, "memory.stat"), stat);
    fs.writeFileSync(join(mem, "memory.limit_in_bytes"), "536870912\n");
    fs.writeFileSync(join(mem, "memory.usage_in_bytes"), "1000\n");
    return { layout, dirs: { v1: [mem] }, mem };
  };

  it("no limit file when memory.stat says no ancestor nor the cgroup has one", () => {
    const { layout, dirs, mem } = setup("9223372036854771712");
    const { fs: base, reads } = counting();
    const m = readCgroupMetrics(dirs, layout, base);
    assert.equal(m.memoryLimitBytes, undefined);
    assert.equal(m.memoryBytes, 1000);
    assert.deepEqual(m.memoryStat, { RSS: 4096, Cached: 8192 });
    assert.equal(reads.get(join(mem, "memory.limit_in_bytes")), undefined);
  });

  it("the cgroup's own limit when some limit applies (an ancestor's may be the lower one)", () => {
    const { layout, dirs } = setup("268435456");
    assert.equal(readCgroupMetrics(dirs, layout, nodeCgroupFs).memoryLimitBytes, 536870912);
  });
});

describe("heldCgroupFs", () => {
  it("keeps no regular file: a file replaced by a rename is read anew", () => {
    const held = heldCgroupFs(16);
    const file = join(root, "state");
    fs.writeFileSync(file, "RUNNING 1");
    assert.equal(held.readFile(file), "RUNNING 1");
    fs.writeFileSync(`${file}.new`, "STOPPED");
    fs.renameSync(`${file}.new`, file);
    assert.equal(held.readFile(file), "STOPPED");
    assert.throws(() => held.readFile(join(root, "none")), { code: "ENOENT" });
  });

  // A writable cgroupfs dir of this host: a v1 pids hierarchy (pids.max) or a v2 one (cgroup.max.depth).
  const place = ["/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
    .map((mount) => ({ mount, file: mount.endsWith("/pids") ? "pids.max" : "cgroup.max.depth" }))
    .find(({ mount }) => {
      try {
        fs.accessSync(join(mount, "cgroup.procs"), fs.constants.W_OK);
        return process.getuid?.() === 0;
      } catch {
        return false;
      }
    });
  const skip = place ? undefined : "SKIP: needs root and a writable cgroupfs";
  if (skip) console.log(skip);

  it("a kept cgroupfs file reads its current value, and again after its cgroup is made anew", {
    skip,
  }, () => {
    if (!place) return;
    const dir = join(place.mount, `lxt-unit-held-${process.pid}`);
    const file = join(dir, place.file);
    const held = heldCgroupFs(16);
    fs.mkdirSync(dir);
    try {
      fs.writeFileSync(file, "7");
      assert.equal(held.readFile(file).trim(), "7");
      fs.writeFileSync(file, "9"); // written beside the kept descriptor
      assert.equal(held.readFile(file).trim(), "9");
      fs.rmdirSync(dir); // not through `held`: its descriptor now reads ENODEV
      fs.mkdirSync(dir);
      assert.equal(held.readFile(file).trim(), "max");
      fs.writeFileSync(file, "5");
      assert.equal(held.readFile(file).trim(), "5");
      held.rmdir(dir); // closes what it kept there
      assert.equal(fs.existsSync(dir), false);
      assert.throws(() => held.readFile(file), { code: "ENOENT" });
    } finally {
      if (fs.existsSync(dir)) fs.rmdirSync(dir);
    }
  });
});
