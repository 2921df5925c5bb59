/**
 * zfs send/receive for the zfs driver (docs/migrate.md): a container goes
 * as one chain of `zfs send` streams, each snapshot the change since the
 * one before (`-i`), then a snapshot of its rootfs taken for the send. The
 * receiving side takes every stream into ONE staging dataset beneath the
 * parent dataset it receives into (`zfs receive -u`, never mounted:
 * `mountpoint=none`), so the snapshots arrive as that dataset's snapshots,
 * sharing their blocks; only complete, it drops the send's snapshot,
 * renames the dataset to the container's name and mounts it at the
 * container's rootfs. Anything short of that destroys the staging dataset.
 */
import { basename, join } from "node:path";
import { finished } from "node:stream/promises";
import type { CommandRunner } from "../host/runner.js";
import { piped, type RootfsRef, type StorageDriver, type StreamReceiver } from "./driver.js";

/** The name the rootfs's stream is received under (a snapshot of the staging dataset, dropped once complete). */
export const RECV_SNAP = "lxt-recv";

/** `zfs ARGS` through the driver's runner. */
type Zfs = (...args: string[]) => Promise<string>;

/**
 * The dataset mounted where `path` is (`findmnt -T`: the mount holding
 * it), for a path on zfs: where a state root on zfs receives.
 */
export async function zfsDatasetAt(run: CommandRunner, path: string): Promise<string | undefined> {
  const out = await run.run("findmnt", ["-n", "-o", "FSTYPE,SOURCE", "-T", path]);
  const [fstype, source] = out.trim().split(/\s+/);
  return fstype === "zfs" && source ? source : undefined;
}

/**
 * The zfs driver's streams (`StorageDriver.sendable`, `send`, `receiver`):
 * `dataset` reads a ref's dataset, `exists` asks whether a filesystem is
 * there, `root` is where received containers' datasets go.
 */
export function zfsStreams(
  run: CommandRunner,
  zfs: Zfs,
  root: string,
  dataset: (ref: RootfsRef) => string,
  exists: (ds: string, type: string) => Promise<boolean>,
): Required<Pick<StorageDriver, "sendable" | "send" | "receiver">> {
  return {
    async sendable(main, snaps) {
      const ds = dataset(main);
      // Snapshots left on a dataset an in-place restore retired are not this one's.
      const odd = snaps.find((s) => dataset(s) !== `${ds}@${basename(s.dir)}`);
      if (odd) return `${dataset(odd)} is not ${ds}@${basename(odd.dir)}`;
      if (snaps.length < 2) return undefined;
      // `zfs send -i A B` needs A older than B: the chain must be in creation order.
      const byAge = (
        await zfs("list", "-H", "-o", "name", "-t", "snapshot", "-s", "createtxg", "-d", "1", ds)
      )
        .split("\n")
        .map((l) => l.trim());
      const want = snaps.map(dataset);
      const got = byAge.filter((n) => want.includes(n));
      return got.join(" ") === want.join(" ")
        ? undefined
        : `the snapshots of ${ds} were not taken in the order of their names`;
    },
    send(ref, parent) {
      const from = parent ? ["-i", dataset(parent)] : [];
      return piped(run)("zfs", ["send", ...from, dataset(ref)]);
    },
    receiver(staging, snapshots): StreamReceiver {
      const stage = `${root}/${basename(staging).replace(/^\.+/, "")}`;
      /** The received dataset's name: `stage`, renamed by `prepare`. */
      let current = stage;
      let mountpoint = "";
      return {
        async receive(index, input) {
          const snap = snapshots[index] ?? RECV_SNAP;
          const first = index === 0 ? ["-o", "mountpoint=none"] : [];
          const recv = piped(run)("zfs", ["receive", "-u", ...first, `${stage}@${snap}`], input);
          await finished(recv.resume());
        },
        async prepare(finalDir) {
          await zfs("destroy", `${stage}@${RECV_SNAP}`);
          const final = `${root}/${basename(finalDir)}`;
          await zfs("rename", stage, final);
          current = final;
          mountpoint = `${finalDir}/rootfs`;
          const ref = (ds: string, dir: string): RootfsRef => ({
            spec: { backend: "zfs", dataset: ds },
            dir,
          });
          return {
            main: ref(final, staging),
            snaps: snapshots.map((s) => ref(`${final}@${s}`, join(staging, "snaps", s))),
          };
        },
        async placed() {
          await zfs("set", `mountpoint=${mountpoint}`, current);
          // Setting a mountpoint mounts a filesystem that can be; make sure it is.
          const mounted = (await zfs("get", "-H", "-o", "value", "mounted", current)).trim();
          if (mounted !== "yes") await zfs("mount", current);
        },
        async destroy() {
          if (await exists(current, "filesystem")) await zfs("destroy", "-r", current);
        },
      };
    },
  };
}
