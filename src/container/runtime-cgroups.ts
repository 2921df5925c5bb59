import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ContainerCgroupDirs } from "../cgroups/container.js";
import { decodeRecord } from "../core/encode.js";
import type { ContainerPaths } from "./paths.js";

/** The cgroup directories a plan placed the container in. */
export function planCgroups(planText: string): ContainerCgroupDirs {
  const dirs: ContainerCgroupDirs = { v1: [] };
  for (const line of planText.split("\n")) {
    const { op, fields } = decodeRecord(line);
    if (op === "cgroup2" && fields[0]) dirs.v2 = fields[0];
    if (op === "cgroup1" && fields[0]) dirs.v1.push(fields[0]);
  }
  return dirs;
}

/** The text of a running container's plan, or undefined when it has none. */
export function runtimePlan(paths: ContainerPaths): string | undefined {
  try {
    return readFileSync(join(paths.runtimeDir, "plan"), "utf8");
  } catch {
    return undefined;
  }
}

/** The field lists of every `op` record of a running container's plan (none without a plan). */
function planRecords(paths: ContainerPaths, op: string): string[][] {
  return (runtimePlan(paths) ?? "")
    .split("\n")
    .map(decodeRecord)
    .flatMap((r) => (r.op === op && r.fields.length > 0 ? [r.fields] : []));
}

/** The cgroup directories of a running container, from its plan (none when it has no plan). */
export function runtimeCgroups(paths: ContainerPaths): ContainerCgroupDirs {
  return planCgroups(runtimePlan(paths) ?? "");
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
  return planRecords(paths, "stop-hook");
}
