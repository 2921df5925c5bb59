/**
 * A stopped container sent by its backend's own streams (btrfs or zfs send) to a
 * remote that receives them (docs/migrate.md, `/1.0/migrations` in
 * docs/api.md): the remote says what it receives, the configs go first,
 * then each stream, piped from `btrfs send`/`zfs send` into the request and
 * from the request into the remote's receive, then the remote puts the
 * container in place. Any failure deletes what the remote received; the
 * source is only read.
 */
import { createReadStream, statSync } from "node:fs";
import { pipeline, type Readable, Transform } from "node:stream";
import type { ContainerPaths } from "../container/paths.js";
import { makeStaging } from "../container/staging.js";
import { packForSend, sendableTransport } from "../container/storage-transfer.js";
import { LxtError } from "../core/errors.js";
import type { Link, SendOptions } from "./migrate-send.js";
import { SIDE_FILES } from "./side-files.js";

/** What the remote receives (`GET /1.0/migrations`); an older lxtd that does not say takes archives. */
async function remoteReceives(link: Link): Promise<string[]> {
  try {
    const env = await link.request({ method: "GET", path: "/1.0/migrations" });
    const got = (env.metadata as { receive?: unknown } | undefined)?.receive;
    return Array.isArray(got) ? got.filter((t): t is string => typeof t === "string") : [];
  } catch (err) {
    if (err instanceof LxtError && err.code === "not-found") return [];
    throw err;
  }
}

/**
 * The stream transport both ends have for container `paths`, or undefined
 * (then: the archive): the negotiation every backend with streams shares.
 */
export async function commonTransport(
  link: Link,
  paths: ContainerPaths,
): Promise<string | undefined> {
  const mine = await sendableTransport(link.ctx, paths);
  if (!mine) return undefined;
  return (await remoteReceives(link)).includes(mine) ? mine : undefined;
}

/** Uploads `file` by `method` to `path` on the remote; returns its size. */
async function upload(
  link: Link,
  method: string,
  path: string,
  file: string,
  headers: Record<string, string> = {},
): Promise<{ size: number; metadata: unknown }> {
  const size = statSync(file).size;
  const env = await link.request({
    method,
    path,
    body: createReadStream(file),
    headers: { ...headers, "Content-Length": String(size) },
  });
  return { size, metadata: env.metadata };
}

/**
 * Streams `body` by `method` to `path` on the remote as it is read (no
 * spool on either side: the remote receives while this host sends); returns
 * the bytes sent. A `body` that errors cuts the request, so the remote
 * never takes a short stream for a whole one; the send is stopped however
 * the request ends.
 */
async function stream(link: Link, method: string, path: string, body: Readable): Promise<number> {
  let bytes = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  pipeline(body, counted, () => undefined);
  try {
    await link.request({ method, path, body: counted });
  } finally {
    counted.destroy();
  }
  return bytes;
}

/** Sends stopped container `paths` by `transport`'s streams; returns the bytes sent. */
export async function sendByStorage(
  link: Link,
  paths: ContainerPaths,
  transport: string,
  opts: SendOptions,
): Promise<number> {
  const stage = await makeStaging(link.ctx, link.ctx.lxcpath, "migrate");
  try {
    const pack = await packForSend(link.ctx, paths, stage.dir, {
      extraFiles: SIDE_FILES,
      progress: opts.progress,
    });
    try {
      if (pack.transport !== transport) {
        throw new LxtError(
          "internal",
          `${link.what}: packed for ${pack.transport}, not ${transport}`,
        );
      }
      const first = await upload(link, "POST", "/1.0/migrations", pack.meta, {
        "X-LXD-name": opts.newName,
        "X-LXT-transport": transport,
      });
      const meta = first.metadata as { id?: unknown; streams?: unknown } | undefined;
      if (typeof meta?.id !== "string" || meta.streams !== pack.streams) {
        throw new LxtError(
          "remote",
          `${link.what}: ${link.to} answered no migration for ${pack.streams} streams`,
        );
      }
      const base = `/1.0/migrations/${encodeURIComponent(meta.id)}`;
      let bytes = first.size;
      try {
        for (let i = 0; i < pack.streams; i++) {
          opts.progress?.(`sending ${transport} stream ${i + 1}/${pack.streams} to ${link.to}`);
          bytes += await stream(link, "PUT", `${base}/streams/${i}`, pack.stream(i));
        }
        const env = await link.request({ method: "POST", path: base });
        if (!env.operation) {
          throw new LxtError("remote", `${link.what}: ${link.to} started no receive`);
        }
        await link.wait(env.operation);
      } catch (err) {
        // The remote drops a failed stream's migration itself; this covers a cut one.
        await link.request({ method: "DELETE", path: base }).catch(() => undefined);
        throw err;
      }
      return bytes;
    } finally {
      await pack.cleanup();
    }
  } finally {
    await stage.release();
  }
}
