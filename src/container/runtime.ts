import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type ContainerCgroupDirs, removeContainerCgroups } from "../cgroups/container.js";
import { nodeCgroupFs, nodeKill } from "../cgroups/fs.js";
import { decodeRecord } from "../core/encode.js";
import { type HeldLock, takeLock } from "../host/shim.js";
import type { ContainerPaths } from "./paths.js";
import { type Observed, observe } from "./state.js";

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

/**
 * Removes what a dead monitor left behind: the container's cgroups (killing
 * anything still in them) and the runtime directory. Call with the
 * container's lock held. Returns the state after repair.
 */
export async function repairStale(paths: ContainerPaths): Promise<Observed> {
  const seen = observe(paths);
  if (!seen.stale) return seen;
  await removeContainerCgroups(runtimeCgroups(paths), nodeCgroupFs, nodeKill);
  rmSync(paths.runtimeDir, { recursive: true, force: true });
  return observe(paths);
}

/** Runs `fn` with the container's lock held; the lock goes even if `fn` throws. */
export async function withLock<T>(
  paths: ContainerPaths,
  fn: (lock: HeldLock) => Promise<T>,
): Promise<T> {
  const lock = await takeLock(paths.lockFile, paths.name);
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}
