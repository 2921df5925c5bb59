import assert from "node:assert/strict";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { freezerOf, isFrozen, setFrozen } from "../../src/cgroups/freezer.js";
import type { CgroupLayout, Hierarchy } from "../../src/cgroups/layout.js";
import {
  applyLimitWrites,
  controllerVersion,
  cpuWeightToShares,
  dirForFile,
  ioWeightToBlkio,
  type LimitWrite,
  planLimitWrites,
  targetWrites,
} from "../../src/cgroups/limits.js";
import { readCgroupStats, sumBlkio, sumIoStat } from "../../src/cgroups/stats.js";
import { resolveConfig } from "../../src/config/model.js";
import { parseConfigText } from "../../src/config/parse.js";
import { deriveState } from "../../src/container/state.js";
import type { LxtError } from "../../src/core/errors.js";
import { type CgroupFs, nodeCgroupFs } from "../../src/host/cgroup-fs.js";
import type { LimitHost } from "../../src/host/machine.js";

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(join(tmpdir(), "lxt-cglimits-"));
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

const HOST: LimitHost = {
  memTotal: 8 * 1024 ** 3,
  deviceNumber: (p) => {
    if (p === "/dev/sda") return "8:0";
    throw new Error("not a block device");
  },
};

function h(version: 1 | 2, controllers: string[], name: string): Hierarchy {
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

const V1_CONTROLLERS = ["cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "freezer"];

function v1Layout(): CgroupLayout {
  return {
    kind: "hybrid",
    hierarchies: [h(2, ["hugetlb"], "unified"), ...V1_CONTROLLERS.map((c) => h(1, [c], c))],
  };
}
function v2Layout(): CgroupLayout {
  return { kind: "v2", hierarchies: [h(2, ["cpuset", "cpu", "io", "memory", "pids"], "")] };
}

/** Config text resolved as start resolves it on `layout`, then planned. */
function plan(text: string, layout: CgroupLayout): LimitWrite[] {
  const cfg = resolveConfig(parseConfigText(text, "c.conf"), {
    cgroupLayout: layout.kind === "v2" ? "v2" : "hybrid",
    env: {},
    arch: "x86_64",
  });
  return planLimitWrites(cfg, layout, HOST);
}
const brief = (ws: LimitWrite[]) => ws.map((w) => `v${w.version} ${w.file}=${w.value}`);

const FRIENDLY = `lxt.limits.memory = 256M
lxt.limits.memory.swap = 64M
lxt.limits.cpu = 0.5
lxt.limits.cpu.set = 0-1
lxt.limits.cpu.weight = 200
lxt.limits.processes = 100
lxt.limits.io.read.bps = /dev/sda 10M
lxt.limits.io.write.iops = 8:0 50
lxt.limits.io.weight = 100
`;

describe("friendly limits", () => {
  it("translate to v1 files on a hybrid host", () => {
    assert.deepEqual(brief(plan(FRIENDLY, v1Layout())), [
      "v1 memory.limit_in_bytes=268435456",
      "v1 memory.memsw.limit_in_bytes=335544320",
      "v1 cpu.cfs_period_us=100000",
      "v1 cpu.cfs_quota_us=50000",
      "v1 cpuset.cpus=0-1",
      "v1 cpu.shares=2048",
      "v1 pids.max=100",
      "v1 blkio.throttle.read_bps_device=8:0 10485760",
      "v1 blkio.throttle.write_iops_device=8:0 50",
      "v1 blkio.weight=500",
    ]);
  });

  it("translate to v2 files on a cgroup2 host", () => {
    assert.deepEqual(brief(plan(FRIENDLY, v2Layout())), [
      "v2 memory.max=268435456",
      "v2 memory.swap.max=67108864",
      "v2 cpu.max=50000 100000",
      "v2 cpuset.cpus=0-1",
      "v2 cpu.weight=200",
      "v2 pids.max=100",
      "v2 io.max=8:0 rbps=10485760 wiops=50",
      "v2 io.weight=default 100",
    ]);
  });

  it("pick each controller's hierarchy on its own (hybrid: v2 only where v1 lacks it)", () => {
    const layout: CgroupLayout = {
      kind: "hybrid",
      hierarchies: [
        h(2, ["memory", "pids"], "unified"),
        h(1, ["cpu"], "cpu"),
        h(1, ["pids"], "pids"),
      ],
    };
    assert.equal(controllerVersion(layout, "memory"), 2);
    assert.equal(controllerVersion(layout, "pids"), 1);
    assert.equal(controllerVersion(layout, "io"), undefined);
    assert.deepEqual(brief(plan("lxt.limits.memory = 1G\nlxt.limits.cpu = 2\n", layout)), [
      "v2 memory.max=1073741824",
      "v1 cpu.cfs_period_us=100000",
      "v1 cpu.cfs_quota_us=200000",
    ]);
  });

  it("convert weights as systemd does and percentages against host RAM", () => {
    assert.equal(cpuWeightToShares(100), 1024);
    assert.equal(cpuWeightToShares(1), 10);
    assert.equal(cpuWeightToShares(10000), 102400);
    assert.equal(ioWeightToBlkio(100), 500);
    assert.equal(ioWeightToBlkio(1), 10);
    assert.equal(ioWeightToBlkio(10000), 1000);
    assert.deepEqual(brief(plan("lxt.limits.memory = 25%\n", v2Layout())), [
      "v2 memory.max=2147483648",
    ]);
  });

  it("refuse what cannot be expressed, naming key, file and line", () => {
    assert.throws(
      () => plan("lxt.limits.memory.swap = 1G\n", v1Layout()),
      (e: LxtError) =>
        e.code === "config" &&
        /^c\.conf:1: lxt\.limits\.memory\.swap: needs lxt\.limits\.memory/.test(e.message),
    );
    assert.throws(
      () => plan("\nlxt.limits.io.read.bps = /dev/nope 1M\n", v1Layout()),
      /c\.conf:2: lxt\.limits\.io\.read\.bps: \/dev\/nope: not a block device/,
    );
    const noPids: CgroupLayout = { kind: "v1", hierarchies: [h(1, ["memory"], "memory")] };
    assert.throws(
      () => plan("lxt.limits.processes = 5\n", noPids),
      /c\.conf:1: lxt\.limits\.processes: no pids controller/,
    );
  });

  it("an empty value unsets a friendly key", () => {
    assert.deepEqual(plan("lxt.limits.memory = 1G\nlxt.limits.memory =\n", v2Layout()), []);
  });
});

describe("raw lxc.cgroup keys", () => {
  it("v1: memory.limit_in_bytes moves before an earlier memsw line, as LXC sorts them", () => {
    const text =
      "lxc.cgroup.memory.memsw.limit_in_bytes = 2G\nlxc.cgroup.pids.max = 5\nlxc.cgroup.memory.limit_in_bytes = 1G\n";
    assert.deepEqual(brief(plan(text, v1Layout())), [
      "v1 memory.limit_in_bytes=1G",
      "v1 pids.max=5",
      "v1 memory.memsw.limit_in_bytes=2G",
    ]);
  });

  it("come after friendly keys, so a raw line has the last word on its file", () => {
    const ws = plan("lxc.cgroup.pids.max = 7\nlxt.limits.processes = 9\n", v1Layout());
    assert.deepEqual(brief(ws), ["v1 pids.max=9", "v1 pids.max=7"]);
    assert.deepEqual(ws[1]?.origin, { key: "lxc.cgroup.pids.max", file: "c.conf", line: 1 });
  });

  it("lxc.cgroup2 keys are ignored with a warning on hybrid hosts (LXC) and written on v2 ones", () => {
    const text = "lxc.cgroup2.memory.max = 1G\n";
    const cfg = resolveConfig(parseConfigText(text, "c.conf"), {
      cgroupLayout: "hybrid",
      env: {},
      arch: "x86_64",
    });
    assert.deepEqual(cfg.cgroup.v2, []);
    assert.match(
      cfg.warnings.join("\n"),
      /c\.conf:1: lxc\.cgroup2\.memory\.max ignored: the host is not cgroup2-only/,
    );
    assert.deepEqual(brief(plan(text, v2Layout())), ["v2 memory.max=1G"]);
  });

  it("clears: an empty key drops its lines, lxc.cgroup = drops every v1 line", () => {
    const r = (t: string) =>
      resolveConfig(parseConfigText(t, "c.conf"), {
        cgroupLayout: "v1",
        env: {},
        arch: "x86_64",
      }).cgroup.v1.map((c) => c.key);
    assert.deepEqual(
      r("lxc.cgroup.pids.max = 1\nlxc.cgroup.cpu.shares = 2\nlxc.cgroup.pids.max =\n"),
      ["lxc.cgroup.cpu.shares"],
    );
    assert.deepEqual(r("lxc.cgroup.pids.max = 1\nlxc.cgroup =\nlxc.cgroup.cpu.shares = 2\n"), [
      "lxc.cgroup.cpu.shares",
    ]);
  });
});

/** A fake cgroup tree in `root`: container dirs with the files that exist there. */
function tree(layout: CgroupLayout, files: Record<string, string>) {
  const dirs = { v1: [] as string[], v2: undefined as string | undefined };
  for (const hi of layout.hierarchies) {
    const d = join(hi.ownDir, "lxt.payload.c1");
    fs.mkdirSync(d, { recursive: true });
    if (hi.version === 2) dirs.v2 = d;
    else dirs.v1.push(d);
  }
  for (const [rel, content] of Object.entries(files)) fs.writeFileSync(join(root, rel), content);
  return dirs;
}
// nodeCgroupFs writes without truncating (cgroupfs style): trim what an overwrite leaves.
const read = (rel: string) => fs.readFileSync(join(root, rel), "utf8").trim();

describe("applyLimitWrites on a fake tree", () => {
  it("writes each file in its hierarchy's dir", () => {
    const layout = v1Layout();
    const dirs = tree(layout, {
      "memory/lxt.payload.c1/memory.limit_in_bytes": "",
      "pids/lxt.payload.c1/pids.max": "",
      "blkio/lxt.payload.c1/blkio.bfq.weight": "",
    });
    const ws = plan(
      "lxt.limits.memory = 1M\nlxt.limits.processes = 3\nlxt.limits.io.weight = 200\n",
      layout,
    );
    applyLimitWrites(targetWrites(ws, dirs, layout), nodeCgroupFs);
    assert.equal(read("memory/lxt.payload.c1/memory.limit_in_bytes"), "1048576");
    assert.equal(read("pids/lxt.payload.c1/pids.max"), "3");
    // blkio.weight is missing (no CFQ): BFQ's file is used.
    assert.equal(read("blkio/lxt.payload.c1/blkio.bfq.weight"), "1000");
  });

  it("a refused write names key, file, line and cgroup file", () => {
    const layout = v1Layout();
    const dirs = tree(layout, {});
    const ws = plan("\nlxc.cgroup.pids.max = 4\n", layout);
    assert.throws(
      () => applyLimitWrites(targetWrites(ws, dirs, layout), nodeCgroupFs),
      (e: LxtError) =>
        e.code === "config" &&
        e.message.startsWith(
          `c.conf:2: lxc.cgroup.pids.max: write "4" to ${root}/pids/lxt.payload.c1/pids.max: no such cgroup file`,
        ),
    );
  });

  it("retries an EINVAL write after the others (v1 memsw ordering)", () => {
    const written: string[] = [];
    const fake: CgroupFs = {
      ...nodeCgroupFs,
      exists: () => true,
      writeFile: (p, v) => {
        const name = p.slice(p.lastIndexOf("/") + 1);
        if (name === "memory.limit_in_bytes" && !written.includes("memory.memsw.limit_in_bytes"))
          throw Object.assign(new Error("EINVAL: invalid argument"), { code: "EINVAL" });
        written.push(name);
        void v;
      },
    };
    const layout = v1Layout();
    const dirs = tree(layout, {});
    const ws = plan("lxt.limits.memory = 2G\nlxt.limits.memory.swap = 0\n", layout);
    applyLimitWrites(targetWrites(ws, dirs, layout), fake);
    assert.deepEqual(written, ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]);
  });

  it("v2: enables the controller in the parent's subtree_control when its files are missing", () => {
    const layout = v2Layout();
    const dirs = tree(layout, { "cgroup.subtree_control": "cpu\n" });
    const fake: CgroupFs = {
      ...nodeCgroupFs,
      writeFile: (p, v) => {
        if (p.endsWith("cgroup.subtree_control")) {
          fs.writeFileSync(p, `cpu ${v.slice(1)}\n`);
          fs.writeFileSync(join(dirs.v2 as string, "memory.max"), "max\n");
        } else fs.writeFileSync(p, v);
      },
    };
    applyLimitWrites(targetWrites(plan("lxt.limits.memory = 4096\n", layout), dirs, layout), fake);
    assert.equal(read("cgroup.subtree_control"), "cpu memory");
    assert.equal(read("lxt.payload.c1/memory.max"), "4096");
  });

  it("v2: EBUSY on subtree_control explains the no-internal-processes rule", () => {
    const layout = v2Layout();
    const dirs = tree(layout, { "cgroup.subtree_control": "\n" });
    const fake: CgroupFs = {
      ...nodeCgroupFs,
      writeFile: () => {
        throw Object.assign(new Error("EBUSY"), { code: "EBUSY" });
      },
    };
    assert.throws(
      () =>
        applyLimitWrites(
          targetWrites(plan("lxt.limits.processes = 4\n", layout), dirs, layout),
          fake,
        ),
      /c\.conf:1: lxt\.limits\.processes: enable the pids controller in .*cgroup\.subtree_control: .* holds processes/,
    );
  });
});

describe("dirForFile (lxt cgroup)", () => {
  it("finds the hierarchy by the file's controller prefix", () => {
    const layout = v1Layout();
    const dirs = tree(layout, {});
    assert.equal(
      dirForFile("memory.limit_in_bytes", dirs, layout),
      join(root, "memory/lxt.payload.c1"),
    );
    assert.equal(dirForFile("cgroup.procs", dirs, layout), join(root, "unified/lxt.payload.c1"));
    assert.throws(() => dirForFile("../x.y", dirs, layout), /expected a name such as memory.max/);
    assert.throws(() => dirForFile("memory", dirs, layout), /expected a name/);
  });
});

describe("freezer", () => {
  it("v1: FROZEN in freezer.state, thawed on unfreeze; v2 is used when there is no v1 freezer", async () => {
    const layout = v1Layout();
    const dirs = tree(layout, {
      "freezer/lxt.payload.c1/freezer.state": "THAWED\n",
      "unified/lxt.payload.c1/cgroup.freeze": "0\n",
      "unified/lxt.payload.c1/cgroup.events": "populated 1\nfrozen 0\n",
    });
    assert.equal(freezerOf(dirs, nodeCgroupFs)?.version, 1);
    assert.equal(isFrozen(dirs, nodeCgroupFs), false);
    await setFrozen(dirs, nodeCgroupFs, true, 200);
    assert.equal(read("freezer/lxt.payload.c1/freezer.state"), "FROZEN");
    assert.equal(isFrozen(dirs, nodeCgroupFs), true);
    await setFrozen(dirs, nodeCgroupFs, false, 200);
    assert.equal(read("freezer/lxt.payload.c1/freezer.state"), "THAWED");
    assert.equal(read("unified/lxt.payload.c1/cgroup.freeze"), "0");

    const v2only = { v1: [], v2: dirs.v2 };
    assert.equal(freezerOf(v2only, nodeCgroupFs)?.version, 2);
    fs.writeFileSync(join(root, "unified/lxt.payload.c1/cgroup.events"), "populated 1\nfrozen 1\n");
    assert.equal(isFrozen(v2only, nodeCgroupFs), true);
  });

  it("a freeze that does not complete times out and is undone", async () => {
    const layout = v2Layout();
    const dirs = tree(layout, {
      "lxt.payload.c1/cgroup.freeze": "0\n",
      "lxt.payload.c1/cgroup.events": "frozen 0\n",
    });
    await assert.rejects(
      setFrozen({ v1: [], v2: dirs.v2 }, nodeCgroupFs, true, 50),
      /not frozen after 50 ms/,
    );
    assert.equal(read("lxt.payload.c1/cgroup.freeze"), "0");
  });

  it("FROZEN is derived from the observation, only for a running container", () => {
    const monitor = { pid: 1, start: "1" };
    const base = { runtimeDirExists: true, monitor, monitorAlive: true };
    assert.equal(deriveState({ ...base, stateLine: "RUNNING 5 6", frozen: true }).state, "FROZEN");
    assert.equal(
      deriveState({ ...base, stateLine: "RUNNING 5 6", frozen: false }).state,
      "RUNNING",
    );
    assert.equal(
      deriveState({ ...base, stateLine: "STOPPING 5 6", frozen: true }).state,
      "STOPPING",
    );
  });
});

describe("stats: swap, OOM kills, block I/O", () => {
  it("v1 and v2 files", () => {
    const layout = v1Layout();
    const dirs = tree(layout, {
      "memory/lxt.payload.c1/memory.usage_in_bytes": "1000\n",
      "memory/lxt.payload.c1/memory.memsw.usage_in_bytes": "1500\n",
      "memory/lxt.payload.c1/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
      "blkio/lxt.payload.c1/blkio.throttle.io_service_bytes_recursive":
        "8:0 Read 100\n8:0 Write 7\n8:16 Read 11\n8:16 Write 0\nTotal 118\n",
    });
    const s = readCgroupStats(dirs, layout, nodeCgroupFs);
    assert.equal(s.memorySwapBytes, 500);
    assert.equal(s.oomKills, 2);
    assert.equal(s.ioReadBytes, 111);
    assert.equal(s.ioWriteBytes, 7);
    assert.equal(sumBlkio("Total 0\n", "Read"), 0);
    assert.equal(
      sumIoStat("8:0 rbytes=10 wbytes=2 rios=1\n259:0 rbytes=5 wbytes=0\n", "rbytes"),
      15,
    );
  });
});
