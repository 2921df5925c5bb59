/**
 * `index.json`, the first member of an `lxt export` tarball: what the
 * archive holds and where it came from. Pure: rendered on export, checked
 * on import before anything is made.
 *
 * Archive layout (as the container directory, LXC's):
 *   index.json
 *   config
 *   rootfs/...                      the merged view, whatever the backend
 *   snaps/snapN/{config,ts,comment,rootfs/...}
 */
import { LxtError } from "../core/errors.js";
import { BACKENDS } from "../storage/rootfs-spec.js";

export const BACKUP_FORMAT = 1;

export interface BackupSnapshot {
  name: string;
  /** The snapshot's directory on the exporting host (its config's paths are rewritten from it). */
  dir: string;
  backend: string;
  ts?: string;
  comment?: string;
}

export interface BackupManifest {
  format: number;
  /** lxt version that wrote it. */
  lxt: string;
  name: string;
  backend: string;
  /** The container directory on the exporting host. */
  dir: string;
  created: string;
  snapshots: BackupSnapshot[];
}

export function renderManifest(m: BackupManifest): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

const SNAP_RE = /^snap\d+$/;

/** Parses and checks `index.json`; `file` names the archive in errors. */
export function parseManifest(text: string, file: string): BackupManifest {
  const bad = (why: string) =>
    new LxtError("usage", `import ${file}: not an lxt backup (index.json: ${why})`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw bad(err instanceof Error ? err.message : "not JSON");
  }
  if (!v || typeof v !== "object") throw bad("not an object");
  const o = v as Record<string, unknown>;
  const str = (k: string, from: Record<string, unknown> = o) => {
    const x = from[k];
    if (typeof x !== "string" || x === "") throw bad(`"${k}" missing or not a string`);
    return x;
  };
  if (typeof o.format !== "number") throw bad('"format" missing');
  if (o.format > BACKUP_FORMAT) {
    throw new LxtError(
      "unsupported",
      `import ${file}: backup format ${o.format} is newer than this lxt reads (${BACKUP_FORMAT})`,
    );
  }
  const backend = str("backend");
  if (!(BACKENDS as readonly string[]).includes(backend)) throw bad(`unknown backend "${backend}"`);
  const dir = str("dir");
  if (!dir.startsWith("/")) throw bad('"dir" is not absolute');
  if (!Array.isArray(o.snapshots)) throw bad('"snapshots" is not a list');
  const snapshots = o.snapshots.map((s: unknown): BackupSnapshot => {
    if (!s || typeof s !== "object") throw bad("a snapshot is not an object");
    const r = s as Record<string, unknown>;
    const name = str("name", r);
    if (!SNAP_RE.test(name)) throw bad(`bad snapshot name "${name}"`);
    const out: BackupSnapshot = { name, dir: str("dir", r), backend: str("backend", r) };
    if (typeof r.ts === "string") out.ts = r.ts;
    if (typeof r.comment === "string") out.comment = r.comment;
    return out;
  });
  return {
    format: o.format,
    lxt: typeof o.lxt === "string" ? o.lxt : "unknown",
    name: str("name"),
    backend,
    dir,
    created: typeof o.created === "string" ? o.created : "",
    snapshots,
  };
}

/**
 * tar `--transform` expressions that land an archive's `rootfs` trees in
 * the directories a backend fills (`overlay/delta` for an overlay), or none
 * when they are the same. Symlink targets are left alone (`S`); hard link
 * targets follow the names.
 */
export function extractTransforms(members: { archive: string; target: string }[]): string[] {
  const esc = (s: string) => s.replace(/[.[\]*^$\\]/g, "\\$&");
  return members
    .filter((m) => m.archive !== m.target)
    .map((m) => `--transform=s,^${esc(m.archive)}\\(/\\|$\\),${m.target}\\1,S`);
}
