/**
 * Resource usage of a container, read from whichever hierarchy holds each
 * controller: a v1 hierarchy that has it, else the v2 one.
 */

import { posix } from "node:path";
import { errnoCode, wrapError } from "../core/errors.js";
import type { ContainerCgroupDirs } from "./container.js";
import type { CgroupFs } from "./fs.js";
import type { CgroupLayout } from "./layout.js";

/** Usage figures; a field is undefined when no hierarchy provides it. */
export interface CgroupStats {
  /** CPU time used, in nanoseconds (v1 `cpuacct.usage`, v2 `cpu.stat` usage_usec). */
  cpuUsageNs?: bigint;
  /** Memory charged now (v1 `memory.usage_in_bytes`, v2 `memory.current`). */
  memoryBytes?: number;
  /** Highest memory charged (v1 `memory.max_usage_in_bytes`, v2 `memory.peak`, Linux 5.19+). */
  memoryPeakBytes?: number;
  /** Number of tasks (`pids.current`). */
  pids?: number;
}

/** A file to try: its dir, name and parser. */
interface Source<T> {
  dir: string | undefined;
  file: string;
  parse: (text: string) => T | undefined;
}

/** The v1 dir of `dirs` that lies in the hierarchy with `controller`. */
function v1DirWith(
  dirs: ContainerCgroupDirs,
  layout: CgroupLayout,
  controller: string,
): string | undefined {
  const h = layout.hierarchies.find((x) => x.version === 1 && x.controllers.includes(controller));
  if (!h) return undefined;
  return dirs.v1.find((d) => posix.dirname(d) === h.ownDir);
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
    const [k, v] = line.trim().split(/\s+/);
    if (k === key) return v;
  }
  return undefined;
}

function first<T>(fs: CgroupFs, sources: Source<T>[]): T | undefined {
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
 * Reads a container's usage from its cgroup dirs. Missing files (controller
 * not mounted or not enabled, older kernel) leave the field undefined.
 *
 * @throws LxtError("system") when a file exists but cannot be read.
 */
export function readCgroupStats(
  dirs: ContainerCgroupDirs,
  layout: CgroupLayout,
  fs: CgroupFs,
): CgroupStats {
  const cpuacct = v1DirWith(dirs, layout, "cpuacct");
  const memory = v1DirWith(dirs, layout, "memory");
  const pids = v1DirWith(dirs, layout, "pids");
  const v2 = dirs.v2;
  const usec = (text: string) => {
    const v = flatKeyed(text, "usage_usec");
    return v === undefined ? undefined : parseBigInt(v);
  };
  const stats: CgroupStats = {
    cpuUsageNs: first<bigint>(fs, [
      { dir: cpuacct, file: "cpuacct.usage", parse: parseBigInt },
      { dir: v2, file: "cpu.stat", parse: (t) => mapDefined(usec(t), (u) => u * 1000n) },
    ]),
    memoryBytes: first(fs, [
      { dir: memory, file: "memory.usage_in_bytes", parse: parseInteger },
      { dir: v2, file: "memory.current", parse: parseInteger },
    ]),
    memoryPeakBytes: first(fs, [
      { dir: memory, file: "memory.max_usage_in_bytes", parse: parseInteger },
      { dir: v2, file: "memory.peak", parse: parseInteger },
    ]),
    pids: first(fs, [
      { dir: pids, file: "pids.current", parse: parseInteger },
      { dir: v2, file: "pids.current", parse: parseInteger },
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
