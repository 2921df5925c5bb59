/**
 * lxt's friendly resource limits (`lxt.limits.*`, in the spirit of LXD's
 * `limits.*`): value parsers for the registry and the typed `Limits` the
 * model resolves them into. The cgroup driver (src/cgroups/limits.ts) turns
 * `Limits` into v1 or v2 file writes.
 */

import { ValueError } from "./values.js";

/** A memory amount: bytes, or a percentage of the host's RAM. */
export type MemoryAmount = { bytes: number } | { percent: number };

/** One per-device I/O limit (`DEVICE VALUE`); `device` is `/dev/...` or `MAJ:MIN`. */
export interface IoLimit {
  device: string;
  value: number;
}

/** The friendly limits of a container; unset fields are not limited. */
export interface Limits {
  memory?: MemoryAmount;
  /** Swap allowed on top of `memory`, bytes. */
  memorySwap?: number;
  /** Number of CPUs' worth of time (fractional allowed). */
  cpu?: number;
  /** A cpuset list such as `0-1,3`. */
  cpuSet?: string;
  /** cgroup v2 weight, 1..10000 (100 is the default). */
  cpuWeight?: number;
  processes?: number;
  ioReadBps: IoLimit[];
  ioWriteBps: IoLimit[];
  ioReadIops: IoLimit[];
  ioWriteIops: IoLimit[];
  /** cgroup v2 io weight, 1..10000 (100 is the default). */
  ioWeight?: number;
}

/** Where each set `lxt.limits.*` key came from, for errors. */
export type LimitOrigins = Record<string, { file: string; line: number }>;

/** The smallest CFS quota the kernel accepts (1 ms), cgroups(7) / sched-bwc. */
export const CPU_PERIOD_US = 100_000;
export const CPU_QUOTA_MIN_US = 1_000;

const UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

function bad(value: string, expected: string): ValueError {
  return new ValueError(`invalid value "${value}": expected ${expected}`);
}

/** Bytes: `4096`, `512K`, `256M`, `1G`, `1T` (binary units; `KB`, `KiB`, `MB`... alike). */
export function parseBytes(value: string): number {
  const m = /^(\d+)\s*([kmgt]?)(?:i?b)?$/i.exec(value);
  if (!m) throw bad(value, "bytes such as 1048576, 512K, 256M or 2G");
  const n = Number(m[1]) * (UNITS[(m[2] ?? "").toLowerCase()] ?? 1);
  if (!Number.isSafeInteger(n)) throw bad(value, "a size below 8 EiB");
  return n;
}

/** `lxt.limits.memory`: bytes (K/M/G suffix) or `N%` of the host's RAM. */
export function parseMemoryAmount(value: string): MemoryAmount {
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(value);
  if (pct) {
    const percent = Number(pct[1]);
    if (percent <= 0 || percent > 100) throw bad(value, "a percentage above 0 and at most 100");
    return { percent };
  }
  const bytes = parseBytes(value);
  if (bytes === 0) throw bad(value, "a size above 0");
  return { bytes };
}

/** `lxt.limits.cpu`: a positive number of CPUs, at least 0.01 (the 1 ms minimum quota). */
export function parseCpuCount(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw bad(value, "a number of CPUs such as 2 or 0.5");
  const n = Number(value);
  if (Math.round(n * CPU_PERIOD_US) < CPU_QUOTA_MIN_US || n > 1_000_000)
    throw bad(value, "a number of CPUs from 0.01 to 1000000");
  return n;
}

/** A cpuset list: `0`, `0-3`, `0-1,4,6-7` (cpuset(7) "List format"). */
export function parseCpuList(value: string): string {
  const parts = value.split(",");
  for (const p of parts) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(p);
    if (!m || (m[2] !== undefined && Number(m[2]) < Number(m[1])))
      throw bad(value, "a CPU list such as 0-1,3");
  }
  return value;
}

/** A weight from 1 to 10000, as cgroup v2's `cpu.weight` and `io.weight` take. */
export function parseWeight(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 10000)
    throw bad(value, "a weight from 1 to 10000 (100 is the default)");
  return Number(value);
}

/** `lxt.limits.processes`: a positive integer. */
export function parseProcessCount(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 4194304)
    throw bad(value, "a number of processes from 1 to 4194304");
  return Number(value);
}

/** `DEVICE VALUE`: a `/dev/...` path or `MAJ:MIN`, then bytes (`bps`) or a count (`iops`). */
export function parseIoLimit(value: string, unit: "bps" | "iops"): IoLimit {
  const m = /^(\S+)\s+(\S+)$/.exec(value);
  if (!m) throw bad(value, `DEVICE ${unit === "bps" ? "BYTES" : "IOPS"}, e.g. /dev/sda 10M`);
  const device = m[1] as string;
  if (!device.startsWith("/dev/") && !/^\d+:\d+$/.test(device))
    throw bad(value, "a device as /dev/NAME or MAJOR:MINOR");
  const amount = m[2] as string;
  let n: number;
  if (unit === "bps") n = parseBytes(amount);
  else if (/^\d+$/.test(amount)) n = Number(amount);
  else throw bad(value, "a whole number of operations per second");
  if (n <= 0) throw bad(value, "a limit above 0");
  return { device, value: n };
}

/** The `lxt.limits.*` keys: summary, parser (throws ValueError) and list-ness. */
export const LIMIT_KEYS: {
  key: string;
  summary: string;
  list?: boolean;
  check: (v: string) => void;
}[] = [
  {
    key: "lxt.limits.memory",
    summary:
      "lxt: memory limit, bytes (K/M/G/T suffix) or N% of the host's RAM (v2 memory.max, v1 memory.limit_in_bytes)",
    check: (v) => void parseMemoryAmount(v),
  },
  {
    key: "lxt.limits.memory.swap",
    summary:
      "lxt: swap allowed on top of the memory limit, bytes (v2 memory.swap.max; v1 memory.memsw.limit_in_bytes = memory + swap, needs lxt.limits.memory)",
    check: (v) => void parseBytes(v),
  },
  {
    key: "lxt.limits.cpu",
    summary:
      "lxt: CPU time as a number of CPUs, fractional allowed (quota over a 100 ms period: v2 cpu.max, v1 cpu.cfs_quota_us)",
    check: (v) => void parseCpuCount(v),
  },
  {
    key: "lxt.limits.cpu.set",
    summary: "lxt: CPUs the container may run on, e.g. 0-1,3 (cpuset.cpus)",
    check: (v) => void parseCpuList(v),
  },
  {
    key: "lxt.limits.cpu.weight",
    summary:
      "lxt: CPU weight 1-10000, default 100 (v2 cpu.weight; v1 cpu.shares = weight * 1024 / 100, as systemd converts)",
    check: (v) => void parseWeight(v),
  },
  {
    key: "lxt.limits.processes",
    summary: "lxt: maximum number of tasks (pids.max)",
    check: (v) => void parseProcessCount(v),
  },
  ...(["read", "write"] as const).flatMap((dir) =>
    (["bps", "iops"] as const).map((unit) => ({
      key: `lxt.limits.io.${dir}.${unit}`,
      summary: `lxt: \`DEVICE ${unit === "bps" ? "BYTES" : "IOPS"}\` ${dir} limit per second for a block device (v2 io.max, v1 blkio.throttle.${dir}_${unit}_device)`,
      list: true,
      check: (v: string) => void parseIoLimit(v, unit),
    })),
  ),
  {
    key: "lxt.limits.io.weight",
    summary:
      "lxt: I/O weight 1-10000, default 100 (v2 io.weight; v1 blkio.weight = weight * 500 / 100 clamped to 10-1000, as systemd converts)",
    check: (v) => void parseWeight(v),
  },
];

/** An empty `Limits`. */
export function noLimits(): Limits {
  return { ioReadBps: [], ioWriteBps: [], ioReadIops: [], ioWriteIops: [] };
}

const IO_FIELDS = {
  "lxt.limits.io.read.bps": ["ioReadBps", "bps"],
  "lxt.limits.io.write.bps": ["ioWriteBps", "bps"],
  "lxt.limits.io.read.iops": ["ioReadIops", "iops"],
  "lxt.limits.io.write.iops": ["ioWriteIops", "iops"],
} as const;

/**
 * Applies one `lxt.limits.*` entry to `limits` (an empty value unsets the key
 * or clears the list). Returns false for a key that is not a limit key.
 */
export function applyLimitEntry(limits: Limits, key: string, value: string): boolean {
  const io = IO_FIELDS[key as keyof typeof IO_FIELDS];
  if (io) {
    const [field, unit] = io;
    if (value === "") limits[field] = [];
    else {
      const lim = parseIoLimit(value, unit);
      // One value per device: a later line for the same device replaces it.
      limits[field] = [...limits[field].filter((l) => l.device !== lim.device), lim];
    }
    return true;
  }
  const set = value !== "";
  switch (key) {
    case "lxt.limits.memory":
      limits.memory = set ? parseMemoryAmount(value) : undefined;
      return true;
    case "lxt.limits.memory.swap":
      limits.memorySwap = set ? parseBytes(value) : undefined;
      return true;
    case "lxt.limits.cpu":
      limits.cpu = set ? parseCpuCount(value) : undefined;
      return true;
    case "lxt.limits.cpu.set":
      limits.cpuSet = set ? parseCpuList(value) : undefined;
      return true;
    case "lxt.limits.cpu.weight":
      limits.cpuWeight = set ? parseWeight(value) : undefined;
      return true;
    case "lxt.limits.processes":
      limits.processes = set ? parseProcessCount(value) : undefined;
      return true;
    case "lxt.limits.io.weight":
      limits.ioWeight = set ? parseWeight(value) : undefined;
      return true;
    default:
      return false;
  }
}
