/**
 * The names shell completion offers (`lxt __complete KIND`), read straight
 * from the state root and the runtime directory: no lock, no helper, no
 * repair, no cgroup, so that it answers within a keystroke with hundreds of
 * containers. What only one kind needs is imported by that kind: starting
 * modules up is most of the cost (bench/complete.sh). A container whose
 * monitor is alive counts as running, whatever its freezer says.
 */

import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { containerPaths, listNames } from "./paths.js";
import { deriveState, readMonitorFacts } from "./state.js";

/** What can be completed, and what each offers. */
export const COMPLETION_KINDS = {
  containers: "every container",
  running: "containers whose monitor runs (attach, stop, exec, console, freeze ...)",
  stopped: "stopped containers (start, destroy, copy ...)",
  snapshots: "the snapshots of the container given as the next argument",
  images: "image aliases",
  networks: "managed networks",
  keys: "config keys (a pattern's variable part as its first value, `lxc.net.0.type`)",
} as const;

export type CompletionKind = keyof typeof COMPLETION_KINDS;

/** A key spec's name as a word to type: `[i]` → `0`; another variable part ends the word at its dot. */
function keyWord(name: string): string {
  const word = name.replace(/\[i\]/g, "0");
  const open = word.indexOf("[");
  return open < 0 ? word : word.slice(0, open);
}

/** The words for `kind` under the context's state root, sorted, one per name. */
export async function completionWords(
  where: Pick<Context, "lxcpath" | "runDir">,
  kind: string,
  container?: string,
): Promise<string[]> {
  const running = (name: string) => {
    const s = deriveState(readMonitorFacts(containerPaths(where, name))).state;
    return s !== "STOPPED";
  };
  switch (kind as CompletionKind) {
    case "containers":
      return listNames(where.lxcpath);
    case "running":
      return listNames(where.lxcpath).filter(running);
    case "stopped":
      return listNames(where.lxcpath).filter((n) => !running(n));
    case "snapshots":
      if (!container || container.includes("/") || container.startsWith(".")) return [];
      return (await import("./storage.js")).listSnapshotNames(containerPaths(where, container));
    case "images": {
      const { listImages } = await import("../images/store.js");
      return [...new Set(listImages(where.lxcpath).flatMap((m) => m.aliases))].sort();
    }
    case "networks":
      return (await import("../network/manage.js")).listNetworkNames(where.lxcpath);
    case "keys": {
      const { allKeySpecs } = await import("../config/keys.js");
      return [...new Set(allKeySpecs().map((s) => keyWord(s.name)))].sort();
    }
    default:
      throw new LxtError(
        "usage",
        `__complete: unknown kind "${kind}" (one of ${Object.keys(COMPLETION_KINDS).join(", ")})`,
      );
  }
}
