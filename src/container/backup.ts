/**
 * `lxt export`: one tarball with a container's config, its rootfs (the
 * merged view, whatever the backend) and its snapshots, written by GNU tar
 * so that owners, modes, xattrs, hard links, sparse files and device nodes
 * survive (read back by backup-import.ts).
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Context, Env } from "../core/context.js";
import { LxtError, wrapError } from "../core/errors.js";
import type { Progress } from "../core/progress.js";
import { Reverter } from "../core/reverter.js";
import { VERSION } from "../core/version.js";
import { writeFileAtomic } from "../host/atomic.js";
import { kernelRandom } from "../host/random.js";
import {
  COMPRESSIONS,
  type Compression,
  compressionArgs,
  compressionFromName,
  runTar,
  TAR_KEEP,
} from "../storage/archive.js";
import { type RootfsRef, rootDir, storageDriver } from "../storage/index.js";
import { explainNoSpace } from "../storage/space.js";
import { neutralConfig, unshiftTarArgs } from "./backup-idmap.js";
import { BACKUP_FORMAT, type BackupManifest, renderManifest } from "./backup-manifest.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { repairStale, withLock } from "./runtime.js";
import { cleanStaleStaging, makeStaging } from "./staging.js";
import { listSnapshotNames, rootfsRef, snapshotPaths } from "./storage.js";

export interface ExportOptions {
  /** Default: from the file name (`.tar.xz`, `.tar.zst`, `.tar`), else zstd. */
  compression?: string;
  progress?: Progress;
  /** Leave the snapshots out (default: they go in). */
  withoutSnapshots?: boolean;
  /**
   * Files a front-end keeps beside a config (lxtd's `lxd.yaml`), carried
   * where present for the container and each snapshot; import unpacks them
   * in place as it does `config`.
   */
  extraFiles?: readonly string[];
  /**
   * A GNU tar snapshot file (`--listed-incremental`): the first export with
   * it is a full dump, each later one holds only what changed since (and
   * which names are gone). A running container is exported with it
   * whatever its backend: the copy is made consistent by the next one,
   * taken once it is stopped (a move's pre-copy, docs/migrate.md).
   */
  incremental?: string;
  /**
   * Configs, side files and snapshot records only, no rootfs: the trees go
   * by the backend's own stream (`StorageDriver.send`), owners as on disk,
   * so each config keeps its `lxt.volatile.rootfs.shift`.
   */
  withoutRootfs?: boolean;
}

function pickCompression(file: string, flag: string | undefined): Compression {
  if (flag === undefined) return compressionFromName(file) ?? "zstd";
  if (!(COMPRESSIONS as readonly string[]).includes(flag)) {
    throw new LxtError(
      "usage",
      `export: unknown compression "${flag}" (none, xz, zstd, gzip, bzip2)`,
    );
  }
  return flag as Compression;
}

/** A mount the export's private namespace makes: a tree's merged view at `at`. */
function viewMount(ref: RootfsRef, at: string): string[] {
  const s = ref.spec;
  if (s.backend === "overlay") return ["overlay", `ro,lowerdir=${s.upper}:${s.lower}`, at];
  return ["bind", rootDir(ref), at];
}

/**
 * Writes the tarball `file` of container `paths`. A running container is
 * refused unless its backend snapshots atomically (btrfs): then a writable
 * snapshot taken under the lock is archived instead. The archive is written
 * beside `file` and renamed into place, so a failure leaves no half file.
 */
export async function exportContainer(
  ctx: Context,
  paths: ContainerPaths,
  file: string,
  opts: ExportOptions = {},
): Promise<BackupManifest> {
  const run = ctx.host.run;
  const env = ctx.settings.hostEnv;
  requireExists(paths, "export");
  const out = resolve(file);
  const compression = pickCompression(out, opts.compression);
  await cleanStaleStaging(ctx, paths.lxcpath);
  return withLock(ctx, paths, async () => {
    const seen = await repairStale(ctx, paths);
    const ref = rootfsRef(paths, "export");
    const driver = storageDriver(ref.spec.backend, run);
    if (seen.state !== "STOPPED" && !driver.capabilities.liveSnapshot && !opts.incremental) {
      throw new LxtError(
        "state",
        `export ${paths.name}: container is ${seen.state}; its ${driver.name} storage cannot be read consistently while it runs (stop it first)`,
      );
    }
    const stage = await makeStaging(ctx, paths.lxcpath, "export");
    const staging = stage.dir;
    const tree = join(staging, "tree");
    const tmpFile = `${out}.lxt-tmp.${kernelRandom(6).toString("hex")}`;
    const revert = new Reverter();
    revert.add("staging", () => stage.release());
    revert.add("partial archive", () => rmSync(tmpFile, { force: true }));
    try {
      let live = ref;
      if (seen.state !== "STOPPED" && driver.capabilities.liveSnapshot && !opts.withoutRootfs) {
        const dir = join(staging, "live");
        mkdirSync(dir, { mode: 0o700 });
        live = { spec: driver.newSpec(dir, ref), dir };
        revert.add("live snapshot", () => driver.destroy(live));
        await driver.clone(ref, live, { cow: true });
      }
      mkdirSync(join(tree, "rootfs"), { recursive: true, mode: 0o755 });
      const keepShift = !!opts.withoutRootfs;
      const main = neutralConfig(paths.config, keepShift);
      const shifts = [main.shift];
      writeFileSync(join(tree, "config"), main.text);
      const extras = copyExtras(paths.dir, tree, opts.extraFiles);
      const mounts = opts.withoutRootfs ? [] : [viewMount(live, join(tree, "rootfs"))];
      const manifest: BackupManifest = {
        format: BACKUP_FORMAT,
        lxt: VERSION,
        name: paths.name,
        backend: driver.name,
        dir: paths.dir,
        created: new Date().toISOString(),
        snapshots: [],
      };
      for (const s of opts.withoutSnapshots ? [] : listSnapshotNames(paths)) {
        const sp = snapshotPaths(ctx, paths, s);
        const sref = rootfsRef(sp, "export");
        const at = join(tree, "snaps", s);
        mkdirSync(opts.withoutRootfs ? at : join(at, "rootfs"), { recursive: true, mode: 0o755 });
        const sc = neutralConfig(sp.config, keepShift);
        shifts.push(sc.shift);
        writeFileSync(join(at, "config"), sc.text);
        const snap: BackupManifest["snapshots"][number] = {
          name: s,
          dir: sp.dir,
          backend: sref.spec.backend,
        };
        for (const f of ["ts", "comment"] as const) {
          if (!existsSync(join(sp.dir, f))) continue;
          copyFileSync(join(sp.dir, f), join(at, f));
          snap[f] = readFileSync(join(sp.dir, f), "utf8").trimEnd();
        }
        copyExtras(sp.dir, at, opts.extraFiles);
        manifest.snapshots.push(snap);
        if (!opts.withoutRootfs) mounts.push(viewMount(sref, join(at, "rootfs")));
      }
      writeFileAtomic(join(tree, "index.json"), renderManifest(manifest));
      const members = [
        "index.json",
        "config",
        ...extras,
        ...(opts.withoutRootfs ? [] : ["rootfs"]),
      ];
      if (manifest.snapshots.length > 0) members.push("snaps");
      opts.progress?.(`archiving ${paths.name} to ${out}`);
      await archiveWithMounts(
        env,
        mounts,
        [
          "-c",
          "-f",
          tmpFile,
          ...TAR_KEEP,
          "--sparse",
          // Device numbers of a bind or overlay view differ from run to run; inodes do not.
          ...(opts.incremental
            ? [`--listed-incremental=${opts.incremental}`, "--no-check-device"]
            : []),
          ...(opts.withoutRootfs ? [] : unshiftTarArgs(shifts, staging)),
          ...compressionArgs(compression, "create"),
          "-C",
          tree,
          "--",
          ...members,
        ],
        // A running tree read in place changes under tar: the incremental export taken once it is stopped catches up.
        live === ref && seen.state !== "STOPPED",
      );
      renameSync(tmpFile, out);
      await revert.revert(); // the staging (and live snapshot) go either way
      return manifest;
    } catch (err) {
      await revert.revert();
      throw explainNoSpace(
        wrapError(`export ${paths.name}`, err),
        `export ${paths.name} to ${out}`,
        dirname(out),
      );
    }
  });
}

/** Copies those of `files` that exist in `from` into `to`; returns the ones copied. */
function copyExtras(from: string, to: string, files: readonly string[] = []): string[] {
  const out: string[] = [];
  for (const f of files) {
    if (!existsSync(join(from, f))) continue;
    copyFileSync(join(from, f), join(to, f));
    out.push(f);
  }
  return out;
}

/**
 * Runs tar in a private mount namespace of a short-lived `unshare` in which
 * each rootfs view is mounted (bind, or a read-only overlay): the host's
 * mount table never changes and the mounts go with that process.
 */
function archiveWithMounts(
  env: Env,
  mounts: string[][],
  tarArgs: string[],
  differsOk = false,
): Promise<void> {
  const lines = ["set -e"];
  const args: string[] = [];
  for (const [kind, a, b] of mounts) {
    const i = args.length;
    if (kind === "overlay") {
      lines.push(`mount -t overlay -o "$${i + 1}" overlay "$${i + 2}"`);
      args.push(a ?? "", b ?? "");
    } else {
      lines.push(`mount --bind "$${i + 1}" "$${i + 2}"`);
      args.push(a ?? "", b ?? "");
    }
  }
  lines.push(`shift ${args.length}`, 'exec tar "$@"');
  return runTar(
    "unshare",
    [
      "--mount",
      "--propagation",
      "private",
      "--",
      "sh",
      "-c",
      lines.join("\n"),
      "lxt-export",
      ...args,
      ...tarArgs,
    ],
    { what: "tar", env, differsOk },
  );
}
