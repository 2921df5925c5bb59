import { Option } from "@commander-js/extra-typings";
import type { LxtCommand } from "../container/ephemeral.js";
import { type ContainerPaths, containerPaths, resolveLxcpath } from "../container/paths.js";
import { LxtError } from "../core/errors.js";
import { checkName } from "../core/names.js";

/** `-n NAME`, as every lxc-* tool takes it. */
export const nameOption = () => new Option("-n, --name <name>", "container name");
/** `-P PATH`: the state root (default $LXT_PATH or /var/lib/lxt). */
export const lxcpathOption = () =>
  new Option("-P, --lxcpath <path>", "state root (default: $LXT_PATH or /var/lib/lxt)");

/** The container named by `-n` (or the first positional word, as LXC also accepts). */
export function targetPaths(
  opts: { name?: string; lxcpath?: string },
  positional?: string,
): ContainerPaths {
  const name = checkName(opts.name ?? positional);
  return containerPaths(resolveLxcpath(opts.lxcpath), name);
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
 * `LXT_LOCK_TIMEOUT=SECONDS`: how long a verb waits for a container's lock
 * that another command holds (default: until it is free, as LXC does).
 */
export function lockTimeoutMs(env: NodeJS.ProcessEnv = process.env): number | undefined {
  return envSeconds(env, "LXT_LOCK_TIMEOUT");
}

/**
 * `LXT_START_TIMEOUT=SECONDS`: how long a start waits for the monitor's
 * verdict (default: `DEFAULT_START_TIMEOUT_MS`, two minutes).
 */
export function startTimeoutMs(env: NodeJS.ProcessEnv = process.env): number | undefined {
  return envSeconds(env, "LXT_START_TIMEOUT");
}

/**
 * How a monitor runs this lxt again (an ephemeral container's exit hook):
 * this node with its flags and the CLI script, and the variables that say
 * where lxt's files are. Nothing else of the caller's environment.
 */
export function lxtCommand(): LxtCommand {
  const env: Record<string, string> = {};
  for (const k of ["LXT_RUNDIR", "LXT_SHIM"]) {
    const v = process.env[k];
    if (v) env[k] = v;
  }
  return { argv: [process.execPath, ...process.execArgv, process.argv[1] ?? ""], env };
}

/** What every verb that starts a container passes: the CLI's limits on its waits, and `lxtCommand`. */
export function startOptions() {
  return {
    lockTimeoutMs: lockTimeoutMs(),
    startTimeoutMs: startTimeoutMs(),
    lxtCommand: lxtCommand(),
  };
}

export function parseIntArg(what: string) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value)) throw new LxtError("usage", `${what}: not an integer: "${value}"`);
    return Number(value);
  };
}

/**
 * The container and the command of `attach`/`execute`: `-n NAME -- CMD...`,
 * or `NAME -- CMD...` as LXC also accepts. Commander leaves the `--` in front
 * of pass-through arguments; it is dropped here.
 */
export function targetAndCommand(
  opts: { name?: string; lxcpath?: string },
  args: string[],
): { paths: ContainerPaths; argv: string[] } {
  let rest = args;
  let name = opts.name;
  if (!name && rest.length > 0 && rest[0] !== "--") {
    name = rest[0];
    rest = rest.slice(1);
  }
  const argv = rest[0] === "--" ? rest.slice(1) : rest;
  return { paths: targetPaths({ ...opts, name }), argv };
}

/** For repeatable single-value options (`-v A=1 -v B=2`), as LXC's tools take them. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
