import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
} from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Caller, Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { Reverter } from "../core/reverter.js";
import { writeFileAtomic } from "../host/atomic.js";
import { ownsRootfs, STORAGE_ENTRIES, storageDriver } from "../storage/index.js";
import { cloneContainer } from "./clone.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { repairStale, withLock } from "./runtime.js";
import {
  listSnapshotNames,
  overlayDependentsShared,
  relocateSpec,
  rootfsManaged,
  rootfsRef,
  snapshotPaths,
  snapshotRoot,
  unmanagedEntries,
} from "./storage.js";

/** One snapshot as `lxt snapshot -L` shows it. */
export interface SnapshotInfo {
  name: string;
  /** When it was taken (`ts`, LXC's format: `YYYY-MM-DD HH:MM:SS`, UTC here). */
  time: string;
  comment?: string;
  backend: string;
  /** Bytes of its own data, when the backend can tell cheaply. */
  size?: number;
}

function timestamp(d = new Date()): string {
  return d.toISOString().slice(0, 19).replace("T", " ");
}

/** Refuses a container that is not stopped unless its backend snapshots running containers atomically. */
async function requireQuiet(ctx: Context, paths: ContainerPaths, verb: string): Promise<void> {
  const seen = await repairStale(ctx, paths);
  if (seen.state === "STOPPED") return;
  const driver = storageDriver(rootfsRef(paths, verb).spec.backend, ctx.host.run);
  if (driver.capabilities.liveSnapshot) return;
  throw new LxtError(
    "state",
    `${verb} ${paths.name}: container is ${seen.state} and its ${driver.name} storage cannot be copied consistently while it runs (stop it first)`,
  );
}

/**
 * Takes a snapshot `snapN` (the first free N) under `<dir>/snaps/`, as
 * lxc-snapshot lays it out: a container directory with its own config copy,
 * `ts` and, with a comment file, `comment`. Returns its name.
 */
export async function createSnapshot(
  ctx: Context,
  paths: ContainerPaths,
  opts: { commentFile?: string; caller: Caller },
): Promise<string> {
  requireExists(paths, "snapshot");
  const comment = opts.commentFile ? readFileSync(opts.commentFile, "utf8") : undefined;
  return withLock(ctx, paths, async () => {
    await requireQuiet(ctx, paths, "snapshot");
    let n = 0;
    while (existsSync(join(snapshotRoot(paths), `snap${n}`))) n++;
    const snap = snapshotPaths(ctx, paths, `snap${n}`);
    mkdirSync(snapshotRoot(paths), { recursive: true, mode: 0o700 });
    await cloneContainer(ctx, paths, snap, { cow: false, snapshot: true, caller: opts.caller });
    writeFileAtomic(join(snap.dir, "ts"), `${timestamp()}\n`);
    if (comment !== undefined) writeFileAtomic(join(snap.dir, "comment"), comment);
    return snap.name;
  });
}

/** The snapshots of a container, oldest first. */
export async function listSnapshots(ctx: Context, paths: ContainerPaths): Promise<SnapshotInfo[]> {
  const run = ctx.host.run;
  requireExists(paths, "snapshot");
  const out: SnapshotInfo[] = [];
  for (const name of listSnapshotNames(paths)) {
    const snap = snapshotPaths(ctx, paths, name);
    const read = (f: string) => {
      try {
        return readFileSync(join(snap.dir, f), "utf8");
      } catch {
        return undefined;
      }
    };
    const ref = rootfsRef(snap, "snapshot");
    const driver = storageDriver(ref.spec.backend, run);
    const info: SnapshotInfo = {
      name,
      time: read("ts")?.trim() ?? timestamp(statSync(snap.config).mtime),
      backend: driver.name,
    };
    const comment = read("comment");
    if (comment !== undefined) info.comment = comment.trimEnd();
    if (driver.capabilities.usage && driver.usage) info.size = await driver.usage(ref);
    out.push(info);
  }
  return out;
}

function requireSnapshot(
  ctx: Context,
  paths: ContainerPaths,
  snap: string,
  verb: string,
): ContainerPaths {
  if (!/^snap\d+$/.test(snap) || !listSnapshotNames(paths).includes(snap)) {
    throw new LxtError("not-found", `${verb} ${paths.name}: no snapshot ${snap}`);
  }
  return snapshotPaths(ctx, paths, snap);
}

/** Destroys one snapshot (`-d`). */
export async function destroySnapshot(
  ctx: Context,
  paths: ContainerPaths,
  snap: string,
): Promise<void> {
  requireExists(paths, "snapshot");
  await withLock(ctx, paths, async () => {
    const sp = requireSnapshot(ctx, paths, snap, "snapshot -d");
    await destroyStorageDir(ctx, sp);
    try {
      rmdirSync(snapshotRoot(paths));
    } catch {
      // other snapshots remain
    }
  });
}

/** Refuses to destroy a container whose storage other containers' rootfs are based on (overlay lower, zfs clones). */
export async function requireNoDependents(ctx: Context, paths: ContainerPaths): Promise<void> {
  const users = await overlayDependentsShared(ctx, paths.lxcpath, paths.dir);
  if (users.length > 0) {
    throw new LxtError(
      "state",
      `destroy ${paths.name}: the overlay rootfs of ${users.join(", ")} is based on it (destroy those first)`,
    );
  }
  let ref: ReturnType<typeof rootfsRef> | undefined;
  try {
    ref = rootfsRef(paths, "destroy");
  } catch {
    return;
  }
  const driver = storageDriver(ref.spec.backend, ctx.host.run);
  const clones = ownsRootfs(ref) && driver.dependents ? await driver.dependents(ref) : [];
  if (clones.length > 0) {
    throw new LxtError(
      "state",
      `destroy ${paths.name}: ${driver.name} ${clones.join(", ")} ${clones.length > 1 ? "are clones" : "is a clone"} of its rootfs (destroy those copies first)`,
    );
  }
}

/** Removes a container-like directory: its storage through its driver, then the files. */
export async function destroyStorageDir(ctx: Context, paths: ContainerPaths): Promise<void> {
  await requireNoDependents(ctx, paths);
  let ref: ReturnType<typeof rootfsRef> | undefined;
  try {
    ref = rootfsRef(paths, "destroy");
  } catch {
    ref = undefined;
  }
  if (!rootfsManaged(paths.config)) {
    // lxc.rootfs.managed = 0: the storage stays as it is (in the directory, when it is there).
    const keep = unmanagedEntries(paths);
    const rest = (await readdir(paths.dir).catch(() => [])).filter((e) => !keep.includes(e));
    for (const e of rest) await rm(join(paths.dir, e), { recursive: true, force: true });
    if (keep.length === 0) await rm(paths.dir, { recursive: true, force: true });
    return;
  }
  if (ref && ownsRootfs(ref)) await storageDriver(ref.spec.backend, ctx.host.run).destroy(ref);
  await rm(paths.dir, { recursive: true, force: true });
}

/**
 * Restores a snapshot (any, not only the newest). To a new container
 * `newName` in the same state root; or in place: the container's storage is
 * moved aside, the snapshot cloned into its place, and the old storage
 * destroyed only once that worked (else it is moved back).
 */
export async function restoreSnapshot(
  ctx: Context,
  paths: ContainerPaths,
  snap: string,
  target: ContainerPaths,
  caller: Caller,
): Promise<void> {
  const run = ctx.host.run;
  requireExists(paths, "snapshot");
  await withLock(ctx, paths, async () => {
    const sp = requireSnapshot(ctx, paths, snap, "snapshot -r");
    const cow = storageDriver(rootfsRef(sp, "restore").spec.backend, run).capabilities.cowClone;
    if (target.dir !== paths.dir) {
      await withLock(ctx, target, async () => {
        if (existsSync(target.dir)) {
          throw new LxtError(
            "exists",
            `snapshot -r ${snap}: container ${target.name} already exists`,
          );
        }
        await cloneContainer(ctx, sp, target, { cow, hostname: target.name, caller });
      });
      return;
    }
    const seen = await repairStale(ctx, paths);
    if (seen.state !== "STOPPED") {
      throw new LxtError(
        "state",
        `snapshot -r ${snap}: ${paths.name} is ${seen.state} (stop it first, or restore to a new container with -N)`,
      );
    }
    await restoreInPlace(ctx, paths, sp, cow, caller);
  });
}

async function restoreInPlace(
  ctx: Context,
  paths: ContainerPaths,
  sp: ContainerPaths,
  cow: boolean,
  caller: Caller,
): Promise<void> {
  const run = ctx.host.run;
  const old = rootfsRef(paths, "restore");
  const aside = join(paths.dir, ".lxt-restore-old");
  const staged = join(paths.dir, ".lxt-restore-config");
  const own = storageDriver(old.spec.backend, run);
  const snapRef = rootfsRef(sp, "restore");
  if (own.replaceRootfs && snapRef.spec.backend === old.spec.backend) {
    // zfs: a mounted dataset is not moved aside; the driver swaps datasets.
    const swap = await own.replaceRootfs(old, snapRef);
    try {
      await cloneContainer(
        ctx,
        sp,
        { ...paths, config: staged },
        { cow, caller, existingDir: true, prepared: swap.ref },
      );
      renameSync(staged, paths.config);
    } catch (err) {
      await swap.undo();
      rmSync(staged, { force: true });
      throw err;
    }
    await swap.commit();
    return;
  }
  await rm(aside, { recursive: true, force: true });
  mkdirSync(aside, { mode: 0o700 });
  const revert = new Reverter();
  revert.add("aside directory", () => rm(aside, { recursive: true, force: true }));
  try {
    let moved = false;
    for (const e of STORAGE_ENTRIES) {
      if (!existsSync(join(paths.dir, e))) continue;
      renameSync(join(paths.dir, e), join(aside, e));
      moved = true;
      revert.add(`move ${e} back`, () => renameSync(join(aside, e), join(paths.dir, e)));
    }
    // Storage lands in the container's own paths; the config is staged and renamed over the old one.
    const to = await cloneContainer(
      ctx,
      sp,
      { ...paths, config: staged },
      { cow, caller, existingDir: true },
    );
    revert.add("restored rootfs", () => storageDriver(to.spec.backend, run).destroy(to));
    renameSync(staged, paths.config);
    revert.success();
    if (ownsRootfs(old) && moved) {
      const asideRef = { spec: relocateSpec(old.spec, paths.dir, aside), dir: aside };
      await storageDriver(old.spec.backend, run).destroy(asideRef);
    }
    await rm(aside, { recursive: true, force: true });
  } catch (err) {
    await revert.revert();
    rmSync(staged, { force: true });
    throw err;
  }
}
