/**
 * Where a start puts a container's cgroups when its config says so
 * (`lxc.cgroup.dir*`, lxc.container.conf(5)): pure, from the caller's cgroup
 * layout and the config's placement keys. Every path is relative to the
 * caller's cgroup C in each hierarchy: lxt never escapes to the root cgroup.
 *
 * - `lxc.cgroup.dir = D`: `C/D/lxt.payload.NAME`, suffixed if taken.
 * - `lxc.cgroup.dir.container = X` with `lxc.cgroup.dir.monitor = Y`: the
 *   container's cgroup is `C/X` exactly, the monitor's `C/Y` (it moves there
 *   itself, in every hierarchy); `lxc.cgroup.dir.container.inner = I` puts
 *   the init one level down, in `C/X/I`, its cgroup namespace's root, while
 *   limits stay on `C/X`, out of its reach.
 * - `lxc.cgroup.dir.monitor.pivot = P`: the monitor moves to `C/P` as it
 *   ends, so its own cgroups can be removed.
 */

import { posix } from "node:path";
import { allDirs, type ContainerCgroupDirs, planContainerCgroups } from "../cgroups/container.js";
import type { CgroupLayout } from "../cgroups/layout.js";
import type { CgroupPlacementConfig } from "../config/cgroup-placement.js";
import { LxtError } from "../core/errors.js";

/** What the placement keys add to the container's cgroups. */
export interface CgroupExtras {
  /** The init's cgroups when not the container's (`.container.inner`). */
  init?: ContainerCgroupDirs;
  /** The monitor's cgroups, one per hierarchy (`.monitor`). */
  monitor?: string[];
  /** Where the monitor moves as it ends, one per hierarchy (`.monitor.pivot`). */
  pivot?: string[];
  /** C in the v2 hierarchy, when the container's cgroup lies deeper than C's child. */
  base?: string;
}

/** The dirs `rel` names beneath the caller's cgroup in every hierarchy. */
export function dirsAt(layout: CgroupLayout, rel: string): ContainerCgroupDirs {
  const dirs: ContainerCgroupDirs = { v1: [] };
  for (const h of layout.hierarchies) {
    const dir = posix.join(h.ownDir, rel);
    if (h.version === 2) dirs.v2 = dir;
    else dirs.v1.push(dir);
  }
  return dirs;
}

/**
 * The container's cgroups and what the placement keys add to them.
 *
 * @throws LxtError("exists") when `.container` names a cgroup in use.
 */
export function placeCgroups(
  layout: CgroupLayout,
  name: string,
  placement: CgroupPlacementConfig,
  inUse: (dir: string) => boolean,
): { cgroups: ContainerCgroupDirs; extras: CgroupExtras } {
  const v2Base = layout.hierarchies.find((h) => h.version === 2)?.ownDir;
  const extras: CgroupExtras = {};
  if (placement.pivot !== undefined) extras.pivot = allDirs(dirsAt(layout, placement.pivot));
  if (placement.container === undefined || placement.monitor === undefined) {
    const cgroups = planContainerCgroups(layout, name, inUse, placement.dir);
    if (placement.dir !== undefined && v2Base !== undefined) extras.base = v2Base;
    return { cgroups, extras };
  }
  const cgroups = dirsAt(layout, placement.container);
  const taken = allDirs(cgroups).find(inUse);
  if (taken) {
    throw new LxtError(
      "exists",
      `lxc.cgroup.dir.container: ${taken} is in use (it holds processes or cgroups)`,
    );
  }
  if (placement.inner !== undefined)
    extras.init = dirsAt(layout, posix.join(placement.container, placement.inner));
  extras.monitor = allDirs(dirsAt(layout, placement.monitor));
  if (v2Base !== undefined) extras.base = v2Base;
  return { cgroups, extras };
}
