/** The cgroup layouts the core works with, read through the context's cgroup door. */

import { type CgroupLayout, layoutSourcesOf, readCgroupLayout } from "../cgroups/layout.js";
import type { CgroupPlacementConfig } from "../config/cgroup-placement.js";
import type { Caller, Context } from "../core/context.js";
import { wantsScope } from "./scope.js";

/** The layout as the process hosting lxt sees it (for reading containers' cgroups). */
export function hostLayout(ctx: Context): CgroupLayout {
  return readCgroupLayout(ctx.host.cgroupFs, layoutSourcesOf(ctx.pid));
}

/** The layout beneath the caller's cgroups: where a start places the container. */
export function callerLayout(ctx: Context, caller: Caller): CgroupLayout {
  return readCgroupLayout(ctx.host.cgroupFs, layoutSourcesOf(caller.cgroupPid));
}

/**
 * The layout a container's limits are checked against: the caller's, or, when
 * the container gets a systemd scope of its own (scope.ts), the caller's with
 * each v2 hierarchy offering what its root offers (systemd enables, down
 * `machine.slice`, whatever a `Delegate=yes` unit asks for).
 */
export function placementLayout(
  ctx: Context,
  layout: CgroupLayout,
  placement: CgroupPlacementConfig,
): CgroupLayout {
  if (!wantsScope(ctx, placement)) return layout;
  return {
    ...layout,
    hierarchies: layout.hierarchies.map((h) => {
      if (h.version !== 2) return h;
      try {
        const offered = ctx.host.cgroupFs.readFile(`${h.mountPoint}/cgroup.controllers`);
        return { ...h, controllers: offered.split(/\s+/).filter(Boolean) };
      } catch {
        return h;
      }
    }),
  };
}
