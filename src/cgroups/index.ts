/**
 * The cgroup driver: where this process's cgroups are (`layout`), a
 * container's cgroup dirs (`container`) and their usage (`stats`), all over
 * the injected `CgroupFs` and `KillFn` (`host/cgroup-fs.ts`).
 */

export * from "./container.js";
export * from "./delegation.js";
export * from "./freezer.js";
export * from "./layout.js";
export * from "./limits.js";
export * from "./stats.js";
