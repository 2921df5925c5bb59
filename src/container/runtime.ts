import { rmSync } from "node:fs";
import { removeContainerCgroups } from "../cgroups/container.js";
import { releaseMonitorLeaf } from "../cgroups/delegation.js";
import type { Context } from "../core/context.js";
import type { WaitLimit } from "../core/wait.js";
import { type HeldLock, withFileLock } from "../host/shim.js";
import type { ContainerPaths } from "./paths.js";
import {
  runtimeCgroups,
  runtimeMonitorCgroups,
  runtimeNetdevs,
  runtimeStopHooks,
} from "./runtime-cgroups.js";
import { closeScope, scopeOfCgroups } from "./scope.js";
import { type Observed, observe } from "./state.js";

export { planCgroups, runtimeCgroups } from "./runtime-cgroups.js";

/**
 * Removes what a dead monitor left behind: the container's cgroups (killing
 * anything still in them), its systemd scope, and the runtime directory. Call with the
 * container's lock held. Returns the state after repair.
 */
export async function repairStale(ctx: Context, paths: ContainerPaths): Promise<Observed> {
  const seen = observe(ctx, paths);
  if (!seen.stale) return seen;
  const { cgroupFs, kill, run } = ctx.host;
  const dirs = runtimeCgroups(ctx, paths);
  await removeContainerCgroups(dirs, cgroupFs, kill, { selfPid: ctx.pid });
  await releaseMonitorLeaf(dirs.v2, cgroupFs, runtimeMonitorCgroups(ctx, paths));
  const scope = scopeOfCgroups(dirs);
  if (scope) await closeScope(ctx, scope.unit, scope.dir);
  const netdevs = runtimeNetdevs(ctx, paths);
  const stopHooks = runtimeStopHooks(ctx, paths);
  if (netdevs.length > 0 || stopHooks.length > 0) {
    const { removeHostEnds, runStopHooks } = await import("../network/nic-host.js");
    await runStopHooks(stopHooks, run, ctx.pid);
    await removeHostEnds(netdevs, run);
  }
  rmSync(paths.runtimeDir, { recursive: true, force: true });
  return observe(ctx, paths);
}

/**
 * Runs `fn` with the container's lock held; the lock goes even if `fn`
 * throws. `wait` limits the wait for the lock (default: the context's,
 * `settings.lockTimeoutMs`) and may cancel it.
 */
export function withLock<T>(
  ctx: Context,
  paths: ContainerPaths,
  fn: (lock: HeldLock) => Promise<T>,
  wait: WaitLimit = {},
): Promise<T> {
  return withFileLock(ctx.host.lock, paths.lockFile, paths.name, fn, wait);
}
