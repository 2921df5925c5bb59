/**
 * The `lxc.rootfs.*` keys. `lxc.rootfs.path` is parsed by
 * src/storage/rootfs-spec.ts; `lxc.rootfs.managed = 0` says the storage is
 * not lxt's (never changed, snapshotted or removed: LXC's "will not modify
 * the container storage").
 *
 * `lxc.rootfs.options`: mount(8)-style options for the rootfs mount, as
 * LXC 5 reads them. Per-mount flags (`ro`, `nosuid`, `nodev`, `noexec`, the
 * atime family) apply to any rootfs: the helper sets them on the rootfs's
 * bind. `idmap=container` asks for the rootfs idmapped to the container's
 * user namespace. Anything else is a filesystem option (`data=ordered`,
 * `discard`, `sync`...), which only a rootfs with a filesystem of its own
 * (a block device: `loop:`, `lvm:`) can take; a start refuses one on a
 * directory, naming it.
 */

import { type BlockSpec, parseRootfsSpec, type RootfsSpec } from "../storage/rootfs-spec.js";
import { FLAG_OPTS, PER_MOUNT_FLAGS } from "./mounts.js";
import type { ConfigEntry } from "./parse.js";
import { ValueError } from "./values.js";

/** The options the rootfs's own mount cannot take as flags (a bind or move is lxt's to choose). */
const NOT_FOR_ROOTFS = new Set(["bind", "rbind", "remount", "nosymfollow"]);

/** Propagation is lxt's: the rootfs is always a slave of the host's mounts (LXC's default). */
const PROPAGATION = new Set(["rslave", "slave"]);

/** A parsed `lxc.rootfs.options`. */
export interface RootfsOptions {
  /** MS_* per-mount flags to set on the rootfs mount. */
  flags: number;
  /** Filesystem (superblock) options, in order: only a block-device rootfs takes them. */
  data: string[];
  /** `idmap=container`: the rootfs is idmapped to the container's user namespace, never shifted on disk. */
  idmapContainer: boolean;
}

/** Parses a non-empty `lxc.rootfs.options`; throws ValueError naming an option lxt cannot honour. */
export function parseRootfsOptions(value: string): RootfsOptions {
  const out: RootfsOptions = { flags: 0, data: [], idmapContainer: false };
  for (const word of value.split(",").map((w) => w.trim())) {
    if (word === "") continue;
    if (word.startsWith("idmap=")) {
      if (word !== "idmap=container")
        throw new ValueError(
          `"${word}": lxt idmaps the rootfs only to the container's own user namespace (idmap=container)`,
        );
      out.idmapContainer = true;
      continue;
    }
    if (PROPAGATION.has(word)) continue;
    if (NOT_FOR_ROOTFS.has(word) || /^r?(private|shared|unbindable)$/.test(word))
      throw new ValueError(`"${word}" does not apply to the rootfs mount`);
    const flag = FLAG_OPTS[word];
    if (flag && (flag[1] & PER_MOUNT_FLAGS || flag[1] === 0)) {
      out.flags = flag[0] ? out.flags | flag[1] : out.flags & ~flag[1];
      continue;
    }
    // A superblock flag's "off" form (async, nomand...) is the default: nothing to pass.
    if (flag && !flag[0]) continue;
    if (!/^[A-Za-z0-9_.-]+(=[^,\s]+)?$/.test(word))
      throw new ValueError(`"${word}" is not a mount option`);
    out.data.push(word);
  }
  return out;
}

/** The rootfs a config describes. */
export interface RootfsConfig {
  /** Host path of the root filesystem; unset means the host's root. */
  path?: string;
  /** Storage backend: `dir` unless a `type:` prefix said otherwise. */
  backend: string;
  /** The parsed value (src/storage/rootfs-spec.ts); `path` is set for dir and btrfs only. */
  spec?: RootfsSpec;
  /** A block-device rootfs (`loop:`, `lvm:`, `nbd:`, `rbd:`), mounted at start; `spec` is then unset. */
  block?: BlockSpec;
  /** `lxc.rootfs.managed`: false means lxt never changes, snapshots or removes the rootfs's storage. */
  managed: boolean;
  /** `lxc.rootfs.options`, and where it was set. */
  options?: RootfsOptions & { at: { file: string; line: number } };
}

/** `rootfs` with one `lxc.rootfs.path`, `.managed` or `.options` entry (already checked) applied. */
export function applyRootfsEntry(rootfs: RootfsConfig, e: ConfigEntry): RootfsConfig {
  const v = e.value;
  switch (e.key) {
    case "lxc.rootfs.managed":
      return { ...rootfs, managed: v !== "0" };
    case "lxc.rootfs.options": {
      const { options: _, ...rest } = rootfs;
      return v === ""
        ? rest
        : { ...rest, options: { ...parseRootfsOptions(v), at: { file: e.file, line: e.line } } };
    }
  }
  const spec = v === "" ? undefined : parseRootfsSpec(v);
  const kept = {
    managed: rootfs.managed,
    ...(rootfs.options ? { options: rootfs.options } : {}),
  };
  if (!spec) return { ...kept, backend: "dir" };
  if ("block" in spec) return { ...kept, backend: spec.block.backend, block: spec.block };
  return spec.backend === "dir" || spec.backend === "btrfs"
    ? { ...kept, backend: spec.backend, path: spec.path, spec }
    : { ...kept, backend: spec.backend, spec };
}
