/**
 * Resource usage of a container, read from whichever hierarchy holds each
 * controller: a v1 hierarchy that has it, else the v2 one.
 */

import { errnoCode, wrapError } from "../core/errors.js";
import type { CgroupFs } from "../host/cgroup-fs.js";
import type { ContainerCgroupDirs } from "./container.js";
import { type CgroupLayout, v1DirWith } from "./layout.js";

/** Usage figures; a field is undefined when no hierarchy provides it. */
export interface CgroupStats {
  /** CPU time used, in nanoseconds (v1 `cpuacct.usage`, v2 `cpu.stat` usage_usec). */
  cpuUsageNs?: bigint;
  /** Memory charged now (v1 `memory.usage_in_bytes`, v2 `memory.current`). */
  memoryBytes?: number;
  /** Highest memory charged (v1 `memory.max_usage_in_bytes`, v2 `memory.peak`, Linux 5.19+). */
  memoryPeakBytes?: number;
  /** Swap in use (v1 `memory.memsw.usage_in_bytes` minus usage, v2 `memory.swap.current`). */
  memorySwapBytes?: number;
  /** Tasks killed by the OOM killer in this cgroup (v1 `memory.oom_control`, v2 `memory.events` oom_kill). */
  oomKills?: number;
  /** Number of tasks (`pids.current`). */
  pids?: number;
  /** Bytes read from block devices (v1 `blkio.throttle.io_service_bytes_recursive`, v2 `io.stat` rbytes). */
  ioReadBytes?: number;
  /** Bytes written to block devices (same files; v2 wbytes). */
  ioWriteBytes?: number;
}

/** Sums v1 blkio `MAJ:MIN Read|Write N` lines of one operation over all devices. */
export function sumBlkio(text: string, op: "Read" | "Write"): number | undefined {
  let sum: number | undefined;
  for (const line of text.split("\n")) {
    const [dev, what, n] = line.trim().split(/\s+/);
    if (dev && /^\d+:\d+$/.test(dev) && what === op && n && /^\d+$/.test(n))
      sum = (sum ?? 0) + Number(n);
  }
  return sum ?? (text.trim() === "" || /^Total\s+\d+/m.test(text) ? 0 : undefined);
}

/** Sums a `key=N` field of v2 `io.stat` (`MAJ:MIN rbytes=.. wbytes=.. ...`) over all devices. */
export function sumIoStat(text: string, field: "rbytes" | "wbytes"): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    for (const kv of line.trim().split(/\s+/).slice(1)) {
      const [k, v] = kv.split("=");
      if (k === field && v && /^\d+$/.test(v)) sum += Number(v);
    }
  }
  return sum;
}

function parseInteger(text: string): number | undefined {
  const t = text.trim();
  return /^\d+$/.test(t) ? Number(t) : undefined;
}

function parseBigInt(text: string): bigint | undefined {
  const t = text.trim();
  return /^\d+$/.test(t) ? BigInt(t) : undefined;
}

/** The value of `key` in a flat-keyed file such as `cpu.stat` ("key value" per line). */
export function flatKeyed(text: string, key: string): string | undefined {
  for (const line of text.split("\n")) {
    // Cheap test first: only the line that starts with the key is split.
    if (!line.trimStart().startsWith(key)) continue;
    const [k, v] = line.trim().split(/\s+/);
    if (k === key) return v;
  }
  return undefined;
}

/**
 * `fs` reading each file at most once (its text, or its error, again after
 * that): one container's figures read together share their files (v1's
 * `memory.usage_in_bytes` for usage and swap, blkio's bytes for read and
 * write, `info`'s figures and a scrape's breakdowns).
 */
export function readsOnce(fs: CgroupFs): CgroupFs {
  const seen = new Map<string, { text?: string; err?: unknown }>();
  return {
    ...fs,
    readFile: (path) => {
      let r = seen.get(path);
      if (!r) {
        try {
          r = { text: fs.readFile(path) };
        } catch (err) {
          r = { err };
        }
        seen.set(path, r);
      }
      if (r.text === undefined) throw r.err;
      return r.text;
    },
  };
}

/** Where a figure's file lies: a v1 controller's dir, the v2 dir, or v1 memory when its usage was read. */
type Where = "cpuacct" | "memory" | "pids" | "blkio" | "v2" | "memsw";

/** One file to try for a figure: where, its name, its parser (given v1's memory usage, for swap). */
interface Source {
  at: Where;
  file: string;
  parse: (text: string, v1Usage: number | undefined) => CgroupStats[keyof CgroupStats];
}

const usec = (text: string) => {
  const v = flatKeyed(text, "usage_usec");
  return v === undefined ? undefined : parseBigInt(v);
};
const oomKill = (t: string) => mapDefined(flatKeyed(t, "oom_kill"), parseInteger);

type Parse = Source["parse"];

/** A figure's files in the order tried: a v1 hierarchy that has the controller, else v2. */
function figure(
  key: keyof CgroupStats,
  at: Where,
  file: string,
  parse: Parse,
  v2File: string,
  v2Parse: Parse = parse,
): [keyof CgroupStats, readonly Source[]] {
  return [
    key,
    [
      { at, file, parse },
      { at: "v2", file: v2File, parse: v2Parse },
    ],
  ];
}

const BLKIO_BYTES = "blkio.throttle.io_service_bytes_recursive";
// v1 memsw counts memory plus swap: swap is the difference.
const swapOf: Parse = (t, v1Usage) =>
  mapDefined(parseInteger(t), (sw) => Math.max(0, sw - (v1Usage ?? sw)));
const cpuNs: Parse = (t) => mapDefined(usec(t), (u) => u * 1000n);

/** Bytes read or written: blkio's per-device lines (v1) or `io.stat`'s fields (v2). */
function io(
  key: "ioReadBytes" | "ioWriteBytes",
  op: "Read" | "Write",
  field: "rbytes" | "wbytes",
): [keyof CgroupStats, readonly Source[]] {
  const v1 = (t: string) => sumBlkio(t, op);
  return figure(key, "blkio", BLKIO_BYTES, v1, "io.stat", (t) => sumIoStat(t, field));
}

/** Every figure, in the order a `CgroupStats` lists them. */
const FIGURES: readonly [keyof CgroupStats, readonly Source[]][] = [
  figure("cpuUsageNs", "cpuacct", "cpuacct.usage", parseBigInt, "cpu.stat", cpuNs),
  figure("memoryBytes", "memory", "memory.usage_in_bytes", parseInteger, "memory.current"),
  figure("memoryPeakBytes", "memory", "memory.max_usage_in_bytes", parseInteger, "memory.peak"),
  figure("pids", "pids", "pids.current", parseInteger, "pids.current"),
  figure(
    "memorySwapBytes",
    "memsw",
    "memory.memsw.usage_in_bytes",
    swapOf,
    "memory.swap.current",
    parseInteger,
  ),
  figure("oomKills", "memory", "memory.oom_control", oomKill, "memory.events"),
  io("ioReadBytes", "Read", "rbytes"),
  io("ioWriteBytes", "Write", "wbytes"),
];

/**
 * The text of `dir/file`, undefined when there is none (no such dir or file).
 *
 * @throws LxtError("system") (`what: path`) when it exists but cannot be read.
 */
export function readIfThere(
  fs: CgroupFs,
  dir: string | undefined,
  file: string,
  what: string,
): string | undefined {
  if (dir === undefined) return undefined;
  const path = `${dir}/${file}`;
  try {
    return fs.readFile(path);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return undefined;
    throw wrapError(`${what}: ${path}`, err);
  }
}

type Located = Partial<Record<Exclude<Where, "memsw">, string>>;

/**
 * Each layout's answer, by a container's dirs, of where its controllers
 * lie: a list or a scrape asks it of every container each time. Bounded
 * per layout; a layout object is never changed once read.
 */
const LOCATED = new WeakMap<CgroupLayout, Map<string, Located>>();
const LOCATED_MAX = 4096;

/** The last answer by dirs object (a daemon hands the same one while a plan is unchanged). */
const BY_DIRS = new WeakMap<ContainerCgroupDirs, { layout: CgroupLayout; at: Located }>();

function locate(dirs: ContainerCgroupDirs, layout: CgroupLayout): Located {
  const same = BY_DIRS.get(dirs);
  if (same?.layout === layout) return same.at;
  const at = locateByKey(dirs, layout);
  BY_DIRS.set(dirs, { layout, at });
  return at;
}

function locateByKey(dirs: ContainerCgroupDirs, layout: CgroupLayout): Located {
  let known = LOCATED.get(layout);
  if (!known) {
    known = new Map();
    LOCATED.set(layout, known);
  }
  const key = `${dirs.v2 ?? ""}\t${dirs.v1.join("\t")}`;
  let at = known.get(key);
  if (!at) {
    at = {
      cpuacct: v1DirWith(dirs.v1, layout, "cpuacct"),
      memory: v1DirWith(dirs.v1, layout, "memory"),
      pids: v1DirWith(dirs.v1, layout, "pids"),
      blkio: v1DirWith(dirs.v1, layout, "blkio"),
      v2: dirs.v2,
    };
    if (known.size >= LOCATED_MAX) known.delete(known.keys().next().value as string);
    known.set(key, at);
  }
  return at;
}

/**
 * Reads a container's usage from its cgroup dirs (`only` these figures when
 * given). Missing files (controller not mounted or not enabled, older
 * kernel) leave the field undefined. Each file is read once (pass
 * `readsOnce(fs)` to share the reads with more).
 *
 * @throws LxtError("system") when a file exists but cannot be read.
 */
export function readCgroupStats(
  dirs: ContainerCgroupDirs,
  layout: CgroupLayout,
  fsIn: CgroupFs,
  only?: readonly (keyof CgroupStats)[],
): CgroupStats {
  const fs = readsOnce(fsIn);
  const at = locate(dirs, layout);
  const text = (dir: string, file: string) => readIfThere(fs, dir, file, "read cgroup stats");
  const want = (key: keyof CgroupStats) => !only || only.includes(key);
  const usage =
    at.memory === undefined || !want("memorySwapBytes")
      ? undefined
      : text(at.memory, "memory.usage_in_bytes");
  const v1Usage = usage === undefined ? undefined : parseInteger(usage);
  const stats: Record<string, CgroupStats[keyof CgroupStats]> = {};
  for (const [key, sources] of FIGURES) {
    if (!want(key)) continue;
    for (const source of sources) {
      const dir =
        source.at === "memsw" ? (v1Usage === undefined ? undefined : at.memory) : at[source.at];
      if (dir === undefined) continue;
      const t = text(dir, source.file);
      if (t === undefined) continue;
      const value = source.parse(t, v1Usage);
      if (value !== undefined) {
        stats[key] = value;
        break;
      }
    }
  }
  return stats as CgroupStats;
}

function mapDefined<T, U>(value: T | undefined, f: (v: T) => U): U | undefined {
  return value === undefined ? undefined : f(value);
}
