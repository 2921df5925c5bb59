import { statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { finished } from "node:stream/promises";
import { LxtError } from "../core/errors.js";
import type { CommandRunner } from "../host/runner.js";
import { piped, type RootfsRef, registerDriver, rootDir, type StorageDriver } from "./driver.js";
import { slotReceiver } from "./stream-slots.js";
import { copyTree, FS_MAGIC, fsType } from "./tree.js";

/** The root directory of every btrfs subvolume has inode 256 (BTRFS_FIRST_FREE_OBJECTID). */
const SUBVOLUME_INO = 256;

function subvolume(ref: RootfsRef): string {
  if (ref.spec.backend !== "btrfs") {
    throw new LxtError("internal", `btrfs driver given a ${ref.spec.backend} rootfs`);
  }
  return ref.spec.path;
}

/**
 * One btrfs subvolume per container (`btrfs subvolume create`); snapshots and
 * copy-on-write clones are subvolume snapshots: constant time, any size.
 */
export function btrfsDriver(run: CommandRunner): StorageDriver {
  return {
    name: "btrfs",
    capabilities: { snapshots: true, cowClone: true, liveSnapshot: true, usage: false },
    async unavailable(lxcpath) {
      if (fsType(lxcpath) !== FS_MAGIC.btrfs) return `${lxcpath} is not on a btrfs filesystem`;
      try {
        await run.run("btrfs", ["--version"]);
      } catch {
        return "btrfs is not installed (apt-get install btrfs-progs)";
      }
      return undefined;
    },
    newSpec(dir) {
      return { backend: "btrfs", path: `${dir}/rootfs` };
    },
    async create(ref) {
      await run.run("btrfs", ["-q", "subvolume", "create", subvolume(ref)]);
    },
    async destroy(ref) {
      const path = subvolume(ref);
      const st = statSync(path, { throwIfNoEntry: false });
      if (!st) return;
      // A tree that is not a subvolume (copied in by hand) is removed as a directory.
      if (st.ino !== SUBVOLUME_INO) {
        await rm(path, { recursive: true, force: true });
        return;
      }
      await run.run("btrfs", ["-q", "subvolume", "delete", path]);
    },
    async snapshot(src, dst) {
      await run.run("btrfs", ["-q", "subvolume", "snapshot", "-r", subvolume(src), subvolume(dst)]);
    },
    async clone(src, dst, opts) {
      if (opts.cow) {
        if (src.spec.backend !== "btrfs") {
          throw new LxtError(
            "usage",
            `a ${src.spec.backend} rootfs cannot be cloned as a btrfs snapshot: copy it in full (no -s)`,
          );
        }
        await run.run("btrfs", ["-q", "subvolume", "snapshot", subvolume(src), subvolume(dst)]);
        return;
      }
      await this.create(dst);
      await copyTree(run, src, rootDir(dst));
    },
    async sendable(main, snaps) {
      const odd = [main, ...snaps].find((r) => subvolume(r) !== `${r.dir}/rootfs`);
      return odd ? `${subvolume(odd)} is not its directory's rootfs` : undefined;
    },
    sendSpec(_src, dir) {
      return this.newSpec(dir);
    },
    send(ref, parent) {
      const from = parent ? ["-p", subvolume(parent)] : [];
      return piped(run)("btrfs", ["-q", "send", ...from, subvolume(ref)]);
    },
    receiver(staging, snapshots) {
      return slotReceiver(this, staging, snapshots, async (input, dir) => {
        await finished(piped(run)("btrfs", ["-q", "receive", dir], input).resume());
      });
    },
  };
}

registerDriver("btrfs", btrfsDriver);
