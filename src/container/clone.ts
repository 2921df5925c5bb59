import {
  closeSync,
  constants,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeSync,
} from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Caller, Context } from "../core/context.js";
import { LxtError, wrapError } from "../core/errors.js";
import type { Progress } from "../core/progress.js";
import { Reverter } from "../core/reverter.js";
import { writeFileAtomic } from "../host/atomic.js";
import type { CommandRunner } from "../host/runner.js";
import {
  filesDir,
  formatRootfsSpec,
  type RootfsRef,
  type StorageDriver,
  storageDriver,
  usableDriver,
} from "../storage/index.js";
import { explainNoSpace } from "../storage/space.js";
import { clearIncomplete, markIncomplete } from "./incomplete.js";
import { loadConfigFile } from "./launch-input.js";
import type { ContainerPaths } from "./paths.js";
import { rootfsManaged, rootfsRef } from "./storage.js";

/** How a container's rootfs and config are copied into a new container directory. */
export interface CloneOptions {
  /** Target backend (default: the source's; for a copy-on-write clone of a backend without it, overlay). */
  backend?: string;
  /** Share data with the source (btrfs snapshot, overlay over it) instead of copying. */
  cow: boolean;
  /** A snapshot (`lxt snapshot`): a read-only point in time on the source's own backend. */
  snapshot?: boolean;
  /** The new `lxc.uts.name` and /etc/hostname; unset keeps the source's. */
  hostname?: string;
  /** Set `lxc.ephemeral = 1`. */
  ephemeral?: boolean;
  /** `dst.dir` exists already (an in-place restore): only storage and config are made. */
  existingDir?: boolean;
  /** The rootfs is made already (a backend's own in-place restore): only the config is written. */
  prepared?: RootfsRef;
  /** Who asked: the new config is checked as its start would read it. */
  caller: Caller;
  progress?: Progress;
}

const KEY_LINE = /^(\s*)(lxc\.[A-Za-z0-9_.]+)(\s*=\s*)(.*?)\s*$/;
/** Keys whose values name files of the container; they follow it to its new directory (as lxc-copy). */
const PATH_KEYS = new Set(["lxc.log.file", "lxc.console.logfile", "lxc.mount.fstab"]);

function randomMac(): string {
  const b = Array.from({ length: 3 }, () => Math.floor(Math.random() * 256));
  return ["00", "16", "3e", ...b.map((x) => x.toString(16).padStart(2, "0"))].join(":");
}

/**
 * The config of a copy: its rootfs, its own hostname and MAC addresses,
 * its own files instead of the source's. Pure but for the random MACs.
 */
export function rewriteConfig(
  text: string,
  change: {
    rootfs: string;
    fromDir: string;
    toDir: string;
    hostname?: string;
    ephemeral?: boolean;
    /** Keep MAC addresses (a backup restored under its own name). */
    keepHwaddr?: boolean;
    /** Keep the allocated id slice (a snapshot, an in-place restore); a new container gets its own. */
    keepIdmapBase?: boolean;
  },
): string {
  const out: string[] = [];
  let sawRootfs = false;
  let sawUts = false;
  for (const line of text.replace(/\n$/, "").split("\n")) {
    if (!change.keepIdmapBase && /^\s*lxt\.volatile\.idmap\.base\s*=/.test(line)) continue;
    const m = KEY_LINE.exec(line);
    if (!m) {
      out.push(line);
      continue;
    }
    const [, indent = "", key = "", eq = "", value = ""] = m;
    const set = (v: string) => out.push(`${indent}${key}${eq}${v}`);
    if (key === "lxc.rootfs.path") {
      if (!sawRootfs) set(change.rootfs);
      sawRootfs = true;
    } else if (key === "lxc.uts.name" && change.hostname !== undefined) {
      if (!sawUts) set(change.hostname);
      sawUts = true;
    } else if (/^lxc\.net\.\d+\.hwaddr$/.test(key) && value !== "" && !change.keepHwaddr) {
      set(randomMac());
    } else if (key === "lxc.rootfs.managed") {
      // Dropped: a copy's storage is its own.
    } else if (key === "lxc.ephemeral" && change.ephemeral !== undefined) {
      // Dropped: written once at the end.
    } else if (PATH_KEYS.has(key) && value.startsWith(`${change.fromDir}/`)) {
      set(change.toDir + value.slice(change.fromDir.length));
    } else {
      out.push(line);
    }
  }
  if (!sawRootfs) out.push(`lxc.rootfs.path = ${change.rootfs}`);
  if (!sawUts && change.hostname !== undefined) out.push(`lxc.uts.name = ${change.hostname}`);
  if (change.ephemeral) out.push("lxc.ephemeral = 1");
  return `${out.join("\n")}\n`;
}

/**
 * Writes `/etc/hostname` into a stopped container's own files, without
 * following symlinks out of the rootfs: when `etc` or the file is a symlink
 * (or `etc` does not exist) nothing is written.
 */
export function writeHostname(ref: RootfsRef, lowerEtcExists: boolean, name: string): void {
  const etc = join(filesDir(ref), "etc");
  const st = lstatSync(etc, { throwIfNoEntry: false });
  if (!st) {
    if (!lowerEtcExists) return;
    mkdirSync(etc, { mode: 0o755 });
  } else if (!st.isDirectory()) {
    return;
  }
  const file = join(etc, "hostname");
  if (lstatSync(file, { throwIfNoEntry: false })?.isSymbolicLink()) return;
  const fd = openSync(
    file,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    0o644,
  );
  try {
    writeSync(fd, `${name}\n`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Points the `127.0.1.1` line of a stopped container's `/etc/hosts` at its
 * new name (Debian's convention), as /etc/hostname; a symlinked file, or
 * one without such a line, is left alone.
 */
export function writeHostsName(ref: RootfsRef, name: string): void {
  const etc = join(filesDir(ref), "etc");
  if (!lstatSync(etc, { throwIfNoEntry: false })?.isDirectory()) return;
  const file = join(etc, "hosts");
  // An overlay's upper has no copy yet: read the lower's (its /etc is a real directory).
  let from = file;
  if (!lstatSync(file, { throwIfNoEntry: false }) && ref.spec.backend === "overlay") {
    if (!lstatSync(join(ref.spec.lower, "etc"), { throwIfNoEntry: false })?.isDirectory()) return;
    from = join(ref.spec.lower, "etc", "hosts");
  }
  if (!lstatSync(from, { throwIfNoEntry: false })?.isFile()) return;
  const text = readFileSync(from, "utf8");
  if (!/^127\.0\.1\.1\s/m.test(text)) return;
  const fd = openSync(
    file,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    0o644,
  );
  try {
    writeSync(fd, text.replace(/^127\.0\.1\.1\s.*$/m, `127.0.1.1\t${name}`));
  } finally {
    closeSync(fd);
  }
}

/** The driver a clone writes with. */
async function targetDriver(
  src: RootfsRef,
  dst: ContainerPaths,
  opts: CloneOptions,
  run: CommandRunner,
): Promise<StorageDriver> {
  const own = storageDriver(src.spec.backend, run);
  if (opts.snapshot) return own;
  const name = opts.backend ?? (opts.cow && !own.capabilities.cowClone ? "overlay" : own.name);
  // A zfs copy goes beside its zfs source: the parent dataset it already uses.
  const zfsRoot =
    src.spec.backend === "zfs" ? src.spec.dataset.replace(/@.*$/, "").replace(/\/[^/]*$/, "") : "";
  const driver = await usableDriver(name, dst.lxcpath, run, zfsRoot ? { zfsRoot } : {});
  if (opts.cow && !driver.capabilities.cowClone) {
    throw new LxtError("usage", `storage backend ${driver.name} has no copy-on-write clones`);
  }
  return driver;
}

/**
 * Makes `dst` (a directory that must not exist) a copy of container `src`:
 * rootfs through the storage drivers, then config. All or nothing. The
 * caller holds whatever locks the verb needs and has checked states.
 */
export async function cloneContainer(
  ctx: Context,
  src: ContainerPaths,
  dst: ContainerPaths,
  opts: CloneOptions,
): Promise<RootfsRef> {
  const run = ctx.host.run;
  const what = opts.snapshot ? "snapshot" : "copy";
  const from = rootfsRef(src, what);
  if ((opts.cow || opts.snapshot) && !rootfsManaged(src.config)) {
    throw new LxtError(
      "state",
      `${what} ${src.name}: lxc.rootfs.managed = 0: its storage is not lxt's to snapshot or share (a full copy, lxt copy without -s, works)`,
    );
  }
  const driver = await targetDriver(from, dst, opts, run);
  const to: RootfsRef = opts.prepared ?? {
    spec: driver.newSpec(dst.dir, opts.cow || opts.snapshot ? from : undefined),
    dir: dst.dir,
  };
  const text = readFileSync(src.config, "utf8");
  const revert = new Reverter();
  try {
    if (!opts.existingDir) {
      mkdirSync(dst.dir, { mode: 0o700 });
      revert.add("container directory", () => rm(dst.dir, { recursive: true, force: true }));
      await markIncomplete(ctx, to, `${what} of ${src.name}`);
    }
    if (!opts.prepared) revert.add("rootfs", () => driver.destroy(to));
    opts.progress?.(
      `${what} ${src.name} to ${dst.name} (${driver.name}${opts.cow ? ", copy-on-write" : ""})`,
    );
    try {
      if (opts.prepared) {
        // made by the caller
      } else if (opts.snapshot) await driver.snapshot(from, to);
      else await driver.clone(from, to, { cow: opts.cow });
    } catch (err) {
      throw wrapError(`${what} ${src.name}: ${driver.name} rootfs`, err);
    }
    if (opts.hostname !== undefined) {
      const srcEtc = lstatSync(join(filesDir(from), "etc"), { throwIfNoEntry: false });
      const lowerEtc =
        to.spec.backend === "overlay" &&
        !!lstatSync(join(to.spec.lower, "etc"), { throwIfNoEntry: false })?.isDirectory();
      writeHostname(to, lowerEtc || !!srcEtc?.isDirectory(), opts.hostname);
    }
    const config = rewriteConfig(text, {
      rootfs: formatRootfsSpec(to.spec),
      fromDir: src.dir,
      toDir: dst.dir,
      hostname: opts.hostname,
      ephemeral: opts.ephemeral,
      keepIdmapBase: opts.snapshot || opts.existingDir,
    });
    writeFileAtomic(dst.config, config, 0o644);
    loadConfigFile(dst.config, opts.caller.env);
    clearIncomplete(dst.dir);
    revert.success();
    return to;
  } catch (err) {
    await revert.revert();
    throw explainNoSpace(err, `${what} ${src.name} to ${dst.name}`, dst.lxcpath);
  }
}
