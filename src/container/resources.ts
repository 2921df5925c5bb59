/**
 * Live resource control of a container: freeze and thaw, reading and writing
 * its cgroup files (`lxt cgroup`, as lxc-cgroup), and `config get/set`, which
 * persists a key and applies a limit at once when the container runs.
 */

import { readFileSync } from "node:fs";
import { setFrozen } from "../cgroups/freezer.js";
import {
  applyLimitWrites,
  dirForFile,
  type LimitWrite,
  planLimitWrites,
  type TargetedWrite,
  targetWrites,
} from "../cgroups/limits.js";
import { resetWrite } from "../cgroups/reset.js";
import { checkKeyValue, lookupKey } from "../config/keys.js";
import { loadConfig } from "../config/load.js";
import { hostArch } from "../config/model.js";
import { type ConfigFs, nodeConfigFs } from "../config/parse.js";
import { ValueError } from "../config/values.js";
import { ConfigDocument } from "../config/write.js";
import type { Caller, Context } from "../core/context.js";
import { errnoCode, LxtError, wrapError } from "../core/errors.js";
import { writeFileAtomic } from "../host/atomic.js";
import { hostLayout, placementLayout } from "./host-layout.js";
import { layoutKind } from "./launch-input.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { repairStale, runtimeCgroups, withLock } from "./runtime.js";
import { observe, requireState } from "./state.js";

/** Freezes (`frozen`) or thaws a running container and waits until the kernel has done it. */
export async function freezeContainer(
  ctx: Context,
  paths: ContainerPaths,
  frozen: boolean,
): Promise<void> {
  requireExists(paths, frozen ? "freeze" : "unfreeze");
  const verb = frozen ? "freeze" : "unfreeze";
  await withLock(ctx, paths, async () => {
    const seen = await repairStale(ctx, paths);
    requireState(verb, paths.name, seen.state);
    try {
      await setFrozen(runtimeCgroups(ctx, paths), ctx.host.cgroupFs, frozen);
    } catch (err) {
      throw wrapError(`${verb} ${paths.name}`, err);
    }
  });
}

function cgroupPath(ctx: Context, paths: ContainerPaths, file: string): string {
  const layout = hostLayout(ctx);
  try {
    return `${dirForFile(file, runtimeCgroups(ctx, paths), layout)}/${file}`;
  } catch (err) {
    throw wrapError(`cgroup ${paths.name}`, err);
  }
}

/** Reads a cgroup file of a running (or frozen) container. */
export function readContainerCgroup(ctx: Context, paths: ContainerPaths, file: string): string {
  requireExists(paths, "cgroup");
  requireState("cgroup", paths.name, observe(ctx, paths).state);
  const path = cgroupPath(ctx, paths, file);
  try {
    return ctx.host.cgroupFs.readFile(path);
  } catch (err) {
    if (errnoCode(err) === "ENOENT")
      throw new LxtError("not-found", `cgroup ${paths.name}: ${path}: no such cgroup file`, err);
    throw wrapError(`cgroup ${paths.name}: read ${path}`, err);
  }
}

/** Writes a cgroup file of a running (or frozen) container; the kernel validates the value. */
export async function writeContainerCgroup(
  ctx: Context,
  paths: ContainerPaths,
  file: string,
  value: string,
): Promise<void> {
  requireExists(paths, "cgroup");
  await withLock(ctx, paths, async () => {
    requireState("cgroup", paths.name, (await repairStale(ctx, paths)).state);
    const path = cgroupPath(ctx, paths, file);
    try {
      ctx.host.cgroupFs.writeFile(path, value);
    } catch (err) {
      const code = errnoCode(err);
      const what = `cgroup ${paths.name}: write "${value}" to ${path}`;
      if (code === "ENOENT") throw new LxtError("not-found", `${what}: no such cgroup file`, err);
      if (code === "EINVAL" || code === "ERANGE")
        throw new LxtError("config", `${what}: ${(err as Error).message}`, err);
      throw wrapError(what, err);
    }
  });
}

/** Every value of `key` in the container's config file (includes are not followed). */
/**
 * Every entry of a container's own config file, in order, as written (no
 * includes expanded): what a front-end shows of it (lxtd's LXD view).
 */
export function configFileEntries(paths: ContainerPaths): { key: string; value: string }[] {
  requireExists(paths, "config");
  const doc = ConfigDocument.parse(readFileSync(paths.config, "utf8"), paths.config);
  return doc.entries();
}

export function getConfigKey(paths: ContainerPaths, key: string): string[] {
  requireExists(paths, "config get");
  try {
    lookupKey(key);
  } catch (err) {
    if (err instanceof ValueError)
      throw new LxtError("usage", `config get ${paths.name}: ${err.message}`);
    throw err;
  }
  const doc = ConfigDocument.parse(readFileSync(paths.config, "utf8"), paths.config);
  return doc.getAll(key);
}

/** What `setConfigKey` did. */
export interface ConfigSetResult {
  /** The value was written to the running container's cgroups too. */
  applied: boolean;
  warnings: string[];
}

/** Keys whose writes change when `key` changes (v1 memsw is memory + swap). */
function affectedKeys(key: string): string[] {
  return key === "lxt.limits.memory" ? [key, "lxt.limits.memory.swap"] : [key];
}

function isLimitKey(key: string): boolean {
  return (
    key.startsWith("lxt.limits.") || key.startsWith("lxc.cgroup.") || key.startsWith("lxc.cgroup2.")
  );
}

/**
 * Sets a key in the container's config file: the value is checked against
 * the registry, and the whole edited config is resolved (and, for limits,
 * translated for this host) before anything is written. When the container
 * is running and the key is a limit, the new value is written to its cgroups
 * first; the file is then replaced atomically. An empty value removes the key
 * (as LXD's `config set KEY ""`): on a running container the files it wrote
 * go back to their defaults (`max`, the default weight, the parent's
 * cpuset) unless the rest of the config still sets them. `mustExist` (for
 * `config unset`) refuses a key that is not in the file.
 *
 * @throws LxtError("config") for a bad key or value (nothing changed).
 */
export async function setConfigKey(
  ctx: Context,
  paths: ContainerPaths,
  key: string,
  value: string,
  opts: { caller: Caller; mustExist?: boolean },
): Promise<ConfigSetResult> {
  const verb = opts.mustExist ? "config unset" : "config set";
  requireExists(paths, verb);
  const what = `${verb} ${paths.name}`;
  const fs = ctx.host.cgroupFs;
  const layout = hostLayout(ctx);
  const host = { cgroupLayout: layoutKind(layout), arch: hostArch() };
  if (value !== "") {
    try {
      checkKeyValue(key, value, host);
    } catch (err) {
      throw err instanceof LxtError ? err.wrap(what) : wrapError(what, err);
    }
  }
  return withLock(ctx, paths, async () => {
    const doc = ConfigDocument.parse(readFileSync(paths.config, "utf8"), paths.config);
    if (opts.mustExist && doc.getAll(key).length === 0)
      throw new LxtError("config", `${what}: ${key} is not set in ${paths.config}`);
    if (value === "") doc.remove(key);
    else doc.set(key, value);
    const text = doc.toString();
    // Resolve the edited config as start would, reading the new text in place of the file.
    const overlay: ConfigFs = {
      ...nodeConfigFs,
      readFile: (f) => (f === paths.config ? text : nodeConfigFs.readFile(f)),
    };
    let writes: LimitWrite[];
    let warnings: string[];
    try {
      const cfg = loadConfig(paths.config, {
        cgroupLayout: host.cgroupLayout,
        env: opts.caller.env,
        fs: overlay,
      });
      writes = planLimitWrites(
        cfg,
        placementLayout(ctx, layout, cfg.cgroupPlacement),
        ctx.host.limits,
      );
      warnings = cfg.warnings.filter((w) => w.includes(`: ${key} `));
    } catch (err) {
      throw err instanceof LxtError ? err.wrap(what) : wrapError(what, err);
    }
    const seen = await repairStale(ctx, paths);
    let applied = false;
    if (isLimitKey(key) && (seen.state === "RUNNING" || seen.state === "FROZEN")) {
      const keys = affectedKeys(key);
      const dirs = runtimeCgroups(ctx, paths);
      try {
        let live = targetWrites(
          writes.filter((w) => keys.includes(w.origin.key)),
          dirs,
          layout,
        );
        if (value === "") {
          // Put the files the old value wrote back to their defaults, then
          // write what the rest of the config still says about them.
          const old = loadConfig(paths.config, {
            cgroupLayout: host.cgroupLayout,
            env: opts.caller.env,
            fs: nodeConfigFs,
          });
          const before = targetWrites(
            planLimitWrites(
              old,
              placementLayout(ctx, layout, old.cgroupPlacement),
              ctx.host.limits,
            ).filter((w) => w.origin.key === key),
            dirs,
            layout,
          );
          const resets: TargetedWrite[] = [];
          for (const w of before) {
            const r = resetWrite(w, fs);
            if (r) resets.push(r);
            else
              warnings.push(
                `${key}: ${w.dir}/${w.file} keeps its value until the next start (no known default)`,
              );
          }
          const files = new Set(resets.map((r) => `${r.dir}/${r.file}`));
          const again = targetWrites(writes, dirs, layout).filter(
            (w) => files.has(`${w.dir}/${w.file}`) || keys.includes(w.origin.key),
          );
          live = [...resets, ...again];
        }
        applyLimitWrites(live, fs);
        applied = live.length > 0;
      } catch (err) {
        throw err instanceof LxtError ? err.wrap(what) : wrapError(what, err);
      }
    }
    writeFileAtomic(paths.config, text);
    return { applied, warnings };
  });
}

/** `config unset NAME KEY`: removes the key; a limit goes back to its default at once when running. */
export function unsetConfigKey(
  ctx: Context,
  paths: ContainerPaths,
  key: string,
  caller: Caller,
): Promise<ConfigSetResult> {
  return setConfigKey(ctx, paths, key, "", { caller, mustExist: true });
}
