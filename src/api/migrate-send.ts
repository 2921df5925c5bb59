/**
 * A container sent to another lxtd over HTTPS (docs/migrate.md): what
 * `lxt move/copy NAME REMOTE:[NEWNAME]` runs (src/cli/migrate-verb.ts, over
 * a pinned remote) and what a cluster member's evacuation runs
 * (cluster-evacuate.ts, over member trust). A stopped container goes by
 * btrfs or zfs send where both ends are on that backend
 * (migrate-send-storage.ts), else as
 * an `lxt export` archive uploaded to LXD's import endpoint (`POST
 * /1.0/instances` with an `application/octet-stream` body), which the
 * remote imports all or nothing; a move destroys the source only once the
 * remote has the container. A running one goes by migrate-send-running.ts.
 */
import { createReadStream, statSync } from "node:fs";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { exportContainer } from "../container/backup.js";
import { destroyContainer } from "../container/destroy.js";
import { summarize } from "../container/list.js";
import { type ContainerPaths, requireExists } from "../container/paths.js";
import { makeStaging } from "../container/staging.js";
import type { Caller, Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import type { Progress } from "../core/progress.js";
import { SIDE_FILES } from "./side-files.js";

export interface SendOptions {
  /** The container's name on the remote. */
  newName: string;
  /** Destroy the source once the remote has it (`move`), else keep it (`copy`). */
  move: boolean;
  /** `copy --stateful`: a running container's memory goes too. */
  stateful?: boolean;
  /**
   * `move --lazy` of a running container: post-copy, its memory served by
   * the frozen source to the restored container's faults (migrate-send-running.ts).
   */
  lazy?: boolean;
  progress?: Progress;
  /** Who asked: a restore (of the source, after a failed running move) starts as its caller. */
  caller: Caller;
}

/** What a send did: the bytes sent, and for a running container the time it was stopped. */
export interface SendResult {
  bytes: number;
  downtimeMs?: number;
  /** Of `bytes`, those sent while a running container was stopped (delta and checkpoint). */
  stoppedBytes?: number;
  /** How a stopped container went: `archive`, or the backend whose streams carried it (`btrfs`, `zfs`). */
  transport?: string;
  /** A post-copy (`lazy`): how long the remote fetched pages after its restore returned. */
  pagesMs?: number;
}

/** One request of a send: JSON, or a stream sent as `application/octet-stream`. */
export interface SendCall {
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** An answer's envelope: its `metadata`, and the operation an async answer started. */
export interface SendAnswer {
  metadata?: unknown;
  operation?: string;
}

/** The error class of a peer's HTTP status. */
function codeOf(status: number) {
  if (status === 404) return "not-found" as const;
  if (status === 409) return "exists" as const;
  return "remote" as const;
}

/**
 * A peer's answer (`body`, with HTTP status `http`) as its LXD envelope; an
 * error envelope or status, or no JSON, throws an LxtError with the peer's
 * words after `who` (`move c1 to m2:0: remote m2`): `not-found` for 404,
 * `exists` for 409, else `remote`.
 */
export function parseAnswer<E extends { type?: string; error?: string; error_code?: number }>(
  body: Buffer,
  http: number | undefined,
  who: string,
): E {
  let env: E;
  try {
    env = JSON.parse(body.toString("utf8")) as E;
  } catch {
    throw new LxtError("remote", `${who} answered ${http} with no JSON`);
  }
  const status = env.error_code ?? http ?? 500;
  if (env.type === "error" || status >= 400) {
    throw new LxtError(codeOf(status), `${who}: ${env.error || `answered ${status}`}`);
  }
  return env;
}

/**
 * Sends `body` as the request `req`'s body: a body that errors (before or
 * while it is read) destroys the request, so the peer sees a cut upload,
 * never a short one that ended.
 */
export function pipeBody(body: Readable, req: Writable & { destroy(err?: Error): unknown }): void {
  if (body.destroyed) {
    req.destroy(body.errored ?? new LxtError("internal", "the body was closed before it was sent"));
    return;
  }
  body.on("error", (err) => req.destroy(err));
  body.pipe(req);
}

/**
 * What a send needs: this host's side and a way to the receiving lxtd (a
 * pinned remote for the CLI, member trust for lxtd: both check the peer's
 * certificate before anything is sent).
 */
export interface Link {
  ctx: Context;
  /** The receiving side, for messages: `remote NAME`, `cluster member NAME`. */
  to: string;
  what: string;
  /**
   * One request; an error answer throws an LxtError with the peer's words
   * (`not-found` for 404, `exists` for 409).
   */
  request(call: SendCall): Promise<SendAnswer>;
  /** Waits for an operation the peer started; its metadata, or throws its error. */
  wait(operation: string): Promise<unknown>;
}

/** Refuses up front when the remote has an instance called `name` already. */
export async function requireAbsent(link: Link, name: string): Promise<void> {
  try {
    await link.request({
      method: "GET",
      path: `/1.0/instances/${encodeURIComponent(name)}`,
    });
  } catch (err) {
    if (err instanceof LxtError && err.code === "not-found") return;
    throw err;
  }
  throw new LxtError("exists", `${link.what}: ${link.to} has an instance called ${name} already`);
}

/** Deletes instance `name` on the remote (undoing a copy that the source could not follow). */
export async function deleteRemote(link: Link, name: string): Promise<void> {
  const env = await link.request({
    method: "DELETE",
    path: `/1.0/instances/${encodeURIComponent(name)}`,
  });
  if (env.operation) await link.wait(env.operation);
}

/**
 * Sends container `paths` to the remote as `opts.newName`. Any failure
 * leaves the source as it was and nothing on the remote.
 */
export async function sendContainer(
  link: Link,
  paths: ContainerPaths,
  opts: SendOptions,
): Promise<SendResult> {
  requireExists(paths, link.what);
  const { state } = await summarize(link.ctx, paths);
  if (state !== "STOPPED" && (opts.move || opts.stateful)) {
    const { sendRunning } = await import("./migrate-send-running.js");
    return sendRunning(link, paths, opts);
  }
  if (opts.lazy)
    throw new LxtError(
      "usage",
      `${link.what}: --lazy is for a running container (${paths.name} is ${state}: it has no memory to send)`,
    );
  await requireAbsent(link, opts.newName);
  const { commonTransport, sendByStorage } = await import("./migrate-send-storage.js");
  const transport = await commonTransport(link, paths);
  const bytes = transport
    ? await sendByStorage(link, paths, transport, opts)
    : await sendStopped(link, paths, opts);
  const sent = { bytes, transport: transport ?? "archive" };
  if (!opts.move) return sent;
  try {
    await destroyContainer(link.ctx, paths, { snapshots: true });
  } catch (err) {
    // Started (or changed) while it was sent: it stays here, the copy goes.
    await deleteRemote(link, opts.newName).catch(() => undefined);
    throw new LxtError(
      "state",
      `${link.what}: ${paths.name} could not be removed here after the transfer, so the remote's copy was deleted: ${(err as Error).message}`,
      err,
    );
  }
  return sent;
}

/** Exports `paths` into a staging directory and uploads it to the remote's import. */
async function sendStopped(link: Link, paths: ContainerPaths, opts: SendOptions): Promise<number> {
  const stage = await makeStaging(link.ctx, link.ctx.lxcpath, "migrate");
  try {
    const file = join(stage.dir, `${paths.name}.tar.zst`);
    await exportContainer(link.ctx, paths, file, {
      compression: "zstd",
      extraFiles: SIDE_FILES,
      progress: opts.progress,
    });
    await uploadImport(link, file, opts.newName, opts.progress);
    return statSync(file).size;
  } finally {
    await stage.release();
  }
}

/** Uploads an `lxt export` archive to the remote's import and waits for the import to end. */
async function uploadImport(
  link: Link,
  file: string,
  name: string,
  progress?: Progress,
): Promise<unknown> {
  const size = statSync(file).size;
  progress?.(`sending ${name} to ${link.to} (${size} bytes)`);
  const env = await link.request({
    method: "POST",
    path: "/1.0/instances",
    body: createReadStream(file),
    headers: { "X-LXD-name": name, "Content-Length": String(size) },
  });
  if (!env.operation) {
    throw new LxtError("remote", `${link.what}: ${link.to} started no import`);
  }
  return link.wait(env.operation);
}
