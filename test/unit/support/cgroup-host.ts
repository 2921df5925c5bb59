/**
 * A fake cgroup host in a temp directory: hierarchies mounted under
 * `<root>/cg/...`, a caller whose `/proc/PID/{mountinfo,cgroup}` say it sits
 * in `/user.slice`, and a `CgroupFs` over the tree that behaves as cgroupfs
 * does where the core relies on it (mkdir makes the control files, rmdir of
 * a busy cgroup is EBUSY). Every write is recorded.
 */
import * as fs from "node:fs";
import { join } from "node:path";
import { type CgroupFs, nodeCgroupFs } from "../../../src/host/cgroup-fs.js";

export interface FakeCgroupHost {
  root: string;
  fs: CgroupFs;
  /** `[path, data]` of every write, in order. */
  writes: Array<[string, string]>;
  /** The caller's own cgroup directory in each hierarchy. */
  own: { v2?: string; v1: string[] };
}

function errno(code: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${path}`), { code });
}

/** rmdir(2) on a cgroup as the kernel does it: ENOENT, or EBUSY while it has children or tasks. */
export function cgroupRmdir(p: string): void {
  if (!fs.existsSync(p)) throw errno("ENOENT", p);
  const busy =
    fs.readdirSync(p, { withFileTypes: true }).some((d) => d.isDirectory()) ||
    fs.readFileSync(join(p, "cgroup.procs"), "utf8").trim() !== "";
  if (busy) throw errno("EBUSY", p);
  fs.rmSync(p, { recursive: true });
}

/** The control files a new cgroup directory shows. */
const V2_FILES = ["cgroup.procs", "cgroup.type", "cgroup.controllers", "cgroup.subtree_control"];
const V2_LIMITS = ["memory.max", "memory.swap.max", "pids.max", "cpu.max", "cpu.weight"];

/**
 * `kind: "v2"` mounts the unified hierarchy only; `"hybrid"` adds v1
 * `cpu,cpuacct` and the named `systemd` hierarchy. `pid` is the caller.
 */
export function fakeCgroupHost(
  root: string,
  kind: "v2" | "hybrid",
  pid: number,
  controllers = "cpu memory pids io",
): FakeCgroupHost {
  const cg = join(root, "cg");
  const mounts: string[] = [];
  const procCgroup: string[] = [];
  const own: FakeCgroupHost["own"] = { v1: [] };
  const unified = kind === "v2" ? cg : join(cg, "unified");
  mounts.push(`30 25 0:26 / ${unified} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate`);
  procCgroup.push("0::/user.slice");
  own.v2 = join(unified, "user.slice");
  if (kind === "hybrid") {
    mounts.push(`31 25 0:27 / ${join(cg, "systemd")} rw - cgroup cgroup rw,xattr,name=systemd`);
    mounts.push(`32 25 0:28 / ${join(cg, "cpu,cpuacct")} rw - cgroup cgroup rw,cpu,cpuacct`);
    procCgroup.unshift("3:cpu,cpuacct:/user.slice", "1:name=systemd:/user.slice");
    own.v1.push(join(cg, "systemd", "user.slice"), join(cg, "cpu,cpuacct", "user.slice"));
  }
  const writes: Array<[string, string]> = [];
  const makeCgroup = (dir: string, v2: boolean) => {
    fs.mkdirSync(dir, { recursive: true });
    for (const f of v2 ? [...V2_FILES, ...V2_LIMITS] : ["cgroup.procs", "tasks"])
      fs.writeFileSync(join(dir, f), "");
    if (v2) fs.writeFileSync(join(dir, "cgroup.controllers"), controllers);
  };
  if (own.v2) makeCgroup(own.v2, true);
  for (const d of own.v1) makeCgroup(d, false);
  const proc: Record<string, string> = {
    [`/proc/${pid}/mountinfo`]: `${mounts.join("\n")}\n`,
    [`/proc/${pid}/cgroup`]: `${procCgroup.join("\n")}\n`,
  };
  const cgfs: CgroupFs = {
    ...nodeCgroupFs,
    readFile: (p) => proc[p] ?? nodeCgroupFs.readFile(p),
    writeFile: (p, data) => {
      writes.push([p, data]);
      fs.writeFileSync(p, data);
    },
    mkdir: (p) => {
      if (fs.existsSync(p)) throw errno("EEXIST", p);
      makeCgroup(p, p.startsWith(unified));
    },
    rmdir: cgroupRmdir,
  };
  return { root, fs: cgfs, writes, own };
}
