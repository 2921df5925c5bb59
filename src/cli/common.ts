import { Option } from "@commander-js/extra-typings";
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

export function parseIntArg(what: string) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value)) throw new LxtError("usage", `${what}: not an integer: "${value}"`);
    return Number(value);
  };
}

/** Removes the `--` commander leaves in front of pass-through arguments. */
export function commandArgs(args: string[]): string[] {
  return args[0] === "--" ? args.slice(1) : args;
}

/** For repeatable single-value options (`-v A=1 -v B=2`), as LXC's tools take them. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
