import type { Caller, Context, Stdio } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { type Started, startContainer } from "./start.js";

export interface ExecuteOptions {
  argv: string[];
  uid?: number;
  gid?: number;
  defines?: string[];
  caller: Caller;
  /** The command's stdin, stdout and stderr (the caller's terminal). */
  stdio: Stdio;
  /** Cancels the start's waits. */
  signal?: AbortSignal;
}

/**
 * `lxc-execute`: one command in a fresh container. PID 1 is a small init
 * (the helper) that runs the command with the caller's stdio, reaps
 * orphans and forwards signals; when the command ends the container ends,
 * and the monitor removes every runtime file. Resolves with its exit code.
 */
export async function executeContainer(
  ctx: Context,
  paths: ContainerPaths,
  opts: ExecuteOptions,
): Promise<Started> {
  requireExists(paths, "execute");
  if (opts.argv.length === 0)
    throw new LxtError("usage", `execute ${paths.name}: no command given (-- CMD ...)`);
  return startContainer(ctx, paths, {
    caller: opts.caller,
    foreground: opts.stdio,
    signal: opts.signal,
    defines: opts.defines ?? [],
    execute: { argv: opts.argv, uid: opts.uid, gid: opts.gid },
  });
}
