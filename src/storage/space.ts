import { statfsSync } from "node:fs";
import { errnoCode, LxtError } from "../core/errors.js";

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
  if (!isNoSpace(err)) return err;
  let left = "";
  try {
    const s = statfsSync(where);
    left = ` (${human(Number(s.bavail) * Number(s.bsize))} free of ${human(Number(s.blocks) * Number(s.bsize))})`;
  } catch {}
  return new LxtError(
    "no-space",
    `${what}: no space left on the filesystem of ${where}${left}; nothing was kept`,
    err,
  );
}
