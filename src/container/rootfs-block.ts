/**
 * A start's view of a rootfs on a block device (`lxc.rootfs.path = loop:`,
 * `lvm:`, `nbd:`, `rbd:`): what the helper's `block-mount` record says, the
 * checks that refuse a bad one before anything is made, and the rootfs
 * options' checks that depend on the kind of rootfs.
 *
 * The helper attaches and mounts (native/src/blockdev.c): the mount exists
 * only in the container's mount namespace, and a loop device is released
 * by the kernel when that namespace goes (autoclear), so a stop, a crash or
 * a SIGKILLed monitor leave nothing attached. An nbd or rbd device is
 * attached by the start itself (container/rootfs-attach.ts), then mounted
 * as any block device.
 */

import { closeSync, mkdirSync, openSync, readSync, rmdirSync, statSync } from "node:fs";
import type { ContainerConfig } from "../config/model.js";
import { LxtError } from "../core/errors.js";
import type { Reverter } from "../core/reverter.js";
import type { HelperFailure } from "../host/helper-protocol.js";
import { describeErrno } from "../host/monitor-client.js";
import type { BlockSpec } from "../storage/rootfs-spec.js";
import type { ContainerPaths } from "./paths.js";
import { type AttachHost, attachDevice } from "./rootfs-attach.js";

/** The `block-mount` record: a filesystem on a block device, mounted on `target` before the rootfs is bound. */
export interface BlockMount {
  /** `loop`: `source` is an image attached to a free loop device; `dev`: a block device. */
  kind: "loop" | "dev";
  /**
   * nbd, rbd: the device is attached by the start (`attachBlock`), which
   * fills `source` and `fstype`; until then they are empty.
   */
  attach?: BlockSpec;
  /** The command that releases an attached device (a plan `stop-hook`). */
  detach?: readonly string[];
  source: string;
  /** The filesystem type found on `source`. */
  fstype: string;
  /** The rootfs mount point, `<container>/rootfs`. */
  target: string;
  /** MS_* per-mount flags (lxc.rootfs.options). */
  flags: number;
  /** Filesystem options (lxc.rootfs.options). */
  data: readonly string[];
}

/** What the checks read from the host; tests pass a fake. */
export interface BlockHost {
  /** `stat(2)` of a path: its kind, or undefined when it does not exist. */
  kind(path: string): "file" | "block" | "other" | undefined;
  /** Up to `len` bytes from the start of a file or device. */
  head(path: string, len: number): Buffer;
  exists(path: string): boolean;
}

export const nodeBlockHost: BlockHost = {
  kind(path) {
    try {
      const st = statSync(path);
      return st.isFile() ? "file" : st.isBlockDevice() ? "block" : "other";
    } catch {
      return undefined;
    }
  },
  head(path, len) {
    const fd = openSync(path, "r");
    try {
      const buf = Buffer.alloc(len);
      return buf.subarray(0, readSync(fd, buf, 0, len, 0));
    } finally {
      closeSync(fd);
    }
  },
  exists(path) {
    try {
      statSync(path);
      return true;
    } catch {
      return false;
    }
  },
};

/** Superblock magics: [fstype, byte offset, bytes]. ext2 and ext3 mount as ext4. */
const MAGICS: readonly [string, number, Buffer][] = [
  ["ext4", 1080, Buffer.from([0x53, 0xef])],
  ["xfs", 0, Buffer.from("XFSB")],
  ["btrfs", 65600, Buffer.from("_BHRfS_M")],
  ["squashfs", 0, Buffer.from("hsqs")],
];
const HEAD = 65608;

/** The filesystem type the first bytes of a device or image say it holds, if one lxt knows. */
export function sniffFsType(head: Buffer): string | undefined {
  for (const [fs, at, magic] of MAGICS)
    if (head.length >= at + magic.length && head.subarray(at, at + magic.length).equals(magic))
      return fs;
  return undefined;
}

/**
 * The block mount of a config whose rootfs is on a block device, or a
 * refusal naming `lxc.rootfs.path` and what is wrong: a missing image or
 * device, no filesystem lxt knows on it. An nbd or rbd one is checked when
 * the start attaches it (`attachBlock`).
 */
export function planBlockMount(
  paths: ContainerPaths,
  cfg: ContainerConfig,
  spec: BlockSpec,
  host: BlockHost = nodeBlockHost,
): BlockMount {
  const key = blockKey(paths, spec);
  const opts = cfg.rootfs.options;
  const mount = {
    target: `${paths.dir}/rootfs`,
    flags: opts?.flags ?? 0,
    data: opts?.data ?? [],
  };
  if (spec.backend === "nbd" || spec.backend === "rbd")
    return { kind: "dev", source: "", fstype: "", attach: spec, ...mount };
  const want = spec.backend === "loop" ? "file" : "block";
  const kind = host.kind(spec.source);
  if (kind === undefined && spec.backend === "lvm" && !host.exists("/dev/mapper/control")) {
    throw new LxtError(
      "host",
      `${key}: ${spec.source} does not exist, and this host has no device-mapper (no /dev/mapper/control), so no LVM volume can`,
    );
  }
  if (kind !== want) {
    throw new LxtError(
      "config",
      `${key}: ${spec.source} ${kind === undefined ? "does not exist" : `is not a ${want === "file" ? "regular file (an image)" : "block device"}`}`,
    );
  }
  const fstype = fsTypeOf(key, spec.source, host);
  return { kind: spec.backend === "loop" ? "loop" : "dev", source: spec.source, fstype, ...mount };
}

function blockKey(paths: ContainerPaths, spec: BlockSpec): string {
  return `${paths.config}: lxc.rootfs.path = ${spec.backend}:${spec.source}`;
}

/** The filesystem on `source`, or a refusal naming `key`. */
function fsTypeOf(key: string, source: string, host: BlockHost): string {
  let fstype: string | undefined;
  try {
    fstype = sniffFsType(host.head(source, HEAD));
  } catch (err) {
    throw new LxtError("config", `${key}: ${(err as Error).message}`);
  }
  if (!fstype)
    throw new LxtError(
      "config",
      `${key}: no filesystem lxt can mount (ext2/3/4, xfs, btrfs, squashfs) on ${source}`,
    );
  return fstype;
}

/**
 * Attaches the device of an nbd or rbd block mount (as-is for any other):
 * the mount with its device and filesystem, and the device's release on
 * `revert` (the plan's stop-hook releases it when the container ends).
 */
export async function attachBlock(
  paths: ContainerPaths,
  block: BlockMount,
  revert: Reverter,
  host: AttachHost,
): Promise<BlockMount> {
  if (!block.attach) return block;
  const key = blockKey(paths, block.attach);
  const dev = await attachDevice(block.attach, key, host);
  const [cmd, ...args] = dev.detach ?? [];
  // A start that fails after the clone has the monitor's stop-hook release it first.
  if (cmd)
    revert.add("rootfs device", async () => {
      if (!dev.held || host.exists(dev.held)) await host.run.run(cmd, args);
    });
  const fstype = fsTypeOf(key, dev.device, host);
  return { ...block, source: dev.device, fstype, ...(dev.detach ? { detach: dev.detach } : {}) };
}

/**
 * Refuses `lxc.rootfs.options` a rootfs of this kind cannot take:
 * filesystem options on a bind-mounted directory, `idmap=container` in a
 * container without a user namespace of its own.
 */
export function checkRootfsOptions(cfg: ContainerConfig, block: boolean, userns: boolean): void {
  const o = cfg.rootfs.options;
  if (!o) return;
  const at = `${o.at.file}:${o.at.line}: lxc.rootfs.options`;
  const data = o.data[0];
  if (data !== undefined && !block)
    throw new LxtError(
      "config",
      `${at}: "${data}" is not a mount flag (ro, nosuid, nodev, noexec, noatime, ...), and this rootfs is a bind-mounted directory, which takes no filesystem options (only a block-device rootfs does: loop:, lvm:, nbd:, rbd:)`,
    );
  if (o.idmapContainer && !userns)
    throw new LxtError(
      "config",
      `${at}: idmap=container needs a user namespace of the container's own (lxc.idmap, or unprivileged by default); this container is privileged`,
    );
}

/** Makes the rootfs mount point when it is missing, undone with the start. */
export function ensureMountPoint(block: BlockMount, revert: Reverter): void {
  try {
    mkdirSync(block.target, { mode: 0o755 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return;
    throw err;
  }
  revert.add("rootfs mount point", () => rmdirSync(block.target));
}

/**
 * Why the rootfs's ownership may not be shifted on disk (so an unprivileged
 * start needs an idmapped mount of it), or undefined when it may.
 */
export function noShiftReason(cfg: ContainerConfig): string | undefined {
  if (!cfg.rootfs.managed) return "lxc.rootfs.managed = 0 (lxt does not change that storage)";
  if (cfg.rootfs.options?.idmapContainer) return "lxc.rootfs.options has idmap=container";
  return undefined;
}

/**
 * The helper's failure to attach or mount a block-device rootfs as the
 * config's: the key and what the kernel refused; undefined for any other.
 */
export function blockFailure(
  f: HelperFailure,
  cfg: ContainerConfig,
  block: BlockMount | undefined,
): LxtError | undefined {
  if (!block || f.stage !== "rootfs" || f.op === "bind" || f.op === "remount") return undefined;
  const why = describeErrno(f.errno);
  const o = cfg.rootfs.options;
  const spec = block.attach ?? {
    backend: block.kind === "loop" ? "loop" : "lvm",
    source: block.source,
  };
  const key = `lxc.rootfs.path = ${spec.backend}:${spec.source}`;
  const options = o ? `${o.at.file}:${o.at.line}: lxc.rootfs.options` : "lxc.rootfs.options";
  switch (f.op) {
    case "fs-option":
      return new LxtError("config", `${options}: ${block.fstype} refuses "${f.path}": ${why}`, f);
    case "fs-create":
      return new LxtError("start", `${key}: mount its ${block.fstype} filesystem: ${why}`, f);
    case "idmap":
      return new LxtError(
        "host",
        `${key}: its ${block.fstype} mount cannot be idmapped to the container's user namespace: ${why}`,
        f,
      );
    default:
      return new LxtError("start", `${key}: ${f.op} ${f.path}: ${why}`, f);
  }
}
