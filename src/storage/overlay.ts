import { mkdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { LxtError } from "../core/errors.js";
import type { CommandRunner } from "../host/runner.js";
import { type RootfsRef, registerDriver, rootDir, type StorageDriver } from "./driver.js";
import { overlayWorkDir } from "./rootfs-spec.js";
import { copyTree, diskUsage, kernelHasFs } from "./tree.js";

function layers(ref: RootfsRef): { lower: string; upper: string } {
  if (ref.spec.backend !== "overlay") {
    throw new LxtError("internal", `overlay driver given a ${ref.spec.backend} rootfs`);
  }
  return ref.spec;
}

/**
 * An overlay of a read-only lower directory and the container's own upper
 * one (`overlayfs:LOWER:UPPER`, LXC's layout: `<dir>/overlay/delta`, work
 * directory `olwork` beside it). The overlay is mounted only in the
 * container's mount namespace, by the helper, at start. A copy-on-write
 * clone of a directory uses it as its lower; of an overlay, shares its lower
 * and copies its upper (as LXC). The lower must not change while clones use it.
 */
export function overlayDriver(run: CommandRunner): StorageDriver {
  return {
    name: "overlay",
    capabilities: { snapshots: false, cowClone: true, liveSnapshot: false, usage: true },
    async unavailable() {
      return kernelHasFs("overlay") ? undefined : "the kernel has no overlayfs";
    },
    newSpec(dir, cowOf) {
      const upper = `${dir}/overlay/delta`;
      if (!cowOf) return { backend: "overlay", lower: `${dir}/overlay/lower`, upper };
      const lower = cowOf.spec.backend === "overlay" ? cowOf.spec.lower : rootDir(cowOf);
      return { backend: "overlay", lower, upper };
    },
    async create(ref) {
      const { lower, upper } = layers(ref);
      mkdirSync(rootDir(ref), { mode: 0o755 });
      mkdirSync(upper, { recursive: true, mode: 0o755 });
      mkdirSync(overlayWorkDir(upper), { mode: 0o700 });
      if (lower.startsWith(`${ref.dir}/`)) mkdirSync(lower, { recursive: true, mode: 0o755 });
    },
    async destroy(ref) {
      layers(ref);
      // Only what create made: the overlay directory (upper, work, own lower) and the mount point.
      await rm(`${ref.dir}/overlay`, { recursive: true, force: true });
      await rm(rootDir(ref), { recursive: true, force: true });
    },
    async snapshot(src, dst) {
      const s = layers(src);
      const d = layers(dst);
      if (s.lower !== d.lower) {
        throw new LxtError("internal", "overlay snapshot: the snapshot must share the lower");
      }
      await this.create(dst);
      await run.run("cp", ["-a", "--", `${s.upper}/.`, `${d.upper}/`]);
    },
    async clone(src, dst, opts) {
      const d = layers(dst);
      await this.create(dst);
      if (!opts.cow) {
        await copyTree(run, src, d.upper);
      } else if (src.spec.backend === "overlay") {
        await run.run("cp", ["-a", "--", `${src.spec.upper}/.`, `${d.upper}/`]);
      }
    },
    usage(ref) {
      return diskUsage(run, layers(ref).upper);
    },
  };
}

registerDriver("overlay", overlayDriver);
