/**
 * Staging directories (`.lxt-KIND-RAND`) of export, import, image import
 * and image builds. Each is claimed for its whole life by a lock on
 * `.lxt-KIND-RAND.lock` beside it, taken before the directory is made: a
 * directory whose lock anyone can take belongs to a worker that is gone
 * (killed, crashed, or the host rebooted), whatever became of its pid, and
 * the next command removes it.
 */
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Context } from "../core/context.js";
import { kernelRandom } from "../host/random.js";

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
 * btrfs subvolumes are writable, so a recursive removal takes them.
 */
export async function cleanStaleStaging(ctx: Context, parent: string): Promise<string[]> {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return [];
  }
  const gone: string[] = [];
  for (const n of names) {
    const dir = n.endsWith(".lock") ? n.slice(0, -5) : n;
    if (!STAGING_RE.test(dir) || (n !== dir && names.includes(dir))) continue;
    const lock = await ctx.host.tryLock(join(parent, `${dir}.lock`), `staging ${dir}`);
    if (!lock) continue;
    try {
      await rm(join(parent, dir), { recursive: true, force: true });
      rmSync(join(parent, `${dir}.lock`), { force: true });
      if (n === dir) gone.push(n);
    } finally {
      await lock.release();
    }
  }
  return gone;
}
