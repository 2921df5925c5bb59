/**
 * Staging directories (`.lxt-KIND-PID-RAND`) of export, import and image
 * import: what a killed one leaves is removed by the next command.
 */
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readStartTime } from "../host/proc.js";

const STAGING_RE = /^\.lxt-(?:import|export|image)-(\d+)-[0-9a-f]+$/;

/**
 * Removes staging directories under `parent` left by an export, import or
 * image import whose process is gone (killed mid-way). Returns what went.
 * Staged btrfs subvolumes are writable, so a recursive removal takes them.
 */
export function cleanStaleStaging(parent: string): string[] {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return [];
  }
  const gone: string[] = [];
  for (const n of names) {
    const m = STAGING_RE.exec(n);
    if (!m || readStartTime(Number(m[1])) !== undefined) continue;
    rmSync(join(parent, n), { recursive: true, force: true });
    gone.push(n);
  }
  return gone;
}
