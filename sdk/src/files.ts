/** Files in an instance (`/1.0/instances/NAME/files?path=P`) as streams. */
import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import type { LxdClient } from "./client.js";
import { text } from "./urls.js";

/** What a pull found at a path. */
export type Pulled =
  | { type: "file"; uid: number; gid: number; mode: number; content: Readable }
  | { type: "symlink"; uid: number; gid: number; mode: number; target: string }
  | { type: "directory"; uid: number; gid: number; mode: number; entries: string[] };

/** How a push writes. */
export interface PushOptions {
  uid?: number;
  gid?: number;
  /** Permission bits, e.g. 0o644. */
  mode?: number;
  /** `append` adds to the end of an existing file (default: overwrite). */
  write?: "overwrite" | "append";
}

/** What `stat` says of a path. */
export interface FileStat {
  type: "file" | "directory" | "symlink";
  uid: number;
  gid: number;
  mode: number;
  /** A file's size in bytes (0 for the others). */
  size: number;
}

/** The owner and mode LXD's file headers carry. */
function fileMeta(h: IncomingHttpHeaders) {
  return {
    uid: Number(h["x-lxd-uid"] ?? 0),
    gid: Number(h["x-lxd-gid"] ?? 0),
    mode: Number.parseInt(String(h["x-lxd-mode"] ?? "0"), 8),
  };
}

/** `/1.0/instances/NAME/files?path=P`. */
export class FilesApi {
  constructor(private readonly c: LxdClient) {}
  /** `HEAD`: the path's type, owner, mode and size, without its content. */
  async stat(instance: string, path: string): Promise<FileStat> {
    const res = await this.c.raw({
      method: "HEAD",
      path: `/1.0/instances/${encodeURIComponent(instance)}/files`,
      query: { path },
    });
    res.body.resume();
    const type = String(res.headers["x-lxd-type"] ?? "file") as FileStat["type"];
    const size = type === "file" ? Number(res.headers["content-length"] ?? 0) : 0;
    return { type, ...fileMeta(res.headers), size };
  }
  /** `GET`: a file's content as a stream, a directory's entries, a symlink's target. */
  async pull(instance: string, path: string): Promise<Pulled> {
    const res = await this.c.raw({
      method: "GET",
      path: `/1.0/instances/${encodeURIComponent(instance)}/files`,
      query: { path },
    });
    const meta = fileMeta(res.headers);
    const type = String(res.headers["x-lxd-type"] ?? "file");
    if (type === "directory") {
      const env = JSON.parse((await text(res.body)) || "{}") as { metadata?: string[] };
      return { type, ...meta, entries: env.metadata ?? [] };
    }
    if (type === "symlink") return { type, ...meta, target: await text(res.body) };
    return { type: "file", ...meta, content: res.body };
  }
  /** `POST`: writes `data` (a stream, bytes or text) to `path`, whole or not at all. */
  async push(
    instance: string,
    path: string,
    data: Readable | Buffer | string,
    opts: PushOptions = {},
  ): Promise<void> {
    await this.c.request("POST /1.0/instances/:name/files", {
      params: { name: instance },
      query: { path },
      headers: { "x-lxd-type": "file", ...pushHeaders(opts) },
      body: data,
    });
  }
  /** `POST` with `X-LXD-type: directory`. */
  async mkdir(instance: string, path: string, opts: PushOptions = {}): Promise<void> {
    await this.c.request("POST /1.0/instances/:name/files", {
      params: { name: instance },
      query: { path },
      headers: { "x-lxd-type": "directory", ...pushHeaders(opts) },
      body: Buffer.alloc(0),
    });
  }
  /** `POST` with `X-LXD-type: symlink`: `path` → `target`. */
  async symlink(instance: string, path: string, target: string): Promise<void> {
    await this.c.request("POST /1.0/instances/:name/files", {
      params: { name: instance },
      query: { path },
      headers: { "x-lxd-type": "symlink" },
      body: target,
    });
  }
  /** `DELETE`. */
  async delete(instance: string, path: string): Promise<void> {
    await this.c.request("DELETE /1.0/instances/:name/files", {
      params: { name: instance },
      query: { path },
    });
  }
}

function pushHeaders(o: PushOptions): Record<string, string> {
  const h: Record<string, string> = {};
  if (o.uid !== undefined) h["x-lxd-uid"] = String(o.uid);
  if (o.gid !== undefined) h["x-lxd-gid"] = String(o.gid);
  if (o.mode !== undefined) h["x-lxd-mode"] = `0${o.mode.toString(8)}`;
  if (o.write) h["x-lxd-write"] = o.write;
  return h;
}
