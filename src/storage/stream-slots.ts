/**
 * A `StreamReceiver` for a backend whose streams each make a rootfs of
 * their own in a directory (btrfs receive: a read-only subvolume under the
 * name it was sent with): each snapshot's stream goes into its snapshot
 * directory, the rootfs's into `staging/.recv`, and the container's rootfs
 * is then a writable copy-on-write snapshot of the received one.
 */
import { existsSync, mkdirSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { LxtError } from "../core/errors.js";
import type { RootfsRef, StorageDriver, StreamReceiver } from "./driver.js";

/** Where the rootfs's stream is received, in the staging directory. */
const RECV = ".recv";

/**
 * The receiver of `driver` (which snapshots and clones copy-on-write) for
 * `staging`: `receiveInto` receives one stream into a directory, where it
 * makes `rootfs`.
 */
export function slotReceiver(
  driver: StorageDriver,
  staging: string,
  snapshots: readonly string[],
  receiveInto: (input: Readable, dir: string) => Promise<void>,
): StreamReceiver {
  const recv = join(staging, RECV);
  const slots = [...snapshots.map((s) => join(staging, "snaps", s)), recv];
  const ref = (dir: string): RootfsRef => ({ spec: driver.newSpec(dir), dir });
  /** What was made, destroyed newest first. */
  const made: RootfsRef[] = [];
  return {
    async receive(index, input) {
      const slot = slots[index];
      if (!slot) throw new LxtError("internal", `receive: no stream ${index}`);
      mkdirSync(slot, { recursive: true, mode: 0o700 });
      // What a failed receive leaves is destroyed with the rest.
      made.push(ref(slot));
      await receiveInto(input, slot);
      if (!existsSync(join(slot, "rootfs")))
        throw new LxtError("system", "the stream made no rootfs");
    },
    async prepare() {
      // Received subvolumes are read-only: the container's own is a writable snapshot of it.
      const main = ref(staging);
      made.push(main);
      await driver.clone(ref(recv), main, { cow: true });
      await driver.destroy(ref(recv));
      rmdirSync(recv);
      return { main, snaps: snapshots.map((s) => ref(join(staging, "snaps", s))) };
    },
    async placed() {},
    async destroy() {
      while (made.length > 0) await driver.destroy(made.pop() as RootfsRef);
    },
  };
}
