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

/** The cgroup directories of a running container, from its plan (none when it has no plan). */
export function runtimeCgroups(paths: ContainerPaths): ContainerCgroupDirs {
  try {
    return planCgroups(readFileSync(join(paths.runtimeDir, "plan"), "utf8"));
  } catch {
    return { v1: [] };
  }
}

/** Host interfaces (`netdev` records) of a running container, from its plan. */
export function runtimeNetdevs(paths: ContainerPaths): string[] {
  try {
    return readFileSync(join(paths.runtimeDir, "plan"), "utf8")
      .split("\n")
      .map(decodeRecord)
      .flatMap(({ op, fields }) => (op === "netdev" && fields[0] ? [fields[0]] : []));
  } catch {
    return [];
  }
}

/** The AppArmor profile (`apparmor` record) a running container's plan applies, if any. */
export function runtimeAppArmor(paths: ContainerPaths): string | undefined {
  try {
    const rec = readFileSync(join(paths.runtimeDir, "plan"), "utf8")
      .split("\n")
      .map(decodeRecord)
      .find(({ op }) => op === "apparmor");
    return rec?.fields[0];
  } catch {
    return undefined;
  }
}

/** `stop-hook` commands of a container, from its plan (run by repairStale after a killed monitor). */
export function runtimeStopHooks(paths: ContainerPaths): string[][] {
  try {
    return readFileSync(join(paths.runtimeDir, "plan"), "utf8")
      .split("\n")
      .map(decodeRecord)
      .flatMap(({ op, fields }) => (op === "stop-hook" && fields.length > 0 ? [fields] : []));
  } catch {
    return [];
  }
}
