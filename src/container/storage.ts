import { type BigIntStats, readdirSync, readFileSync, statfsSync, statSync } from "node:fs";
import { join } from "node:path";
import { cacheKey } from "../core/cache.js";
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { filesDir, type RootfsRef, rootDir } from "../storage/driver.js";
import { bestBackend } from "../storage/index.js";
import { overlayWorkDir, parseRootfsSpec, type RootfsSpec } from "../storage/rootfs-spec.js";
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
  const value = lastValue(configFile, "path");
  if (!value) return undefined;
  const spec = parseRootfsSpec(value);
  return "block" in spec ? undefined : spec;
}

/** The last `lxc.rootfs.KEY` value of a config file, read as `readRootfsSpec` reads it. */
function lastValue(configFile: string, key: "path" | "managed"): string | undefined {
  let text: string;
  try {
    text = readFileSync(configFile, "utf8");
  } catch {
    return undefined;
  }
  const re = new RegExp(`^\\s*lxc\\.rootfs\\.${key}\\s*=\\s*(.*?)\\s*$`);
  let value: string | undefined;
  for (const line of text.split("\n")) {
    const m = re.exec(line);
    if (m) value = m[1];
  }
  return value;
}

/** Whether lxt owns the rootfs's storage: false only for `lxc.rootfs.managed = 0` (LXC's "not managing"). */
export function rootfsManaged(configFile: string): boolean {
  return lastValue(configFile, "managed") !== "0";
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

/**
 * The entries of a container directory that hold a rootfs lxt does not own
 * (`lxc.rootfs.managed = 0`): its tree, an overlay's upper and work
 * directories, a zfs or block device's mount point, a loop image. Destroy
 * removes everything else. Empty for a managed rootfs.
 */
export function unmanagedEntries(paths: ContainerPaths): string[] {
  if (rootfsManaged(paths.config)) return [];
  const value = lastValue(paths.config, "path");
  let holders: string[];
  try {
    const spec = value ? parseRootfsSpec(value) : undefined;
    if (!spec) return [];
    if ("block" in spec) holders = [spec.block.source, join(paths.dir, "rootfs")];
    else {
      const ref = { spec, dir: paths.dir };
      holders = [rootDir(ref), filesDir(ref)];
      if (spec.backend === "overlay") holders.push(overlayWorkDir(spec.upper));
    }
  } catch {
    // A value lxt cannot read: keep what a rootfs usually is.
    holders = [join(paths.dir, "rootfs")];
  }
  const inside = holders
    .filter((h) => h.startsWith(`${paths.dir}/`))
    .map((h) => h.slice(paths.dir.length + 1).split("/")[0] ?? "");
  return [...new Set(inside)].filter((e) => e !== "");
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

/** Rootfs specs by config file, each with the version of the file it was read from. */
const SPECS = cacheKey<{ version: string; spec: RootfsSpec | undefined }>("rootfs-specs", 16384);

/**
 * A config's rootfs spec, read again only when the file changed (device,
 * inode, size, mtime): every destroy asks it of every other container, so
 * a daemon deleting N containers would otherwise read N² configs.
 */
function knownRootfsSpec(ctx: Context, config: string): RootfsSpec | undefined {
  let st: BigIntStats | undefined;
  try {
    st = statSync(config, { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined; // ENOTDIR: a state root's entry that is no container (a lock file)
  }
  if (!st) return undefined;
  const version = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
  const cache = ctx.caches.of(SPECS);
  const hit = cache.get(config);
  if (hit?.version === version) return hit.spec;
  let spec: RootfsSpec | undefined;
  try {
    spec = readRootfsSpec(config);
  } catch {
    spec = undefined;
  }
  cache.set(config, { version, spec });
  return spec;
}

/** An overlay rootfs under a state root: whose (`c1`, `c1/snap0`), its container's directory, its lower. */
interface OverlayUse {
  label: string;
  dir: string;
  lower: string;
}

/** Every overlay rootfs under `lxcpath`, containers and snapshots (a stat per config, cached specs). */
function overlayUses(ctx: Context, lxcpath: string): OverlayUse[] {
  const out: OverlayUse[] = [];
  let names: string[];
  try {
    names = readdirSync(lxcpath);
  } catch {
    return out;
  }
  const check = (label: string, dir: string, config: string) => {
    const spec = knownRootfsSpec(ctx, config);
    if (spec?.backend === "overlay") out.push({ label, dir, lower: spec.lower });
  };
  for (const n of names) {
    const c = containerPaths(ctx, n, lxcpath);
    check(n, c.dir, c.config);
    for (const s of listSnapshotNames(c))
      check(`${n}/${s}`, c.dir, snapshotPaths(ctx, c, s).config);
  }
  return out;
}

/** Those of `uses` whose lower lies inside `dir` (its own container's left out). */
function dependentsOf(uses: readonly OverlayUse[], dir: string): string[] {
  return uses.filter((u) => u.dir !== dir && u.lower.startsWith(`${dir}/`)).map((u) => u.label);
}

/**
 * Containers (and their snapshots) under `lxcpath` whose overlay lower
 * directory lies inside `dir`: they would lose their base if it went.
 */
export function overlayDependents(ctx: Context, lxcpath: string, dir: string): string[] {
  return dependentsOf(overlayUses(ctx, lxcpath), dir);
}

/** Scans about to run, per context and state root (`overlayDependentsShared`). */
const SCANS = new WeakMap<Context, Map<string, Promise<OverlayUse[]>>>();

/**
 * `overlayDependents`, with the scan shared by every caller that asks
 * before it runs: it runs once the current turn of the event loop is done
 * (after each caller's call, so after each caller took its lock). N
 * destroys at once then read the state root's N configs once per turn
 * rather than once each (N² for a bulk delete).
 */
export function overlayDependentsShared(
  ctx: Context,
  lxcpath: string,
  dir: string,
): Promise<string[]> {
  const roots = SCANS.get(ctx) ?? new Map<string, Promise<OverlayUse[]>>();
  SCANS.set(ctx, roots);
  let scan = roots.get(lxcpath);
  if (!scan) {
    scan = new Promise<OverlayUse[]>((resolve, reject) =>
      setImmediate(() => {
        roots.delete(lxcpath);
        try {
          resolve(overlayUses(ctx, lxcpath));
        } catch (err) {
          reject(err);
        }
      }),
    );
    roots.set(lxcpath, scan);
  }
  return scan.then((uses) => dependentsOf(uses, dir));
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
