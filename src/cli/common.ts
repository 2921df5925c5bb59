import { Option } from "@commander-js/extra-typings";
import { type ContainerPaths, containerPaths } from "../container/paths.js";
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { checkName } from "../core/names.js";
import { cliContext } from "./context.js";

/** `-n NAME`, as every lxc-* tool takes it. */
export const nameOption = () => new Option("-n, --name <name>", "container name");
/** `-P PATH`: the state root (default $LXT_PATH or /var/lib/lxt). */
export const lxcpathOption = () =>
  new Option("-P, --lxcpath <path>", "state root (default: $LXT_PATH or /var/lib/lxt)");

/** A verb's context (its state root from `-P`) and the container it names. */
export interface Target {
  ctx: Context;
  paths: ContainerPaths;
}

/** The container named by `-n` (or the first positional word, as LXC also accepts). */
export function target(opts: { name?: string; lxcpath?: string }, positional?: string): Target {
  const name = checkName(opts.name ?? positional);
  const ctx = cliContext(opts);
  return { ctx, paths: containerPaths(ctx, name) };
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
): Target & { argv: string[] } {
  let rest = args;
  let name = opts.name;
  if (!name && rest.length > 0 && rest[0] !== "--") {
    name = rest[0];
    rest = rest.slice(1);
  }
  const argv = rest[0] === "--" ? rest.slice(1) : rest;
  return { ...target({ ...opts, name }), argv };
}

/** For repeatable single-value options (`-v A=1 -v B=2`), as LXC's tools take them. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
