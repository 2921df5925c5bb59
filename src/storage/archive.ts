/**
 * Tarballs of root filesystems through GNU tar (node-tar drops device nodes
 * and xattrs: /work/shared/notes/ts-stack.md). Pure helpers pick flags and
 * compressions; `runTar` is the one place tar is spawned.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readSync } from "node:fs";
import type { Env } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { diesWithParent } from "../host/runner.js";

export const COMPRESSIONS = ["none", "xz", "zstd", "gzip", "bzip2"] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/** What keeps a rootfs exact: numeric owners, modes, xattrs (capabilities included). */
export const TAR_KEEP = ["--numeric-owner", "--xattrs", "--xattrs-include=*", "-p"] as const;

/** The compression of an archive from its first bytes (magic numbers). */
export function detectCompression(head: Uint8Array): Compression {
  const b = (i: number) => head[i] ?? -1;
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a)
    return "xz";
  if (b(0) === 0x28 && b(1) === 0xb5 && b(2) === 0x2f && b(3) === 0xfd) return "zstd";
  if (b(0) === 0x1f && b(1) === 0x8b) return "gzip";
  if (b(0) === 0x42 && b(1) === 0x5a && b(2) === 0x68) return "bzip2";
  return "none";
}

/** The compression a file name asks for (`.tar.xz`, `.txz`, `.tar.zst`, ...), or undefined. */
export function compressionFromName(file: string): Compression | undefined {
  if (/\.(tar\.xz|txz)$/.test(file)) return "xz";
  if (/\.(tar\.zst|tar\.zstd|tzst)$/.test(file)) return "zstd";
  if (/\.(tar\.gz|tgz)$/.test(file)) return "gzip";
  if (/\.(tar\.bz2|tbz2)$/.test(file)) return "bzip2";
  if (/\.tar$/.test(file)) return "none";
  return undefined;
}

/** tar's flags to write (`create`) or read an archive with compression `c` (multi-threaded writers). */
export function compressionArgs(c: Compression, mode: "create" | "read"): string[] {
  switch (c) {
    case "none":
      return [];
    case "xz":
      return mode === "create" ? ["-I", "xz -T0"] : ["--xz"];
    case "zstd":
      return mode === "create" ? ["-I", "zstd -T0 -q"] : ["--zstd"];
    case "gzip":
      return ["--gzip"];
    case "bzip2":
      return ["--bzip2"];
  }
}

/** The compression of the archive `file`, from its magic number. */
export function fileCompression(file: string): Compression {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new LxtError(code === "ENOENT" ? "not-found" : "system", `${file}: ${code}`, err);
  }
  try {
    const head = Buffer.alloc(6);
    readSync(fd, head, 0, 6, 0);
    return detectCompression(head);
  } finally {
    closeSync(fd);
  }
}

/**
 * Runs `cmd args` (tar, or a wrapper such as `unshare ... tar`), streaming
 * stdout lines to `onLine` when given (listings can be long), and rejects
 * with an LxtError carrying tar's last stderr lines.
 */
export function runTar(
  cmd: string,
  args: readonly string[],
  opts: {
    what: string;
    /** The environment it runs in (the front-end's); `LC_ALL=C` is added. */
    env: Env;
    onLine?: (line: string) => boolean | undefined;
    /**
     * Exit status 1 ("some files differ": a file changed or went while it
     * was read) is success: for an archive of a tree in use, made
     * consistent by a later incremental one.
     */
    differsOk?: boolean;
  },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const [file, argv] = diesWithParent(cmd, args);
    const child = spawn(file, argv, {
      stdio: ["ignore", opts.onLine ? "pipe" : "ignore", "pipe"],
      env: { ...opts.env, LC_ALL: "C" },
    });
    let stderr = "";
    let noSpace = false;
    let stopped = false;
    let rest = "";
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      stderr = (stderr + d).slice(-4096);
      noSpace ||= /No space left on device/.test(d);
    });
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      if (stopped) return;
      const lines = (rest + d).split("\n");
      rest = lines.pop() ?? "";
      for (const l of lines) {
        if (opts.onLine?.(l) === false) {
          stopped = true;
          child.kill("SIGTERM");
          return;
        }
      }
    });
    child.on("error", (err) => {
      const code = (err as NodeJS.ErrnoException).code;
      reject(
        code === "ENOENT"
          ? new LxtError("host", `${opts.what}: ${cmd}: not installed`, err)
          : new LxtError("system", `${opts.what}: ${err.message}`, err),
      );
    });
    child.on("close", (code) => {
      if (!stopped && rest && opts.onLine) opts.onLine(rest);
      if (code === 0 || stopped || (code === 1 && opts.differsOk)) return resolve();
      if (code === 127 && /failed to execute/.test(stderr)) {
        return reject(new LxtError("host", `${opts.what}: ${cmd}: not installed`));
      }
      const why = stderr
        .trim()
        .split("\n")
        .filter((l, i, all) => l && !/^tar: Exiting with failure/.test(l) && all.indexOf(l) === i)
        .slice(-3)
        .join("; ");
      // Later lines are often consequences (a failed mkdir's ENOENTs): name the cause first.
      const cause = noSpace && !/No space left/.test(why) ? "No space left on device; " : "";
      reject(new LxtError("system", `${opts.what}: ${cause}${why || `${cmd} exited ${code}`}`));
    });
  });
}

/** The text of one member of archive `file` (the first of that name), without unpacking the rest. */
export async function readArchiveMember(env: Env, file: string, member: string): Promise<string> {
  const lines: string[] = [];
  await runTar(
    "tar",
    [
      "-x",
      "-O",
      "-f",
      file,
      ...compressionArgs(fileCompression(file), "read"),
      "--occurrence=1",
      member,
    ],
    { what: `read ${member} from ${file}`, env, onLine: (l) => void lines.push(l) },
  );
  return lines.join("\n");
}
