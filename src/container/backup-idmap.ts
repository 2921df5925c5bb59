/**
 * Exports store host-neutral ownership (as LXD's): a rootfs shifted on disk
 * for an unprivileged container is archived through tar's owner and group
 * maps back to its in-container ids, and the archived configs lose the
 * host-specific `lxt.volatile.*` id keys (the importing host allocates its own).
 */

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatIdmap, type IdmapLine, parseIdmapText } from "../config/idmap.js";
import { ConfigDocument } from "../config/write.js";
import { LxtError } from "../core/errors.js";

const SHIFT_KEY = "lxt.volatile.rootfs.shift";
const VOLATILE_ID_KEYS = [SHIFT_KEY, "lxt.volatile.idmap.base"];

/**
 * A config's text without the host-specific id keys, and the shift its
 * rootfs has on disk. `keepShift`: the rootfs travels with its owners as
 * they are on disk (a storage send stream), so the shift stays recorded.
 */
export function neutralConfig(
  file: string,
  keepShift = false,
): { text: string; shift: IdmapLine[] } {
  const doc = ConfigDocument.parse(readFileSync(file, "utf8"), file);
  const shift = parseIdmapText(doc.get(SHIFT_KEY) ?? "");
  for (const k of VOLATILE_ID_KEYS) if (!(keepShift && k === SHIFT_KEY)) doc.remove(k);
  return { text: doc.toString(), shift };
}

/** tar's `--owner-map` / `--group-map` lines (`+HOSTID +NSID`) undoing `shift`. */
export function tarIdMap(shift: readonly IdmapLine[], kind: "u" | "g"): string {
  const out: string[] = [];
  for (const l of shift) {
    if (l.kind !== kind) continue;
    for (let i = 0; i < l.range; i++) out.push(`+${l.hostid + i} +${l.nsid + i}`);
  }
  return out.length > 0 ? `${out.join("\n")}\n` : "";
}

/**
 * The tar options that archive every shifted tree unshifted; `shifts` are
 * those of the container and its snapshots. One archive takes one map, so
 * trees shifted to different maps are refused (start each once to align them).
 */
export function unshiftTarArgs(shifts: readonly IdmapLine[][], staging: string): string[] {
  const distinct = [...new Set(shifts.filter((s) => s.length > 0).map(formatIdmap))];
  if (distinct.length === 0) return [];
  if (distinct.length > 1) {
    throw new LxtError(
      "state",
      `the container and its snapshots are shifted to different id maps (${distinct.join("; ")}): restore or remove the odd snapshots, or export them separately`,
    );
  }
  const map = parseIdmapText(distinct[0] as string);
  const owner = join(staging, "owner-map");
  const group = join(staging, "group-map");
  writeFileSync(owner, tarIdMap(map, "u"));
  writeFileSync(group, tarIdMap(map, "g"));
  return [`--owner-map=${owner}`, `--group-map=${group}`];
}
