import { statfsSync } from "node:fs";
import { errnoCode, LxtError } from "../core/errors.js";

/** Less free than this after a failure counts as a full disk, whatever the error said. */
const FULL_BELOW = 1024 * 1024;
const NO_SPACE_RE = /No space left on device|ENOSPC|Disk quota exceeded|EDQUOT/;

/** Whether an error (ours, Node's, or a command's stderr in a message) is a full disk or quota. */
export function isNoSpace(err: unknown): boolean {
  const code = errnoCode(err);
  if (code === "ENOSPC" || code === "EDQUOT") return true;
  if (err instanceof LxtError && err.cause && isNoSpace(err.cause)) return true;
  return err instanceof Error && NO_SPACE_RE.test(err.message);
}

function human(n: number): string {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${u[i]}`;
}

/**
 * `err` as a `no-space` error naming the operation and the filesystem of
 * `where` with what is left on it, when it is a full disk; else `err` as is.
 * Callers have already undone their partial work.
 */
export function explainNoSpace(err: unknown, what: string, where: string): unknown {
  let left = "";
  let full = false;
  try {
    const s = statfsSync(where);
    const free = Number(s.bavail) * Number(s.bsize);
    left = ` (${human(free)} free of ${human(Number(s.blocks) * Number(s.bsize))})`;
    // A full disk surfaces as other errors too (a tool's ENOENT after its failed mkdir).
    // btrfs reports no inode counts at all (files = ffree = 0): only a counted table can run out.
    full = free < FULL_BELOW || (Number(s.files) > 0 && Number(s.ffree) === 0);
  } catch {}
  if (!isNoSpace(err) && !full) return err;
  return new LxtError(
    "no-space",
    `${what}: no space left on the filesystem of ${where}${left}; nothing was kept`,
    err,
  );
}
