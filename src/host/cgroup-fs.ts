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
