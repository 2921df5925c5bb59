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

/** A file to try: its dir, name and parser. */
interface Source<T> {
  dir: string | undefined;
  file: string;
  parse: (text: string) => T | undefined;
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

function firstOf<T>(fs: CgroupFs, sources: Source<T>[]): T | undefined {
  for (const { dir, file, parse } of sources) {
    if (dir === undefined) continue;
    const path = `${dir}/${file}`;
    let text: string;
    try {
      text = fs.readFile(path);
    } catch (err) {
      if (errnoCode(err) === "ENOENT") continue;
      throw wrapError(`read cgroup stats: ${path}`, err);
    }
    const value = parse(text);
    if (value !== undefined) return value;
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
  const want = (key: keyof CgroupStats) => !only || only.includes(key);
  const first = <T>(key: keyof CgroupStats, sources: Source<T>[]) =>
    want(key) ? firstOf(fs, sources) : undefined;
  const cpuacct = v1DirWith(dirs.v1, layout, "cpuacct");
  const memory = v1DirWith(dirs.v1, layout, "memory");
  const pids = v1DirWith(dirs.v1, layout, "pids");
  const blkio = v1DirWith(dirs.v1, layout, "blkio");
  const v2 = dirs.v2;
  // v1 memsw counts memory plus swap: swap is the difference.
  const v1Usage =
    memory === undefined || !want("memorySwapBytes")
      ? undefined
      : firstOf(fs, [{ dir: memory, file: "memory.usage_in_bytes", parse: parseInteger }]);
  const v1Memory = v1Usage === undefined ? undefined : memory;
  const usec = (text: string) => {
    const v = flatKeyed(text, "usage_usec");
    return v === undefined ? undefined : parseBigInt(v);
  };
  const stats: CgroupStats = {
    cpuUsageNs: first<bigint>("cpuUsageNs", [
      { dir: cpuacct, file: "cpuacct.usage", parse: parseBigInt },
      { dir: v2, file: "cpu.stat", parse: (t) => mapDefined(usec(t), (u) => u * 1000n) },
    ]),
    memoryBytes: first("memoryBytes", [
      { dir: memory, file: "memory.usage_in_bytes", parse: parseInteger },
      { dir: v2, file: "memory.current", parse: parseInteger },
    ]),
    memoryPeakBytes: first("memoryPeakBytes", [
      { dir: memory, file: "memory.max_usage_in_bytes", parse: parseInteger },
      { dir: v2, file: "memory.peak", parse: parseInteger },
    ]),
    pids: first("pids", [
      { dir: pids, file: "pids.current", parse: parseInteger },
      { dir: v2, file: "pids.current", parse: parseInteger },
    ]),
    memorySwapBytes: first("memorySwapBytes", [
      {
        dir: v1Memory,
        file: "memory.memsw.usage_in_bytes",
        parse: (t) => mapDefined(parseInteger(t), (sw) => Math.max(0, sw - (v1Usage ?? sw))),
      },
      { dir: v2, file: "memory.swap.current", parse: parseInteger },
    ]),
    oomKills: first("oomKills", [
      {
        dir: memory,
        file: "memory.oom_control",
        parse: (t) => mapDefined(flatKeyed(t, "oom_kill"), parseInteger),
      },
      {
        dir: v2,
        file: "memory.events",
        parse: (t) => mapDefined(flatKeyed(t, "oom_kill"), parseInteger),
      },
    ]),
    ioReadBytes: first("ioReadBytes", [
      {
        dir: blkio,
        file: "blkio.throttle.io_service_bytes_recursive",
        parse: (t) => sumBlkio(t, "Read"),
      },
      { dir: v2, file: "io.stat", parse: (t) => sumIoStat(t, "rbytes") },
    ]),
    ioWriteBytes: first("ioWriteBytes", [
      {
        dir: blkio,
        file: "blkio.throttle.io_service_bytes_recursive",
        parse: (t) => sumBlkio(t, "Write"),
      },
      { dir: v2, file: "io.stat", parse: (t) => sumIoStat(t, "wbytes") },
    ]),
  };
  for (const key of Object.keys(stats) as (keyof CgroupStats)[]) {
    if (stats[key] === undefined) delete stats[key];
  }
  return stats;
}

function mapDefined<T, U>(value: T | undefined, f: (v: T) => U): U | undefined {
  return value === undefined ? undefined : f(value);
}
