import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ContainerCgroupDirs } from "../cgroups/container.js";
import { decodeRecord } from "../core/encode.js";
import type { ContainerPaths } from "./paths.js";

/** A running container's plan, read and decoded once. */
export interface RuntimePlan {
  text: string;
  /** Field lists by record op, in plan order (records without fields are left out). */
  records: ReadonlyMap<string, readonly string[][]>;
}

/** Decodes a plan's text once into its records by op. */
export function parseRuntimePlan(text: string): RuntimePlan {
  const records = new Map<string, string[][]>();
  for (const line of text.split("\n")) {
    const { op, fields } = decodeRecord(line);
    if (!op || fields.length === 0) continue;
    const list = records.get(op);
    if (list) list.push(fields);
    else records.set(op, [fields]);
  }
  return { text, records };
}

/** The cgroup directories a plan placed the container in. */
export function planCgroups(planText: string): ContainerCgroupDirs {
  return cgroupsOf(parseRuntimePlan(planText));
}

function cgroupsOf(plan: RuntimePlan | undefined): ContainerCgroupDirs {
  const dirs: ContainerCgroupDirs = { v1: [] };
  for (const f of plan?.records.get("cgroup2") ?? []) if (f[0]) dirs.v2 = f[0];
  for (const f of plan?.records.get("cgroup1") ?? []) if (f[0]) dirs.v1.push(f[0]);
  return dirs;
}

/**
 * The last plan read, keyed by its file's identity. The plan is replaced only
 * by an atomic rename (a new inode) or removed with the runtime directory, so
 * a stat tells whether the decoded copy still holds: one command (or a long
 * lxtd) reads and decodes it once, however many of its parts it asks for.
 */
let cached: { file: string; identity: string; plan: RuntimePlan } | undefined;

/** The decoded plan of a running container, or undefined when it has none. */
export function readRuntimePlan(paths: ContainerPaths): RuntimePlan | undefined {
  const file = join(paths.runtimeDir, "plan");
  let identity: string;
  try {
    const st = statSync(file, { bigint: true });
    identity = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
  } catch {
    if (cached?.file === file) cached = undefined;
    return undefined;
  }
  if (cached?.file === file && cached.identity === identity) return cached.plan;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  const plan = parseRuntimePlan(text);
  cached = { file, identity, plan };
  return plan;
}

/** The text of a running container's plan, or undefined when it has none. */
export function runtimePlan(paths: ContainerPaths): string | undefined {
  return readRuntimePlan(paths)?.text;
}

/** The field lists of every `op` record of a running container's plan (none without a plan). */
function planRecords(paths: ContainerPaths, op: string): readonly string[][] {
  return readRuntimePlan(paths)?.records.get(op) ?? [];
}

/** The cgroup directories of a running container, from its plan (none when it has no plan). */
export function runtimeCgroups(paths: ContainerPaths): ContainerCgroupDirs {
  return cgroupsOf(readRuntimePlan(paths));
}

/** Host interfaces (`netdev` records) of a running container, from its plan. */
export function runtimeNetdevs(paths: ContainerPaths): string[] {
  return planRecords(paths, "netdev").map((f) => f[0] as string);
}

/** The AppArmor profile (`apparmor` record) a running container's plan applies, if any. */
export function runtimeAppArmor(paths: ContainerPaths): string | undefined {
  return planRecords(paths, "apparmor")[0]?.[0];
}

/** `stop-hook` commands of a container, from its plan (run by repairStale after a killed monitor). */
export function runtimeStopHooks(paths: ContainerPaths): string[][] {
  return planRecords(paths, "stop-hook").map((f) => [...f]);
}
