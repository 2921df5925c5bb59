import { rmdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { type Context, rootId } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { unloadAppArmorProfile } from "../host/apparmor.js";
import { releaseHosts } from "../network/reserve.js";
import { appArmorProfileName } from "../security/apparmor.js";
import { runDestroyHooks } from "./hooks.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { repairStale, withLock } from "./runtime.js";
import { destroyStorageDir, requireNoDependents } from "./snapshot.js";
import { requireState } from "./state.js";
import { stopContainer } from "./stop.js";
import { listSnapshotNames, snapshotPaths } from "./storage.js";

/** What `destroy` is asked for. */
export interface DestroyOptions {
  /** Kill a running container first. */
  force?: boolean;
  /** Destroy its snapshots too (else they refuse the destroy). */
  snapshots?: boolean;
  /** Cancels the destroy's waits (the lock's limit is the context's). */
  signal?: AbortSignal;
}

/**
 * Destroys a container: its directory, with the rootfs when it lives there.
 * A running container is refused unless `force`, which kills it first.
 */
export async function destroyContainer(
  ctx: Context,
  paths: ContainerPaths,
  opts: DestroyOptions,
): Promise<void> {
  requireExists(paths, "destroy");
  const wait = { signal: opts.signal };
  const seen = await withLock(ctx, paths, () => repairStale(ctx, paths), wait);
  if (seen.state !== "STOPPED") {
    if (!opts.force) requireState("destroy", paths.name, seen.state);
    await stopContainer(ctx, paths, { kill: true, haltSignal: 9, signal: opts.signal });
  }
  await withLock(
    ctx,
    paths,
    async () => {
      const now = await repairStale(ctx, paths);
      requireState("destroy", paths.name, now.state);
      await removeContainer(ctx, paths, opts.snapshots ?? false);
    },
    wait,
  );
  removeLockFile(paths);
}

/**
 * Removes a stopped container: its snapshots (refused unless `snapshots`),
 * its AppArmor profile and its storage. Call with its lock held.
 */
export async function removeContainer(
  ctx: Context,
  paths: ContainerPaths,
  snapshots: boolean,
): Promise<void> {
  await requireNoDependents(ctx, paths);
  const snaps = listSnapshotNames(paths);
  if (snaps.length > 0 && !snapshots) {
    throw new LxtError(
      "state",
      `destroy ${paths.name}: it has snapshots (${snaps.join(", ")}); -s destroys them too`,
    );
  }
  // lxc.hook.destroy first: a failing one keeps everything (LXC's container_destroy).
  await runDestroyHooks(ctx, paths, {}).catch((err) => {
    throw err instanceof LxtError ? err.wrap(`destroy ${paths.name}`) : err;
  });
  for (const s of snaps) await destroyStorageDir(ctx, snapshotPaths(ctx, paths, s));
  // The generated AppArmor profile goes out of the kernel with the container.
  await unloadAppArmorProfile(
    paths.dir,
    appArmorProfileName(paths.name, rootId(paths.lxcpath)),
    ctx.host.run,
    ctx.host.facts.apparmor(),
  );
  // Only the container's own storage goes: a rootfs elsewhere (`create
  // --rootfs DIR`, or an LXC config pointing at a tree) belongs to its owner.
  await destroyStorageDir(ctx, paths);
  // Its addresses on managed networks go back to their DHCP ranges.
  await releaseHosts(ctx, paths.name);
}

/** Removes a destroyed container's lock file, and the runtime root with its last container. */
export function removeLockFile(paths: ContainerPaths): void {
  rmSync(paths.lockFile, { force: true });
  for (const dir of [dirname(paths.lockFile), dirname(dirname(paths.lockFile))]) {
    try {
      rmdirSync(dir);
    } catch {
      break;
    }
  }
}
