/**
 * The one door from the cgroup driver to the host: a tiny synchronous file
 * interface (cgroup files are a few bytes; sync keeps the transactions simple)
 * and a `kill` function. Unit tests pass a temp-dir tree or a fake instead.
 */

import * as nodeFs from "node:fs";

/** A directory entry as `CgroupFs.readdir` returns it. */
export interface CgroupDirEntry {
  name: string;
  isDirectory: boolean;
}

/**
 * What the cgroup driver needs from a filesystem. Every method throws a Node
 * style error with an errno `code` (`ENOENT`, `EBUSY`, ...) on failure, so
 * callers can branch with `errnoCode`.
 */
export interface CgroupFs {
  /** The whole file as UTF-8 text. */
  readFile(path: string): string;
  /** Writes `data` in one write(2), without creating or truncating (cgroupfs style). */
  writeFile(path: string, data: string): void;
  /** Creates one directory (not recursive); throws `EEXIST` if it exists. */
  mkdir(path: string): void;
  /** Removes one directory; cgroupfs allows this while control files remain. */
  rmdir(path: string): void;
  /** The entries of a directory. */
  readdir(path: string): CgroupDirEntry[];
  /** Whether `path` exists (never throws). */
  exists(path: string): boolean;
}

/** Sends a signal to a pid, like `process.kill`; throws `ESRCH` if it is gone. */
export type KillFn = (pid: number, signal: NodeJS.Signals) => void;

/** `CgroupFs` on the real filesystem through `node:fs`. */
export const nodeCgroupFs: CgroupFs = {
  readFile: (path) => nodeFs.readFileSync(path, "utf8"),
  writeFile: (path, data) => {
    // Cgroup control files take one value per write(2); "r+" neither creates
    // nor truncates, which cgroupfs would reject or ignore anyway.
    const fd = nodeFs.openSync(path, "r+");
    try {
      nodeFs.writeSync(fd, data);
    } finally {
      nodeFs.closeSync(fd);
    }
  },
  mkdir: (path) => nodeFs.mkdirSync(path),
  rmdir: (path) => nodeFs.rmdirSync(path),
  readdir: (path) =>
    nodeFs
      .readdirSync(path, { withFileTypes: true })
      .map((d) => ({ name: d.name, isDirectory: d.isDirectory() })),
  exists: (path) => nodeFs.existsSync(path),
};

/** `KillFn` on the real host. */
export const nodeKill: KillFn = (pid, signal) => {
  process.kill(pid, signal);
};

/**
 * Whether a kept cgroupfs file is one record: the kernel renders every
 * control file whole into one buffer (kernfs's single-record seq_file)
 * except the process lists, which it renders a record per task. A read
 * of such a file that comes back shorter than asked is then all of it.
 */
function oneRecord(path: string): boolean {
  const base = path.slice(path.lastIndexOf("/") + 1);
  return base !== "cgroup.procs" && base !== "cgroup.threads" && base !== "tasks";
}

/** statfs(2) magics of cgroupfs: the files whose open descriptors always read afresh. */
const CGROUP_MAGICS = new Set([0x27e0eb, 0x63677270]);

/**
 * `CgroupFs` for a long-running front-end (lxtd) that reads the same
 * containers' cgroup files again and again (every list, every metrics
 * scrape): a cgroupfs file read once stays open, and the next read is one
 * pread(2) at offset 0 instead of a path walk, open and close. A cgroupfs
 * file is a seq_file, so a read at offset 0 renders its figures anew; once
 * its cgroup is removed the descriptor reads ENODEV (even when a cgroup of
 * the same path is made again), and it is then reopened by path. Only files
 * that statfs(2) shows on cgroupfs are kept (never /proc, never a regular
 * file whose descriptor could outlive a rename). At most `max` are kept,
 * the least recently read closed first; a removed dir's are closed at once.
 */
export function heldCgroupFs(max: number, base: CgroupFs = nodeCgroupFs): CgroupFs {
  const held = new Map<string, number>();
  let buf = Buffer.allocUnsafe(16384);
  const close = (fd: number) => {
    try {
      nodeFs.closeSync(fd);
    } catch {
      // already unusable: nothing to release
    }
  };
  const readAll = (fd: number, whole: boolean): string => {
    let len = 0;
    for (;;) {
      if (len === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, len);
        buf = bigger;
      }
      const want = buf.length - len;
      const n = nodeFs.readSync(fd, buf, len, want, len);
      len += n;
      // One record fits one read when there is room for it: no read for the end of the file.
      if (n === 0 || (whole && n < want)) break;
    }
    return buf.toString("utf8", 0, len);
  };
  const onCgroupFs = (path: string) => {
    if (path.startsWith("/proc/")) return false;
    try {
      return CGROUP_MAGICS.has(Number(nodeFs.statfsSync(path).type));
    } catch {
      return false;
    }
  };
  return {
    ...base,
    readFile: (path) => {
      const kept = held.get(path);
      if (kept !== undefined) {
        held.delete(path);
        try {
          const text = readAll(kept, oneRecord(path));
          held.set(path, kept);
          return text;
        } catch {
          // its cgroup is gone (ENODEV): what the path names now is read below
          close(kept);
        }
      }
      const fd = nodeFs.openSync(path, "r");
      let text: string;
      try {
        text = readAll(fd, false);
      } catch (err) {
        close(fd);
        throw err;
      }
      if (!onCgroupFs(path)) {
        close(fd);
        return text;
      }
      held.set(path, fd);
      for (const [p, old] of held) {
        if (held.size <= max) break;
        held.delete(p);
        close(old);
      }
      return text;
    },
    rmdir: (path) => {
      for (const [p, fd] of held) {
        if (p.startsWith(`${path}/`)) {
          held.delete(p);
          close(fd);
        }
      }
      base.rmdir(path);
    },
  };
}
