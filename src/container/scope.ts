/**
 * A container's systemd scope. On a host whose service manager is systemd,
 * a container's cgroups are not made beneath its caller's (a login
 * session's scope is systemd's, not delegated, and cannot enable
 * controllers while it holds the shell): the container gets a transient
 * scope `lxt-NAME.scope` in `machine.slice` with `Delegate=yes`, holding its
 * monitor (in the leaf `lxt.monitor.NAME`) and its payload
 * (`lxt.payload.NAME`), as systemd-nspawn and podman do. systemd makes no
 * empty scope, so the scope is made around an `lxt-shim hold` process, which
 * the monitor replaces: it moves itself into the leaf first thing
 * (`monitor-cgroup`), then the hold is released. The scope goes when its
 * last process does; `closeScope` stops it and waits until its cgroup is
 * gone, so a stop or a failed start returns with nothing left.
 *
 * `lxc.cgroup.relative` and `lxc.cgroup.dir*` mean the user placed the
 * cgroups themselves: then no scope (docs/config.md, "Where a container's
 * cgroups go").
 */

import { posix } from "node:path";
import type { ContainerCgroupDirs } from "../cgroups/container.js";
import { monitorLeafOf } from "../cgroups/delegation.js";
import { type CgroupLayout, layoutSourcesOf, readCgroupLayout } from "../cgroups/layout.js";
import { type CgroupPlacementConfig, hasExplicitPlacement } from "../config/cgroup-placement.js";
import type { Clock, Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import type { HeldProcess } from "../host/shim.js";
import {
  MACHINE_SLICE,
  machineNameOf,
  registerMachine,
  scopeUnitName,
  startScope,
  stopUnit,
} from "../host/systemd.js";

/** How many `lxt-NAME-N.scope` names are tried when another state root holds `lxt-NAME.scope`. */
const MAX_SCOPE_ATTEMPTS = 100;
/** How long systemd may take to put the hold process into a new scope, or to remove a stopped one. */
const SCOPE_WAIT_MS = 15_000;

/** Whether a start makes a scope: systemd runs the host, and the config does not place the cgroups. */
export function wantsScope(ctx: Context, placement: CgroupPlacementConfig): boolean {
  return !hasExplicitPlacement(placement) && ctx.host.facts.systemd();
}

/** A scope made for a start. */
export interface OpenScope {
  unit: string;
  /** The hold process: the scope's only member until the monitor moves in. */
  hold: HeldProcess;
  /** The layout as the hold process sees it: each hierarchy's own dir is the scope's. */
  layout: CgroupLayout;
}

/** The scope's directory in the v2 hierarchy (or the first one): what `closeScope` waits on. */
export function scopeDir(layout: CgroupLayout): string | undefined {
  const h = layout.hierarchies.find((x) => x.version === 2) ?? layout.hierarchies[0];
  return h?.ownDir;
}

async function waitUntil(clock: Clock, cond: () => boolean, ms: number): Promise<boolean> {
  const end = clock.now() + ms;
  while (!cond()) {
    if (clock.now() > end) return false;
    await clock.sleep(5);
  }
  return true;
}

/** Whether `/proc/PID/cgroup` puts `pid` in `unit` in any hierarchy. */
function inUnit(ctx: Context, pid: number, unit: string): boolean {
  try {
    return ctx.host.cgroupFs
      .readFile(`/proc/${pid}/cgroup`)
      .split("\n")
      .some((l) => l.endsWith(`/${MACHINE_SLICE}/${unit}`));
  } catch {
    return false;
  }
}

/**
 * Makes the container's scope around a new hold process and waits until
 * systemd has put the process in it.
 *
 * @throws LxtError("host") when systemd refuses, LxtError("timeout") when the
 *   process does not arrive; nothing is left behind either way.
 */
export async function openScope(ctx: Context, name: string): Promise<OpenScope> {
  const hold = await ctx.host.hold();
  let unit: string | undefined;
  try {
    for (let attempt = 0; unit === undefined; attempt++) {
      const candidate = scopeUnitName(name, attempt);
      try {
        await startScope(ctx.host.run, {
          unit: candidate,
          slice: MACHINE_SLICE,
          description: `lxt container ${name}`,
          pids: [hold.pid],
        });
        unit = candidate;
      } catch (err) {
        if (
          !(err instanceof LxtError && err.code === "exists") ||
          attempt + 1 >= MAX_SCOPE_ATTEMPTS
        )
          throw err;
      }
    }
    const made = unit;
    if (!(await waitUntil(ctx.host.clock, () => inUnit(ctx, hold.pid, made), SCOPE_WAIT_MS))) {
      throw new LxtError(
        "timeout",
        `systemd: ${made} was made but its process ${hold.pid} was not moved into it within ${SCOPE_WAIT_MS / 1000} s`,
      );
    }
    const layout = readCgroupLayout(ctx.host.cgroupFs, layoutSourcesOf(hold.pid));
    return { unit: made, hold, layout };
  } catch (err) {
    if (unit) await closeScope(ctx, unit, undefined).catch(() => {});
    await hold.release();
    throw err;
  }
}

/**
 * Where the monitor goes in a scope: the leaf beside the payload in the v2
 * hierarchy, the scope's own dir in each v1 one (no "no internal
 * processes" rule there).
 */
export function monitorCgroups(scope: OpenScope, cgroups: ContainerCgroupDirs): string[] {
  const dirs: string[] = [];
  for (const h of scope.layout.hierarchies) {
    if (h.version === 2) {
      if (cgroups.v2) dirs.push(monitorLeafOf(cgroups.v2));
    } else dirs.push(h.ownDir);
  }
  return dirs;
}

/**
 * The scope a running (or crashed) container's cgroups are in, from their
 * paths: `.../machine.slice/lxt-NAME[-N].scope/lxt.payload.NAME`.
 */
export function scopeOfCgroups(
  dirs: ContainerCgroupDirs,
): { unit: string; dir: string } | undefined {
  const payload = dirs.v2 ?? dirs.v1[0];
  if (!payload) return undefined;
  const dir = posix.dirname(payload);
  const unit = posix.basename(dir);
  if (!/^lxt-.+\.scope$/.test(unit) || posix.basename(posix.dirname(dir)) !== MACHINE_SLICE)
    return undefined;
  return { unit, dir };
}

/**
 * Stops a container's scope and waits until systemd has removed its cgroup
 * (`dir`, when known), so that nothing of it is left when the caller
 * returns. A scope already gone is fine.
 *
 * @throws LxtError("timeout") when the cgroup is still there after the wait.
 */
export async function closeScope(
  ctx: Context,
  unit: string,
  dir: string | undefined,
): Promise<void> {
  await stopUnit(ctx.host.run, unit);
  if (dir === undefined) return;
  const fs = ctx.host.cgroupFs;
  if (!(await waitUntil(ctx.host.clock, () => !fs.exists(dir), SCOPE_WAIT_MS))) {
    throw new LxtError(
      "timeout",
      `systemd: ${unit} stopped, but its cgroup ${dir} is still there after ${SCOPE_WAIT_MS / 1000} s`,
    );
  }
}

/**
 * Registers a running container with systemd-machined (`machinectl list`).
 * Returns a warning instead of failing: a start does not depend on it.
 */
export async function registerContainer(
  ctx: Context,
  unit: string,
  leader: number,
  rootfs: string,
): Promise<string | undefined> {
  try {
    await registerMachine(ctx.host.run, {
      name: machineNameOf(unit),
      leader,
      rootDirectory: rootfs,
    });
    return undefined;
  } catch (err) {
    return `not registered with systemd-machined: ${(err as Error).message}`;
  }
}
