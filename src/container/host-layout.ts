/** The cgroup layouts the core works with, read through the context's cgroup door. */

import { type CgroupLayout, layoutSourcesOf, readCgroupLayout } from "../cgroups/layout.js";
import type { Caller, Context } from "../core/context.js";

/** The layout as the process hosting lxt sees it (for reading containers' cgroups). */
export function hostLayout(ctx: Context): CgroupLayout {
  return readCgroupLayout(ctx.host.cgroupFs, layoutSourcesOf(ctx.pid));
}

/** The layout beneath the caller's cgroups: where a start places the container. */
export function callerLayout(ctx: Context, caller: Caller): CgroupLayout {
  return readCgroupLayout(ctx.host.cgroupFs, layoutSourcesOf(caller.cgroupPid));
}
