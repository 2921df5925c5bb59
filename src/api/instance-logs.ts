/**
 * An instance's log files as `/1.0/instances/NAME/logs` shows them: the
 * container's own (`lxc.log` from `lxc.log.file`, `lxc.conf`) and the
 * outputs of `exec` with `record-output`, kept in `logs/` of the
 * container's directory so they go with it. (The console's copy is served
 * by `/1.0/instances/NAME/console`, as LXD does.)
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { containerLogFiles } from "../container/console.js";
import type { ContainerPaths } from "../container/paths.js";
import type { Daemon } from "./daemon.js";
import { ApiError, badRequest } from "./envelope.js";

/** An exec output file's name: `exec_<operation id>.stdout` / `.stderr`. */
export const EXEC_OUTPUT = /^exec_[0-9a-f-]{36}\.(stdout|stderr)$/;

/** Where an instance's exec outputs are kept. */
export function execLogDir(paths: ContainerPaths): string {
  return join(paths.dir, "logs");
}

/** Whether `file` is a name LXD serves under `/logs` (others are refused, not looked up). */
export function validLogName(file: string): boolean {
  return file === "lxc.log" || file === "lxc.conf" || EXEC_OUTPUT.test(file);
}

/**
 * The instance's log files: the name the API shows → the host path.
 * `lxc.conf` is the container's config (LXD's is the LXC config it
 * generated; ours is the one the container runs from).
 */
export function instanceLogs(d: Daemon, paths: ContainerPaths): Map<string, string> {
  const out = new Map<string, string>();
  try {
    const own = containerLogFiles(paths, d.caller.env);
    if (own.log && existsSync(own.log)) out.set("lxc.log", own.log);
  } catch {
    // A config that no longer loads still has its exec outputs listed.
  }
  out.set("lxc.conf", paths.config);
  const dir = execLogDir(paths);
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    // No exec has recorded its output yet.
  }
  for (const n of names.sort()) if (EXEC_OUTPUT.test(n)) out.set(n, join(dir, n));
  return out;
}

/** The host path of log `file` of the instance: LXD's 400 for a name it never serves, 404 when there is none. */
export function instanceLog(d: Daemon, paths: ContainerPaths, file: string): string {
  if (!validLogName(file)) throw badRequest(`log file name ${file} not valid`);
  const path = instanceLogs(d, paths).get(file);
  if (!path) throw new ApiError(404, "not found");
  return path;
}
