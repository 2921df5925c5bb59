/**
 * An instance's LXD backups: each an `lxt export` tarball with its record,
 * kept in the container's directory (`<dir>/lxd-backups/NAME.tar.gz` and
 * `NAME.yaml`), so they follow a rename and go with a delete, as LXD's do.
 * lxt's export carries neither (it archives the config, rootfs and snaps).
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import type { ContainerPaths } from "../container/paths.js";
import { writeFileAtomic } from "../host/atomic.js";
import { ApiError, badRequest } from "./envelope.js";
import { NO_EXPIRY } from "./snapshot-store.js";
import type { BackupJson } from "./types.js";

export const BACKUP_DIR = "lxd-backups";

/** LXD's compression algorithms lxt's export writes, and their file endings. */
const ENDINGS: Readonly<Record<string, string>> = {
  gzip: ".tar.gz",
  xz: ".tar.xz",
  zstd: ".tar.zst",
  bzip2: ".tar.bz2",
  none: ".tar",
};

export interface BackupRecord {
  name: string;
  created_at: string;
  /** ISO time; absent when it never expires. */
  expires_at?: string;
  instance_only: boolean;
  optimized_storage: boolean;
  compression: string;
}

export function backupDir(paths: ContainerPaths): string {
  return `${paths.dir}/${BACKUP_DIR}`; // dir is normalized (a join): no join per list entry
}

/** The compression a request names ("" is LXD's default, gzip). */
export function backupCompression(v: unknown): string {
  const c = v === undefined || v === null || v === "" ? "gzip" : v;
  if (typeof c !== "string" || !(c in ENDINGS)) {
    throw badRequest(
      `Invalid compression algorithm "${String(c)}" (lxt writes: ${Object.keys(ENDINGS).join(", ")})`,
    );
  }
  return c;
}

/** The tarball of a backup. */
export function backupFile(paths: ContainerPaths, b: BackupRecord): string {
  return join(backupDir(paths), `${b.name}${ENDINGS[b.compression] ?? ".tar"}`);
}

function recordFile(paths: ContainerPaths, name: string): string {
  return join(backupDir(paths), `${name}.yaml`);
}

/** The backups of an instance, by name. */
export function backupRecords(paths: ContainerPaths): BackupRecord[] {
  // Most instances have none: no thrown error (its stack) per instance of a list.
  if (!existsSync(backupDir(paths))) return [];
  let names: string[];
  try {
    names = readdirSync(backupDir(paths));
  } catch {
    return [];
  }
  const out: BackupRecord[] = [];
  for (const f of names.filter((n) => n.endsWith(".yaml")).sort()) {
    try {
      const r = parse(readFileSync(join(backupDir(paths), f), "utf8")) as BackupRecord;
      if (r && typeof r.name === "string" && `${r.name}.yaml` === f) out.push(r);
    } catch {
      // a record being written: not a backup yet
    }
  }
  return out;
}

export function findBackup(paths: ContainerPaths, name: string): BackupRecord {
  const b = backupRecords(paths).find((r) => r.name === name);
  if (!b) throw new ApiError(404, "Backup not found");
  return b;
}

/** The next free `backupN`, as LXD names an unnamed backup. */
export function nextBackupName(paths: ContainerPaths): string {
  let max = -1;
  for (const b of backupRecords(paths)) {
    const m = /^backup(\d+)$/.exec(b.name);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return `backup${max + 1}`;
}

/** Makes the directory the tarball goes into (before the export writes it). */
export function prepareBackupDir(paths: ContainerPaths): void {
  mkdirSync(backupDir(paths), { recursive: true, mode: 0o700 });
}

/** Writes the record, last: a backup exists once its tarball and record do. */
export function writeBackupRecord(paths: ContainerPaths, b: BackupRecord): void {
  writeFileAtomic(recordFile(paths, b.name), stringify(b), 0o600);
}

export function removeBackup(paths: ContainerPaths, b: BackupRecord): void {
  rmSync(recordFile(paths, b.name), { force: true });
  rmSync(backupFile(paths, b), { force: true });
}

export function renameBackup(paths: ContainerPaths, b: BackupRecord, to: string): void {
  const next = { ...b, name: to };
  renameSync(backupFile(paths, b), backupFile(paths, next));
  writeBackupRecord(paths, next);
  rmSync(recordFile(paths, b.name), { force: true });
}

export function backupSize(paths: ContainerPaths, b: BackupRecord): number {
  return statSync(backupFile(paths, b), { throwIfNoEntry: false })?.size ?? 0;
}

/** A backup as LXD shows one. */
export function backupJson(b: BackupRecord): BackupJson {
  return {
    name: b.name,
    created_at: b.created_at,
    expires_at: b.expires_at ?? NO_EXPIRY,
    instance_only: b.instance_only,
    container_only: b.instance_only,
    optimized_storage: b.optimized_storage,
  };
}
