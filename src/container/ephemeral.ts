import { existsSync } from "node:fs";
import type { Context } from "../core/context.js";
import { type ContainerPaths, ephemeralMarker } from "./paths.js";
import { observe } from "./state.js";

/**
 * `lxc.ephemeral = 1`: a container that has stopped is destroyed. `stop`
 * does it at once; a container that shut itself down is destroyed by the
 * next command that looks at it (`ls`, `info`, `start`...). Returns whether
 * it was destroyed.
 */
export async function reapIfEphemeral(ctx: Context, paths: ContainerPaths): Promise<boolean> {
  if (!existsSync(ephemeralMarker(paths))) return false;
  if (observe(ctx, paths).state !== "STOPPED") return false;
  // Loaded only here: destroy pulls in the config registry, storage and
  // snapshots, which `ls` and `info` need for nothing else.
  const { destroyContainer } = await import("./destroy.js");
  await destroyContainer(ctx, paths, {});
  return true;
}
