import { rmdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { type Context, rootId } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { unloadAppArmorProfile } from "../host/apparmor.js";
import { appArmorProfileName } from "../security/apparmor.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { repairStale, withLock } from "./runtime.js";
import { destroyStorageDir, requireNoDependents } from "./snapshot.js";
import { requireState } from "./state.js";
import { stopContainer } from "./stop.js";
import { listSnapshotNames, snapshotPaths } from "./storage.js";

/**
 * Destroys a container: its directory, with the rootfs when it lives there.
 * A running container is refused unless `force`, which kills it first.
 */
export async function destroyContainer(
  ctx: Context,
  paths: ContainerPaths,
  opts: { force?: boolean; snapshots?: boolean },
): Promise<void> {
  requireExists(paths, "destroy");
  const seen = await withLock(ctx, paths, () => repairStale(ctx, paths));
  if (seen.state !== "STOPPED") {
    if (!opts.force) requireState("destroy", paths.name, seen.state);
    await stopContainer(ctx, paths, { kill: true, haltSignal: 9 });
  }
  await withLock(ctx, paths, async () => {
    const now = await repairStale(ctx, paths);
    requireState("destroy", paths.name, now.state);
    await requireNoDependents(ctx, paths);
    const snaps = listSnapshotNames(paths);
    if (snaps.length > 0 && !opts.snapshots) {
      throw new LxtError(
        "state",
        `destroy ${paths.name}: it has snapshots (${snaps.join(", ")}); -s destroys them too`,
      );
    }
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
  });
  rmSync(paths.lockFile, { force: true });
  // The runtime root of this state root goes with its last container.
  for (const dir of [dirname(paths.lockFile), dirname(dirname(paths.lockFile))]) {
    try {
      rmdirSync(dir);
    } catch {
      break;
    }
  }
}
