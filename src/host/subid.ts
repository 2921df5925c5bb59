/**
 * The host side of user namespaces: root's subordinate id ranges in
 * /etc/subuid and /etc/subgid (added when missing, as LXD does), and the
 * helper's `idmap-probe` and `shift` modes (docs/helper-protocol.md).
 */

import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statfsSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  DEFAULT_SUBID_COUNT,
  formatIdmap,
  type IdmapLine,
  newRootRangeStart,
  parseSubid,
  rootRanges,
  type SubidRange,
} from "../config/idmap.js";
import type { ValueError } from "../config/values.js";
import { LxtError } from "../core/errors.js";
import { writeFileAtomic } from "./atomic.js";

/** Where root's subordinate ids are listed: `/etc/subuid` and `/etc/subgid` on a real host. */
export interface SubidFiles {
  uid: string;
  gid: string;
}

/** Root's ranges in one file; with none, adds `root:START:1000000000` atomically and says so in `notes`. */
function rootRangesOf(file: string, notes: string[]): SubidRange[] {
  let text = "";
  try {
    text = existsSync(file) ? readFileSync(file, "utf8") : "";
  } catch (err) {
    throw new LxtError("host", `read ${file}: ${(err as Error).message}`, err);
  }
  let all: SubidRange[];
  try {
    all = parseSubid(text, file);
  } catch (err) {
    throw new LxtError("host", (err as ValueError).message, err);
  }
  const mine = rootRanges(all);
  if (mine.length > 0) return mine;
  const added: SubidRange = {
    owner: "root",
    start: newRootRangeStart(all),
    count: DEFAULT_SUBID_COUNT,
  };
  const line = `root:${added.start}:${added.count}\n`;
  const mode = existsSync(file) ? statSync(file).mode & 0o7777 : 0o644;
  try {
    writeFileAtomic(
      file,
      text === "" || text.endsWith("\n") ? text + line : `${text}\n${line}`,
      mode,
    );
  } catch (err) {
    throw new LxtError("host", `add root's range to ${file}: ${(err as Error).message}`, err);
  }
  notes.push(
    `${file} had no range for root: added "${line.trim()}" for unprivileged containers (as LXD does)`,
  );
  return [added];
}

/** Root's subordinate uid and gid ranges, adding them if missing (messages in `notes`). */
export function rootSubids(
  f: SubidFiles,
  notes: string[],
): { uids: SubidRange[]; gids: SubidRange[] } {
  return { uids: rootRangesOf(f.uid, notes), gids: rootRangesOf(f.gid, notes) };
}

/** Runs `helper ARGS`, which prints `ok` or an error line; never blocks the event loop. */
function runShim(
  helper: string,
  args: string[],
  what: string,
): Promise<{ ok: boolean; line: string }> {
  return new Promise((resolve, reject) => {
    execFile(helper, args, { encoding: "utf8" }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: unknown }) | null;
      // A non-zero exit is the helper's answer; failing to run it is not.
      if (e && typeof e.code === "string") {
        return reject(new LxtError("host", `${what}: ${e.message}`, e));
      }
      const line = stdout.trim();
      resolve({ ok: !e && line === "ok", line: line || stderr.trim() });
    });
  });
}

/**
 * The probe's verdict as a cache file says it: `ok`, or `no` with the probe's
 * error line. Only the answer to the question itself is kept: a refusal of
 * open_tree(2) or mount_setattr(2). A failure on the way there (fork,
 * unshare, a map write) may be passing, so it is asked again next time.
 */
export function probeVerdictText(r: { ok: boolean; line: string }): string | undefined {
  if (r.ok) return "ok\n";
  return /^error idmap (open_tree|mount_setattr) /.test(r.line) ? `no ${r.line}\n` : undefined;
}

/**
 * The cache key of the filesystem at `path`: its device number and
 * filesystem type (statfs(2) f_type). Whether a mount can be idmapped is a
 * property of the filesystem and the kernel (FS_ALLOW_IDMAP), so one probe
 * per filesystem is enough until the next boot.
 */
export function probeKey(path: string): string {
  const dev = statSync(path, { bigint: true }).dev;
  const type = statfsSync(path, { bigint: true }).type;
  return `${dev.toString(16)}-${type.toString(16)}`;
}

/**
 * Whether the filesystem(s) at `path` take idmapped mounts (mount_setattr(2)
 * MOUNT_ATTR_IDMAP). With `cacheDir` (under the runtime directory, a tmpfs
 * emptied at boot, so a new kernel is always probed afresh), the verdict is
 * kept per filesystem and the helper runs only for a filesystem not seen yet.
 */
export async function canIdmap(helper: string, path: string, cacheDir?: string): Promise<boolean> {
  const probe = () => runShim(helper, ["idmap-probe", path], `probe idmapped mounts on ${path}`);
  if (!cacheDir) return (await probe()).ok;
  let file: string;
  try {
    file = join(cacheDir, probeKey(path));
  } catch {
    return (await probe()).ok;
  }
  try {
    const text = readFileSync(file, "utf8");
    if (text === "ok\n") return true;
    if (text.startsWith("no ")) return false;
  } catch {
    // Not probed yet on this filesystem.
  }
  const r = await probe();
  const verdict = probeVerdictText(r);
  if (verdict) {
    try {
      mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
      writeFileAtomic(file, verdict, 0o600, false);
    } catch {
      // A cache that cannot be written only costs the next start a probe.
    }
  }
  return r.ok;
}

/**
 * Rewrites the ownership of the tree at `root` from map `from` to map `to`
 * (`[]`: host-neutral, unshifted), keeping setuid bits, file capabilities
 * and ACLs (the helper's `shift` mode).
 */
export async function shiftTree(
  helper: string,
  root: string,
  from: readonly IdmapLine[],
  to: readonly IdmapLine[],
): Promise<void> {
  const text = (m: readonly IdmapLine[]) => (m.length === 0 ? "none" : formatIdmap(m));
  const r = await runShim(
    helper,
    ["shift", root, text(from), text(to)],
    `shift ownership of ${root}`,
  );
  if (!r.ok) throw new LxtError("system", `shift ownership of ${root}: ${r.line}`);
}
