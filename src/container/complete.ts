/**
 * The names shell completion offers (`lxt __complete KIND`), read straight
 * from the state root and the runtime directory (complete-names.ts for the
 * names of containers, snapshots and networks). What only one kind needs is
 * imported by that kind: starting modules up is most of the cost
 * (bench/complete.sh).
 */

import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { NAME_KINDS, nameWords } from "./complete-names.js";

/** What can be completed, and what each offers. */
export const COMPLETION_KINDS = {
  ...NAME_KINDS,
  images: "image aliases",
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
  const names = nameWords(where, kind, container);
  if (names) return names;
  switch (kind as CompletionKind) {
    case "images": {
      const { listImages } = await import("../images/store.js");
      return [...new Set(listImages(where.lxcpath).flatMap((m) => m.aliases))].sort();
    }
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
