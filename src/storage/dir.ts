import { mkdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { LxtError } from "../core/errors.js";
import type { CommandRunner } from "../host/runner.js";
import { type RootfsRef, registerDriver, type StorageDriver } from "./driver.js";
import { copyTree, diskUsage } from "./tree.js";

function treePath(ref: RootfsRef): string {
  if (ref.spec.backend !== "dir") {
    throw new LxtError("internal", `dir driver given a ${ref.spec.backend} rootfs`);
  }
  return ref.spec.path;
}

/** A plain directory: works everywhere; snapshots and clones are full copies. */
export function dirDriver(run: CommandRunner): StorageDriver {
  return {
    name: "dir",
    capabilities: { snapshots: false, cowClone: false, liveSnapshot: false, usage: true },
    async unavailable() {
      return undefined;
    },
    newSpec(dir) {
      return { backend: "dir", path: `${dir}/rootfs` };
    },
    async create(ref) {
      mkdirSync(treePath(ref), { mode: 0o755 });
    },
    async destroy(ref) {
      await rm(treePath(ref), { recursive: true, force: true });
    },
    async snapshot(src, dst) {
      await this.clone(src, dst, { cow: false });
    },
    async clone(src, dst, opts) {
      if (opts.cow) {
        throw new LxtError(
          "usage",
          "a dir rootfs cannot be cloned copy-on-write: use -B overlay (or btrfs on btrfs)",
        );
      }
      await this.create(dst);
      await copyTree(run, src, treePath(dst));
    },
    usage(ref) {
      return diskUsage(run, treePath(ref));
    },
  };
}

registerDriver("dir", dirDriver);
