import type { ContainerCgroupDirs } from "../cgroups/container.js";
import { cacheKey } from "../core/cache.js";
import type { Context } from "../core/context.js";
import { decodeRecord } from "../core/encode.js";
import type { ContainerPaths } from "./paths.js";
import { readVersioned, type Versioned } from "./versioned-file.js";

/** A plan's records by op. */
export interface PlanRecords {
  /** The field lists of every `op` record, in plan order (records without fields are left out). */
  get(op: string): readonly string[][] | undefined;
  has(op: string): boolean;
}

/** A running container's plan, read once, each op's records decoded when first asked for. */
export interface RuntimePlan {
  text: string;
  records: PlanRecords;
}

/**
 * A plan's text by op, each op's records decoded on first use: a scrape or
 * a list asks a plan for its cgroups only, and a plan is mostly mounts.
 */
export function parseRuntimePlan(text: string): RuntimePlan {
  const lines = new Map<string, string[]>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const space = line.indexOf(" ");
    if (space <= 0) continue; // no op, or no fields
    const op = line.slice(0, space);
    const list = lines.get(op);
    if (list) list.push(line);
    else lines.set(op, [line]);
  }
  const decoded = new Map<string, string[][]>();
  const get = (op: string) => {
    let records = decoded.get(op);
    if (!records) {
      const own = lines.get(op);
      if (!own) return undefined;
      records = own.map((line) => decodeRecord(line).fields);
      decoded.set(op, records);
    }
    return records;
  };
  return { text, records: { get, has: (op) => lines.has(op) } };
}

/** The cgroup directories a plan placed the container in. */
export function planCgroups(planText: string): ContainerCgroupDirs {
  return cgroupsOf(parseRuntimePlan(planText));
}

/**
 * The container's cgroups: the init's (`cgroup2`, `cgroup1`), or the
 * `cgroup-kill` dir each lies in when the init went one level down
 * (`lxc.cgroup.dir.container.inner`): limits, stats and the freezer are there.
 */
function cgroupsOf(plan: RuntimePlan | undefined): ContainerCgroupDirs {
  const known = plan && DIRS.get(plan);
  if (known) return { ...known, v1: [...known.v1] };
  const dirs = computeCgroups(plan);
  if (plan) DIRS.set(plan, { ...dirs, v1: [...dirs.v1] });
  return dirs;
}

/** Each decoded plan's cgroups, worked out once (a plan never changes once decoded). */
const DIRS = new WeakMap<RuntimePlan, ContainerCgroupDirs>();

function computeCgroups(plan: RuntimePlan | undefined): ContainerCgroupDirs {
  const kill = (plan?.records.get("cgroup-kill") ?? []).map((f) => f[0] ?? "");
  const outer = (dir: string) => kill.find((k) => dir.startsWith(`${k}/`)) ?? dir;
  const dirs: ContainerCgroupDirs = { v1: [] };
  for (const f of plan?.records.get("cgroup2") ?? []) if (f[0]) dirs.v2 = outer(f[0]);
  for (const f of plan?.records.get("cgroup1") ?? []) if (f[0]) dirs.v1.push(outer(f[0]));
  return dirs;
}

/**
 * Decoded plans by file, each with its file's identity. A plan is replaced
 * only by an atomic rename (a new inode) or removed with the runtime
 * directory, so a stat tells whether the decoded copy still holds: a command
 * reads and decodes a plan once however many of its parts it asks for, and
 * a long-running front-end keeps the plans of the containers it last served.
 */
export const PLAN_CACHE = cacheKey<Versioned<RuntimePlan>>("runtime-plans", 1024);

/** The decoded plan of a running container, or undefined when it has none. */
export function readRuntimePlan(ctx: Context, paths: ContainerPaths): RuntimePlan | undefined {
  // runtimeDir is normalized (a join): a template, no join per container of a list.
  return readVersioned(ctx.caches.of(PLAN_CACHE), `${paths.runtimeDir}/plan`, parseRuntimePlan);
}

/** The text of a running container's plan, or undefined when it has none. */
export function runtimePlan(ctx: Context, paths: ContainerPaths): string | undefined {
  return readRuntimePlan(ctx, paths)?.text;
}

/** The field lists of every `op` record of a running container's plan (none without a plan). */
function planRecords(ctx: Context, paths: ContainerPaths, op: string): readonly string[][] {
  return readRuntimePlan(ctx, paths)?.records.get(op) ?? [];
}

/** The cgroup directories of a running container, from its plan (none when it has no plan). */
export function runtimeCgroups(ctx: Context, paths: ContainerPaths): ContainerCgroupDirs {
  return cgroupsOf(readRuntimePlan(ctx, paths));
}

/**
 * `runtimeCgroups` without a copy: the same object for as long as the plan
 * is unchanged (a list reads it for every container, and what it looks up
 * by it is then found by identity). Never to be changed.
 */
export function sharedRuntimeCgroups(
  ctx: Context,
  paths: ContainerPaths,
): Readonly<ContainerCgroupDirs> {
  const plan = readRuntimePlan(ctx, paths);
  if (!plan) return NO_DIRS;
  let dirs = DIRS.get(plan);
  if (!dirs) {
    dirs = computeCgroups(plan);
    DIRS.set(plan, dirs);
  }
  return dirs;
}

const NO_DIRS: Readonly<ContainerCgroupDirs> = Object.freeze({ v1: [] });

/** The cgroups a running container's monitor moved into (`monitor-cgroup` records), from its plan. */
export function runtimeMonitorCgroups(ctx: Context, paths: ContainerPaths): string[] {
  return planRecords(ctx, paths, "monitor-cgroup").map((f) => f[0] as string);
}

/** Host interfaces (`netdev` records) of a running container, from its plan. */
export function runtimeNetdevs(ctx: Context, paths: ContainerPaths): string[] {
  return planRecords(ctx, paths, "netdev").map((f) => f[0] as string);
}

/** The AppArmor profile (`apparmor` record) a running container's plan applies, if any. */
export function runtimeAppArmor(ctx: Context, paths: ContainerPaths): string | undefined {
  return planRecords(ctx, paths, "apparmor")[0]?.[0];
}

/** `stop-hook` commands of a container, from its plan (run by repairStale after a killed monitor). */
export function runtimeStopHooks(ctx: Context, paths: ContainerPaths): string[][] {
  return planRecords(ctx, paths, "stop-hook").map((f) => [...f]);
}

/** `exit-hook` commands of a running container, from its plan (an ephemeral container's destroy). */
export function runtimeExitHooks(ctx: Context, paths: ContainerPaths): string[][] {
  return planRecords(ctx, paths, "exit-hook").map((f) => [...f]);
}
