/**
 * Files inside a container: read (a file's bytes, a directory's names, a
 * symlink's target), write (a file, a directory, a symlink) and delete one
 * path, for lxtd's `/1.0/instances/NAME/files`. The helper does the I/O
 * (`lxt-shim file`, docs/helper-protocol.md): in the running container's
 * own mount namespace (and user namespace, as its root), so the container
 * sees a write at once, overlays included, and the kernel applies its id
 * map; or, stopped, on its rootfs under its lock (an overlay mounted in a
 * private namespace of the helper's). Paths are resolved beneath the root
 * by the kernel (openat2 RESOLVE_IN_ROOT), never by joining strings here.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { finished, PassThrough, pipeline, Readable, type Writable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { getSystemErrorMap } from "node:util";
import { parseIdmapLine, parseIdmapText, sliceMap } from "../config/idmap.js";
import { ConfigDocument } from "../config/write.js";
import type { Context } from "../core/context.js";
import { type ErrorCode, LxtError } from "../core/errors.js";
import { type HelperFailure, parseErrorLine } from "../host/helper-protocol.js";
import type { HeldLock } from "../host/shim.js";
import { rootDir, startMounts } from "../storage/driver.js";
import { containerPath, type IdView, idFromTree, idToTree, symlinkAnswer } from "./file-ids.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { repairStale } from "./runtime.js";
import { readRuntimePlan } from "./runtime-cgroups.js";
import { observe } from "./state.js";
import { rootfsRef } from "./storage.js";

export type FileType = "file" | "directory" | "symlink";

/** What a path is, in the container's ids. */
export interface FileMeta {
  type: FileType;
  uid: number;
  gid: number;
  /** Permission bits (07777). */
  mode: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
}

/** A read: the metadata, then the content (bytes of a file, names of a directory, target of a symlink). */
export type FileRead = FileMeta &
  (
    | { type: "file"; body: Readable; done: Promise<void> }
    | { type: "directory"; entries: string[] }
    | { type: "symlink"; target: string }
  );

export interface WriteOptions {
  type: FileType;
  /** Container ids and mode for a new object (defaults: 0, 0, 0644 for a file, 0750 for a directory). */
  uid?: number;
  gid?: number;
  mode?: number;
  /** Append to an existing file instead of replacing it. */
  append?: boolean;
  /** Which of uid, gid, mode also change an existing file (LXD's `X-LXD-modify-perm`); by default it keeps its own. */
  modifyExisting?: readonly ("uid" | "gid" | "mode")[];
}

/** Where the helper works and how ids relate there, with the lock a stopped container is held by. */
interface Target {
  args: string[];
  ids: IdView;
  lock?: HeldLock;
}

/** The container's map (ids a file may get) and the map its tree is shifted by on disk, from its config. */
function configIds(paths: ContainerPaths): IdView {
  const doc = ConfigDocument.parse(readFileSync(paths.config, "utf8"), paths.config);
  const shift = parseIdmapText(doc.get("lxt.volatile.rootfs.shift") ?? "");
  const onDisk = shift.length > 0 ? shift : undefined;
  const lines = doc.getAll("lxc.idmap").filter((v) => v !== "");
  if (lines.length > 0) return { valid: lines.map(parseIdmapLine), onDisk };
  const priv = doc.get("lxt.privileged");
  if (priv !== "0" && priv !== "false") return { onDisk };
  // A slice (allocated or not yet): 0..65535 inside, whatever its base.
  return { valid: sliceMap(Number(doc.get("lxt.volatile.idmap.base") ?? 0)), onDisk };
}

async function resolveTarget(ctx: Context, paths: ContainerPaths, verb: string): Promise<Target> {
  requireExists(paths, verb);
  for (let tries = 0; tries < 3; tries++) {
    const seen = observe(ctx, paths);
    if ((seen.state === "RUNNING" || seen.state === "FROZEN") && seen.init) {
      const map = (readRuntimePlan(ctx, paths)?.records.get("idmap") ?? []).map((f) =>
        parseIdmapLine(f.join(" ")),
      );
      return {
        args: ["--pid", String(seen.init.pid), "--pid-start", seen.init.start],
        ids: { valid: map.length > 0 ? map : undefined },
      };
    }
    if (seen.state !== "STOPPED") {
      throw new LxtError(
        "state",
        `${verb} ${paths.name}: the container is ${seen.state.toLowerCase()}`,
      );
    }
    // Stopped: hold the lock so no start shifts or mounts the tree meanwhile.
    const lock = await ctx.host.lock(paths.lockFile, paths.name);
    try {
      if ((await repairStale(ctx, paths)).state !== "STOPPED") {
        await lock.release();
        continue;
      }
      const ref = rootfsRef(paths, verb);
      const args = ["--root", rootDir(ref)];
      for (const m of startMounts(ref)) args.push("--mount", m.source, m.fstype, m.target, m.data);
      return { args, ids: configIds(paths), lock };
    } catch (err) {
      await lock.release();
      throw err;
    }
  }
  throw new LxtError("state", `${verb} ${paths.name}: the container keeps changing state`);
}

const CATEGORY_OF: Record<string, ErrorCode> = {
  ENOENT: "not-found",
  EEXIST: "exists",
  ENOSPC: "no-space",
  EDQUOT: "no-space",
  EISDIR: "usage",
  ENOTDIR: "usage",
  ENOTEMPTY: "usage",
  EINVAL: "usage",
  ELOOP: "usage",
  ENAMETOOLONG: "usage",
  ECANCELED: "cancelled",
  ESRCH: "state",
};

/** A failed file helper, as an error naming the path; `cause` carries the errno name (`EACCES`, ...). */
export class FileError extends LxtError {
  constructor(
    /** The errno's name (`ENOENT`). */
    readonly errno: string,
    /** The container path. */
    readonly path: string,
    /** What went wrong, without the path (`no such file or directory`). */
    readonly text: string,
  ) {
    super(CATEGORY_OF[errno] ?? "system", `${path}: ${text}`, { errno });
    this.name = "FileError";
  }
}

function helperError(
  f: HelperFailure | undefined,
  paths: ContainerPaths,
  path: string,
  stderr: string,
): LxtError {
  if (!f)
    return new LxtError(
      "internal",
      `file ${paths.name}:${path}: the helper failed: ${stderr.trim()}`,
    );
  const [name = `E${f.errno}`, text = `errno ${f.errno}`] = getSystemErrorMap().get(-f.errno) ?? [];
  if (f.op === "type" && f.errno === 22) {
    return new FileError(name, path, "not a regular file, directory or symlink");
  }
  if (f.op === "pid-start") return new FileError("ESRCH", path, "the instance stopped meanwhile");
  if (f.op === "commit") return new FileError("ECANCELED", path, "the upload did not complete");
  return new FileError(name, path, text);
}

/**
 * Runs `lxt-shim file`; fd 3 is a socket (meta out for get, commit in for
 * put). `out` is the helper's stdout, taken from the start: Node drops the
 * output of a child that exits while nobody reads it, and an empty stdout
 * ends unseen by a reader that comes later, so a read that waited for the
 * metadata before reading stdout would lose the content or wait forever.
 * Destroying `out` closes the pipe (the helper then stops on EPIPE).
 */
function runHelper(ctx: Context, target: Target, args: string[]) {
  const child: ChildProcess = spawn(ctx.host.helper, ["file", ...target.args, ...args], {
    stdio: ["pipe", "pipe", "pipe", "pipe"],
  });
  const out = new PassThrough();
  // Its errors are the helper's to report (its exit status), not the stream's.
  if (child.stdout) pipeline(child.stdout, out, () => {});
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  const exited = new Promise<{ ok: boolean; failure?: HelperFailure; stderr: string }>(
    (resolve) => {
      child.on("error", (e) => resolve({ ok: false, stderr: e.message }));
      child.on("close", (code) => {
        const line = stderr.split("\n").find((l) => l.startsWith("error "));
        resolve({ ok: code === 0, failure: line ? parseErrorLine(line) : undefined, stderr });
      });
    },
  );
  const control = child.stdio[3] as (Readable & Writable) | null;
  control?.on("error", () => {}); // the helper may exit before reading it
  return { child, exited, control, out };
}

async function released<T>(target: Target, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } finally {
    await target.lock?.release();
  }
}

/** Collects a stream; one that has already ended yields what is left (nothing), not a wait. */
async function readAll(s: Readable | null | undefined): Promise<Buffer> {
  return s ? buffer(s) : Buffer.alloc(0);
}

function parseMeta(line: string, ids: IdView): FileMeta | undefined {
  const f = line.trim().split(" ");
  if (f.length !== 6 || !["file", "directory", "symlink", "other"].includes(f[0] as string))
    return undefined;
  return {
    type: f[0] as FileType,
    uid: idFromTree(ids, "u", Number(f[1])),
    gid: idFromTree(ids, "g", Number(f[2])),
    mode: Number.parseInt(f[3] as string, 8),
    size: Number(f[4]),
    mtime: Number(f[5]),
  };
}

/**
 * Reads `rawPath` in the container. A file's bytes stream from `body`
 * (`done` settles when the helper has finished: an error there means the
 * stream was cut short); a stopped container stays locked until then.
 */
export async function readContainerFile(
  ctx: Context,
  paths: ContainerPaths,
  rawPath: string,
): Promise<FileRead> {
  const path = containerPath(rawPath);
  const target = await resolveTarget(ctx, paths, "file");
  let run: ReturnType<typeof runHelper>;
  try {
    run = runHelper(ctx, target, ["get", path]);
  } catch (err) {
    await target.lock?.release();
    throw err;
  }
  const { child, exited, control, out } = run;
  child.stdin?.end();
  const metaText = (await readAll(control)).toString("utf8");
  const meta = parseMeta(metaText, target.ids);
  if (!meta) {
    out.resume();
    const r = await released(target, exited);
    throw helperError(r.failure, paths, path, r.stderr);
  }
  if (meta.type === "file") {
    const done = released(
      target,
      exited.then((r) => {
        if (!r.ok) throw helperError(r.failure, paths, path, r.stderr);
      }),
    );
    done.catch(() => {}); // the caller may only watch the stream
    return { ...meta, type: "file", body: out, done };
  }
  const content = await readAll(out);
  const r = await released(target, exited);
  if (!r.ok) throw helperError(r.failure, paths, path, r.stderr);
  if (meta.type === "directory") {
    const entries = content.toString("utf8").split("\0").slice(0, -1);
    return { ...meta, type: "directory", entries };
  }
  return { ...meta, type: "symlink", target: symlinkAnswer(path, content.toString("utf8")) };
}

/**
 * Pipes `body` into the helper's stdin; true once all of it was handed over.
 * When the helper stops reading (it failed: a full disk), the rest of the
 * body is read and dropped, so the client gets the error as an answer
 * rather than a broken connection; a body that ends early (the client went
 * away) is false.
 */
function feed(body: Readable, stdin: Writable): Promise<boolean> {
  return new Promise((resolve) => {
    let whole = true;
    let ends = 0;
    const settle = () => {
      if (++ends === 2) resolve(whole);
    };
    finished(stdin, (err) => {
      if (err) {
        whole = false;
        body.unpipe(stdin);
        body.resume();
      }
      settle();
    });
    finished(body, (err) => {
      if (err) {
        whole = false;
        stdin.destroy();
      }
      settle();
    });
    body.pipe(stdin);
  });
}

/**
 * Writes `rawPath` in the container from `body` (a file's bytes, a
 * symlink's target; none for a directory). A file is replaced only once
 * the whole body arrived and was written (a full disk or a cut upload leaves
 * the old file, or none); an append is cut back to the old size on failure.
 */
export async function writeContainerFile(
  ctx: Context,
  paths: ContainerPaths,
  rawPath: string,
  opts: WriteOptions,
  body?: Readable,
): Promise<void> {
  const path = containerPath(rawPath);
  if (opts.append && opts.type !== "file") {
    throw new LxtError("usage", `append is only for files, not for a ${opts.type}`);
  }
  const target = await resolveTarget(ctx, paths, "file");
  const exec = async () => {
    const args = ["--type", opts.type];
    args.push("--uid", String(idToTree(target.ids, "u", opts.uid ?? 0, paths.name)));
    args.push("--gid", String(idToTree(target.ids, "g", opts.gid ?? 0, paths.name)));
    if (opts.mode !== undefined) args.push("--mode", (opts.mode & 0o7777).toString(8));
    if (opts.modifyExisting?.length) args.push("--modify", opts.modifyExisting.join(","));
    if (opts.append) args.push("--append");
    const { child, exited, control, out } = runHelper(ctx, target, [...args, "put", path]);
    out.resume();
    let complete = true;
    if (opts.type === "directory") child.stdin?.end();
    else complete = await feed(body ?? Readable.from([]), child.stdin as Writable);
    // The helper commits only on this word: a body cut short leaves nothing.
    if (complete) control?.end("commit\n");
    else control?.destroy();
    const r = await exited;
    if (!r.ok) throw helperError(r.failure, paths, path, r.stderr);
  };
  await released(target, exec());
}

/** Deletes a file, a symlink or an empty directory in the container. */
export async function deleteContainerFile(
  ctx: Context,
  paths: ContainerPaths,
  rawPath: string,
): Promise<void> {
  const path = containerPath(rawPath);
  const target = await resolveTarget(ctx, paths, "file");
  const exec = async () => {
    const { child, exited, out } = runHelper(ctx, target, ["delete", path]);
    child.stdin?.end();
    out.resume();
    const r = await exited;
    if (!r.ok) throw helperError(r.failure, paths, path, r.stderr);
  };
  await released(target, exec());
}
