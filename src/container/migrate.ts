/**
 * The container side of moving a running container to another host
 * (docs/migrate.md): whether it can be checkpointed (asked before anything
 * is sent, the refusals `lxt checkpoint` makes), and its checkpoint
 * directory packed into one archive and unpacked on the other side.
 */
import { mkdirSync } from "node:fs";
import { formatIdmap, sliceMap } from "../config/idmap.js";
import type { Context, Env } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { compressionArgs, runTar, TAR_KEEP } from "../storage/archive.js";
import { refuseCheckpoint, taskRefusal } from "./checkpoint.js";
import { readManifest } from "./checkpoint-images.js";
import { hasCapSysResource } from "./checkpoint-tasks.js";
import { lazyServerProblem, probeCriu } from "./criu.js";
import { readText } from "./criu-lazy.js";
import { loadContainerConfig } from "./launch-input.js";
import type { ContainerPaths } from "./paths.js";
import { readRuntimePlan } from "./runtime-cgroups.js";
import { observe } from "./state.js";
import { adoptSlice, idmapSource } from "./userns.js";

/**
 * Why running container `paths` cannot be moved by post-copy (`lxt move
 * --lazy`) from here, or undefined when it can: an unprivileged container
 * (its restored tasks cannot open a userfaultfd), criu without userfaultfd, or a
 * page server that cannot size its pipe (`lazyServerProblem`;
 * docs/migrate.md has the cause).
 */
export async function lazyRefusal(
  ctx: Context,
  paths: ContainerPaths,
): Promise<string | undefined> {
  if (readRuntimePlan(ctx, paths)?.records.has("idmap"))
    return `unprivileged containers are not moved by post-copy: criu opens each restored task's userfaultfd inside the container's user namespace, which the kernel refuses (EPERM) unless vm.unprivileged_userfaultfd = 1; move it without --lazy`;
  const criu = await probeCriu(ctx.host.run);
  if (!criu.found) return "criu is not installed";
  if (!criu.lazyPages) return "criu finds no userfaultfd here (criu check --feature uffd-noncoop)";
  const pipeMax = Number.parseInt(readText("/proc/sys/fs/pipe-max-size"), 10);
  return lazyServerProblem(
    Number.isNaN(pipeMax) ? undefined : pipeMax,
    hasCapSysResource(readText(`/proc/${ctx.pid}/status`)),
  );
}

/** Why running container `paths` cannot be checkpointed here, or undefined when it can (or is not running). */
export function checkpointRefusal(ctx: Context, paths: ContainerPaths): string | undefined {
  const plan = readRuntimePlan(ctx, paths);
  if (!plan) return undefined;
  const pid = observe(ctx, paths).init?.pid;
  return refuseCheckpoint(plan) ?? (pid ? taskRefusal(ctx, plan, pid) : undefined);
}

/** Packs checkpoint directory `dir` into `file` (tar, zstd): CRIU's images and lxt's manifest. */
export function packCheckpoint(ctx: Context, dir: string, file: string): Promise<void> {
  return runTar(
    "tar",
    ["-c", "-f", file, ...TAR_KEEP, ...compressionArgs("zstd", "create"), "-C", dir, "."],
    { what: "pack checkpoint", env: ctx.settings.hostEnv },
  );
}

/** Unpacks what `packCheckpoint` made into `dir` (made, mode 0700). */
export function unpackCheckpoint(ctx: Context, file: string, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return runTar(
    "tar",
    ["-x", "-f", file, ...TAR_KEEP, ...compressionArgs("zstd", "read"), "-C", dir],
    { what: "unpack checkpoint", env: ctx.settings.hostEnv },
  );
}

/**
 * Gives imported container `paths` the id map its checkpoint in `dir` was
 * dumped with (criu restores the user namespace with that map, and the
 * images are handed to the container's root in it): a slice is adopted
 * when free here; any other difference is refused before criu runs.
 */
export async function adoptCheckpointIdmap(
  ctx: Context,
  paths: ContainerPaths,
  dir: string,
  env: Env,
): Promise<void> {
  const dumped = readManifest(dir, paths.name).idmap;
  if (!dumped) return;
  const sec = loadContainerConfig(paths, env).security;
  const source = idmapSource(sec);
  const base = Number(/^u:0:(\d+):/.exec(dumped)?.[1] ?? Number.NaN);
  if (source === "slice" && formatIdmap(sliceMap(base)) === dumped) {
    if (sec.idmapBase !== base) await adoptSlice(ctx, paths, base);
    return;
  }
  const here = source === "config" ? formatIdmap(sec.idmap) : source;
  if (here !== dumped)
    throw new LxtError(
      "unsupported",
      `restore ${paths.name}: it was checkpointed in id map ${dumped}, and would run here in ${here}: criu restores the dumped map`,
    );
}
