/**
 * The `lxc.rootfs.path` value as LXC writes it, parsed into a backend and
 * its paths, and rendered back. Pure: the config layer checks values with it
 * and the storage drivers write it.
 *
 *   /path, dir:/path            a directory
 *   btrfs:/path                 a btrfs subvolume
 *   overlayfs:/lower:/upper     an overlay (also `overlay:`); the work
 *                               directory is `olwork` beside the upper, as LXC
 *   zfs:pool/dataset            a ZFS dataset (zfs:pool/dataset@snap: a snapshot)
 *   loop:/image, lvm:/dev/vg/lv a filesystem on a block device (an image
 *   nbd:FILE[:PART], rbd:POOL/IMG  attached to a loop device, an LV, ...),
 *                               mounted at start; no storage driver makes,
 *                               copies or snapshots these (block.ts)
 */

/** Backends lxt has drivers for. */
export const BACKENDS = ["dir", "btrfs", "overlay", "zfs"] as const;
export type BackendName = (typeof BACKENDS)[number];

/** LXC's block-device backends: lxt mounts them at start and has no storage driver for them. */
export const BLOCK_BACKENDS = ["loop", "lvm", "nbd", "rbd"] as const;
export type BlockBackend = (typeof BLOCK_BACKENDS)[number];

/** A rootfs on a block device: `SOURCE` as written after the `backend:` prefix. */
export interface BlockSpec {
  backend: BlockBackend;
  source: string;
}

/** A parsed `lxc.rootfs.path`. */
export type RootfsSpec =
  | { backend: "dir" | "btrfs"; path: string }
  | { backend: "overlay"; lower: string; upper: string }
  | { backend: "zfs"; dataset: string };

export class RootfsSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RootfsSpecError";
  }
}

function absPath(p: string, what: string): string {
  if (!p.startsWith("/")) throw new RootfsSpecError(`${what} "${p}" is not an absolute path`);
  if (p.split("/").includes("..")) throw new RootfsSpecError(`${what} "${p}" contains ".."`);
  return p.length > 1 ? p.replace(/\/+$/, "") : p;
}

/** Overlay options are a comma list of `key=path`: a path may not contain `,` or `:` (lowerdir separator). */
function overlayPath(p: string, what: string): string {
  const abs = absPath(p, what);
  if (/[,:\\]/.test(abs)) throw new RootfsSpecError(`${what} "${p}" contains ",", ":" or "\\"`);
  return abs;
}

/**
 * Parses a non-empty `lxc.rootfs.path` value. Throws RootfsSpecError for a
 * malformed value; a block-device rootfs comes back as `{ block }`.
 */
export function parseRootfsSpec(value: string): RootfsSpec | { block: BlockSpec } {
  const m = /^([a-z]+):(.*)$/.exec(value);
  if (!m) return { backend: "dir", path: absPath(value, "rootfs") };
  const [, prefix = "", rest = ""] = m;
  switch (prefix) {
    case "dir":
    case "btrfs":
      return { backend: prefix, path: absPath(rest, "rootfs") };
    case "overlay":
    case "overlayfs": {
      // LXC splits at the first ":" after the lower directory.
      const i = rest.indexOf(":", 1);
      if (i < 0) throw new RootfsSpecError(`expected ${prefix}:LOWER:UPPER`);
      return {
        backend: "overlay",
        lower: overlayPath(rest.slice(0, i), "overlay lower directory"),
        upper: overlayPath(rest.slice(i + 1), "overlay upper directory"),
      };
    }
    case "zfs":
      if (
        !/^[A-Za-z0-9][A-Za-z0-9_.:/-]*(@[A-Za-z0-9_.:-]+)?$/.test(rest) ||
        /\/\/|\/$|\/@/.test(rest)
      )
        throw new RootfsSpecError(`expected zfs:POOL/DATASET, got "${value}"`);
      return { backend: "zfs", dataset: rest };
    case "loop":
    case "lvm":
      return { block: { backend: prefix, source: absPath(rest, `${prefix} source`) } };
    case "nbd":
    case "rbd":
      if (rest === "" || /\s/.test(rest))
        throw new RootfsSpecError(
          prefix === "nbd" ? "expected nbd:FILE[:PARTITION]" : "expected rbd:POOL/IMAGE",
        );
      return { block: { backend: prefix, source: rest } };
    default:
      throw new RootfsSpecError(
        `unknown storage backend "${prefix}": expected a path, dir:PATH, btrfs:PATH, overlayfs:LOWER:UPPER, zfs:DATASET, loop:IMAGE, lvm:DEVICE, nbd:FILE or rbd:POOL/IMAGE`,
      );
  }
}

/** Renders a spec the way LXC writes it. */
export function formatRootfsSpec(spec: RootfsSpec): string {
  switch (spec.backend) {
    case "dir":
    case "btrfs":
      return `${spec.backend}:${spec.path}`;
    case "overlay":
      return `overlayfs:${spec.lower}:${spec.upper}`;
    case "zfs":
      return `zfs:${spec.dataset}`;
  }
}

/** The overlay work directory LXC derives from the upper one: `olwork` beside it. */
export function overlayWorkDir(upper: string): string {
  return `${upper.slice(0, upper.lastIndexOf("/")) || ""}/olwork`;
}
