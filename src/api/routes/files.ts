/**
 * `/1.0/instances/NAME/files?path=P`: GET (a file's bytes, a directory's
 * names, a symlink's target), POST (create or replace a file, a directory,
 * a symlink; append to a file) and DELETE, with LXD's `X-LXD-*` headers.
 * The I/O is the container layer's (container/files.ts): confined to the
 * container's root, in its ids, streamed both ways.
 */
import type { Readable } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  deleteContainerFile,
  FileError,
  type FileMeta,
  type FileType,
  readContainerFile,
  type WriteOptions,
  writeContainerFile,
} from "../../container/files.js";
import type { Daemon } from "../daemon.js";
import { ApiError, badRequest, syncBody } from "../envelope.js";
import { INSTANCES, instancePaths } from "./instances.js";

interface FilesRoute {
  Params: { name: string };
  Querystring: { path?: string };
}

/** `X-LXD-*` headers of a POST, parsed as LXD does (shared.ParseLXDFileHeaders). */
export function parseFileHeaders(h: Record<string, string | string[] | undefined>): WriteOptions {
  const one = (k: string) => {
    const v = h[k];
    return Array.isArray(v) ? v[0] : v;
  };
  const id = (k: string, what: string) => {
    const raw = one(k);
    if (raw === undefined || raw === "") return undefined;
    if (!/^[+-]?\d+$/.test(raw) || Number(raw) > 0x7fffffff || Number(raw) < -0x80000000) {
      throw badRequest(`Invalid ${what}: "${raw}"`);
    }
    // LXD: a negative id means "not given".
    return Number(raw) < 0 ? undefined : Number(raw);
  };
  const opts: WriteOptions = { type: "file" };
  const uid = id("x-lxd-uid", "UID");
  const gid = id("x-lxd-gid", "GID");
  if (uid !== undefined) opts.uid = uid;
  if (gid !== undefined) opts.gid = gid;
  const rawMode = one("x-lxd-mode");
  if (rawMode !== undefined && rawMode !== "") {
    const mode = parseGoInt(rawMode);
    if (mode === undefined || mode < 0) throw badRequest(`Invalid Mode: "${rawMode}"`);
    opts.mode = mode & 0o777; // os.ModePerm, as LXD
  }
  const type = one("x-lxd-type") || "file";
  if (type !== "file" && type !== "directory" && type !== "symlink") {
    throw badRequest(`Invalid file type: "${type}"`);
  }
  opts.type = type as FileType;
  const write = one("x-lxd-write") || "overwrite";
  if (write !== "overwrite" && write !== "append") {
    throw badRequest(`Invalid file write mode: "${write}"`);
  }
  if (write === "append") opts.append = true;
  const modify = one("x-lxd-modify-perm");
  if (modify) {
    const fields = modify.split(",");
    for (const f of fields) {
      if (f !== "uid" && f !== "gid" && f !== "mode")
        throw badRequest(`Invalid modify-perm field: "${f}"`);
    }
    opts.modifyExisting = fields as ("uid" | "gid" | "mode")[];
  }
  return opts;
}

/** Go's strconv.ParseInt(s, 0, 64): a 0x, 0o, 0b or 0 prefix picks the base. */
function parseGoInt(s: string): number | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO]?[0-7]*|0[bB][01]+|[1-9][0-9]*)$/.exec(s);
  if (!m) return undefined;
  const body = (m[2] as string).toLowerCase();
  let v: number;
  if (body.startsWith("0x")) v = Number.parseInt(body.slice(2), 16);
  else if (body.startsWith("0b")) v = Number.parseInt(body.slice(2), 2);
  else if (body.startsWith("0")) v = Number.parseInt(body.replace(/^0o?/, "") || "0", 8);
  else v = Number(body);
  return m[1] === "-" ? -v : v;
}

/** The `X-LXD-*` headers a GET answers with (LXD: mode as `%04o`, modified as Go's time.String of UTC). */
export function fileHeaders(m: FileMeta): Record<string, string> {
  return {
    "X-LXD-uid": String(m.uid),
    "X-LXD-gid": String(m.gid),
    "X-LXD-mode": m.mode.toString(8).padStart(4, "0"),
    "X-LXD-modified": goTime(m.mtime),
    "X-LXD-type": m.type,
  };
}

function goTime(seconds: number): string {
  const iso = new Date(seconds * 1000).toISOString(); // 2026-12-07T09:30:00.000Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} +0000 UTC`;
}

/** LXD's words for a failed file request; permission errors are 403 as in LXD. */
function lxdError(err: unknown, doing: string, name: string): unknown {
  if (!(err instanceof FileError)) return err;
  const message = `Failed ${doing} "${err.path}" in instance "${name}": ${err.text}`;
  if (err.errno === "EACCES" || err.errno === "EPERM") return new ApiError(403, message);
  return new ApiError(err.httpStatus, message);
}

function pathOf(req: FastifyRequest<FilesRoute>): string {
  const path = req.query.path;
  if (path === undefined || path === "") throw badRequest("Missing path argument");
  return path;
}

export function registerFileRoutes(app: FastifyInstance, d: Daemon): void {
  const route = `${INSTANCES}/:name/files`;

  // HEAD (LXD's metadata only) is its own route: an automatic one would start a read nobody drains.
  app.head<FilesRoute>(route, async (req, reply: FastifyReply) => {
    const paths = instancePaths(d, req.params.name);
    const read = await readContainerFile(d.ctx, paths, pathOf(req)).catch((e) => {
      throw lxdError(e, "accessing", paths.name);
    });
    if (read.type === "file") {
      read.body.destroy();
      await read.done.catch(() => {});
      void reply.headers({
        "Content-Type": "application/octet-stream",
        "Content-Length": String(read.size),
      });
    }
    return reply.headers(fileHeaders(read)).code(200).send();
  });

  app.get<FilesRoute>(route, { exposeHeadRoute: false }, async (req, reply: FastifyReply) => {
    const paths = instancePaths(d, req.params.name);
    const path = pathOf(req);
    const read = await readContainerFile(d.ctx, paths, path).catch((e) => {
      throw lxdError(e, "accessing", paths.name);
    });
    d.events.lifecycle("instance-file-retrieved", `${INSTANCES}/${paths.name}`, { path });
    void reply.headers(fileHeaders(read));
    if (read.type === "directory") return syncBody(read.entries);
    void reply.header("Content-Type", "application/octet-stream");
    if (read.type === "symlink") return reply.send(Buffer.from(read.target));
    // A helper that fails mid-file cuts the response short: the client must not take it as whole.
    read.done.catch((e) => {
      d.log.warn({ err: e, path }, "file read failed mid-stream");
      reply.raw.destroy(e as Error);
    });
    return reply.send(read.body);
  });

  app.post<FilesRoute>(route, async (req) => {
    const paths = instancePaths(d, req.params.name);
    const path = pathOf(req);
    const opts = parseFileHeaders(req.headers);
    const body = req.body as Readable | undefined;
    const stream = body && typeof (body as Readable).pipe === "function" ? body : undefined;
    if (body !== undefined && body !== null && !stream) {
      throw badRequest("File content must be sent as application/octet-stream");
    }
    if (opts.type === "directory") stream?.resume();
    const doing = opts.type === "file" ? "writing" : `creating ${opts.type}`;
    await writeContainerFile(d.ctx, paths, path, opts, stream).catch((e) => {
      throw lxdError(e, doing, paths.name);
    });
    d.events.lifecycle("instance-file-pushed", `${INSTANCES}/${paths.name}`, { path });
    return syncBody({});
  });

  app.delete<FilesRoute>(route, async (req) => {
    const paths = instancePaths(d, req.params.name);
    const path = pathOf(req);
    await deleteContainerFile(d.ctx, paths, path).catch((e) => {
      throw lxdError(e, "deleting", paths.name);
    });
    d.events.lifecycle("instance-file-deleted", `${INSTANCES}/${paths.name}`, { path });
    return syncBody({});
  });
}
