import { readdirSync } from "node:fs";
import { join } from "node:path";

/**
 * Where a state root's managed networks are defined, one `NAME.json` each.
 * On its own, beside manage.ts, so that `lxt __complete networks` reads the
 * names without loading what manages them.
 */
export function networksDir(lxcpath: string): string {
  return join(lxcpath, ".networks");
}

/** The names of the managed networks defined under a state root, sorted. */
export function listNetworkNames(lxcpath: string): string[] {
  let files: string[];
  try {
    files = readdirSync(networksDir(lxcpath));
  } catch {
    return [];
  }
  return files
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -5))
    .sort();
}
