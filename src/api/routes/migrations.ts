/**
 * `/1.0/migrations`: lxt's own endpoint for receiving a running container
 * (`lxt move` of a running container, `lxt copy --stateful`), documented in
 * docs/api.md. LXD's live migration (`POST /1.0/instances/NAME` with
 * `migration: true`, websockets between the two daemons) is not copied:
 * the sender drives it, in three uploads:
 *
 *   POST   /1.0/migrations          base archive (X-LXD-name), unpacked → {id, source}
 *   PUT    /1.0/migrations/ID/delta what changed since, taken while frozen
 *   POST   /1.0/migrations/ID       the checkpoint → operation: import, restore
 *   DELETE /1.0/migrations/ID       drop what was sent
 *
 * `source` is the address the sender's request came from: where a
 * post-copy move (`lxt move --lazy`) serves its pages, to `target` (the
 * address the request reached here) only. Its final POST then
 * names the page server (`X-LXT-Page-Server: ADDRESS:PORT`) and holds
 * CRIU's images without the memory: the restore runs beside `criu
 * lazy-pages`, and the operation succeeds once the last page is over.
 *
 * A stopped container goes by its backend's streams where both ends have
 * them (`GET /1.0/migrations` says what this host receives):
 *
 *   POST   /1.0/migrations          X-LXT-transport: btrfs|zfs; configs archive → {id, streams}
 *   PUT    /1.0/migrations/ID/streams/N  stream N, received as it arrives
 *   POST   /1.0/migrations/ID       (empty) → operation: put in place
 *
 * The base is unpacked into a staging directory before the first request
 * answers (the sender freezes the container only then), so that the freeze
 * pays only for the delta and the restore. Until the final operation
 * succeeds nothing exists here but the spool (under the uploads directory,
 * emptied when the daemon starts) and that staging directory (removed by
 * the next import once this daemon is gone), both dropped after `IDLE_MS`
 * without a request; a failed import or restore removes the container it
 * made.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import type { FastifyInstance, FastifyReply } from "fastify";
import { type StagedImport, stageImport } from "../../container/backup-import.js";
import {
  type CriuChild,
  LAZY_LOG,
  plainAddress,
  readText,
  startLazyPages,
} from "../../container/criu-lazy.js";
import { destroyContainer } from "../../container/destroy.js";
import { adoptCheckpointIdmap, unpackCheckpoint } from "../../container/migrate.js";
import { type ContainerPaths, containerPaths } from "../../container/paths.js";
import { restoreContainer } from "../../container/restore.js";
import { cleanStaleStaging } from "../../container/staging.js";
import {
  type ReceiveStage,
  receivableTransports,
  stageReceive,
} from "../../container/storage-transfer.js";
import { LxtError } from "../../core/errors.js";
import { checkName } from "../../core/names.js";
import type { Daemon } from "../daemon.js";
import { ApiError, badRequest, syncBody } from "../envelope.js";
import { imported, isUpload, spoolUpload, uploadsDir } from "./backups.js";
import { INSTANCES, instanceOperation } from "./instances.js";

const BASE = "/1.0/migrations";

/** A sender that goes quiet for this long loses what it sent. */
const IDLE_MS = 10 * 60_000;

interface Pending {
  name: string;
  dir: string;
  timer: NodeJS.Timeout;
  /** The final operation runs: the spool is its own now. */
  finishing: boolean;
  /** The base, unpacked. */
  staged?: StagedImport;
  /** A stopped container received by storage streams. */
  receiving?: ReceiveStage;
}

const pendingOf = new WeakMap<Daemon, Map<string, Pending>>();

function pendings(d: Daemon): Map<string, Pending> {
  let m = pendingOf.get(d);
  if (!m) {
    m = new Map();
    pendingOf.set(d, m);
  }
  return m;
}

const droppingOf = new WeakMap<Daemon, Map<string, Promise<void>>>();

function droppings(d: Daemon): Map<string, Promise<void>> {
  let m = droppingOf.get(d);
  if (!m) {
    m = new Map();
    droppingOf.set(d, m);
  }
  return m;
}

/**
 * Forgets migration `id` and removes what it was sent (settles once its
 * staging is gone); a second call while that runs waits for the same work.
 */
function drop(d: Daemon, id: string): Promise<void> {
  const running = droppings(d).get(id);
  if (running) return running;
  const p = pendings(d).get(id);
  if (!p) return Promise.resolve();
  clearTimeout(p.timer);
  pendings(d).delete(id);
  const work = (async () => {
    rmSync(p.dir, { recursive: true, force: true });
    await p.staged?.abort().catch((err) => d.log.warn({ err }, "migration: staging not removed"));
    await p.receiving
      ?.abort()
      .catch((err) => d.log.warn({ err }, "migration: received streams not removed"));
  })().finally(() => droppings(d).delete(id));
  droppings(d).set(id, work);
  return work;
}

function touch(d: Daemon, id: string, p: Pending): void {
  clearTimeout(p.timer);
  p.timer = setTimeout(() => void drop(d, id), IDLE_MS);
  p.timer.unref();
}

function find(d: Daemon, id: string): Pending {
  const p = pendings(d).get(id);
  if (!p || p.finishing) throw new ApiError(404, "Migration not found");
  touch(d, id, p);
  return p;
}

function requireFree(d: Daemon, name: string, self?: Pending): void {
  if (existsSync(containerPaths(d.ctx, name).config)) {
    throw new ApiError(409, `Instance "${name}" already exists`);
  }
  for (const p of pendings(d).values()) {
    if (p !== self && p.name === name)
      throw new ApiError(409, `Instance "${name}" is being received already`);
  }
}

export function registerMigrationRoutes(app: FastifyInstance, d: Daemon): void {
  // Bases a killed predecessor had unpacked (its claims went with it).
  void cleanStaleStaging(d.ctx, d.ctx.lxcpath).catch((err) =>
    d.log.warn({ err }, "migration: stale staging not removed"),
  );
  app.get(BASE, async () => syncBody({ receive: await receivableTransports(d.ctx) }));

  app.post(BASE, async (req) => {
    const asked = req.headers["x-lxd-name"];
    let name: string;
    try {
      name = checkName(typeof asked === "string" ? asked : "");
    } catch (err) {
      throw badRequest(`Invalid instance name: ${(err as Error).message}`);
    }
    requireFree(d, name);
    const id = randomBytes(8).toString("hex");
    const dir = join(uploadsDir(d), `migration-${id}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const p: Pending = { name, dir, timer: setTimeout(() => undefined, 0), finishing: false };
    pendings(d).set(id, p);
    touch(d, id, p);
    const transport = req.headers["x-lxt-transport"];
    try {
      if (typeof transport === "string" && transport !== "") {
        await spoolUpload(req.body, join(dir, "meta"));
        p.receiving = await stageReceive(d.ctx, transport, join(dir, "meta"), name, {
          caller: d.caller,
        });
        if (!pendings(d).has(id)) {
          await p.receiving.abort();
          throw new ApiError(404, "Migration not found");
        }
        return syncBody({ id, name, streams: p.receiving.streams });
      }
      await spoolUpload(req.body, join(dir, "base"));
      p.staged = await stageImport(d.ctx, join(dir, "base"), name, {
        caller: d.caller,
        incremental: true,
      });
      if (!pendings(d).has(id)) {
        // Dropped (DELETE, idle) while unpacking: nothing may stay.
        await p.staged.abort();
        throw new ApiError(404, "Migration not found");
      }
      rmSync(join(dir, "base"));
    } catch (err) {
      await drop(d, id);
      throw err;
    }
    return syncBody({
      id,
      name,
      source: plainAddress(req.socket.remoteAddress),
      target: plainAddress(req.socket.localAddress),
    });
  });

  app.put<{ Params: { id: string } }>(`${BASE}/:id/delta`, async (req) => {
    const p = find(d, req.params.id);
    await spoolUpload(req.body, join(p.dir, "delta"));
    return syncBody({});
  });

  app.put<{ Params: { id: string; n: string } }>(`${BASE}/:id/streams/:n`, async (req) => {
    const p = find(d, req.params.id);
    if (!p.receiving) throw badRequest("This migration takes no streams");
    if (!isUpload(req.body)) throw badRequest("Expected an application/octet-stream body");
    // Not idle while a stream arrives, however long it takes.
    clearTimeout(p.timer);
    try {
      // Received as it arrives: a body cut short fails the receive.
      await p.receiving.receive(Number(req.params.n), req.body);
      if (pendings(d).get(req.params.id) === p) touch(d, req.params.id, p);
    } catch (err) {
      // A stream that did not arrive whole ends the migration: nothing stays.
      await drop(d, req.params.id);
      // What the sender still sends is read away, so that it hears why.
      req.body.resume();
      throw err;
    }
    return syncBody({});
  });

  app.delete<{ Params: { id: string } }>(`${BASE}/:id`, async (req) => {
    // Being dropped already (a stream that failed): answered once nothing is left.
    if (!droppings(d).has(req.params.id)) find(d, req.params.id);
    await drop(d, req.params.id);
    return syncBody({});
  });

  app.post<{ Params: { id: string } }>(`${BASE}/:id`, async (req, reply: FastifyReply) => {
    const id = req.params.id;
    const p = find(d, id);
    const receiving = p.receiving;
    if (receiving) {
      requireFree(d, p.name, p);
      p.finishing = true;
      return instanceOperation(d, reply, p.name, "Receiving instance", async () => {
        try {
          imported(d, await receiving.finish());
        } finally {
          await drop(d, id);
        }
      });
    }
    const pages = pageServer(req.headers["x-lxt-page-server"]);
    await spoolUpload(req.body, join(p.dir, "checkpoint.tar"));
    if (!existsSync(join(p.dir, "delta"))) {
      throw badRequest("No delta was sent (PUT /1.0/migrations/ID/delta first)");
    }
    requireFree(d, p.name, p);
    p.finishing = true;
    const paths = containerPaths(d.ctx, p.name);
    return instanceOperation(d, reply, p.name, "Receiving running instance", async () => {
      let lazy: { pages_ms: number } | undefined;
      try {
        const images = join(p.dir, "checkpoint");
        await unpackCheckpoint(d.ctx, join(p.dir, "checkpoint.tar"), images);
        if (!p.staged) throw new ApiError(500, "Migration has no base");
        await p.staged.finish([join(p.dir, "delta")]);
        try {
          await adoptCheckpointIdmap(d.ctx, paths, images, d.caller.env);
          if (pages) lazy = await restoreLazily(d, paths, images, pages);
          else await restoreContainer(d.ctx, paths, { dir: images, caller: d.caller });
        } catch (err) {
          await destroyContainer(d.ctx, paths, { force: true, snapshots: true });
          throw err;
        }
        imported(d, paths);
        d.events.lifecycle("instance-started", `${INSTANCES}/${p.name}`);
        return lazy;
      } finally {
        // After a finish this removes the spool only.
        await drop(d, id);
      }
    });
  });
}

/** `ADDRESS:PORT` of a post-copy's page server (header `X-LXT-Page-Server`), or undefined without one. */
export function pageServer(header: unknown): { address: string; port: number } | undefined {
  if (header === undefined) return undefined;
  const m = typeof header === "string" ? /^\[?([0-9A-Fa-f.:]+?)\]?:(\d{1,5})$/.exec(header) : null;
  const port = Number(m?.[2]);
  if (!m?.[1] || !(port > 0 && port < 65536) || isIP(m[1]) === 0)
    throw badRequest(`Invalid X-LXT-Page-Server "${String(header)}" (ADDRESS:PORT)`);
  return { address: m[1], port };
}

/**
 * Restores `paths` from `images` with its memory fetched from `pages` by
 * `criu lazy-pages`: done once the last page is over, `pages_ms` after the
 * restore returned (the container ran meanwhile); a failure of either
 * throws (the caller removes the container). `criu lazy-pages` failing
 * before the restore returned (the page server gone) ends the restore at
 * once: criu's restore, having killed its tree, would wait on it until
 * the start's timeout (its traced tasks are never reaped).
 */
async function restoreLazily(
  d: Daemon,
  paths: ContainerPaths,
  images: string,
  pages: { address: string; port: number },
): Promise<{ pages_ms: number }> {
  const lazy: CriuChild = await startLazyPages(
    d.ctx.settings.hostEnv,
    images,
    pages.address,
    pages.port,
  );
  const failed = (code: number | null) => {
    const log = readText(join(images, LAZY_LOG)).trim().split("\n");
    const why =
      log
        .filter((l) => /Error/.test(l))
        .slice(-2)
        .join("; ") || log.slice(-1).join("");
    const how = code === null ? `killed by ${lazy.child.signalCode}` : `exit ${code}`;
    return new LxtError(
      "checkpoint",
      `restore ${paths.name}: criu lazy-pages failed (${how}) fetching its memory from ${pages.address}:${pages.port}${why ? `: ${why}` : ""}`,
    );
  };
  const fetching = new AbortController();
  void lazy.exited.then((code) => {
    if (code !== 0) fetching.abort();
  });
  try {
    try {
      await restoreContainer(d.ctx, paths, {
        dir: images,
        caller: d.caller,
        lazyPages: true,
        signal: fetching.signal,
      });
    } catch (err) {
      if (fetching.signal.aborted) throw failed(await lazy.exited);
      throw err;
    }
    const restored = d.ctx.host.clock.now();
    const code = await lazy.exited;
    if (code !== 0) throw failed(code);
    return { pages_ms: d.ctx.host.clock.now() - restored };
  } finally {
    if (lazy.child.exitCode === null && lazy.child.signalCode === null) {
      lazy.child.kill("SIGKILL");
      await lazy.exited;
    }
  }
}
