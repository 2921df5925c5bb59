import { existsSync } from "node:fs";
import { destroyContainer } from "./destroy.js";
import { type ContainerPaths, ephemeralMarker } from "./paths.js";
import { observe } from "./state.js";

/**
 * `lxc.ephemeral = 1`: a container that has stopped is destroyed. `stop`
 * does it at once; a container that shut itself down is destroyed by the
 * next command that looks at it (`ls`, `info`, `start`...). Returns whether
 * it was destroyed.
 */
export async function reapIfEphemeral(paths: ContainerPaths): Promise<boolean> {
  if (!existsSync(ephemeralMarker(paths))) return false;
  if (observe(paths).state !== "STOPPED") return false;
  await destroyContainer(paths, {});
  return true;
}
