import { rmSync } from "node:fs";
import { removeContainerCgroups } from "../cgroups/container.js";
import { releaseMonitorLeaf } from "../cgroups/delegation.js";
import { nodeCgroupFs, nodeKill } from "../cgroups/fs.js";
import type { WaitLimit } from "../core/wait.js";
import { type HeldLock, withFileLock } from "../host/shim.js";
import type { ContainerPaths } from "./paths.js";
import { runtimeCgroups, runtimeNetdevs, runtimeStopHooks } from "./runtime-cgroups.js";
import { type Observed, observe } from "./state.js";

export { planCgroups, runtimeCgroups } from "./runtime-cgroups.js";

/**
 * Removes what a dead monitor left behind: the container's cgroups (killing
 * anything still in them) and the runtime directory. Call with the
 * container's lock held. Returns the state after repair.
 */
export async function repairStale(paths: ContainerPaths): Promise<Observed> {
  const seen = observe(paths);
  if (!seen.stale) return seen;
  const dirs = runtimeCgroups(paths);
  await removeContainerCgroups(dirs, nodeCgroupFs, nodeKill);
  await releaseMonitorLeaf(dirs.v2, nodeCgroupFs);
  const netdevs = runtimeNetdevs(paths);
  const stopHooks = runtimeStopHooks(paths);
  if (netdevs.length > 0 || stopHooks.length > 0) {
    const [{ removeHostEnds, runStopHooks }, { execRunner }] = await Promise.all([
      import("../network/nic-host.js"),
      import("../storage/runner.js"),
    ]);
    await runStopHooks(stopHooks, execRunner);
    await removeHostEnds(netdevs, execRunner);
  }
  rmSync(paths.runtimeDir, { recursive: true, force: true });
  return observe(paths);
}

/**
 * Runs `fn` with the container's lock held; the lock goes even if `fn`
 * throws. `wait` limits the wait for the lock (default: until it is free).
 */
export async function withLock<T>(
  paths: ContainerPaths,
  fn: (lock: HeldLock) => Promise<T>,
): Promise<T>;
export async function withLock<T>(
  paths: ContainerPaths,
  wait: WaitLimit,
  fn: (lock: HeldLock) => Promise<T>,
): Promise<T>;
export async function withLock<T>(
  paths: ContainerPaths,
  waitOrFn: WaitLimit | ((lock: HeldLock) => Promise<T>),
  fn?: (lock: HeldLock) => Promise<T>,
): Promise<T> {
  const [wait, body] = typeof waitOrFn === "function" ? [{}, waitOrFn] : [waitOrFn, fn];
  if (!body) throw new TypeError("withLock: no function");
  return withFileLock(paths.lockFile, paths.name, body, wait);
}
