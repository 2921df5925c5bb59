/**
 * One call from a config file to a resolved ContainerConfig: parse with
 * includes, read the lxc.mount.fstab file if any, resolve.
 */

import * as path from "node:path";
import { configError, errnoCode } from "../core/errors.js";
import { type ContainerConfig, type ResolveOptions, resolveConfig } from "./model.js";
import { type ConfigEntry, type ConfigFs, nodeConfigFs, parseConfigFile } from "./parse.js";

/** Options of loadConfig: resolution options plus the file system to read. */
export type LoadOptions = Omit<ResolveOptions, "fstabText" | "fstabFile"> & {
  fs?: ConfigFs;
  /** Entries applied after the file's (e.g. `lxt start -s KEY=VALUE`). */
  extraEntries?: ConfigEntry[];
};

/**
 * The last non-cleared lxc.mount.fstab entry, with its path resolved against
 * the directory of the file it is in.
 */
export function findFstab(
  entries: ConfigEntry[],
): { path: string; entry: ConfigEntry } | undefined {
  let found: ConfigEntry | undefined;
  for (const e of entries) if (e.key === "lxc.mount.fstab") found = e.value === "" ? undefined : e;
  if (!found) return undefined;
  return { path: path.resolve(path.dirname(found.file), found.value), entry: found };
}

/** Parses `file` (following includes) and resolves it; see resolveConfig. */
export function loadConfig(file: string, opts: LoadOptions): ContainerConfig {
  const fs = opts.fs ?? nodeConfigFs;
  const entries = [...parseConfigFile(file, fs), ...(opts.extraEntries ?? [])];
  const fstab = findFstab(entries);
  let text: string | undefined;
  if (fstab) {
    try {
      text = fs.readFile(fstab.path);
    } catch (err) {
      const why =
        errnoCode(err) === "ENOENT" ? "no such file or directory" : (errnoCode(err) ?? String(err));
      throw configError(
        fstab.entry.file,
        fstab.entry.line,
        `lxc.mount.fstab ${fstab.entry.value}: ${why}`,
      );
    }
  }
  const { fs: _fs, extraEntries: _extra, ...resolveOpts } = opts;
  return resolveConfig(entries, {
    ...resolveOpts,
    ...(fstab && text !== undefined ? { fstabText: text, fstabFile: fstab.path } : {}),
  });
}
