/**
 * Container storage: one driver per backend behind `StorageDriver`, a
 * registry, and the choice of a default. Importing this module registers
 * every driver.
 */
import "./dir.js";
import "./btrfs.js";
import "./overlay.js";
import "./zfs.js";
import { LxtError } from "../core/errors.js";
import type { CommandRunner } from "../host/runner.js";
import { type DriverOptions, type StorageDriver, storageDriver } from "./driver.js";
import { FS_MAGIC, fsType } from "./tree.js";
import { zfsDatasetAt } from "./zfs-stream.js";

export * from "./driver.js";
export * from "./rootfs-spec.js";

/**
 * The backend `-B best` (the default) picks for new containers under
 * `lxcpath`: btrfs when the state root is on btrfs, else dir.
 */
export function bestBackend(lxcpath: string): "btrfs" | "dir" {
  return fsType(lxcpath) === FS_MAGIC.btrfs ? "btrfs" : "dir";
}

/** The driver for `name` (or the best one), refusing one this host or state root cannot use. */
export async function usableDriver(
  name: string | undefined,
  lxcpath: string,
  run: CommandRunner,
  opts: DriverOptions = {},
): Promise<StorageDriver> {
  const driver = storageDriver(!name || name === "best" ? bestBackend(lxcpath) : name, run, opts);
  const why = await driver.unavailable(lxcpath);
  if (why) throw new LxtError("host", `storage backend ${driver.name}: ${why}`);
  return driver;
}

/**
 * The driver that receives `send` streams into state root `lxcpath`, or
 * undefined (then only archives): btrfs when the state root is on btrfs,
 * zfs when it is on a zfs dataset (the received containers' datasets go
 * beneath that one), each only where it works here (`unavailable`).
 */
export async function receivingDriver(
  lxcpath: string,
  run: CommandRunner,
): Promise<StorageDriver | undefined> {
  const fs = fsType(lxcpath);
  let driver: StorageDriver | undefined;
  if (fs === FS_MAGIC.btrfs) driver = storageDriver("btrfs", run);
  if (fs === FS_MAGIC.zfs) {
    const zfsRoot = await zfsDatasetAt(run, lxcpath).catch(() => undefined);
    if (zfsRoot) driver = storageDriver("zfs", run, { zfsRoot });
  }
  if (!driver?.receiver || (await driver.unavailable(lxcpath))) return undefined;
  return driver;
}
