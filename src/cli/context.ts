/**
 * The CLI as a front-end of the core: the one place that reads this
 * process's flags-derived settings and environment (`LXT_*`, `PATH`) and
 * builds the context and the caller every core verb is given.
 */
import { existsSync, realpathSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_LXCPATH, DEFAULT_RUNDIR } from "../container/paths.js";
import {
  type Caller,
  type Context,
  type LxtCommand,
  runtimeRoot,
  type Stdio,
} from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { nodeContext } from "../host/context.js";

/** The state root from `-P`, else `$LXT_PATH`, else the default. */
export function resolveLxcpath(flag: string | undefined): string {
  return resolve(flag || process.env.LXT_PATH || DEFAULT_LXCPATH);
}

/**
 * Path of the `lxt-shim` helper: `$LXT_SHIM` (bin/lxt sets it), else
 * `native/build/lxt-shim` found upward from this module (tests and tools
 * run from src/ under tsx; in the CommonJS bundle import.meta is empty, so
 * the search starts from the bundle's own path).
 */
function findHelper(): string {
  const fromEnv = process.env.LXT_SHIM;
  if (fromEnv) return fromEnv;
  const here = import.meta.url
    ? fileURLToPath(import.meta.url)
    : realpathSync(process.argv[1] ?? ".");
  let dir = dirname(here);
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "native", "build", "lxt-shim");
    if (existsSync(candidate)) return candidate;
    dir = resolve(dir, "..");
  }
  throw new LxtError("host", "helper lxt-shim not found (build it with `npm run build`)");
}

/** Milliseconds from an environment variable holding seconds; undefined when unset. */
function envSeconds(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === "") return undefined;
  if (!/^\d+(\.\d+)?$/.test(v))
    throw new LxtError("usage", `${name}: expected seconds, not "${v}"`);
  return Number(v) * 1000;
}

/**
 * How a monitor runs this lxt again (an ephemeral container's exit hook):
 * this node with its flags and the CLI script, and the variables that say
 * where lxt's files are. Nothing else of the caller's environment.
 */
function lxtCommand(env: NodeJS.ProcessEnv): LxtCommand {
  const keep: Record<string, string> = {};
  for (const k of ["LXT_RUNDIR", "LXT_SHIM", "LXT_CODE_CACHE_DIR"]) {
    const v = env[k];
    if (v) keep[k] = v;
  }
  return { argv: [process.execPath, ...process.execArgv, process.argv[1] ?? ""], env: keep };
}

/**
 * The context of one `lxt` command, for the state root `-P` names (or the
 * default). `LXT_LOCK_TIMEOUT=SECONDS` limits every wait for a lock that
 * another command holds (default: until it is free, as LXC does);
 * `LXT_START_TIMEOUT=SECONDS` a start's wait for the monitor's verdict
 * (default `DEFAULT_START_TIMEOUT_MS`, two minutes). `helperPool`: how
 * many monitors and lock helpers a daemon keeps made ahead of demand (none
 * for a command); `heldCgroupFiles`: how many cgroup files a daemon keeps
 * open between reads (`heldCgroupFs`; none for a command); `lockService`:
 * a daemon takes uncontended locks through one kept helper (`LockService`).
 */
export function cliContext(
  opts: {
    lxcpath?: string;
    attachServer?: boolean;
    helperPool?: number;
    heldCgroupFiles?: number;
    lockService?: boolean;
  } = {},
): Context {
  const env = process.env;
  const lxcpath = resolveLxcpath(opts.lxcpath);
  const runDir = env.LXT_RUNDIR || DEFAULT_RUNDIR;
  return nodeContext({
    lxcpath,
    runDir,
    pid: process.pid,
    helper: findHelper,
    env,
    // Tests point these elsewhere; a real host uses the defaults.
    subuidFile: env.LXT_SUBUID_FILE || "/etc/subuid",
    subgidFile: env.LXT_SUBGID_FILE || "/etc/subgid",
    imageCache: env.LXT_IMAGE_CACHE || "/var/cache/lxt/images",
    noHostNetwork: env.LXT_NO_HOST_NETWORK === "1",
    lockTimeoutMs: envSeconds(env, "LXT_LOCK_TIMEOUT"),
    startTimeoutMs: envSeconds(env, "LXT_START_TIMEOUT"),
    lxtCommand: lxtCommand(env),
    // A daemon keeps an attach helper (lxtd's execs); a one-shot CLI spawns its own.
    ...(opts.attachServer
      ? { attachSocket: join(runtimeRoot(runDir, lxcpath), ".lxtd-attach.sock") }
      : {}),
    helperPool: opts.helperPool,
    heldCgroupFiles: opts.heldCgroupFiles,
    lockService: opts.lockService,
  });
}

/** This process as the caller: its environment, and its cgroup for the containers it starts. */
export function cliCaller(): Caller {
  return { env: process.env, cgroupPid: process.pid };
}

/** This process's own stdin, stdout and stderr (a foreground container's console, an attached command). */
export const CLI_STDIO: Stdio = [0, 1, 2];
