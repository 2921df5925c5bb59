import { existsSync, rmSync } from "node:fs";
import type { Context, LxtCommand } from "../core/context.js";
import type { WaitLimit } from "../core/wait.js";
import { writeFileAtomic } from "../host/atomic.js";
import { hostTool } from "../network/nic.js";
import { type ContainerPaths, ephemeralMarker } from "./paths.js";
import { repairStale, withLock } from "./runtime.js";

/** The PATH host commands run with from a monitor's hook. */
const HOOK_PATH = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * `lxc.ephemeral = 1`: the command the monitor runs as its last step, once
 * the init has ended and everything is cleaned up (an `exit-hook` record):
 * `lxt destroy --if-ephemeral`, which destroys the container when it is
 * still a stopped ephemeral one. So the container goes when it stops, as in
 * LXC, without anyone running `lxt ls`. `lxt` is how the front-end is run
 * again (`settings.lxtCommand`).
 */
export function reapCommand(paths: ContainerPaths, lxt: LxtCommand): string[] {
  const env = Object.entries(lxt.env).map(([k, v]) => `${k}=${v}`);
  return [
    hostTool("env"),
    "-i",
    HOOK_PATH,
    ...env,
    ...lxt.argv,
    "destroy",
    "--if-ephemeral",
    "-n",
    paths.name,
    "-P",
    paths.lxcpath,
  ];
}

/**
 * Marks (or unmarks) the container's current run as ephemeral, before its
 * monitor can end: `reapIfEphemeral` destroys only a marked container.
 */
export function markEphemeral(paths: ContainerPaths, ephemeral: boolean): void {
  if (ephemeral) writeFileAtomic(ephemeralMarker(paths), "1\n");
  else rmSync(ephemeralMarker(paths), { force: true });
}

/**
 * Destroys the container if it is a stopped ephemeral one (its last run was
 * marked ephemeral), under its lock: an explicit step, taken by `stop` and
 * by the monitor's exit hook, never by a read. Anything else (gone already,
 * restarted, not ephemeral) is left as it is. Returns whether it was
 * destroyed.
 */
export async function reapIfEphemeral(
  ctx: Context,
  paths: ContainerPaths,
  wait: WaitLimit = {},
): Promise<boolean> {
  if (!existsSync(ephemeralMarker(paths))) return false;
  // Loaded only here: destroy pulls in storage and snapshots, which a start needs for nothing else.
  const { removeContainer, removeLockFile } = await import("./destroy.js");
  const reaped = await withLock(
    ctx,
    paths,
    async () => {
      // Looked at again under the lock: another command may have destroyed or restarted it.
      if (!existsSync(paths.config) || !existsSync(ephemeralMarker(paths))) return false;
      if ((await repairStale(ctx, paths)).state !== "STOPPED") return false;
      await removeContainer(ctx, paths, false);
      return true;
    },
    wait,
  );
  if (reaped) removeLockFile(paths);
  return reaped;
}
