/**
 * A container's figures for a metrics scrape (LXD's `/1.0/metrics`): CPU
 * time split by CPU and mode, the memory breakdown of `memory.stat`, the
 * memory limit, block I/O per device. Read from whichever hierarchy holds
 * each controller, as `stats.ts` does for `info`.
 */

import type { CgroupFs } from "../host/cgroup-fs.js";
import type { ContainerCgroupDirs } from "./container.js";
import { type CgroupLayout, v1DirWith } from "./layout.js";
import { type CgroupStats, flatKeyed, readCgroupStats, readIfThere, readsOnce } from "./stats.js";

/** CPU time of one CPU (cgroup v2 has no per-CPU split: one entry, CPU 0, as LXD reports it). */
export interface CpuTime {
  cpu: number;
  userNs: bigint;
  systemNs: bigint;
}

/** Block I/O through one device (`MAJ:MIN`). */
export interface DeviceIo {
  device: string;
  readBytes: number;
  writtenBytes: number;
  reads: number;
  writes: number;
}

/** LXD's memory figures (`lxd_memory_<Name>_bytes`), from `memory.stat`. */
export type MemoryStatName =
  | "Active_anon"
  | "Active_file"
  | "Active"
  | "Inactive_anon"
  | "Inactive_file"
  | "Inactive"
  | "Unevictable"
  | "Writeback"
  | "Dirty"
  | "Mapped"
  | "RSS"
  | "Shmem"
  | "Cached"
  | "SReclaimable";

/** The usage figures a scrape shows (not the total CPU time, nor I/O summed over devices). */
export const METRICS_USAGE = [
  "memoryBytes",
  "memoryPeakBytes",
  "memorySwapBytes",
  "oomKills",
  "pids",
] as const satisfies readonly (keyof CgroupStats)[];

export interface CgroupMetrics extends Pick<CgroupStats, (typeof METRICS_USAGE)[number]> {
  cpu: CpuTime[];
  memoryStat: Partial<Record<MemoryStatName, number>>;
  /** The cgroup's own memory limit in bytes; undefined when it has none. */
  memoryLimitBytes?: number;
  io: DeviceIo[];
}

/** memory.stat keys per LXD name: v1 (hierarchical `total_` figures) and v2. */
const MEMORY_KEYS: Record<MemoryStatName, { v1: string[]; v2: string[] }> = {
  Active_anon: { v1: ["total_active_anon"], v2: ["active_anon"] },
  Active_file: { v1: ["total_active_file"], v2: ["active_file"] },
  Active: { v1: ["total_active_anon", "total_active_file"], v2: ["active_anon", "active_file"] },
  Inactive_anon: { v1: ["total_inactive_anon"], v2: ["inactive_anon"] },
  Inactive_file: { v1: ["total_inactive_file"], v2: ["inactive_file"] },
  Inactive: {
    v1: ["total_inactive_anon", "total_inactive_file"],
    v2: ["inactive_anon", "inactive_file"],
  },
  Unevictable: { v1: ["total_unevictable"], v2: ["unevictable"] },
  Writeback: { v1: ["total_writeback"], v2: ["file_writeback"] },
  Dirty: { v1: ["total_dirty"], v2: ["file_dirty"] },
  Mapped: { v1: ["total_mapped_file"], v2: ["file_mapped"] },
  RSS: { v1: ["total_rss"], v2: ["anon"] },
  Shmem: { v1: ["total_shmem"], v2: ["shmem"] },
  Cached: { v1: ["total_cache"], v2: ["file"] },
  SReclaimable: { v1: [], v2: ["slab_reclaimable"] },
};

/** Every `memory.stat` key some LXD name is made of. */
const STAT_KEYS = new Set(Object.values(MEMORY_KEYS).flatMap((k) => [...k.v1, ...k.v2]));

/** LXD's names for the figures of a `memory.stat` text (v1 or v2 keys). */
export function memoryStat(text: string, version: 1 | 2): Partial<Record<MemoryStatName, number>> {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    // "key value" lines; only the keys some name is made of are kept (a v1 file has some 40).
    const space = line.indexOf(" ");
    if (space <= 0) continue;
    const k = line.slice(0, space);
    if (!STAT_KEYS.has(k)) continue;
    const v = line.slice(space + 1).trim();
    if (/^\d+$/.test(v)) values.set(k, Number(v));
  }
  const out: Partial<Record<MemoryStatName, number>> = {};
  for (const [name, keys] of Object.entries(MEMORY_KEYS) as [
    MemoryStatName,
    { v1: string[]; v2: string[] },
  ][]) {
    const want = version === 1 ? keys.v1 : keys.v2;
    if (want.length === 0 || !want.every((k) => values.has(k))) continue;
    out[name] = want.reduce((sum, k) => sum + (values.get(k) ?? 0), 0);
  }
  return out;
}

/**
 * Per-CPU user and system time from v1 `cpuacct.usage_all` (tick-sampled)
 * scaled to `cpuacct.usage_percpu` (the exact runtime), as the kernel's
 * cputime_adjust() does for cgroup v2's `cpu.stat`: the modes then add up
 * to the CPU time `info` reports.
 */
export function cpuV1(usageAll: string, perCpu: string): CpuTime[] {
  const exact = perCpu
    .trim()
    .split(/\s+/)
    .filter((x) => /^\d+$/.test(x))
    .map((x) => BigInt(x));
  const out: CpuTime[] = [];
  for (const line of usageAll.split("\n")) {
    const [cpu, user, system] = line.trim().split(/\s+/);
    if (!cpu || !/^\d+$/.test(cpu) || !user || !system) continue;
    const id = Number(cpu);
    const u = BigInt(user);
    const s = BigInt(system);
    const total = exact[id];
    if (total === undefined) {
      out.push({ cpu: id, userNs: u, systemNs: s });
      continue;
    }
    const userNs = u + s === 0n ? 0n : (total * u) / (u + s);
    out.push({ cpu: id, userNs, systemNs: total - userNs });
  }
  return out;
}

/** CPU 0's user and system time from v2 `cpu.stat` (already scaled by the kernel). */
export function cpuV2(cpuStat: string): CpuTime[] {
  const user = flatKeyed(cpuStat, "user_usec");
  const system = flatKeyed(cpuStat, "system_usec");
  if (!user || !system || !/^\d+$/.test(user) || !/^\d+$/.test(system)) return [];
  return [{ cpu: 0, userNs: BigInt(user) * 1000n, systemNs: BigInt(system) * 1000n }];
}

/** Per-device figures from v2 `io.stat` (`MAJ:MIN rbytes=N wbytes=N rios=N wios=N ...`). */
export function ioV2(text: string): DeviceIo[] {
  const out: DeviceIo[] = [];
  for (const line of text.split("\n")) {
    const [device, ...kvs] = line.trim().split(/\s+/);
    if (!device || !/^\d+:\d+$/.test(device)) continue;
    const f = new Map(kvs.map((kv) => kv.split("=") as [string, string]));
    const n = (k: string) => Number(f.get(k) ?? 0);
    out.push({
      device,
      readBytes: n("rbytes"),
      writtenBytes: n("wbytes"),
      reads: n("rios"),
      writes: n("wios"),
    });
  }
  return out;
}

/** Per-device figures from v1 blkio `..._bytes_recursive` and `..._serviced_recursive` texts. */
export function ioV1(bytes: string, serviced: string): DeviceIo[] {
  const byDev = new Map<string, DeviceIo>();
  const take = (text: string, read: "readBytes" | "reads", write: "writtenBytes" | "writes") => {
    for (const line of text.split("\n")) {
      const [device, op, n] = line.trim().split(/\s+/);
      if (!device || !/^\d+:\d+$/.test(device) || !n || !/^\d+$/.test(n)) continue;
      const io = byDev.get(device) ?? {
        device,
        readBytes: 0,
        writtenBytes: 0,
        reads: 0,
        writes: 0,
      };
      byDev.set(device, io);
      if (op === "Read") io[read] = Number(n);
      else if (op === "Write") io[write] = Number(n);
    }
  };
  take(bytes, "readBytes", "writtenBytes");
  take(serviced, "reads", "writes");
  return [...byDev.values()];
}

/** A memory limit file's value: undefined for none (`max`, or v1's page-rounded LONG_MAX). */
export function memoryLimit(text: string): number | undefined {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return undefined;
  const n = Number(t);
  return n >= 2 ** 62 ? undefined : n;
}

function readOptional(fs: CgroupFs, dir: string | undefined, file: string): string | undefined {
  return readIfThere(fs, dir, file, "read cgroup metrics");
}

/**
 * Reads a container's metrics from its cgroup dirs: `info`'s figures and
 * the per-CPU, memory and per-device breakdowns. A controller that is not
 * there leaves its part empty.
 *
 * @throws LxtError("system") when a file exists but cannot be read.
 */
export function readCgroupMetrics(
  dirs: ContainerCgroupDirs,
  layout: CgroupLayout,
  fsIn: CgroupFs,
): CgroupMetrics {
  // The stats' files (blkio's bytes, memory usage) are read once for both.
  const fs = readsOnce(fsIn);
  const stats = readCgroupStats(dirs, layout, fs, METRICS_USAGE);
  const cpuacct = v1DirWith(dirs.v1, layout, "cpuacct");
  const memory = v1DirWith(dirs.v1, layout, "memory");
  const blkio = v1DirWith(dirs.v1, layout, "blkio");
  const v2 = dirs.v2;
  const read = (dir: string | undefined, file: string) => readOptional(fs, dir, file);

  const usageAll = read(cpuacct, "cpuacct.usage_all");
  const v2Cpu = cpuacct ? undefined : read(v2, "cpu.stat");
  const cpu =
    usageAll !== undefined
      ? cpuV1(usageAll, read(cpuacct, "cpuacct.usage_percpu") ?? "")
      : v2Cpu !== undefined
        ? cpuV2(v2Cpu)
        : [];

  const v1Stat = read(memory, "memory.stat");
  const v2Stat = memory ? undefined : read(v2, "memory.stat");
  const memoryStatOut =
    v1Stat !== undefined
      ? memoryStat(v1Stat, 1)
      : v2Stat !== undefined
        ? memoryStat(v2Stat, 2)
        : {};
  // v1's memory.stat names the least limit of the cgroup and its ancestors: when that is none,
  // the cgroup's own is none too, and memory.limit_in_bytes need not be read.
  const least = v1Stat === undefined ? undefined : flatKeyed(v1Stat, "hierarchical_memory_limit");
  const noLimit = least !== undefined && /^\d+$/.test(least) && memoryLimit(least) === undefined;
  const limitText = noLimit
    ? undefined
    : memory
      ? read(memory, "memory.limit_in_bytes")
      : read(v2, "memory.max");

  const bytes = read(blkio, "blkio.throttle.io_service_bytes_recursive");
  const ioStat = blkio ? undefined : read(v2, "io.stat");
  const io =
    bytes !== undefined
      ? ioV1(bytes, read(blkio, "blkio.throttle.io_serviced_recursive") ?? "")
      : ioStat !== undefined
        ? ioV2(ioStat)
        : [];

  const out: CgroupMetrics = { ...stats, cpu, memoryStat: memoryStatOut, io };
  const limit = limitText === undefined ? undefined : memoryLimit(limitText);
  if (limit !== undefined) out.memoryLimitBytes = limit;
  return out;
}
