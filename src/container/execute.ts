import { LxtError } from "../core/errors.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { type Started, type StartOptions, startContainer } from "./start.js";

export interface ExecuteOptions {
  argv: string[];
  uid?: number;
  gid?: number;
  defines?: string[];
  /** How the container is started (its waits, `lxtCommand`). */
  start?: StartOptions;
}

/**
 * `lxc-execute`: one command in a fresh container. PID 1 is a small init
 * (the helper) that runs the command with this terminal's stdio, reaps
 * orphans and forwards signals; when the command ends the container ends,
 * and the monitor removes every runtime file. Resolves with its exit code.
 */
export async function executeContainer(
  paths: ContainerPaths,
  opts: ExecuteOptions,
): Promise<Started> {
  requireExists(paths, "execute");
  if (opts.argv.length === 0)
    throw new LxtError("usage", `execute ${paths.name}: no command given (-- CMD ...)`);
  return startContainer(paths, {
    ...opts.start,
    foreground: true,
    defines: opts.defines ?? [],
    execute: { argv: opts.argv, uid: opts.uid, gid: opts.gid },
  });
}
