import { readdirSync, readFileSync, statfsSync } from "node:fs";
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import type { RootfsRef } from "../storage/driver.js";
import { bestBackend } from "../storage/index.js";
import { parseRootfsSpec, type RootfsSpec } from "../storage/rootfs-spec.js";
import { listNames } from "./list.js";
import { type ContainerPaths, containerPaths, listSnapshotNames, snapshotRoot } from "./paths.js";

// Defined in paths.ts, which loads nothing heavy (`lxt __complete snapshots` reads them).
export { listSnapshotNames, snapshotRoot };

/**
 * The last `lxc.rootfs.path` of a config file, read without resolving the
 * rest of it: destroy and copy must work on a config whose other keys are
 * broken or from a newer lxt. Includes are not followed.
 */
export function readRootfsSpec(configFile: string): RootfsSpec | undefined {
  let text: string;
  try {
    text = readFileSync(configFile, "utf8");
  } catch {
    return undefined;
  }
  let value: string | undefined;
  for (const line of text.split("\n")) {
    const m = /^\s*lxc\.rootfs\.path\s*=\s*(.*?)\s*$/.exec(line);
    if (m) value = m[1];
  }
  if (!value) return undefined;
  const spec = parseRootfsSpec(value);
  return "unsupported" in spec ? undefined : spec;
}

/** A container's rootfs as a storage reference; throws when its config names none. */
export function rootfsRef(paths: ContainerPaths, verb: string): RootfsRef {
  const spec = readRootfsSpec(paths.config);
  if (!spec) {
    throw new LxtError(
      "config",
      `${verb} ${paths.name}: ${paths.config}: no lxc.rootfs.path lxt can manage`,
    );
  }
  return { spec, dir: paths.dir };
}

export function snapshotPaths(ctx: Context, paths: ContainerPaths, snap: string): ContainerPaths {
  return containerPaths(ctx, snap, snapshotRoot(paths));
}

/** Moves `prefix/` to `to/` in every path of a spec that lies under `prefix`. */
export function relocateSpec(spec: RootfsSpec, prefix: string, to: string): RootfsSpec {
  const move = (p: string) => (p.startsWith(`${prefix}/`) ? to + p.slice(prefix.length) : p);
  switch (spec.backend) {
    case "dir":
    case "btrfs":
      return { ...spec, path: move(spec.path) };
    case "overlay":
      return { ...spec, lower: move(spec.lower), upper: move(spec.upper) };
    case "zfs":
      return spec;
  }
}

/**
 * Containers (and their snapshots) under `lxcpath` whose overlay lower
 * directory lies inside `dir`: they would lose their base if it went.
 */
export function overlayDependents(ctx: Context, lxcpath: string, dir: string): string[] {
  const out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(lxcpath);
  } catch {
    return out;
  }
  const check = (label: string, config: string) => {
    let spec: RootfsSpec | undefined;
    try {
      spec = readRootfsSpec(config);
    } catch {
      return;
    }
    if (spec?.backend === "overlay" && spec.lower.startsWith(`${dir}/`)) out.push(label);
  };
  for (const n of names) {
    const c = containerPaths(ctx, n, lxcpath);
    if (c.dir === dir) continue;
    check(n, c.config);
    for (const s of listSnapshotNames(c)) check(`${n}/${s}`, snapshotPaths(ctx, c, s).config);
  }
  return out;
}

/** The state root as one storage pool (LXD's view): its default backend, its space, its containers. */
export interface PoolView {
  /** The backend new containers get by default (`btrfs` on a btrfs state root, else `dir`). */
  driver: string;
  source: string;
  space: { total: number; used: number };
  inodes: { total: number; used: number };
  /** Every container under the state root with the backend of its rootfs (`dir` when unknown). */
  containers: { name: string; backend: string }[];
}

/** The state root's pool view (statfs of the state root, the containers' configs). */
export function storagePool(ctx: Context): PoolView {
  const s = statfsSync(ctx.lxcpath);
  const bsize = Number(s.bsize);
  const containers = listNames(ctx.lxcpath).map((name) => {
    let backend = "dir";
    try {
      backend = readRootfsSpec(containerPaths(ctx, name).config)?.backend ?? "dir";
    } catch {}
    return { name, backend };
  });
  return {
    driver: bestBackend(ctx.lxcpath),
    source: ctx.lxcpath,
    space: { total: Number(s.blocks) * bsize, used: (Number(s.blocks) - Number(s.bfree)) * bsize },
    inodes: { total: Number(s.files), used: Number(s.files) - Number(s.ffree) },
    containers,
  };
}
