/**
 * Undoing a limit on a running container (`lxt config unset`): each limit
 * write is turned into the write that puts its file back to the kernel's
 * default for a fresh cgroup ("max", the default weight, no throttle rule),
 * or to the parent's value where a fresh cgroup inherits it (cpuset).
 */

import { posix } from "node:path";
import { CPU_PERIOD_US } from "../config/limits.js";
import type { CgroupFs } from "../host/cgroup-fs.js";
import type { TargetedWrite } from "./limits.js";

/** Fixed defaults of a fresh cgroup, per file (cgroup-v2.rst; the v1 controller docs). */
const DEFAULTS: Record<string, string> = {
  "memory.max": "max",
  "memory.high": "max",
  "memory.swap.max": "max",
  "memory.low": "0",
  "memory.min": "0",
  "pids.max": "max",
  "cpu.max": `max ${CPU_PERIOD_US}`,
  "cpu.weight": "100",
  "cpu.weight.nice": "0",
  "io.weight": "default 100",
  "memory.limit_in_bytes": "-1",
  "memory.memsw.limit_in_bytes": "-1",
  "memory.soft_limit_in_bytes": "-1",
  "cpu.cfs_quota_us": "-1",
  "cpu.cfs_period_us": String(CPU_PERIOD_US),
  "cpu.shares": "1024",
  "blkio.weight": "500",
  "blkio.bfq.weight": "100",
};

const V1_THROTTLE = /^blkio\.throttle\.(read|write)_(bps|iops)_device$/;

/**
 * The write that resets `w`'s file, or undefined when the file has no known
 * default (a raw `lxc.cgroup*` key for another file: it keeps its value
 * until the next start). `fs` reads the parent's cpuset.
 */
export function resetWrite(w: TargetedWrite, fs: CgroupFs): TargetedWrite | undefined {
  const file =
    [w.file, ...(w.alternatives ?? [])].find((f) => fs.exists(`${w.dir}/${f}`)) ?? w.file;
  const fixed = DEFAULTS[file];
  if (fixed !== undefined) return { ...w, file, alternatives: undefined, value: fixed };
  const device = w.value.trim().split(/\s+/)[0] ?? "";
  if (file === "io.max") {
    // "MAJ:MIN rbps=N wbps=N" -> "MAJ:MIN rbps=max wbps=max"
    const parts = w.value
      .trim()
      .split(/\s+/)
      .slice(1)
      .map((p) => `${p.split("=")[0]}=max`);
    return { ...w, value: `${device} ${parts.join(" ")}` };
  }
  // v1: a throttle rule of 0 removes the device's rule.
  if (V1_THROTTLE.test(file)) return { ...w, value: `${device} 0` };
  if (file === "cpuset.cpus" || file === "cpuset.mems") {
    const parent = posix.dirname(w.dir);
    // v2 shows what the parent really grants in the .effective file.
    const source = fs.exists(`${parent}/${file}.effective`)
      ? `${parent}/${file}.effective`
      : `${parent}/${file}`;
    return { ...w, value: fs.readFile(source).trim() };
  }
  return undefined;
}
