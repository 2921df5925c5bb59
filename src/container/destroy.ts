import { rmdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { type ContainerPaths, requireExists } from "./paths.js";
import { repairStale, withLock } from "./runtime.js";
import { requireState } from "./state.js";
import { stopContainer } from "./stop.js";

/**
 * Destroys a container: its directory, with the rootfs when it lives there.
 * A running container is refused unless `force`, which kills it first.
 */
export async function destroyContainer(
  paths: ContainerPaths,
  opts: { force?: boolean },
): Promise<void> {
  requireExists(paths, "destroy");
  const seen = await withLock(paths, () => repairStale(paths));
  if (seen.state !== "STOPPED") {
    if (!opts.force) requireState("destroy", paths.name, seen.state);
    await stopContainer(paths, { kill: true, haltSignal: 9 });
  }
  await withLock(paths, async () => {
    const now = await repairStale(paths);
    requireState("destroy", paths.name, now.state);
    // Only the container's own directory goes: a rootfs elsewhere (`create
    // --rootfs DIR`, or an LXC config pointing at a tree) belongs to its owner.
    rmSync(paths.dir, { recursive: true, force: true });
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
