import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { type Context, runtimeRoot } from "../core/context.js";
import { LxtError } from "../core/errors.js";

/** Default state root, as `/var/lib/lxc` for LXC. */
export const DEFAULT_LXCPATH = "/var/lib/lxt";
/** Runtime files (locks, monitor sockets, pids) live under here. */
export const DEFAULT_RUNDIR = "/run/lxt";

/** Every path that belongs to one container. */
export interface ContainerPaths {
  name: string;
  lxcpath: string;
  /** `<lxcpath>/<name>` */
  dir: string;
  config: string;
  /** Default rootfs location (a config may point elsewhere). */
  rootfs: string;
  /** Last exit record written by the monitor. */
  exitFile: string;
  consoleLog: string;
  /** `/run/lxt/<root-id>/<name>`: exists only while a monitor owns the container. */
  runtimeDir: string;
  /** Held (flock) by every command that changes the container. */
  lockFile: string;
}

/**
 * Host-wide verdicts of the idmapped-mount probe, one file per filesystem
 * (docs/security.md). Beside the state roots' runtime roots, under the
 * runtime directory that every boot starts empty.
 */
export function probeCacheDir(runDir: string): string {
  return join(runDir, ".idmap-probe");
}

/**
 * The paths of container `name` of the context's state root, or of another
 * root (`lxcpath`: a container's snapshots are containers of their own root).
 */
export function containerPaths(
  ctx: Pick<Context, "lxcpath" | "runDir">,
  name: string,
  lxcpath = ctx.lxcpath,
): ContainerPaths {
  // A daemon asks for every container's paths on every list: each is worked out once.
  const key = `${ctx.runDir}\0${lxcpath}\0${name}`;
  let known = MADE.get(key);
  if (!known) {
    known = Object.freeze(makePaths(ctx.runDir, lxcpath, name));
    if (MADE.size >= MADE_MAX) MADE.delete(MADE.keys().next().value as string);
    MADE.set(key, known);
  }
  return known;
}

/** Paths made, by run dir, root and name (a pure function of them; frozen: shared). */
const MADE = new Map<string, ContainerPaths>();
const MADE_MAX = 4096;

function makePaths(runDir: string, lxcpath: string, name: string): ContainerPaths {
  const dir = join(lxcpath, name);
  const run = runtimeRoot(runDir, lxcpath);
  return {
    name,
    lxcpath,
    dir,
    config: join(dir, "config"),
    rootfs: join(dir, "rootfs"),
    exitFile: join(dir, "last-exit"),
    consoleLog: join(dir, "console.log"),
    runtimeDir: join(run, name),
    lockFile: join(run, "locks", name),
  };
}

/** Names of the containers under a state root (directories holding a `config`). */
export function listNames(lxcpath: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(lxcpath);
  } catch {
    return [];
  }
  // A template, not path.join: joins of hundreds of names cost milliseconds (shell completion).
  return entries.filter((n) => existsSync(`${lxcpath}/${n}/config`)).sort();
}

/** `<lxcpath>/<name>/snaps`: snapshots are containers in this state root, as in LXC. */
export function snapshotRoot(paths: ContainerPaths): string {
  return `${paths.dir}/snaps`; // dir is normalized (a join): no join per list entry
}

/** The snapshot names (`snap0`, `snap1`, ...) of a container, in order. */
export function listSnapshotNames(paths: ContainerPaths): string[] {
  const root = snapshotRoot(paths);
  // Most containers have none: a failed readdir costs a thrown error (its stack), a list pays it per instance.
  if (!existsSync(root)) return [];
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^snap\d+$/.test(n) && existsSync(join(root, n, "config")))
    .sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)));
}

/** Present while an `lxc.ephemeral` container runs: when it stops, it is destroyed. */
export function ephemeralMarker(paths: ContainerPaths): string {
  return join(paths.dir, "ephemeral");
}

/** Throws `not-found` (naming the verb) unless the container exists. */
export function requireExists(paths: ContainerPaths, verb: string): void {
  if (!existsSync(paths.config)) {
    throw new LxtError("not-found", `${verb} ${paths.name}: no such container in ${paths.lxcpath}`);
  }
}
