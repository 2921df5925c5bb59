import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TargetedWrite } from "../../src/cgroups/limits.js";
import { resetWrite } from "../../src/cgroups/reset.js";
import type { CgroupFs } from "../../src/host/cgroup-fs.js";

const files: Record<string, string> = {
  "/cg/cpuset.cpus.effective": "0-3\n",
  "/v1/cpuset.cpus": "0-1\n",
  "/cg/c1/blkio.bfq.weight": "100\n",
};
const fs = {
  exists: (p: string) => p in files,
  readFile: (p: string) => {
    const t = files[p];
    if (t === undefined) throw Object.assign(new Error(p), { code: "ENOENT" });
    return t;
  },
} as unknown as CgroupFs;

const w = (file: string, value: string, dir = "/cg/c1", version: 1 | 2 = 2): TargetedWrite => ({
  version,
  controller: file.split(".")[0] ?? "",
  file,
  value,
  dir,
  origin: { key: "k" },
});

describe("resetWrite", () => {
  it("puts v2 files back to max and default weights", () => {
    assert.equal(resetWrite(w("memory.max", "1000"), fs)?.value, "max");
    assert.equal(resetWrite(w("pids.max", "40"), fs)?.value, "max");
    assert.equal(resetWrite(w("cpu.max", "50000 100000"), fs)?.value, "max 100000");
    assert.equal(resetWrite(w("cpu.weight", "7"), fs)?.value, "100");
    assert.equal(resetWrite(w("io.weight", "default 7"), fs)?.value, "default 100");
  });
  it("lifts each io.max limit of the device", () => {
    assert.equal(
      resetWrite(w("io.max", "7:3 wbps=1048576 wiops=100"), fs)?.value,
      "7:3 wbps=max wiops=max",
    );
  });
  it("v1: -1, the default shares, a 0 throttle rule, the BFQ weight in use", () => {
    assert.equal(resetWrite(w("memory.limit_in_bytes", "1", "/v1/c1", 1), fs)?.value, "-1");
    assert.equal(resetWrite(w("cpu.cfs_quota_us", "5", "/v1/c1", 1), fs)?.value, "-1");
    assert.equal(resetWrite(w("cpu.shares", "5", "/v1/c1", 1), fs)?.value, "1024");
    assert.equal(
      resetWrite(w("blkio.throttle.write_bps_device", "7:3 1048576", "/v1/c1", 1), fs)?.value,
      "7:3 0",
    );
    const bfq = resetWrite(
      { ...w("blkio.weight", "50", "/cg/c1", 1), alternatives: ["blkio.bfq.weight"] },
      fs,
    );
    assert.deepEqual([bfq?.file, bfq?.value], ["blkio.bfq.weight", "100"]);
  });
  it("cpuset goes back to what the parent grants", () => {
    assert.equal(resetWrite(w("cpuset.cpus", "1"), fs)?.value, "0-3");
    assert.equal(resetWrite(w("cpuset.cpus", "1", "/v1/c1", 1), fs)?.value, "0-1");
  });
  it("has no default for an arbitrary raw file", () => {
    assert.equal(resetWrite(w("memory.oom.group", "1"), fs), undefined);
  });
});
