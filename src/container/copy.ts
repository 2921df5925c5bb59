import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Caller, Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import type { Progress } from "../core/progress.js";
import { storageDriver } from "../storage/index.js";
import { cloneContainer } from "./clone.js";
import { runCloneHooks } from "./hooks.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { repairStale, withLock } from "./runtime.js";
import { destroyStorageDir } from "./snapshot.js";
import { type Started, startContainer } from "./start.js";
import {
  listSnapshotNames,
  rootfsManaged,
  rootfsRef,
  snapshotPaths,
  snapshotRoot,
} from "./storage.js";

export interface CopyOptions {
  /** `-s`: a copy-on-write clone (btrfs snapshot, or an overlay over the source). */
  snapshot?: boolean;
  /** `-e`: ephemeral (a CoW clone with `lxc.ephemeral = 1`, started, destroyed when it stops). */
  ephemeral?: boolean;
  /** `-B`: the new container's backend. */
  backend?: string;
  progress?: Progress;
  /** Who asked: the new config is checked, and an ephemeral copy started, for it. */
  caller: Caller;
  /** Cancels the waits of an ephemeral copy's start. */
  signal?: AbortSignal;
  /**
   * A running source is copied by a copy-on-write snapshot where its backend
   * takes one atomically (else refused as without); a stopped one in full.
   */
  liveIfRunning?: boolean;
  /** Copy the snapshots too (full copies, as the new container's own; LXD's copy without `instance_only`). */
  withSnapshots?: boolean;
}

/**
 * `lxt copy` (lxc-copy): a new container `dst` from `src`, with its own
 * name, hostname and MAC addresses. A running source is refused unless the
 * copy is a snapshot its backend takes atomically. An ephemeral copy is
 * started, as lxc-copy -e does.
 */
export async function copyContainer(
  ctx: Context,
  src: ContainerPaths,
  dst: ContainerPaths,
  opts: CopyOptions,
): Promise<{ started?: Started }> {
  requireExists(src, "copy");
  if (src.lxcpath === dst.lxcpath && src.name === dst.name) {
    throw new LxtError("usage", `copy ${src.name}: the new name must differ (-N NEWNAME)`);
  }
  let cow = !!(opts.snapshot || opts.ephemeral);
  await withLock(ctx, src, async () => {
    const seen = await repairStale(ctx, src);
    if (seen.state !== "STOPPED") {
      const driver = storageDriver(rootfsRef(src, "copy").spec.backend, ctx.host.run);
      const sameBackend = !opts.backend || opts.backend === driver.name;
      // A live copy is a snapshot: never of storage lxt does not own (lxc.rootfs.managed = 0).
      const live = sameBackend && driver.capabilities.liveSnapshot && rootfsManaged(src.config);
      if (opts.liveIfRunning && live) cow = true;
      if (!(cow && sameBackend && driver.capabilities.liveSnapshot)) {
        throw new LxtError(
          "state",
          `copy ${src.name}: container is ${seen.state}; its ${driver.name} storage cannot be copied consistently while it runs (stop it first)`,
        );
      }
    }
    await withLock(ctx, dst, async () => {
      if (existsSync(dst.dir)) {
        throw new LxtError("exists", `copy ${src.name}: container ${dst.name} already exists`);
      }
      const rootfs = await cloneContainer(ctx, src, dst, {
        caller: opts.caller,
        cow,
        backend: opts.backend,
        hostname: dst.name,
        ephemeral: opts.ephemeral,
        progress: opts.progress,
      });
      // A failing clone hook undoes the copy, as lxc-copy's.
      await runCloneHooks(ctx, src, dst, rootfs, opts.caller.env).catch(async (err) => {
        await destroyStorageDir(ctx, dst).catch(() => {});
        throw err instanceof LxtError ? err.wrap(`copy ${src.name} to ${dst.name}`) : err;
      });
      if (opts.withSnapshots) await copySnapshots(ctx, src, dst, opts.caller);
    });
  });
  if (!opts.ephemeral) return {};
  return { started: await startContainer(ctx, dst, { caller: opts.caller, signal: opts.signal }) };
}

/** Files of a snapshot beside its config that its copy keeps (lxc-snapshot's). */
const SNAPSHOT_FILES = ["ts", "comment"];

/**
 * Copies every snapshot of `src` into the new container `dst` (under both
 * locks, after the rootfs): each a full copy on its own backend with the
 * new hostname. A failure removes the copies and `dst`.
 */
async function copySnapshots(
  ctx: Context,
  src: ContainerPaths,
  dst: ContainerPaths,
  caller: Caller,
): Promise<void> {
  const made: ContainerPaths[] = [];
  try {
    for (const s of listSnapshotNames(src)) {
      const from = snapshotPaths(ctx, src, s);
      const to = snapshotPaths(ctx, dst, s);
      mkdirSync(snapshotRoot(dst), { recursive: true, mode: 0o700 });
      await cloneContainer(ctx, from, to, { cow: false, hostname: dst.name, caller });
      made.push(to);
      for (const f of SNAPSHOT_FILES) {
        if (existsSync(join(from.dir, f))) copyFileSync(join(from.dir, f), join(to.dir, f));
      }
    }
  } catch (err) {
    for (const m of made.reverse()) await destroyStorageDir(ctx, m).catch(() => {});
    await destroyStorageDir(ctx, dst).catch(() => {});
    throw err;
  }
}
