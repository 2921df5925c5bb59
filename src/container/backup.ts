/**
 * `lxt export` / `lxt import`: one tarball with a container's config, its
 * rootfs (the merged view, whatever the backend) and its snapshots, written
 * and read by GNU tar so that owners, modes, xattrs, hard links, sparse files
 * and device nodes survive.
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
import { dirname, join, relative, resolve } from "node:path";
import type { Caller, Context, Env } from "../core/context.js";
import { LxtError, wrapError } from "../core/errors.js";
import { checkName } from "../core/names.js";
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
  fileCompression,
  runTar,
  TAR_KEEP,
} from "../storage/archive.js";
import {
  filesDir,
  formatRootfsSpec,
  type RootfsRef,
  rootDir,
  type StorageDriver,
  storageDriver,
  usableDriver,
} from "../storage/index.js";
import { explainNoSpace } from "../storage/space.js";
import { neutralConfig, unshiftTarArgs } from "./backup-idmap.js";
import {
  BACKUP_FORMAT,
  type BackupManifest,
  extractTransforms,
  parseManifest,
  renderManifest,
} from "./backup-manifest.js";
import { rewriteConfig, writeHostname } from "./clone.js";
import { loadConfigFile } from "./launch-input.js";
import { type ContainerPaths, containerPaths, requireExists } from "./paths.js";
import { repairStale, withLock } from "./runtime.js";
import { cleanStaleStaging, makeStaging } from "./staging.js";
import { listSnapshotNames, relocateSpec, rootfsRef, snapshotPaths } from "./storage.js";

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

/** Reads `index.json` (the archive's first member) without unpacking the rest. */
export async function readBackupManifest(env: Env, file: string): Promise<BackupManifest> {
  const compression = fileCompression(file);
  const lines: string[] = [];
  try {
    await runTar(
      "tar",
      [
        "-x",
        "-O",
        "-f",
        file,
        ...compressionArgs(compression, "read"),
        "--occurrence=1",
        "index.json",
      ],
      { what: "read", env, onLine: (l) => void lines.push(l) },
    );
  } catch (err) {
    throw new LxtError(
      "usage",
      `import ${file}: not a readable lxt backup (${(err as Error).message})`,
      err,
    );
  }
  return parseManifest(lines.join("\n"), file);
}

export interface ImportOptions {
  /** Target backend (`-B`; default: the best for the state root). */
  backend?: string;
  progress?: Progress;
  /** Who asked: the imported configs are checked as its start would read them. */
  caller: Caller;
  /**
   * Incremental archives (exports with `incremental`) unpacked over the
   * first, in order: each brings what changed and removes what went.
   */
  deltas?: readonly string[];
}

/** A rootfs unpacked (or received) in a staging directory, bound for its final place. */
export interface Staged {
  ref: RootfsRef;
  archive: string;
  /** Final container (or snapshot) directory. */
  finalDir: string;
  /** Its directory on the exporting host. */
  fromDir: string;
}

/**
 * Makes container `name` (default: the exported one) under `lxcpath` from
 * the tarball `file`: unpacked into a staging directory under the state root
 * whose storage is created on the target backend first, configs rewritten
 * for the new place (as `copy` does), then renamed into place. All or
 * nothing; a staging directory left by a killed import is removed by the
 * next export or import.
 */
export async function importContainer(
  ctx: Context,
  file: string,
  name: string | undefined,
  opts: ImportOptions,
): Promise<ContainerPaths> {
  const staged = await stageImport(ctx, file, name, opts);
  return staged.finish(opts.deltas ?? []);
}

/** An import whose base archive is unpacked, not yet in place (`stageImport`). */
export interface StagedImport {
  paths: ContainerPaths;
  /**
   * Unpacks `deltas` (incremental archives, in order) over the base and
   * puts the container in place, under its lock; refused when the name
   * is taken by then. Undoes everything on failure. Once only.
   */
  finish(deltas: readonly string[]): Promise<ContainerPaths>;
  /** Removes what was unpacked. Idempotent; a no-op after `finish`. */
  abort(): Promise<void>;
}

/**
 * The first half of `importContainer`: the base archive `file` unpacked
 * into a claimed staging directory, which nobody sees as a container until
 * `finish` (a live move unpacks its base while the container still runs
 * on the source, and only the delta during the freeze). `incremental`
 * unpacks as an incremental archive: directory records remove what the
 * dump did not hold (what `finish`'s deltas need).
 */
export async function stageImport(
  ctx: Context,
  file: string,
  name: string | undefined,
  opts: ImportOptions & { incremental?: boolean },
): Promise<StagedImport> {
  const env = ctx.settings.hostEnv;
  const lxcpath = ctx.lxcpath;
  const src = resolve(file);
  const manifest = await readBackupManifest(env, src);
  const paths = containerPaths(ctx, checkName(name ?? manifest.name));
  const driver = await usableDriver(opts.backend, lxcpath, ctx.host.run);
  if (driver.name === "zfs") {
    // A dataset is named and mounted for its container directory: staging
    // one and renaming the directory would leave both pointing at staging.
    throw new LxtError(
      "usage",
      `import ${file}: importing straight into zfs is not supported yet: import with -B dir, then lxt copy -B zfs`,
    );
  }
  const failed = (err: unknown) =>
    explainNoSpace(wrapError(`import ${file}`, err), `import ${file} as ${paths.name}`, lxcpath);
  if (existsSync(paths.dir)) {
    throw new LxtError("exists", `import ${file}: container ${paths.name} already exists`);
  }
  mkdirSync(lxcpath, { recursive: true, mode: 0o755 });
  await cleanStaleStaging(ctx, lxcpath);
  const stage = await makeStaging(ctx, lxcpath, "import");
  const staging = stage.dir;
  const revert = new Reverter();
  revert.add("staging", () => stage.release());
  const staged: Staged[] = [];
  let transforms: string[] = [];
  const unpack = (archive: string, incremental: boolean) =>
    runTar(
      "tar",
      [
        "-x",
        "-f",
        archive,
        ...TAR_KEEP,
        "--same-owner",
        // An incremental archive's directory records remove what the dump did not hold.
        ...(incremental ? ["--listed-incremental=/dev/null"] : []),
        ...compressionArgs(fileCompression(archive), "read"),
        ...transforms,
        "-C",
        staging,
      ],
      { what: "unpack", env },
    );
  try {
    staged.push({
      ref: stageRef(driver, staging),
      archive: "rootfs",
      finalDir: paths.dir,
      fromDir: manifest.dir,
    });
    for (const s of manifest.snapshots) {
      const dir = join(staging, "snaps", s.name);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      staged.push({
        ref: stageRef(driver, dir),
        archive: `snaps/${s.name}/rootfs`,
        finalDir: join(paths.dir, "snaps", s.name),
        fromDir: s.dir,
      });
    }
    for (const s of staged) {
      revert.add("staged rootfs", () => driver.destroy(s.ref));
      await driver.create(s.ref);
    }
    transforms = extractTransforms(
      staged.map((s) => ({ archive: s.archive, target: relative(staging, filesDir(s.ref)) })),
    );
    opts.progress?.(`unpacking ${file} as ${paths.name}`);
    await unpack(src, !!opts.incremental || (opts.deltas ?? []).length > 0);
  } catch (err) {
    await revert.revert();
    throw failed(err);
  }
  let done = false;
  const finish = async (deltas: readonly string[]): Promise<ContainerPaths> => {
    if (done) throw new LxtError("internal", `import ${file}: finished or aborted already`);
    done = true;
    try {
      await withLock(ctx, paths, async () => {
        if (existsSync(paths.dir)) {
          throw new LxtError("exists", `import ${file}: container ${paths.name} already exists`);
        }
        try {
          await finishStaged(deltas);
        } catch (err) {
          throw failed(err);
        }
      });
    } catch (err) {
      await revert.revert();
      throw err;
    }
    return paths;
  };
  const finishStaged = async (deltas: readonly string[]) => {
    for (const d of deltas) await unpack(resolve(d), true);
    placeStaged(staging, paths, manifest, staged, opts.caller.env);
    revert.success();
    await stage.release();
  };
  const abort = async () => {
    if (done) return;
    done = true;
    await revert.revert();
  };
  return { paths, finish, abort };
}

function stageRef(driver: StorageDriver, dir: string): RootfsRef {
  return { spec: driver.newSpec(dir), dir };
}

/** `p` under `from` moved under `to`. */
function relocate(p: string, from: string, to: string): string {
  return p === from ? to : p.startsWith(`${from}/`) ? to + p.slice(from.length) : p;
}

/**
 * Rewrites each staged config for its final place (rootfs spec, paths,
 * hostname when renamed), checks it as a start would read it, and renames
 * `staging` to the container's directory.
 */
export function placeStaged(
  staging: string,
  paths: ContainerPaths,
  manifest: BackupManifest,
  staged: readonly Staged[],
  env: Env,
): void {
  rmSync(join(staging, "index.json"), { force: true });
  const renamed = paths.name !== manifest.name;
  for (const s of staged) {
    const config = join(relocate(s.finalDir, paths.dir, staging), "config");
    if (!existsSync(config)) {
      throw new LxtError(
        "system",
        `the archive is incomplete (truncated?): no ${relative(staging, config)}`,
      );
    }
    const finalSpec = relocateSpec(s.ref.spec, staging, paths.dir);
    const text = rewriteConfig(readFileSync(config, "utf8"), {
      rootfs: formatRootfsSpec(finalSpec),
      fromDir: s.fromDir,
      toDir: s.finalDir,
      hostname: renamed ? paths.name : undefined,
      keepHwaddr: !renamed,
    });
    writeFileAtomic(config, text, 0o644);
    loadConfigFile(config, env);
  }
  const main = staged[0];
  if (renamed && main) writeHostname(main.ref, false, paths.name);
  renameSync(staging, paths.dir);
}
