/**
 * What LXD keeps of a snapshot that lxt's `snaps/snapN/` directory has no
 * place for: its LXD name (any URL-safe word; lxt names the directory
 * `snapN`) and its expiry, in `snaps/snapN/lxd-snapshot.yaml`; and the
 * instance's `lxd.yaml` as it was (description, profiles, `user.*`), copied
 * beside it so that the snapshot shows, and a restore brings back, what LXD
 * would. A snapshot the CLI took has neither: its LXD name is its directory's.
 */
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import type { ContainerPaths } from "../container/paths.js";
import { listSnapshotNames, snapshotPaths } from "../container/storage.js";
import type { Context } from "../core/context.js";
import { writeFileAtomic } from "../host/atomic.js";
import { ApiError, badRequest } from "./envelope.js";
import { metaFile } from "./instance-meta.js";
import { editable, instanceJson } from "./instance-view.js";
import { SNAPSHOT_META } from "./side-files.js";
import type { SnapshotJson } from "./types.js";

/** LXD's "no expiry" (Go's zero time). */
export const NO_EXPIRY = "0001-01-01T00:00:00Z";

export interface SnapshotRecord {
  /** The LXD name. */
  name: string;
  /** lxt's directory name, `snapN`. */
  dir: string;
  paths: ContainerPaths;
  /** ISO time, absent when it never expires. */
  expiresAt?: string;
}

interface StoredMeta {
  name?: string;
  expires_at?: string;
}

function readStored(p: ContainerPaths): StoredMeta {
  try {
    return (parse(readFileSync(join(p.dir, SNAPSHOT_META), "utf8")) ?? {}) as StoredMeta;
  } catch {
    return {};
  }
}

/** The snapshots of an instance, oldest first. */
export function snapshotRecords(ctx: Context, paths: ContainerPaths): SnapshotRecord[] {
  return listSnapshotNames(paths).map((dir) => {
    const p = snapshotPaths(ctx, paths, dir);
    const m = readStored(p);
    const rec: SnapshotRecord = { name: m.name || dir, dir, paths: p };
    if (m.expires_at) rec.expiresAt = m.expires_at;
    return rec;
  });
}

/** The snapshot an LXD name stands for (LXD's 404 otherwise). */
export function findSnapshot(ctx: Context, paths: ContainerPaths, name: string): SnapshotRecord {
  const rec = snapshotRecords(ctx, paths).find((r) => r.name === name);
  if (!rec) throw new ApiError(404, "Snapshot not found");
  return rec;
}

/** Writes a snapshot's LXD name and expiry. */
export function writeSnapshotMeta(p: ContainerPaths, name: string, expiresAt?: string): void {
  const m: StoredMeta = { name };
  if (expiresAt) m.expires_at = expiresAt;
  writeFileAtomic(join(p.dir, SNAPSHOT_META), stringify(m), 0o600);
}

/** Copies the instance's `lxd.yaml` into a snapshot (or back), where there is one. */
export function copyInstanceMeta(from: ContainerPaths, to: ContainerPaths): void {
  if (existsSync(metaFile(from))) copyFileSync(metaFile(from), metaFile(to));
}

/** Copies the LXD side files of a snapshot to its copy (same directory name in another instance). */
export function copySnapshotSidecars(from: ContainerPaths, to: ContainerPaths): void {
  copyInstanceMeta(from, to);
  const f = join(from.dir, SNAPSHOT_META);
  if (existsSync(f)) copyFileSync(f, join(to.dir, SNAPSHOT_META));
}

/** LXD's rule for a snapshot (or backup) name: a URL segment of its own. */
export function checkSnapshotName(name: unknown, what = "snapshot"): string {
  if (typeof name !== "string" || name === "") throw badRequest(`Invalid ${what} name: empty`);
  if (name === "." || name === ".." || /[/?&+#%\s]/.test(name) || name.length > 200) {
    throw badRequest(`Invalid ${what} name: "${name}" is not URL-safe`);
  }
  return name;
}

/**
 * An `expires_at` from a request: undefined when absent, null, or LXD's
 * zero time (no expiry); else the ISO time.
 */
export function parseExpiry(v: unknown): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw badRequest("Invalid expires_at: not a time string");
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw badRequest(`Invalid expires_at "${v}"`);
  if (new Date(t).getUTCFullYear() <= 1) return undefined;
  return new Date(t).toISOString();
}

/** `ts` (`YYYY-MM-DD HH:MM:SS`, UTC) as an ISO time. */
function tsIso(p: ContainerPaths): string {
  try {
    const ts = readFileSync(join(p.dir, "ts"), "utf8").trim();
    const t = Date.parse(`${ts.replace(" ", "T")}Z`);
    if (!Number.isNaN(t)) return new Date(t).toISOString();
  } catch {
    // taken by hand: no ts
  }
  return new Date(0).toISOString();
}

/** A snapshot as LXD shows one (`GET /1.0/instances/NAME/snapshots/SNAP`). */
export async function snapshotJson(ctx: Context, rec: SnapshotRecord): Promise<SnapshotJson> {
  const inst = await instanceJson(ctx, rec.paths, "STOPPED");
  const created = tsIso(rec.paths);
  return {
    ...editable(inst),
    name: rec.name,
    created_at: created,
    expires_at: rec.expiresAt ?? NO_EXPIRY,
    last_used_at: "1970-01-01T00:00:00Z",
    expanded_config: inst.expanded_config,
    expanded_devices: inst.expanded_devices,
    stateful: false,
    size: -1,
  };
}
