/**
 * The container side of moving a running container to another host
 * (docs/migrate.md): whether it can be checkpointed (asked before anything
 * is sent, the refusals `lxt checkpoint` makes), and its checkpoint
 * directory packed into one archive and unpacked on the other side.
 */
import { mkdirSync } from "node:fs";
import type { Context } from "../core/context.js";
import { compressionArgs, runTar, TAR_KEEP } from "../storage/archive.js";
import { refuseCheckpoint } from "./checkpoint.js";
import type { ContainerPaths } from "./paths.js";
import { readRuntimePlan } from "./runtime-cgroups.js";

/** Why running container `paths` cannot be checkpointed here, or undefined when it can (or is not running). */
export function checkpointRefusal(ctx: Context, paths: ContainerPaths): string | undefined {
  const plan = readRuntimePlan(ctx, paths);
  return plan ? refuseCheckpoint(plan) : undefined;
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
