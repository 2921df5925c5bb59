/**
 * A stopped container sent to another host by its backend's own stream
 * (btrfs or zfs send/receive) instead of an archive (docs/migrate.md): the
 * snapshots go first as an incremental chain (each the change since the
 * one before, so they arrive as snapshots sharing their blocks), then a read-only snapshot
 * of the rootfs, taken under the container's lock, as the change since the
 * last of them. Configs, side files and snapshot records go beside the
 * streams as a small `lxt export` archive without rootfs, the owners as
 * they are on disk (the configs keep their shift).
 *
 * The receiving side unpacks that archive into a claimed staging
 * directory, receives the streams through its driver's `StreamReceiver`
 * (btrfs: a read-only subvolume each in its place there; zfs: one staging
 * dataset), names the storage for its final place and puts the container
 * there as an import does; anything short of that removes everything
 * received and the staging directory.
 */
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { basename, join } from "node:path";
import type { Readable } from "node:stream";
import type { Caller, Context } from "../core/context.js";
import { LxtError, wrapError } from "../core/errors.js";
import { checkName } from "../core/names.js";
import type { Progress } from "../core/progress.js";
import { runTar, TAR_KEEP } from "../storage/archive.js";
import {
  type RootfsRef,
  receivingDriver,
  type StorageDriver,
  storageDriver,
} from "../storage/index.js";
import { explainNoSpace } from "../storage/space.js";
import { exportContainer } from "./backup.js";
import { placeStaged, readBackupManifest, type Staged } from "./backup-import.js";
import { writeHostname } from "./clone.js";
import { type ContainerPaths, containerPaths, requireExists } from "./paths.js";
import { repairStale, withLock } from "./runtime.js";
import { cleanStaleStaging, makeStaging } from "./staging.js";
import { listSnapshotNames, relocateSpec, rootfsRef, snapshotPaths } from "./storage.js";

/** The transport every lxt host receives: an `lxt export` archive. */
export const ARCHIVE_TRANSPORT = "archive";

/** The driver of `backend` when it has send streams (`StorageDriver.send`/`receiver`). */
function streamDriver(ctx: Context, backend: string): StorageDriver | undefined {
  const d = storageDriver(backend, ctx.host.run);
  return d.send && d.receiver && d.sendable && d.sendSpec ? d : undefined;
}

/**
 * The transports this host receives into its state root: the archive
 * always, and the backend of the state root's filesystem when its driver
 * has send streams and works here (`receivingDriver`: btrfs on btrfs with
 * btrfs-progs, zfs on a zfs dataset with zfs).
 */
export async function receivableTransports(ctx: Context): Promise<string[]> {
  const driver = await receivingDriver(ctx.lxcpath, ctx.host.run);
  return driver ? [ARCHIVE_TRANSPORT, driver.name] : [ARCHIVE_TRANSPORT];
}

/**
 * The stream transport container `paths` can be sent by (its backend's
 * name), or undefined for the archive: its rootfs and every snapshot's are
 * of one backend with send streams, laid out as that driver sends them
 * (`StorageDriver.sendable`: btrfs a subvolume `rootfs` in each directory,
 * zfs the snapshots `DATASET@NAME` of the rootfs's dataset, in the order
 * they were taken).
 */
export async function sendableTransport(
  ctx: Context,
  paths: ContainerPaths,
): Promise<string | undefined> {
  const [main, ...snaps] = [
    paths,
    ...listSnapshotNames(paths).map((s) => snapshotPaths(ctx, paths, s)),
  ].map((p) => rootfsRef(p, "send"));
  const backend = main?.spec.backend;
  const driver = backend ? streamDriver(ctx, backend) : undefined;
  if (!main || !driver?.sendable || snaps.some((r) => r.spec.backend !== backend)) return undefined;
  return (await driver.sendable(main, snaps)) ? undefined : driver.name;
}

/** A container packed for a stream transfer (`packForSend`), in the caller's directory. */
export interface SendPack {
  /** The backend whose streams these are. */
  transport: string;
  /** The archive of configs and records (no rootfs). */
  meta: string;
  /** How many streams there are: each snapshot's, then the rootfs's, in the order the receiver takes them. */
  streams: number;
  /**
   * Stream number `index` (each once, in order), read from the backend as
   * it is sent: it errors when the send fails, and destroying it stops the
   * send.
   */
  stream(index: number): Readable;
  /** Removes the read-only snapshot of the rootfs taken for the send. */
  cleanup(): Promise<void>;
}

/**
 * Packs stopped container `paths` into `dir` (on the state root's
 * filesystem: the rootfs snapshot is taken there) for a transfer by its
 * backend's streams. The source is only read.
 */
export async function packForSend(
  ctx: Context,
  paths: ContainerPaths,
  dir: string,
  opts: { extraFiles?: readonly string[]; progress?: Progress } = {},
): Promise<SendPack> {
  requireExists(paths, "send");
  const transport = await sendableTransport(ctx, paths);
  const driver = transport ? streamDriver(ctx, transport) : undefined;
  if (!transport || !driver?.send || !driver.sendSpec) {
    throw new LxtError("internal", `send ${paths.name}: no storage stream for its backend`);
  }
  const meta = join(dir, "meta.tar");
  const manifest = await exportContainer(ctx, paths, meta, {
    compression: "none",
    extraFiles: opts.extraFiles,
    withoutRootfs: true,
  });
  const liveDir = join(dir, "live");
  mkdirSync(liveDir, { mode: 0o700 });
  const live: RootfsRef = {
    spec: driver.sendSpec(rootfsRef(paths, "send"), liveDir),
    dir: liveDir,
  };
  const cleanup = () => driver.destroy(live);
  try {
    await withLock(ctx, paths, async () => {
      const seen = await repairStale(ctx, paths);
      // A read-only snapshot of a running container is a consistent point in time (as export's).
      if (seen.state !== "STOPPED" && !driver.capabilities.liveSnapshot) {
        throw new LxtError(
          "state",
          `send ${paths.name}: container is ${seen.state}; its ${driver.name} storage cannot be read consistently while it runs (stop it first)`,
        );
      }
      await driver.snapshot(rootfsRef(paths, "send"), live);
    });
    const chain = manifest.snapshots.map((s) =>
      rootfsRef(snapshotPaths(ctx, paths, s.name), "send"),
    );
    chain.push(live);
    const send = driver.send.bind(driver);
    const stream = (index: number): Readable => {
      const ref = chain[index];
      if (!ref) throw new LxtError("internal", `send ${paths.name}: no stream ${index}`);
      const parent = chain[index - 1];
      opts.progress?.(
        `${transport} send ${basename(ref.dir)}${parent ? ` (since ${basename(parent.dir)})` : ""}`,
      );
      return send(ref, parent);
    };
    return { transport, meta, streams: chain.length, stream, cleanup };
  } catch (err) {
    await cleanup();
    throw explainNoSpace(wrapError(`send ${paths.name}`, err), `send ${paths.name}`, dir);
  }
}

/** A stream transfer being received (`stageReceive`): nothing is a container until `finish`. */
export interface ReceiveStage {
  paths: ContainerPaths;
  /** How many streams `receive` takes (the manifest's snapshots, then the rootfs). */
  streams: number;
  /**
   * Receives stream number `index` (in order) from `input` as it arrives;
   * a failure (the stream's own, or an `input` cut short) aborts the whole
   * receive.
   */
  receive(index: number, input: Readable): Promise<void>;
  /** Puts the container in place (refused when the name is taken by then); a failure aborts. */
  finish(): Promise<ContainerPaths>;
  /** Removes everything received and the staging directory. Idempotent; a no-op after `finish`. */
  abort(): Promise<void>;
}

/**
 * Starts receiving container `name` by stream `transport` (a backend name
 * from `receivableTransports`), its configs and records from the archive
 * `meta` (`packForSend`'s).
 */
export async function stageReceive(
  ctx: Context,
  transport: string,
  meta: string,
  name: string,
  opts: { caller: Caller },
): Promise<ReceiveStage> {
  const driver = await receivingDriver(ctx.lxcpath, ctx.host.run);
  if (!driver?.receiver || driver.name !== transport) {
    throw new LxtError("usage", `receive ${name}: this host cannot receive a ${transport} stream`);
  }
  const env = ctx.settings.hostEnv;
  const manifest = await readBackupManifest(env, meta);
  const paths = containerPaths(ctx, checkName(name));
  if (existsSync(paths.dir)) {
    throw new LxtError("exists", `receive ${name}: container ${paths.name} already exists`);
  }
  await cleanStaleStaging(ctx, ctx.lxcpath);
  const stage = await makeStaging(ctx, ctx.lxcpath, "import");
  const staging = stage.dir;
  const receiver = driver.receiver(
    staging,
    manifest.snapshots.map((s) => s.name),
  );
  const streams = manifest.snapshots.length + 1;
  let next = 0;
  /** Placed (`finish` succeeded): nothing is left to abort. */
  let placed = false;
  let aborting: Promise<void> | undefined;
  /** The stream being received: an abort cuts its input and waits for the receive to stop. */
  let current: { input: Readable; settled: Promise<unknown> } | undefined;
  const abort = (): Promise<void> => {
    if (placed) return Promise.resolve();
    aborting ??= (async () => {
      if (current) {
        current.input.destroy();
        await current.settled;
      }
      await receiver.destroy();
      await stage.release();
    })();
    return aborting;
  };
  const done = () => placed || aborting !== undefined;
  const failing = async (what: string, err: unknown): Promise<never> => {
    await abort().catch(() => undefined);
    throw explainNoSpace(
      wrapError(`receive ${paths.name}: ${what}`, err),
      `receive ${paths.name}`,
      ctx.lxcpath,
    );
  };
  try {
    await runTar("tar", ["-x", "-f", meta, ...TAR_KEEP, "--same-owner", "-C", staging], {
      what: "unpack",
      env,
    });
  } catch (err) {
    return failing("its configs", err);
  }
  const receive = async (index: number, input: Readable) => {
    if (done() || current || index !== next || index >= streams) {
      throw new LxtError(
        "usage",
        `receive ${paths.name}: stream ${index} not expected (next: ${next} of ${streams}${current ? ", being received" : ""})`,
      );
    }
    try {
      const received = receiver.receive(index, input);
      current = { input, settled: received.catch(() => undefined) };
      try {
        await received;
      } finally {
        // Settled: its input (a request that is still to be answered) is not to be cut.
        current = undefined;
      }
    } catch (err) {
      return failing(`stream ${index}`, err);
    }
    next++;
  };
  const finish = async () => {
    if (done() || next !== streams) {
      throw new LxtError("usage", `receive ${paths.name}: ${next} of ${streams} streams received`);
    }
    try {
      await withLock(ctx, paths, async () => {
        if (existsSync(paths.dir)) {
          throw new LxtError("exists", `container ${paths.name} already exists`);
        }
        const { main, snaps } = await receiver.prepare(paths.dir);
        const staged: Staged[] = [
          { ref: main, archive: "rootfs", finalDir: paths.dir, fromDir: manifest.dir },
          ...manifest.snapshots.map((s, i) => ({
            ref: snaps[i] as RootfsRef,
            archive: `snaps/${s.name}/rootfs`,
            finalDir: join(paths.dir, "snaps", s.name),
            fromDir: s.dir,
          })),
        ];
        placeStaged(staging, paths, manifest, staged, opts.caller.env);
        try {
          await receiver.placed();
          // A rootfs that appears only now (zfs: mounted by `placed`) gets its new name now.
          if (paths.name !== manifest.name) {
            const spec = relocateSpec(main.spec, staging, paths.dir);
            writeHostname({ spec, dir: paths.dir }, false, paths.name);
          }
        } catch (err) {
          // Not a container until its storage is there: back to staging, for the abort.
          renameSync(paths.dir, staging);
          throw err;
        }
      });
    } catch (err) {
      return failing("put in place", err);
    }
    placed = true;
    await stage.release();
    return paths;
  };
  return { paths, streams, receive, finish, abort };
}
