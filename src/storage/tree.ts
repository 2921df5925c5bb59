import { readFileSync, statfsSync } from "node:fs";
import type { CommandRunner } from "../host/runner.js";
import { type RootfsRef, rootDir } from "./driver.js";

/**
 * Copies the files of `src` (any backend) into the existing directory `dst`,
 * keeping owners, modes, xattrs, hard links and device nodes (`cp -a`),
 * sharing blocks where the filesystem can (`--reflink=auto`).
 *
 * An overlay's merged view exists only where it is mounted, so it is mounted
 * read-only (upper over lower, no work directory) in a private mount namespace
 * of a short-lived `unshare` whose only job is the copy: nothing is mounted on
 * the host, and the mount goes with that process.
 */
export async function copyTree(run: CommandRunner, src: RootfsRef, dst: string): Promise<void> {
  const s = src.spec;
  if (s.backend === "overlay") {
    await run.run("unshare", [
      "--mount",
      "--propagation",
      "private",
      "--",
      "sh",
      "-c",
      'mount -t overlay -o "$1" overlay "$2" && exec cp -a --reflink=auto -- "$2"/. "$3"/',
      "lxt-copy",
      `ro,lowerdir=${s.upper}:${s.lower}`,
      rootDir(src),
      dst,
    ]);
    return;
  }
  await run.run("cp", ["-a", "--reflink=auto", "--", `${rootDir(src)}/.`, `${dst}/`]);
}

/** Bytes used beneath `dir` on its own filesystem (`du -sx`). */
export async function diskUsage(run: CommandRunner, dir: string): Promise<number> {
  const out = await run.run("du", ["-s", "-x", "-B1", "--", dir]);
  const n = Number.parseInt(out, 10);
  return Number.isFinite(n) ? n : 0;
}

/** statfs(2) magic numbers (linux/magic.h). */
export const FS_MAGIC = { btrfs: 0x9123683e, zfs: 0x2fc12fc1 } as const;

/** The statfs magic of the filesystem holding `path` (its nearest existing ancestor). */
export function fsType(path: string): number {
  let p = path;
  for (;;) {
    try {
      return Number(statfsSync(p).type);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" || p === "/") throw err;
      p = p.slice(0, p.lastIndexOf("/")) || "/";
    }
  }
}

/** Whether the running kernel lists `fs` in /proc/filesystems. */
export function kernelHasFs(fs: string): boolean {
  try {
    return readFileSync("/proc/filesystems", "utf8")
      .split("\n")
      .some((l) => l.split("\t")[1] === fs);
  } catch {
    return false;
  }
}
