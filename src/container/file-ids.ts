/**
 * Pure parts of file access inside a container (container/files.ts): the
 * container path a request names, and how the container's uids and gids
 * relate to the ids the helper sees in the tree it works on.
 */

import { posix } from "node:path";
import { formatIdmap, type IdmapLine } from "../config/idmap.js";
import { LxtError } from "../core/errors.js";

/** The id the kernel shows for an id that a namespace does not map (overflowuid). */
export const OVERFLOW_ID = 65534;

/**
 * The absolute, clean container path of a request's `path`: a missing
 * leading `/` added (the stock client sends relative paths), `.`, `..` and
 * repeated or trailing slashes folded lexically, never above `/` (as LXD's
 * SFTP server cleans paths). The helper resolves the result beneath the
 * container's root, so symlinks cannot lead out either.
 */
export function containerPath(raw: string): string {
  if (raw === "") throw new LxtError("usage", "Missing path argument");
  if (raw.includes("\0")) throw new LxtError("usage", "Invalid path: it contains a NUL byte");
  const p = posix.normalize(`/${raw}`);
  return p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p;
}

/**
 * What a GET of a symlink answers, as LXD: its target made absolute against
 * the link's directory and cleaned (not resolved further).
 */
export function symlinkAnswer(linkPath: string, target: string): string {
  return containerPath(target.startsWith("/") ? target : `${posix.dirname(linkPath)}/${target}`);
}

/**
 * How the container's ids relate to the tree the helper works on:
 * `valid` is the container's map (ids outside it cannot be given to a file;
 * undefined: privileged, any id), `onDisk` the map the tree's ownership is
 * shifted by when the helper sees host ids (undefined: it sees the
 * container's own ids, because it joined the user namespace or the tree is
 * stored host-neutral).
 */
export interface IdView {
  valid?: readonly IdmapLine[];
  onDisk?: readonly IdmapLine[];
}

function lookup(
  map: readonly IdmapLine[],
  kind: "u" | "g",
  id: number,
  from: "nsid" | "hostid",
): number | undefined {
  const to = from === "nsid" ? "hostid" : "nsid";
  for (const l of map) {
    if (l.kind === kind && id >= l[from] && id < l[from] + l.range) return l[to] + (id - l[from]);
  }
  return undefined;
}

/** The id the helper must write for the container's `id`; throws when the container's map lacks it. */
export function idToTree(view: IdView, kind: "u" | "g", id: number, instance: string): number {
  const name = kind === "u" ? "uid" : "gid";
  if (!Number.isInteger(id) || id < 0 || id > 0xfffffffe) {
    throw new LxtError("usage", `Invalid ${name} ${id}`);
  }
  if (view.valid && lookup(view.valid, kind, id, "nsid") === undefined) {
    throw new LxtError(
      "usage",
      `${name} ${id} is not mapped in instance "${instance}" (its id map: ${formatIdmap(view.valid.filter((l) => l.kind === kind))})`,
    );
  }
  return view.onDisk ? (lookup(view.onDisk, kind, id, "nsid") as number) : id;
}

/** The container's id for an id the helper read from the tree (the overflow id when unmapped, as the kernel shows it). */
export function idFromTree(view: IdView, kind: "u" | "g", id: number): number {
  if (!view.onDisk) return id;
  return lookup(view.onDisk, kind, id, "hostid") ?? OVERFLOW_ID;
}
