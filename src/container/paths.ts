import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { LxtError } from "../core/errors.js";

/** Default state root, as `/var/lib/lxc` for LXC. */
export const DEFAULT_LXCPATH = "/var/lib/lxt";
/** Runtime files (locks, monitor sockets, pids) live under here. */
export const DEFAULT_RUNDIR = "/run/lxt";

/** The state root from `-P`, else `$LXT_PATH`, else the default. */
export function resolveLxcpath(flag: string | undefined): string {
  return resolve(flag || process.env.LXT_PATH || DEFAULT_LXCPATH);
}

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
 * Runtime files are keyed by a short hash of the state root so that two
 * roots (e.g. parallel test runs) with the same container name never share
 * a lock or a socket, while socket paths stay short.
 */
export function rootId(lxcpath: string): string {
  // 64-bit FNV-1a: a name, not a secret; node:crypto would add ~5 ms to every command.
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(lxcpath, "utf8")) {
    h = ((h ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, "0").slice(0, 12);
}

/**
 * Host-wide verdicts of the idmapped-mount probe, one file per filesystem
 * (docs/security.md). Beside the state roots' runtime roots, under the
 * runtime directory that every boot starts empty.
 */
export function probeCacheDir(): string {
  return join(process.env.LXT_RUNDIR || DEFAULT_RUNDIR, ".idmap-probe");
}

export function runtimeRoot(lxcpath: string): string {
  return join(process.env.LXT_RUNDIR || DEFAULT_RUNDIR, rootId(lxcpath));
}

export function containerPaths(lxcpath: string, name: string): ContainerPaths {
  const dir = join(lxcpath, name);
  const run = runtimeRoot(lxcpath);
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
