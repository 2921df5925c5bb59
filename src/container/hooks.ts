/**
 * LXC's container hooks (lxc.container.conf(5), "CONTAINER HOOKS"): the
 * arguments and environment each hook gets, and where it runs. The start's
 * hooks become plan records that the helper runs at LXC's points
 * (native/src/hooks.c; docs/lifecycle.md has the table); clone and destroy
 * hooks run here, on the host, through the context's command runner.
 */

import { join } from "node:path";
import { HOOK_TYPES, type HookType, hookEnvironment } from "../config/lifecycle.js";
import type { ContainerConfig } from "../config/model.js";
import type { Context, Env } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { LOG_LEVELS } from "../core/log.js";
import { type RootfsRef, rootDir, startMounts } from "../storage/driver.js";
import { formatRootfsSpec } from "../storage/rootfs-spec.js";
import { loadContainerConfig } from "./launch-input.js";
import type { ContainerPaths } from "./paths.js";

/** The hook types the start runs (the helper's `lxc-hook` WHEN values): all but clone and destroy. */
export type StartHookType = Exclude<HookType, "clone" | "destroy">;
export const START_HOOK_TYPES = HOOK_TYPES.filter(
  (t): t is StartHookType => t !== "clone" && t !== "destroy",
);

/** What the start's plan carries for the helper: per type, the argvs and the environment. */
export interface LaunchHooks {
  argv: Partial<Record<StartHookType, string[][]>>;
  env: Partial<Record<StartHookType, string[]>>;
  /** Where the helper appends the hooks' output and stop/post-stop failures. */
  log: string;
}

/** The facts about a container every hook is told (LXC's hook variables). */
export interface HookFacts {
  name: string;
  configFile: string;
  /** Where the rootfs is mounted while the hook runs (LXC_ROOTFS_MOUNT). */
  rootfsMount: string;
  /** The `lxc.rootfs.path` value (LXC_ROOTFS_PATH). */
  rootfsPath?: string;
  console?: string;
  consoleLog?: string;
  logLevel: number;
  version: 0 | 1;
  /** `lxc.environment` and `lxc.environment.hooks`, in order. */
  environment: readonly string[];
}

/** The PATH hooks run with (they get no other variable of lxt's own environment). */
export const HOOK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * A hook's command line, as LXC's run_script_argv builds it: the hook text
 * run by `sh` (so it may carry its own arguments), then, with
 * `lxc.hook.version = 0`, NAME `lxc` TYPE, then the type's extra arguments.
 * The extra arguments are passed as "$@", never pasted into shell text.
 */
export function hookArgv(
  command: string,
  version: 0 | 1,
  name: string,
  type: HookType,
  extra: readonly string[] = [],
): string[] {
  const args = version === 0 ? [name, "lxc", type, ...extra] : [...extra];
  return ["/bin/sh", "-c", `exec ${command} "$@"`, command, ...args];
}

/**
 * A hook's environment, `NAME=value` each: PATH, the config's hook
 * variables, then LXC's (which win): LXC_NAME, LXC_CONFIG_FILE,
 * LXC_ROOTFS_MOUNT, LXC_ROOTFS_PATH, LXC_CONSOLE, LXC_CONSOLE_LOGPATH,
 * LXC_CGNS_AWARE, LXC_LOG_LEVEL, LXC_HOOK_VERSION, and with version 1
 * LXC_HOOK_TYPE and LXC_HOOK_SECTION; `extra` last (LXC_PID, LXC_TARGET,
 * LXC_SRC_NAME...).
 */
export function hookEnv(
  f: HookFacts,
  type: HookType,
  extra: Readonly<Record<string, string>> = {},
): string[] {
  const vars = new Map<string, string>([["PATH", HOOK_PATH]]);
  for (const e of f.environment) {
    const i = e.indexOf("=");
    vars.set(e.slice(0, i), e.slice(i + 1));
  }
  const lxc: [string, string | undefined][] = [
    ["LXC_NAME", f.name],
    ["LXC_CONFIG_FILE", f.configFile],
    ["LXC_ROOTFS_MOUNT", f.rootfsMount],
    ["LXC_ROOTFS_PATH", f.rootfsPath],
    ["LXC_CONSOLE", f.console],
    ["LXC_CONSOLE_LOGPATH", f.consoleLog],
    ["LXC_CGNS_AWARE", "1"],
    ["LXC_LOG_LEVEL", LOG_LEVELS[f.logLevel] ?? "ERROR"],
    ["LXC_HOOK_VERSION", String(f.version)],
    ...(f.version === 1
      ? ([
          ["LXC_HOOK_TYPE", type],
          ["LXC_HOOK_SECTION", "lxc"],
        ] as [string, string][])
      : []),
    ...Object.entries(extra),
  ];
  for (const [k, v] of lxc) if (v !== undefined) vars.set(k, v);
  return [...vars].map(([k, v]) => `${k}=${v}`);
}

/** LXC_ROOTFS_PATH: lxc.rootfs.path as written (a block device's too). */
function rootfsPathFact(cfg: ContainerConfig): { rootfsPath?: string } {
  const { spec, block } = cfg.rootfs;
  if (spec) return { rootfsPath: formatRootfsSpec(spec) };
  return block ? { rootfsPath: `${block.backend}:${block.source}` } : {};
}

/** A container's hook facts from its resolved config. */
export function hookFacts(
  cfg: ContainerConfig,
  paths: ContainerPaths,
  rootfsMount: string,
): HookFacts {
  return {
    name: paths.name,
    configFile: paths.config,
    rootfsMount,
    ...rootfsPathFact(cfg),
    ...(cfg.console.path ? { console: cfg.console.path } : {}),
    ...(cfg.console.logFile ? { consoleLog: cfg.console.logFile } : {}),
    logLevel: cfg.log.level,
    version: cfg.hooks.version,
    environment: hookEnvironment(cfg.hooks),
  };
}

/**
 * The start's hooks for the plan, or undefined without any. The helper
 * replaces `{pid}` with the init's host pid (LXC_PID, from start-host on),
 * and for stop hooks `{ns}` with LXC's `TYPE:/proc/MONITOR/fd/N` arguments
 * (version 0) and `{ns-env}` with the LXC_*_NS variables (version 1).
 */
export function launchHooks(
  cfg: ContainerConfig,
  paths: ContainerPaths,
  rootfsMount: string,
): LaunchHooks | undefined {
  const types = START_HOOK_TYPES.filter((t) => cfg.hooks.commands[t].length > 0);
  if (types.length === 0) return undefined;
  const f = hookFacts(cfg, paths, rootfsMount);
  const out: LaunchHooks = { argv: {}, env: {}, log: cfg.log.file ?? join(paths.dir, "hooks.log") };
  for (const t of types) {
    const ending = t === "stop" || t === "post-stop";
    const extra: Record<string, string> = {
      ...(t === "start-host" || ending ? { LXC_PID: "{pid}" } : {}),
      ...(ending ? { LXC_TARGET: "stop" } : {}),
    };
    const nsArgs = t === "stop" && f.version === 0 ? ["{ns}"] : [];
    out.argv[t] = cfg.hooks.commands[t].map((c) => hookArgv(c, f.version, f.name, t, nsArgs));
    out.env[t] = [
      ...hookEnv(f, t, extra),
      ...(t === "stop" && f.version === 1 ? ["{ns-env}"] : []),
    ];
  }
  return out;
}

/**
 * Runs the container's `clone` or `destroy` hooks on the host, in order,
 * each waited for; the first that fails throws `hook`, naming it, and the
 * rest do not run.
 */
async function runHostHooks(
  ctx: Context,
  type: "clone" | "destroy",
  cfg: ContainerConfig,
  facts: HookFacts,
  extraEnv: Readonly<Record<string, string>> = {},
  within: readonly string[] = [],
): Promise<void> {
  for (const command of cfg.hooks.commands[type]) {
    const argv = hookArgv(command, facts.version, facts.name, type);
    const env = ["env", "-i", ...hookEnv(facts, type, extraEnv), ...argv];
    const [cmd, ...args] = [...within, ...env] as [string, ...string[]];
    try {
      await ctx.host.run.run(cmd, args);
    } catch (err) {
      throw new LxtError(
        "hook",
        `lxc.hook.${type} ${command} failed: ${(err as Error).message.split(": ").slice(-1)[0]}`,
        err,
      );
    }
  }
}

/**
 * lxc.hook.clone of a new copy `dst` of `src` (lxc-copy's), LXC_SRC_NAME
 * set, its rootfs mounted at LXC_ROOTFS_MOUNT: an overlay's merged view is
 * mounted in a private mount namespace of `unshare` around the hook, as LXC
 * mounts it in one of its own, so the host never sees it.
 */
export async function runCloneHooks(
  ctx: Context,
  src: ContainerPaths,
  dst: ContainerPaths,
  rootfs: RootfsRef,
  env: Env,
): Promise<void> {
  const cfg = loadContainerConfig(dst, env);
  if (cfg.hooks.commands.clone.length === 0) return;
  const facts = hookFacts(cfg, dst, rootDir(rootfs));
  const within = startMounts(rootfs).flatMap((m) => [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "--",
    "/bin/sh",
    "-c",
    'mount -t "$1" -o "$2" "$3" "$4" && shift 4 && exec "$@"',
    "sh",
    m.fstype,
    m.data,
    m.source,
    m.target,
  ]);
  await runHostHooks(ctx, "clone", cfg, facts, { LXC_SRC_NAME: src.name }, within);
}

/**
 * lxc.hook.destroy of a stopped container about to be removed. A config
 * that no longer loads runs none (it must not keep a broken container
 * from going); `lxc.environment.hooks = NAME` takes NAME from `env`.
 */
export async function runDestroyHooks(
  ctx: Context,
  paths: ContainerPaths,
  env: Env,
): Promise<void> {
  let cfg: ContainerConfig;
  try {
    cfg = loadContainerConfig(paths, env);
  } catch {
    return;
  }
  if (cfg.hooks.commands.destroy.length === 0) return;
  // A block device's rootfs is mounted on <dir>/rootfs while it runs.
  const spec = cfg.rootfs.spec;
  const mount = spec ? rootDir({ spec, dir: paths.dir }) : cfg.rootfs.block && paths.rootfs;
  if (!mount) return;
  const facts = hookFacts(cfg, paths, mount);
  await runHostHooks(ctx, "destroy", cfg, facts);
}
