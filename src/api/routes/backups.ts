/**
 * `/1.0/instances/NAME/backups`: list, create, get, rename, delete, and
 * `/export` (the tarball); and the import that `POST /1.0/instances` with
 * an `application/octet-stream` body asks for. A backup is an `lxt export`
 * tarball (container/backup.ts: `index.json`, `config`, `rootfs/`,
 * `snaps/snapN/`, with lxtd's `lxd.yaml` side files), not LXD's
 * `index.yaml` + `backup/container/` layout: `lxc export` saves it and
 * `lxc import` of it works; a tarball LXD made is refused as not an lxt backup.
 */
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { exportContainer } from "../../container/backup.js";
import { importContainer, readBackupManifest } from "../../container/backup-import.js";
import { type ContainerPaths, containerPaths } from "../../container/paths.js";
import { checkName } from "../../core/names.js";
import {
  type BackupRecord,
  backupCompression,
  backupFile,
  backupJson,
  backupRecords,
  backupSize,
  findBackup,
  nextBackupName,
  prepareBackupDir,
  removeBackup,
  renameBackup,
  writeBackupRecord,
} from "../backup-store.js";
import type { Daemon } from "../daemon.js";
import { ApiError, badRequest, syncBody } from "../envelope.js";
import { armExpiry } from "../expiry.js";
import { metaFile, readMeta, writeMeta } from "../instance-meta.js";
import { inInstanceQueue } from "../instance-queue.js";
import { SIDE_FILES } from "../side-files.js";
import { checkSnapshotName, parseExpiry } from "../snapshot-store.js";
import type { BackupsPost } from "../types.js";
import { INSTANCES, instanceOperation, instancePaths } from "./instances.js";
import { recursion } from "./params.js";
import { objectBody } from "./snapshots.js";

type Params = { name: string };
type BackupParams = { name: string; backup: string };

function backupUrl(instance: string, b: string): string {
  return `${INSTANCES}/${instance}/backups/${b}`;
}

/** An operation on an instance's backup; the stock client reads the backup's name from `resources.backups`. */
function backupOperation(
  d: Daemon,
  reply: FastifyReply,
  instance: string,
  backup: string,
  description: string,
  run: () => Promise<unknown>,
) {
  return instanceOperation(d, reply, instance, description, run, {
    backups: [`/1.0/backups/${backup}`],
  });
}

/** Daemons whose leftover uploads (of a killed predecessor) are removed already. */
const swept = new WeakSet<Daemon>();

/** Where uploads are spooled; emptied when the daemon starts (what a killed one left). */
export function uploadsDir(d: Daemon): string {
  return join(d.stateDir, "uploads");
}

export function registerBackupRoutes(app: FastifyInstance, d: Daemon): void {
  if (!swept.has(d)) {
    swept.add(d);
    // One daemon per state root: what is in its spool now, no request of its own made.
    rmSync(uploadsDir(d), { recursive: true, force: true });
  }
  app.get<{ Params: Params }>(`${INSTANCES}/:name/backups`, async (req) => {
    const paths = instancePaths(d, req.params.name);
    const all = backupRecords(paths);
    if (recursion(req) === 0) return syncBody(all.map((b) => backupUrl(paths.name, b.name)));
    return syncBody(all.map(backupJson));
  });

  app.post<{ Params: Params }>(`${INSTANCES}/:name/backups`, async (req, reply) => {
    const paths = instancePaths(d, req.params.name);
    const body = objectBody<BackupsPost>(req.body);
    if (body.optimized_storage) {
      throw badRequest("Optimized storage backups are not supported (lxt archives files)");
    }
    const compression = backupCompression(body.compression_algorithm);
    const expiresAt = parseExpiry(body.expires_at);
    const name = body.name ? checkSnapshotName(body.name, "backup") : nextBackupName(paths);
    if (backupRecords(paths).some((b) => b.name === name)) {
      throw new ApiError(409, `Backup "${name}" already exists`);
    }
    const rec: BackupRecord = {
      name,
      created_at: new Date(d.ctx.host.clock.now()).toISOString(),
      instance_only: !!(body.instance_only || body.container_only),
      optimized_storage: false,
      compression,
      ...(expiresAt ? { expires_at: expiresAt } : {}),
    };
    return backupOperation(d, reply, paths.name, name, "Backing up instance", async () => {
      await inInstanceQueue(d, paths.name, async () => {
        if (backupRecords(paths).some((b) => b.name === name)) {
          throw new ApiError(409, `Backup "${name}" already exists`);
        }
        prepareBackupDir(paths);
        await exportContainer(d.ctx, paths, backupFile(paths, rec), {
          compression,
          withoutSnapshots: rec.instance_only,
          extraFiles: SIDE_FILES,
        });
        writeBackupRecord(paths, rec);
      });
      d.events.lifecycle("instance-backup-created", backupUrl(paths.name, name));
      if (expiresAt) void armExpiry(d);
    });
  });

  app.get<{ Params: BackupParams }>(`${INSTANCES}/:name/backups/:backup`, async (req) => {
    const paths = instancePaths(d, req.params.name);
    return syncBody(backupJson(findBackup(paths, req.params.backup)));
  });

  app.post<{ Params: BackupParams }>(`${INSTANCES}/:name/backups/:backup`, async (req, reply) => {
    const paths = instancePaths(d, req.params.name);
    const from = findBackup(paths, req.params.backup);
    const to = checkSnapshotName(objectBody<{ name?: string }>(req.body).name, "backup");
    if (backupRecords(paths).some((b) => b.name === to)) {
      throw new ApiError(409, `Backup "${to}" already exists`);
    }
    return backupOperation(d, reply, paths.name, to, "Renaming instance backup", async () => {
      await inInstanceQueue(d, paths.name, async () => {
        if (backupRecords(paths).some((b) => b.name === to)) {
          throw new ApiError(409, `Backup "${to}" already exists`);
        }
        renameBackup(paths, findBackup(paths, from.name), to);
      });
      d.events.lifecycle("instance-backup-renamed", backupUrl(paths.name, to), {
        old_name: from.name,
      });
    });
  });

  app.delete<{ Params: BackupParams }>(`${INSTANCES}/:name/backups/:backup`, async (req, reply) => {
    const paths = instancePaths(d, req.params.name);
    const b = findBackup(paths, req.params.backup);
    return backupOperation(d, reply, paths.name, b.name, "Removing instance backup", async () => {
      await inInstanceQueue(d, paths.name, async () => removeBackup(paths, b));
      d.events.lifecycle("instance-backup-deleted", backupUrl(paths.name, b.name));
    });
  });

  app.get<{ Params: BackupParams }>(
    `${INSTANCES}/:name/backups/:backup/export`,
    async (req, reply) => {
      const paths = instancePaths(d, req.params.name);
      const b = findBackup(paths, req.params.backup);
      const stream = createReadStream(backupFile(paths, b));
      d.events.lifecycle("instance-backup-retrieved", backupUrl(paths.name, b.name));
      return reply
        .header("Content-Type", "application/octet-stream")
        .header("Content-Length", backupSize(paths, b))
        .send(stream);
    },
  );
}

/** What follows an import into lxtd: its LXD side file, the lifecycle event, snapshot expiry. */
export function imported(d: Daemon, paths: ContainerPaths): void {
  // An export by the CLI has no lxd.yaml: the import is its creation.
  if (!existsSync(metaFile(paths))) {
    const created_at = new Date(d.ctx.host.clock.now()).toISOString();
    writeMeta(paths, { ...readMeta(paths), created_at });
  }
  d.events.lifecycle("instance-created", `${INSTANCES}/${paths.name}`);
  void armExpiry(d);
}

/** Writes an upload's body to `file` (mode 0600); the file goes if the upload breaks. */
export async function spoolUpload(body: unknown, file: string): Promise<void> {
  if (!isUpload(body)) throw badRequest("Expected an application/octet-stream body");
  try {
    await pipeline(body, createWriteStream(file, { mode: 0o600 }));
  } catch (err) {
    rmSync(file, { force: true });
    throw err;
  }
}

/** Whether a request's body is an upload (a stream), not parsed JSON. */
export function isUpload(body: unknown): body is Readable {
  return !!body && typeof (body as { pipe?: unknown }).pipe === "function";
}

/**
 * `POST /1.0/instances` with a tarball body (`lxc import`): the upload is
 * spooled under the daemon's state directory, then imported by lxt's
 * `import` in an operation; `X-LXD-name` renames it, `X-LXD-pool` may only
 * name the one pool (`default`).
 */
export async function importUpload(d: Daemon, req: FastifyRequest, reply: FastifyReply) {
  const pool = req.headers["x-lxd-pool"];
  if (typeof pool === "string" && pool !== "" && pool !== "default") {
    throw new ApiError(404, "Storage pool not found");
  }
  const asked = req.headers["x-lxd-name"];
  const spool = uploadsDir(d);
  mkdirSync(spool, { recursive: true, mode: 0o700 });
  const file = join(spool, `backup-${randomBytes(6).toString("hex")}`);
  try {
    await spoolUpload(req.body, file);
    const manifest = await readBackupManifest(d.ctx.settings.hostEnv, file);
    const name = typeof asked === "string" && asked !== "" ? asked : manifest.name;
    try {
      checkName(name);
    } catch (err) {
      throw badRequest(`Invalid instance name: ${(err as Error).message}`);
    }
    const paths = containerPaths(d.ctx, name);
    if (existsSync(paths.config)) throw new ApiError(409, `Instance "${name}" already exists`);
    return instanceOperation(d, reply, name, "Restoring backup", async () => {
      try {
        await importContainer(d.ctx, file, name, { caller: d.caller });
      } finally {
        rmSync(file, { force: true });
      }
      imported(d, paths);
    });
  } catch (err) {
    rmSync(file, { force: true });
    throw err;
  }
}
