/**
 * `lxt import`: a tarball written by `lxt export` (or a move's archive)
 * unpacked into a staging directory under the state root, checked, and
 * placed as a container in one rename; the export side is backup.ts.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import type { Caller, Context, Env } from "../core/context.js";
import { LxtError, wrapError } from "../core/errors.js";
import { checkName } from "../core/names.js";
import type { Progress } from "../core/progress.js";
import { Reverter } from "../core/reverter.js";
import { writeFileAtomic } from "../host/atomic.js";
import {
  compressionArgs,
  fileCompression,
  readArchiveMember,
  runTar,
  TAR_KEEP,
} from "../storage/archive.js";
import {
  filesDir,
  formatRootfsSpec,
  type RootfsRef,
  type StorageDriver,
  usableDriver,
} from "../storage/index.js";
import { explainNoSpace } from "../storage/space.js";
import { type BackupManifest, extractTransforms, parseManifest } from "./backup-manifest.js";
import { rewriteConfig, writeHostname } from "./clone.js";
import { loadConfigFile } from "./launch-input.js";
import { type ContainerPaths, containerPaths } from "./paths.js";
import { withLock } from "./runtime.js";
import { cleanStaleStaging, makeStaging } from "./staging.js";
import { relocateSpec } from "./storage.js";

/** Reads `index.json` (the archive's first member) without unpacking the rest. */
export async function readBackupManifest(env: Env, file: string): Promise<BackupManifest> {
  let text: string;
  try {
    text = await readArchiveMember(env, file, "index.json");
  } catch (err) {
    throw new LxtError(
      "usage",
      `import ${file}: not a readable lxt backup (${(err as Error).message})`,
      err,
    );
  }
  return parseManifest(text, file);
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
