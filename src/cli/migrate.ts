/**
 * `lxt move/copy NAME REMOTE:[NEWNAME]`: a container sent to another lxtd
 * over HTTPS (docs/migrate.md). A stopped container goes as an `lxt export`
 * archive uploaded to LXD's import endpoint (`POST /1.0/instances` with an
 * `application/octet-stream` body), which the remote imports all or
 * nothing, or by btrfs send where both ends are on btrfs (migrate-storage.ts); a move destroys the source only once the remote has the
 * container. A running one goes by migrate-running.ts.
 */
import { createReadStream, statSync } from "node:fs";
import { join } from "node:path";
import { SIDE_FILES } from "../api/side-files.js";
import { exportContainer } from "../container/backup.js";
import { destroyContainer } from "../container/destroy.js";
import { summarize } from "../container/list.js";
import { type ContainerPaths, requireExists } from "../container/paths.js";
import { makeStaging } from "../container/staging.js";
import type { Caller, Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import type { Progress } from "../core/progress.js";
import type { Identity } from "./client-cert.js";
import { type Remote, remoteRequest, waitRemoteOperation } from "./remote.js";

export interface SendOptions {
  /** The container's name on the remote. */
  newName: string;
  /** Destroy the source once the remote has it (`move`), else keep it (`copy`). */
  move: boolean;
  /** `copy --stateful`: a running container's memory goes too. */
  stateful?: boolean;
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
  /** How a stopped container went: `archive`, or the backend whose streams carried it (`btrfs`). */
  transport?: string;
}

/** What a send needs: this host's side, the remote and this state root's client certificate. */
export interface Link {
  ctx: Context;
  remote: Remote;
  id: Identity;
  what: string;
}

/** Refuses up front when the remote has an instance called `name` already. */
export async function requireAbsent(link: Link, name: string): Promise<void> {
  try {
    await remoteRequest(link.remote, link.id, link.what, {
      method: "GET",
      path: `/1.0/instances/${encodeURIComponent(name)}`,
    });
  } catch (err) {
    if (err instanceof LxtError && err.code === "not-found") return;
    throw err;
  }
  throw new LxtError(
    "exists",
    `${link.what}: remote ${link.remote.name} has an instance called ${name} already`,
  );
}

/** Deletes instance `name` on the remote (undoing a copy that the source could not follow). */
export async function deleteRemote(link: Link, name: string): Promise<void> {
  const env = await remoteRequest(link.remote, link.id, link.what, {
    method: "DELETE",
    path: `/1.0/instances/${encodeURIComponent(name)}`,
  });
  if (env.operation) await waitRemoteOperation(link.remote, link.id, link.what, env.operation);
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
    const { sendRunning } = await import("./migrate-running.js");
    return sendRunning(link, paths, opts);
  }
  await requireAbsent(link, opts.newName);
  const { commonTransport, sendByStorage } = await import("./migrate-storage.js");
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
  progress?.(`sending ${name} to ${link.remote.name} (${size} bytes)`);
  const env = await remoteRequest(link.remote, link.id, link.what, {
    method: "POST",
    path: "/1.0/instances",
    body: createReadStream(file),
    headers: { "X-LXD-name": name, "Content-Length": String(size) },
  });
  if (!env.operation) {
    throw new LxtError("remote", `${link.what}: remote ${link.remote.name} started no import`);
  }
  return waitRemoteOperation(link.remote, link.id, link.what, env.operation);
}
