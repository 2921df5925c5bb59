/**
 * `lxt start`: under the container's lock, stale runtime state repaired,
 * then the start planned (start-plan.ts: everything decided, nothing made)
 * and applied (start-apply.ts: named steps, each undone if a later one fails).
 */
import type { Context } from "../core/context.js";
import type { LaunchOptions } from "./launch-input.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { repairStale, withLock } from "./runtime.js";
import { applyStart, DEFAULT_START_TIMEOUT_MS, type Started } from "./start-apply.js";
import { planStart } from "./start-plan.js";
import { requireState } from "./state.js";

export { DEFAULT_START_TIMEOUT_MS, type Started };

/** A start's options: the launch's, and who may cancel its waits. */
export interface StartOptions extends LaunchOptions {
  /**
   * Cancels the start's waits (for the lock, for the monitor's verdict):
   * a monitor that gave no verdict is killed and whatever the start made
   * is undone. The waits' time limits are the context's
   * (`settings.lockTimeoutMs`, `settings.startTimeoutMs`).
   */
  signal?: AbortSignal;
}

/** Starts a container: a transaction that leaves nothing behind on failure and names the step. */
export async function startContainer(
  ctx: Context,
  paths: ContainerPaths,
  opts: StartOptions,
): Promise<Started> {
  requireExists(paths, "start");
  const { signal, ...launch } = opts;
  return withLock(
    ctx,
    paths,
    async () => {
      const observed = await repairStale(ctx, paths);
      requireState("start", paths.name, observed.state);
      return applyStart(ctx, planStart(ctx, paths, launch), { signal });
    },
    { signal },
  );
}
