import { LxtError } from "../core/errors.js";
import { registerDriver, type StorageDriver } from "./driver.js";
import type { CommandRunner } from "./runner.js";
import { kernelHasFs } from "./tree.js";

/**
 * ZFS (a dataset per container) is a stub: this build host has no ZFS to
 * test it on, so every operation refuses with a host error instead of
 * guessing. `unavailable` says why; the conformance suite skips it loudly.
 */
export function zfsDriver(run: CommandRunner): StorageDriver {
  const refuse = async (): Promise<never> => {
    throw new LxtError("host", "storage backend zfs is not implemented yet");
  };
  return {
    name: "zfs",
    capabilities: { snapshots: false, cowClone: false, liveSnapshot: false, usage: false },
    async unavailable() {
      if (!kernelHasFs("zfs")) return "no zfs: the kernel has no zfs module loaded";
      try {
        await run.run("zfs", ["version"]);
      } catch {
        return "no zfs: zfsutils-linux is not installed";
      }
      return "zfs: backend not implemented yet";
    },
    newSpec(dir) {
      return { backend: "zfs", dataset: `lxt${dir.replaceAll("/", "-")}` };
    },
    create: refuse,
    destroy: refuse,
    snapshot: refuse,
    clone: refuse,
  };
}

registerDriver("zfs", zfsDriver);
