/**
 * `lxt start`: under the container's lock, stale runtime state repaired,
 * then the start planned (start-plan.ts: everything decided, nothing made)
 * and applied (start-apply.ts: named steps, each undone if a later one fails).
 */
import type { Context } from "../core/context.js";
import type { LaunchOptions } from "./launch-input.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { repairStale, withLock } from "./runtime.js";
import { applyStart, type Started } from "./start-apply.js";
import { planStart } from "./start-plan.js";
import { requireState } from "./state.js";

export type { Started };

/** Starts a container: a transaction that leaves nothing behind on failure and names the step. */
export async function startContainer(
  ctx: Context,
  paths: ContainerPaths,
  opts: LaunchOptions,
): Promise<Started> {
  requireExists(paths, "start");
  return withLock(ctx, paths, async () => {
    const observed = await repairStale(ctx, paths);
    requireState("start", paths.name, observed.state);
    return applyStart(ctx, planStart(ctx, paths, opts));
  });
}
