import { spawn } from "node:child_process";
import { join } from "node:path";
import { allDirs, type ContainerCgroupDirs } from "../cgroups/container.js";
import type { Caller, Context, Env, Stdio } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { phase } from "../core/phase.js";
import { limitError, watchLimit } from "../core/wait.js";
import { exitStatus } from "../host/proc.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { runtimeCgroups } from "./runtime.js";
import { observe, requireState } from "./state.js";

export interface AttachOptions {
  argv: string[];
  /** Start from the caller's environment (`--keep-env`) instead of a clean one. */
  keepEnv?: boolean;
  /** `-v VAR=val` (or `-v VAR`, which copies the caller's value). */
  setEnv?: string[];
  uid?: number;
  gid?: number;
  cwd?: string;
  /** Allocate a pty (the CLI does when its stdin is a terminal). */
  pty?: boolean;
  /** Who asked: `--keep-env` and `-v NAME` copy from its environment. */
  caller: Caller;
  /** The attached command's stdin, stdout and stderr (the caller's terminal, a daemon's pipes). */
  stdio: Stdio;
  /** Milliseconds the command may run (default: no limit: it is the caller's command). */
  timeoutMs?: number;
  /** Cancels the attach: the command is asked to end (SIGTERM), then killed. */
  signal?: AbortSignal;
}

/** How long a command that was asked to end (SIGTERM) has before SIGKILL. */
export const ATTACH_KILL_GRACE_MS = 5_000;

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * The attached process's environment. Clean by default, as `lxc exec` in
 * LXD: nothing of the host leaks in unless asked for (`--keep-env`, `-v`).
 */
export function attachEnvironment(
  opts: Pick<AttachOptions, "keepEnv" | "setEnv" | "uid">,
  callerEnv: Env,
): string[] {
  const env = new Map<string, string>();
  if (opts.keepEnv) {
    for (const [k, v] of Object.entries(callerEnv)) if (v !== undefined) env.set(k, v);
  } else {
    env.set("PATH", DEFAULT_PATH);
    env.set("container", "lxc");
    env.set("HOME", (opts.uid ?? 0) === 0 ? "/root" : "/");
    if (callerEnv.TERM) env.set("TERM", callerEnv.TERM);
  }
  for (const item of opts.setEnv ?? []) {
    const eq = item.indexOf("=");
    if (eq === 0) throw new LxtError("usage", `bad environment variable "${item}"`);
    if (eq > 0) env.set(item.slice(0, eq), item.slice(eq + 1));
    else if (callerEnv[item] !== undefined) env.set(item, callerEnv[item] as string);
  }
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/**
 * The helper's arguments for an attach. `planFile` is the running
 * container's plan: the helper applies its caps, no-new-privs and seccomp
 * records, so an attached command is confined exactly as the init was
 * (even if the config changed since the start).
 */
export function attachArgs(
  init: { pid: number; start: string },
  cgroups: ContainerCgroupDirs,
  opts: Pick<AttachOptions, "argv" | "uid" | "gid" | "cwd" | "pty">,
  env: string[],
  planFile?: string,
): string[] {
  const args = ["attach", "--pid", String(init.pid), "--pid-start", init.start];
  for (const dir of allDirs(cgroups)) args.push("--cgroup", dir);
  if (planFile) args.push("--confinement", planFile);
  if (opts.uid !== undefined) args.push("--uid", String(opts.uid));
  if (opts.gid !== undefined) args.push("--gid", String(opts.gid));
  if (opts.cwd !== undefined) args.push("--cwd", opts.cwd);
  for (const e of env) args.push("--env", e);
  args.push(opts.pty ? "--pty" : "--no-pty", "--", ...opts.argv);
  return args;
}

/**
 * Runs a command inside a running container and resolves with its exit code
 * (128+N for a signal). No lock: attach must not hold up a stop.
 */
export async function attachContainer(
  ctx: Context,
  paths: ContainerPaths,
  opts: AttachOptions,
): Promise<number> {
  requireExists(paths, "attach");
  const seen = observe(ctx, paths);
  requireState("attach", paths.name, seen.state);
  if (!seen.init) throw new LxtError("state", `attach ${paths.name}: no init process`);
  if (opts.argv.length === 0) throw new LxtError("usage", "attach: no command given");
  const env = attachEnvironment(opts, opts.caller.env);
  const args = attachArgs(
    seen.init,
    runtimeCgroups(ctx, paths),
    opts,
    env,
    join(paths.runtimeDir, "plan"),
  );
  const child = spawn(ctx.host.helper, args, { stdio: [...opts.stdio] });
  phase("attach spawned");
  return new Promise((resolve, reject) => {
    let ended: LxtError | undefined;
    let kill: NodeJS.Timeout | undefined;
    // The helper forwards SIGTERM to the command; SIGKILL ends both.
    const unwatch = watchLimit(opts, (why) => {
      ended = limitError(`attach ${paths.name}: ${opts.argv.join(" ")}`, why, opts);
      child.kill("SIGTERM");
      kill = setTimeout(() => child.kill("SIGKILL"), ATTACH_KILL_GRACE_MS);
    });
    child.on("error", (e) => {
      unwatch();
      reject(new LxtError("host", `attach ${paths.name}: ${e.message}`, e));
    });
    child.on("exit", (code, signal) => {
      phase("attach exited");
      unwatch();
      clearTimeout(kill);
      if (ended) reject(ended);
      else resolve(exitStatus(code, signal));
    });
  });
}
