/**
 * `lxt restore` (`lxt checkpoint -r`): a stopped container restored from a
 * checkpoint directory into a container its monitor owns again, in fresh
 * cgroups beneath the caller's. The restore is a start whose monitor runs
 * `criu restore` instead of cloning an init (native/src/restore.c), so
 * everything a start undoes on failure is undone here too.
 * docs/checkpoint.md says what works on this kernel and what is refused.
 */

import { rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { keptAddressProblem } from "../network/reserve.js";
import { cgroupRootArgs, cgroupRoots } from "./checkpoint-cgroups.js";
import {
  criuLogError,
  PIDFILE,
  RESTORE_LOG,
  readLog,
  readManifest,
  requireCriu,
  restoreArgs,
} from "./checkpoint-images.js";
import { keptAddresses, refuseRestoreNics, vethRestoreArgs } from "./checkpoint-net.js";
import { criuInetProblem, criuUsernsProblem } from "./criu.js";
import type { LaunchOptions } from "./launch-input.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { repairStale, withLock } from "./runtime.js";
import { applyStart, type Started } from "./start-apply.js";
import { planStart } from "./start-plan.js";
import { requireState } from "./state.js";
import { ensureTraversable, idmapSource } from "./userns.js";

export interface RestoreOptions extends LaunchOptions {
  dir: string;
  verbose?: boolean;
  /** Post-copy: the memory comes from `criu lazy-pages` already serving `dir` (`startLazyPages`). */
  lazyPages?: boolean;
  signal?: AbortSignal;
}

/**
 * Restores a stopped container from `opts.dir`: a start whose monitor runs
 * `criu restore`. A failure undoes everything the start made (cgroups,
 * runtime files, the monitor) and names CRIU's error.
 */
export async function restoreContainer(
  ctx: Context,
  paths: ContainerPaths,
  opts: RestoreOptions,
): Promise<Started & { restoreMs: number }> {
  requireExists(paths, "restore");
  const { dir, verbose, signal, lazyPages, ...launch } = opts;
  const manifest = readManifest(dir, paths.name);
  const criu = await requireCriu(ctx, "restore", paths.name);
  const inet = (manifest.veths?.length ?? 0) > 0 ? criuInetProblem(criu.version) : undefined;
  if (inet) throw new LxtError("unsupported", `restore ${paths.name}: ${inet}`);
  const criuPath = await whichCriu(ctx);
  return withLock(
    ctx,
    paths,
    async () => {
      const seen = await repairStale(ctx, paths);
      requireState("restore", paths.name, seen.state);
      const plan = planStart(ctx, paths, launch);
      const userns =
        idmapSource(plan.config.security) !== "privileged"
          ? criuUsernsProblem(criu.version)
          : undefined;
      if (userns) throw new LxtError("unsupported", `restore ${paths.name}: ${userns}`);
      // criu opens timens-0.img in the new user namespace before its maps
      // are written, as an unmapped id (native/src/restore.c): every
      // directory above the images must be searchable by others, as start
      // makes those leading to the rootfs.
      if (idmapSource(plan.config.security) !== "privileged") {
        try {
          ensureTraversable(
            paths.lxcpath,
            [resolve(dir)],
            `an unprivileged restore needs every directory above ${dir} to be (criu reads a clock image there before the user namespace's maps are written)`,
          );
        } catch (err) {
          throw err instanceof LxtError ? err.wrap(`restore ${paths.name}`) : err;
        }
      }
      const nicRefusal = refuseRestoreNics(plan.nics, manifest.veths ?? []);
      if (nicRefusal) throw new LxtError("unsupported", `restore ${paths.name}: ${nicRefusal}`);
      const kept = keptAddresses(paths.name, plan.nics, manifest.veths ?? [], (net, key, a) =>
        keptAddressProblem(ctx, net, key, a),
      );
      if (typeof kept === "string") throw new LxtError("state", `restore ${paths.name}: ${kept}`);
      plan.nics = kept;
      const moved = cgroupRootArgs(
        manifest.cgroupRoots ?? [],
        cgroupRoots(plan.layout, plan.launch.cgroups),
      );
      if ("refusal" in moved)
        throw new LxtError("unsupported", `restore ${paths.name}: ${moved.refusal}`);
      plan.criuCgroupRoots = manifest.cgroupRoots;
      plan.launch = {
        ...plan.launch,
        restore: [
          join(dir, PIDFILE),
          ...restoreArgs({
            criu: criuPath,
            dir,
            rootfs: plan.launch.rootfs,
            verbose: !!verbose,
            manifest,
            lazy: lazyPages,
          }),
          ...vethRestoreArgs(plan.nics),
          ...moved.args,
        ],
      };
      // criu refuses to overwrite a pidfile, and the log must be this restore's: an earlier restore's go.
      rmSync(join(dir, PIDFILE), { force: true });
      rmSync(join(dir, RESTORE_LOG), { force: true });
      const t0 = ctx.host.clock.now();
      try {
        const started = await applyStart(ctx, plan, { signal });
        return { ...started, restoreMs: ctx.host.clock.now() - t0 };
      } catch (err) {
        const log = readLog(dir, RESTORE_LOG);
        // A step before the monitor ran criu (cgroups, the plan) failed: say that one.
        if (!log) throw err instanceof LxtError ? err.wrap(`restore ${paths.name}`) : err;
        throw new LxtError(
          "checkpoint",
          `restore ${paths.name}: criu restore failed: ${criuLogError(log)} (log: ${join(dir, RESTORE_LOG)})`,
          err,
          err instanceof LxtError ? err.step : undefined,
        );
      }
    },
    { signal },
  );
}

/** The absolute path of `criu` on the host's PATH (the monitor execs it without a search). */
async function whichCriu(ctx: Context): Promise<string> {
  const path = ctx.settings.hostEnv.PATH ?? "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const d of path.split(":")) {
    const p = join(d, "criu");
    try {
      if (statSync(p).isFile()) return p;
    } catch {}
  }
  throw new LxtError("host", "criu is not on PATH");
}
