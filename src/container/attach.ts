import { spawn } from "node:child_process";
import { join } from "node:path";
import { allDirs, type ContainerCgroupDirs } from "../cgroups/container.js";
import { LxtError } from "../core/errors.js";
import { phase } from "../core/phase.js";
import { exitStatus } from "../host/proc.js";
import { shimPath } from "../host/shim.js";
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
  /** Allocate a pty (default: when stdin is a terminal). */
  pty?: boolean;
}

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * The attached process's environment. Clean by default, as `lxc exec` in
 * LXD: nothing of the host leaks in unless asked for (`--keep-env`, `-v`).
 */
export function attachEnvironment(opts: AttachOptions, callerEnv: NodeJS.ProcessEnv): string[] {
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
  opts: AttachOptions,
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
export async function attachContainer(paths: ContainerPaths, opts: AttachOptions): Promise<number> {
  requireExists(paths, "attach");
  const seen = observe(paths);
  requireState("attach", paths.name, seen.state);
  if (!seen.init) throw new LxtError("state", `attach ${paths.name}: no init process`);
  if (opts.argv.length === 0) throw new LxtError("usage", "attach: no command given");
  const env = attachEnvironment(opts, process.env);
  const args = attachArgs(
    seen.init,
    runtimeCgroups(paths),
    opts,
    env,
    join(paths.runtimeDir, "plan"),
  );
  const child = spawn(shimPath(), args, { stdio: "inherit" });
  phase("attach spawned");
  return new Promise((resolve, reject) => {
    child.on("error", (e) => reject(new LxtError("host", `attach ${paths.name}: ${e.message}`, e)));
    child.on("exit", (code, signal) => {
      phase("attach exited");
      resolve(exitStatus(code, signal));
    });
  });
}
