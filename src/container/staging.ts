/**
 * Staging directories (`.lxt-KIND-RAND`) of export, import, image import
 * and image builds. Each is claimed for its whole life by a lock on
 * `.lxt-KIND-RAND.lock` beside it, taken before the directory is made: a
 * directory whose lock anyone can take belongs to a worker that is gone
 * (killed, crashed, or the host rebooted), whatever became of its pid, and
 * the next command removes it.
 */
import { type Dirent, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Context } from "../core/context.js";
import { kernelRandom } from "../host/random.js";
import { receivingDriver, type StorageDriver } from "../storage/index.js";
import { FS_MAGIC, fsType } from "../storage/tree.js";

export type StagingKind = "import" | "export" | "image" | "build" | "migrate";

/** `.lxt-KIND-RAND`, or `.lxt-KIND-PID-RAND` as lxt named them before the lock claimed them. */
const STAGING_RE = /^\.lxt-(?:import|export|image|build|migrate)-(?:\d+-)?[0-9a-f]+$/;

/** A claimed staging directory. */
export interface Staging {
  dir: string;
  /** Removes the directory (unless it was renamed into place) and ends the claim. Idempotent. */
  release(): Promise<void>;
  /**
   * Ends the claim but leaves the directory for someone to read (a
   * checkpoint the source could not be restored from): the next
   * `cleanStaleStaging` under its parent removes it. Idempotent, and a
   * no-op after `release`.
   */
  keep(): Promise<void>;
}

/** A new staging directory under `parent`, claimed by this call until `release`. */
export async function makeStaging(
  ctx: Context,
  parent: string,
  kind: StagingKind,
): Promise<Staging> {
  mkdirSync(parent, { recursive: true, mode: 0o755 });
  const dir = join(parent, `.lxt-${kind}-${kernelRandom(6).toString("hex")}`);
  const lockFile = `${dir}.lock`;
  // The claim comes first: a directory that exists without one is a dead worker's.
  const lock = await ctx.host.lock(lockFile, `staging ${dir}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    rmSync(lockFile, { force: true });
    await lock.release();
    throw err;
  }
  let released: Promise<void> | undefined;
  return {
    dir,
    release() {
      released ??= (async () => {
        await rm(dir, { recursive: true, force: true });
        rmSync(lockFile, { force: true });
        await lock.release();
      })();
      return released;
    },
    keep() {
      released ??= lock.release();
      return released;
    },
  };
}

/**
 * Removes staging directories under `parent` whose worker is gone (and
 * their lock files). Returns the names of the directories that went. Staged
 * btrfs subvolumes are writable, so a recursive removal takes them; the
 * read-only ones of a stream transfer (storage-transfer.ts) are made
 * writable first; a zfs stream transfer's staging dataset is destroyed.
 */
export async function cleanStaleStaging(ctx: Context, parent: string): Promise<string[]> {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return [];
  }
  const gone: string[] = [];
  /** The state root's stream receiver, looked up for the first stale import only. */
  let receiver: Promise<StorageDriver["receiver"]> | undefined;
  for (const n of names) {
    const dir = n.endsWith(".lock") ? n.slice(0, -5) : n;
    if (!STAGING_RE.test(dir) || (n !== dir && names.includes(dir))) continue;
    const lock = await ctx.host.tryLock(join(parent, `${dir}.lock`), `staging ${dir}`);
    if (!lock) continue;
    try {
      await unfreezeSubvolumes(ctx, join(parent, dir));
      if (dir.startsWith(".lxt-import-")) {
        // A stream receive's storage outside the directory (zfs: its staging dataset).
        receiver ??= receivingDriver(parent, ctx.host.run).then((d) => d?.receiver?.bind(d));
        await (await receiver)?.(join(parent, dir), []).destroy();
      }
      await rm(join(parent, dir), { recursive: true, force: true });
      rmSync(join(parent, `${dir}.lock`), { force: true });
      if (n === dir) gone.push(n);
    } finally {
      await lock.release();
    }
  }
  return gone;
}

/** The btrfs subvolume roots (inode 256) in `dir`, `depth` levels down at most, not looking inside them. */
function subvolumeRoots(dir: string, depth: number): string[] {
  if (depth === 0) return [];
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const p = join(dir, e.name);
    if (statSync(p, { throwIfNoEntry: false })?.ino === 256) out.push(p);
    else out.push(...subvolumeRoots(p, depth - 1));
  }
  return out;
}

/**
 * Makes the read-only subvolumes a dead worker left in staging directory
 * `dir` writable (a received stream, a rootfs snapshot taken for a send:
 * `.recv/rootfs`, `snaps/NAME/rootfs`, `live/rootfs`), so that a recursive
 * removal takes them. A subvolume that will not change stays, and says so
 * in the removal's error.
 */
async function unfreezeSubvolumes(ctx: Context, dir: string): Promise<void> {
  if (fsType(dir) !== FS_MAGIC.btrfs) return;
  for (const p of subvolumeRoots(dir, 3)) {
    await ctx.host.run
      .run("btrfs", ["property", "set", "-f", "-ts", p, "ro", "false"])
      .catch(() => undefined);
  }
}
