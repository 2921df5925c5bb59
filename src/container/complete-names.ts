/**
 * The names `lxt __complete` offers that are read from directory listings
 * alone (containers, their states, snapshots, networks): no lock, no helper,
 * no repair, no cgroup. Loads only path and state readers, so that the CLI's
 * small completion entry (src/cli/complete-entry.ts) answers these kinds
 * without the CLI bundle. A container whose monitor is alive counts as
 * running, whatever its freezer says.
 */

import { type Context, runtimeRoot } from "../core/context.js";
import { listNetworkNames } from "../network/names.js";
import { containerPaths, listNames, listSnapshotNames } from "./paths.js";
import { deriveState, readMonitorFacts } from "./state.js";

/** The kinds answered here; complete.ts answers these and the rest. */
export const NAME_KINDS = {
  containers: "every container",
  running: "containers whose monitor runs (attach, stop, exec, console, freeze ...)",
  stopped: "stopped containers (start, destroy, copy ...)",
  snapshots: "the snapshots of the container given as the next argument",
  networks: "managed networks",
} as const;

/**
 * The words for `kind` under the state root, sorted, or undefined when
 * `kind` is not one of NAME_KINDS.
 */
export function nameWords(
  where: Pick<Context, "lxcpath" | "runDir">,
  kind: string,
  container?: string,
): string[] | undefined {
  // containerPaths' runtimeDir, without its eight other joins per container (path.join
  // of 100 containers was most of an answer); a listed name has no slash.
  const run = runtimeRoot(where.runDir, where.lxcpath);
  const running = (name: string) =>
    deriveState(readMonitorFacts({ runtimeDir: `${run}/${name}` })).state !== "STOPPED";
  switch (kind) {
    case "containers":
      return listNames(where.lxcpath);
    case "running":
      return listNames(where.lxcpath).filter(running);
    case "stopped":
      return listNames(where.lxcpath).filter((n) => !running(n));
    case "snapshots":
      if (!container || container.includes("/") || container.startsWith(".")) return [];
      return listSnapshotNames(containerPaths(where, container));
    case "networks":
      return listNetworkNames(where.lxcpath);
    default:
      return undefined;
  }
}
