import type { Context } from "../core/context.js";
import type { ContainerPaths } from "./paths.js";
import { type ContainerState, observe } from "./state.js";
import { waitFor } from "./stop.js";

export const STATES: readonly ContainerState[] = [
  "STOPPED",
  "STARTING",
  "RUNNING",
  "FROZEN",
  "STOPPING",
];

/**
 * Waits until the container is in one of `states` (`lxc-wait -s 'A|B'`).
 * Resolves true when reached, false when `timeoutSeconds` (negative: none) passed.
 */
export function waitState(
  ctx: Context,
  paths: ContainerPaths,
  states: ContainerState[],
  timeoutSeconds: number,
): Promise<boolean> {
  const ms = timeoutSeconds < 0 ? -1 : timeoutSeconds * 1000;
  return waitFor(ctx.host.clock, () => states.includes(observe(ctx, paths).state), ms);
}
