/**
 * `/1.0/instances/NAME/snapshots`: list, create (with expiry), get, update
 * (the expiry), rename, delete; and the restore that `PUT
 * /1.0/instances/NAME` with `{restore: SNAP}` asks for. Each is lxt's own
 * snapshot verb (container/snapshot.ts, under the container's lock); the
 * LXD name and expiry live beside the snapshot (api/snapshot-store.ts).
 */
import { existsSync } from "node:fs";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { summarize } from "../../container/list.js";
import type { ContainerPaths } from "../../container/paths.js";
import { createSnapshot, destroySnapshot, restoreSnapshot } from "../../container/snapshot.js";
import type { Daemon } from "../daemon.js";
import { ApiError, badRequest, syncBody } from "../envelope.js";
import { checkIfMatch, etagOf, sendWithEtag } from "../etag.js";
import { armExpiry } from "../expiry.js";
import { metaFile, readMeta, writeMeta } from "../instance-meta.js";
import { inInstanceQueue } from "../instance-queue.js";
import { instanceJson } from "../instance-view.js";
import {
  checkSnapshotName,
  copyInstanceMeta,
  findSnapshot,
  parseExpiry,
  type SnapshotRecord,
  snapshotJson,
  snapshotRecords,
  writeSnapshotMeta,
} from "../snapshot-store.js";
import type { SnapshotsPost } from "../types.js";
import { changeState, INSTANCES, instanceOperation, instancePaths } from "./instances.js";
import { recursion } from "./params.js";

type Params = { name: string };
type SnapParams = { name: string; snap: string };

function snapshotUrl(instance: string, snap: string): string {
  return `${INSTANCES}/${instance}/snapshots/${snap}`;
}

/** The snapshots of an instance as LXD lists them in `snapshots` (recursion 2). */
export async function snapshotsJson(d: Daemon, paths: ContainerPaths) {
  const all = await Promise.all(
    // A snapshot destroyed while it is read is left out, as the instance list does.
    snapshotRecords(d.ctx, paths).map((r) => snapshotJson(d.ctx, r).catch(() => undefined)),
  );
  return all.filter((s) => s !== undefined);
}

/** LXD's next free `snapN` name (one past the highest). */
function nextSnapshotName(records: readonly SnapshotRecord[]): string {
  let max = -1;
  for (const r of records) {
    const m = /^snap(\d+)$/.exec(r.name);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return `snap${max + 1}`;
}

async function takeSnapshot(
  d: Daemon,
  paths: ContainerPaths,
  body: SnapshotsPost,
  expiresAt: string | undefined,
): Promise<string> {
  return inInstanceQueue(d, paths.name, async () => {
    const records = snapshotRecords(d.ctx, paths);
    const name = body.name ? checkSnapshotName(body.name) : nextSnapshotName(records);
    if (records.some((r) => r.name === name)) {
      throw new ApiError(409, `Snapshot "${name}" already exists`);
    }
    const dir = await createSnapshot(d.ctx, paths, { caller: d.caller });
    const rec = snapshotRecords(d.ctx, paths).find((r) => r.dir === dir);
    if (!rec) throw new ApiError(500, `snapshot ${dir} of ${paths.name} vanished`);
    copyInstanceMeta(paths, rec.paths);
    writeSnapshotMeta(rec.paths, name, expiresAt);
    return name;
  });
}

/**
 * Restores snapshot `snap` (an LXD name) of an instance in place, as `PUT
 * /1.0/instances/NAME {restore}` does: a running instance is stopped first
 * and started again after (its memory is not part of a snapshot); the
 * snapshot's description, profiles and `user.*` keys come back with its
 * config and rootfs.
 */
export async function restoreInstance(
  d: Daemon,
  paths: ContainerPaths,
  snap: string,
): Promise<void> {
  await inInstanceQueue(d, paths.name, async () => {
    const rec = findSnapshot(d.ctx, paths, snap);
    const { state } = await summarize(d.ctx, paths);
    const running = state !== "STOPPED";
    if (running) {
      if ((await instanceJson(d.ctx, paths, state)).ephemeral) {
        throw badRequest("Can't restore a running ephemeral instance: stopping it deletes it");
      }
      await changeState(d, paths, "stop", { timeout: -1, force: true });
    }
    await restoreSnapshot(d.ctx, paths, rec.dir, paths, d.caller);
    if (existsSync(metaFile(rec.paths))) {
      const now = readMeta(paths);
      const then = readMeta(rec.paths);
      writeMeta(paths, {
        ...now,
        description: then.description,
        profiles: then.profiles,
        config: then.config,
      });
    }
    if (running) await changeState(d, paths, "start", { timeout: -1, force: false });
    d.events.lifecycle("instance-restored", `${INSTANCES}/${paths.name}`, { snapshot: snap });
  });
}

/**
 * `PUT /1.0/instances/NAME` with `{restore: SNAP}` (the stock client sends
 * `INSTANCE/SNAP`): answers with the restore's operation, or returns
 * undefined when the body asks no restore (the PUT is an edit then).
 */
export function restoreRequest(
  d: Daemon,
  paths: ContainerPaths,
  body: unknown,
  reply: FastifyReply,
): FastifyReply | undefined {
  const b = (body ?? {}) as { restore?: unknown; stateful?: unknown };
  if (typeof b !== "object" || typeof b.restore !== "string" || b.restore === "") return undefined;
  if (b.stateful)
    throw badRequest("Stateful restores are not supported (lxt has no checkpoint/restore)");
  const prefix = `${paths.name}/`;
  const snap = b.restore.startsWith(prefix) ? b.restore.slice(prefix.length) : b.restore;
  findSnapshot(d.ctx, paths, snap);
  return instanceOperation(d, reply, paths.name, "Restoring snapshot", () =>
    restoreInstance(d, paths, snap),
  );
}

export function registerSnapshotRoutes(app: FastifyInstance, d: Daemon): void {
  // The daemon's first listener sweeps expired snapshots and arms the timer.
  setImmediate(() => void armExpiry(d));

  app.get<{ Params: Params }>(`${INSTANCES}/:name/snapshots`, async (req) => {
    const paths = instancePaths(d, req.params.name);
    if (recursion(req) === 0) {
      return syncBody(snapshotRecords(d.ctx, paths).map((r) => snapshotUrl(paths.name, r.name)));
    }
    return syncBody(await snapshotsJson(d, paths));
  });

  app.post<{ Params: Params; Body: SnapshotsPost }>(
    `${INSTANCES}/:name/snapshots`,
    async (req, reply) => {
      const paths = instancePaths(d, req.params.name);
      const body = objectBody<SnapshotsPost>(req.body);
      if (body.stateful) {
        throw badRequest("Stateful snapshots are not supported (lxt has no checkpoint/restore)");
      }
      if (body.name !== undefined && body.name !== "") checkSnapshotName(body.name);
      const expiresAt = parseExpiry(body.expires_at);
      return instanceOperation(d, reply, paths.name, "Snapshotting instance", async () => {
        const name = await takeSnapshot(d, paths, body, expiresAt);
        d.events.lifecycle("instance-snapshot-created", snapshotUrl(paths.name, name));
        if (expiresAt) void armExpiry(d);
        // The name an unnamed request got (LXD's next `snapN`), for API clients.
        return { name };
      });
    },
  );

  app.get<{ Params: SnapParams }>(`${INSTANCES}/:name/snapshots/:snap`, async (req, reply) => {
    const paths = instancePaths(d, req.params.name);
    const json = await snapshotJson(d.ctx, findSnapshot(d.ctx, paths, req.params.snap));
    return sendWithEtag(reply, syncBody(json), etagOf({ expires_at: json.expires_at }));
  });

  const update = async (req: FastifyRequest<{ Params: SnapParams }>, reply: FastifyReply) => {
    const paths = instancePaths(d, req.params.name);
    const rec = findSnapshot(d.ctx, paths, req.params.snap);
    checkIfMatch(req, etagOf({ expires_at: (await snapshotJson(d.ctx, rec)).expires_at }));
    const body = objectBody<{ expires_at?: string | null }>(req.body);
    const has = Object.hasOwn(body, "expires_at");
    const expiresAt = has ? parseExpiry(body.expires_at) : undefined;
    return instanceOperation(d, reply, paths.name, "Updating snapshot", async () => {
      if (!has) return; // LXD: nothing asked, nothing changed
      await inInstanceQueue(d, paths.name, async () => {
        const now = findSnapshot(d.ctx, paths, req.params.snap);
        writeSnapshotMeta(now.paths, now.name, expiresAt);
      });
      d.events.lifecycle("instance-snapshot-updated", snapshotUrl(paths.name, rec.name));
      void armExpiry(d);
    });
  };
  app.put<{ Params: SnapParams }>(`${INSTANCES}/:name/snapshots/:snap`, update);
  app.patch<{ Params: SnapParams }>(`${INSTANCES}/:name/snapshots/:snap`, update);
  app.post<{ Params: SnapParams; Body: { name?: string; migration?: boolean } }>(
    `${INSTANCES}/:name/snapshots/:snap`,
    async (req, reply) => {
      const paths = instancePaths(d, req.params.name);
      const from = findSnapshot(d.ctx, paths, req.params.snap);
      const body = objectBody<{ name?: string; migration?: boolean }>(req.body);
      if (body.migration) throw badRequest("Snapshot migration is not supported (one host)");
      const to = checkSnapshotName(body.name);
      if (to === from.name) throw badRequest("The new name is the same as the old one");
      if (snapshotRecords(d.ctx, paths).some((r) => r.name === to)) {
        throw new ApiError(409, `Name '${paths.name}/${to}' already in use`);
      }
      return instanceOperation(d, reply, paths.name, "Renaming snapshot", async () => {
        await inInstanceQueue(d, paths.name, async () => {
          const rec = findSnapshot(d.ctx, paths, from.name);
          if (snapshotRecords(d.ctx, paths).some((r) => r.name === to)) {
            throw new ApiError(409, `Name '${paths.name}/${to}' already in use`);
          }
          writeSnapshotMeta(rec.paths, to, rec.expiresAt);
        });
        d.events.lifecycle("instance-snapshot-renamed", snapshotUrl(paths.name, to), {
          old_name: from.name,
        });
      });
    },
  );

  app.delete<{ Params: SnapParams }>(`${INSTANCES}/:name/snapshots/:snap`, async (req, reply) => {
    const paths = instancePaths(d, req.params.name);
    const rec = findSnapshot(d.ctx, paths, req.params.snap);
    return instanceOperation(d, reply, paths.name, "Deleting snapshot", async () => {
      await inInstanceQueue(d, paths.name, async () => {
        const now = findSnapshot(d.ctx, paths, rec.name);
        await destroySnapshot(d.ctx, paths, now.dir);
      });
      d.events.lifecycle("instance-snapshot-deleted", snapshotUrl(paths.name, rec.name));
    });
  });
}

/** A JSON object body, or LXD's 400. */
export function objectBody<T>(body: unknown): T {
  const b = body ?? {};
  if (
    typeof b !== "object" ||
    Array.isArray(b) ||
    typeof (b as { pipe?: unknown }).pipe === "function"
  ) {
    throw badRequest("Invalid request body: expected a JSON object");
  }
  return b as T;
}
