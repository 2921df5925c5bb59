import { basename, dirname } from "node:path";
import { LxtError } from "../core/errors.js";
import { Reverter } from "../core/reverter.js";
import type { CommandRunner } from "../host/runner.js";
import {
  type DriverOptions,
  type RootfsRef,
  type RootfsSwap,
  registerDriver,
  rootDir,
  type StorageDriver,
} from "./driver.js";
import { copyTree, kernelHasFs } from "./tree.js";
import { zfsStreams } from "./zfs-stream.js";

/** The parent dataset used when `--zfsroot` is not given (LXC's default is `lxc`). */
export const DEFAULT_ZFS_ROOT = "lxt";
/** User property marking a dataset retired by an in-place restore: its value is the container directory. */
export const RETIRED_PROP = "lxt:retired";
/** Snapshot name prefix of the origin of a `copy -s` clone (destroyed with the clone). */
const COPY_SNAP = "lxt-copy-";

function dataset(ref: RootfsRef): string {
  if (ref.spec.backend !== "zfs") {
    throw new LxtError("internal", `zfs driver given a ${ref.spec.backend} rootfs`);
  }
  return ref.spec.dataset;
}

/** `pool/a/b@s` -> `pool/a/b`. */
const fsOf = (ds: string) => ds.split("@")[0] ?? ds;
const parentOf = (ds: string) => fsOf(ds).slice(0, Math.max(0, fsOf(ds).lastIndexOf("/")));
const isSnapshot = (ds: string) => ds.includes("@");
const lines = (out: string) => out.split("\n").filter((l) => l.trim() !== "");
/**
 * The dataset name for container directory `dir`: its name; a directory in a
 * staging directory (`.lxt-export-...`) is prefixed with that, so it cannot
 * collide with a container's.
 */
function leaf(dir: string): string {
  const up = basename(dirname(dir));
  return up.startsWith(".lxt-") ? `${up.slice(1)}-${basename(dir)}` : basename(dir);
}
const gone = (err: unknown) => /does not exist/.test(String((err as Error)?.message ?? err));

/**
 * A dataset per container, LXC's `zfs:POOL/PATH/NAME`, mounted by ZFS itself
 * at `<container dir>/rootfs` (`mountpoint=`, as LXC's zfs backend): it is
 * there after a reboot with no lxt involved, and templates, copies and the
 * start path see a plain directory. Snapshots are ZFS snapshots
 * (`DATASET@snapN`, constant time, atomic so allowed while running);
 * `copy -s` is `zfs snapshot` + `zfs clone`; a full copy is a file copy into
 * a new dataset (any source backend). An in-place restore of ANY snapshot
 * clones it into a new dataset and swaps mountpoints, instead of
 * `zfs rollback -r`, which only reaches older snapshots by destroying the
 * newer ones; the old dataset stays, unmounted and marked `lxt:retired`, as
 * long as it holds snapshots, and goes with the container.
 */
export function zfsDriver(run: CommandRunner, opts: DriverOptions = {}): StorageDriver {
  const root = opts.zfsRoot ?? DEFAULT_ZFS_ROOT;
  const zfs = (...args: string[]) => run.run("zfs", args);
  const exists = async (ds: string, type: string) => {
    try {
      await zfs("list", "-H", "-o", "name", "-t", type, ds);
      return true;
    } catch (err) {
      if (gone(err)) return false;
      throw err;
    }
  };
  /** Datasets an in-place restore retired from the container in `dir`, oldest first. */
  const retired = async (live: string, dir: string) => {
    const out = await zfs(
      "list",
      "-H",
      "-o",
      `name,${RETIRED_PROP}`,
      "-t",
      "filesystem",
      "-s",
      "creation",
      "-r",
      "-d",
      "1",
      parentOf(live),
    );
    return lines(out)
      .map((l) => l.split("\t"))
      .filter(([name, owner]) => owner === dir && name !== live)
      .map(([name]) => name ?? "");
  };
  /** Clones of any snapshot of `own` that are not themselves in `own`. */
  const foreignClones = async (own: string[]) => {
    const out: string[] = [];
    for (const ds of own) {
      const snaps = await zfs("list", "-H", "-o", "name,clones", "-t", "snapshot", "-d", "1", ds);
      for (const [, clones = ""] of lines(snaps).map((l) => l.split("\t"))) {
        for (const c of clones.split(",")) if (c && c !== "-" && !own.includes(c)) out.push(c);
      }
    }
    return out;
  };

  const driver: StorageDriver = {
    name: "zfs",
    capabilities: { snapshots: true, cowClone: true, liveSnapshot: true, usage: true },
    async unavailable() {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.:/-]*$/.test(root) || /\/\/|\/$/.test(root)) {
        return `--zfsroot "${root}" is not a ZFS dataset name (POOL or POOL/PATH)`;
      }
      if (!kernelHasFs("zfs")) return "no zfs on this host: the kernel has no zfs module loaded";
      try {
        await zfs("version");
      } catch (err) {
        // Old zfsutils have no `zfs version`: only a missing command counts.
        if (/not installed/.test(String((err as Error)?.message))) {
          return "no zfs on this host: zfsutils-linux is not installed";
        }
      }
      if (!(await exists(root, "filesystem"))) {
        return `no ZFS dataset "${root}" to hold containers: create one (zfs create ${root}) or pass --zfsroot POOL/DATASET`;
      }
      return undefined;
    },
    newSpec(dir, cowOf) {
      const snap = /\/snaps\/(snap\d+)$/.exec(dir)?.[1];
      if (cowOf?.spec.backend === "zfs") {
        const src = cowOf.spec.dataset;
        if (snap && !isSnapshot(src)) return { backend: "zfs", dataset: `${src}@${snap}` };
        return { backend: "zfs", dataset: `${parentOf(src) || root}/${leaf(dir)}` };
      }
      return { backend: "zfs", dataset: `${root}/${leaf(dir)}` };
    },
    async create(ref) {
      await zfs("create", "-o", `mountpoint=${ref.dir}/rootfs`, dataset(ref));
    },
    async destroy(ref) {
      const ds = dataset(ref);
      if (isSnapshot(ds)) {
        if (!(await exists(ds, "snapshot"))) return;
        // Deferred (-d): a snapshot a restored rootfs or a copy was cloned from
        // goes when its last clone does, not before.
        await zfs("destroy", "-d", ds);
        return;
      }
      if (!(await exists(ds, "filesystem"))) return;
      const old = await retired(ds, ref.dir);
      const users = await foreignClones([ds, ...old]);
      if (users.length > 0) {
        throw new LxtError(
          "state",
          `zfs dataset ${ds}: ${users.join(", ")} ${users.length > 1 ? "are clones" : "is a clone"} of its snapshots (destroy those copies first)`,
        );
      }
      const origin = (await zfs("get", "-H", "-o", "value", "origin", ds)).trim();
      await zfs("destroy", "-r", ds);
      // Newest first: a retired dataset can only be the origin of a later one.
      for (const r of old.reverse()) await zfs("destroy", "-r", r);
      if (origin.includes(`@${COPY_SNAP}`) && (await exists(origin, "snapshot"))) {
        await zfs("destroy", "-d", origin);
      }
    },
    async snapshot(src, dst) {
      const to = dataset(dst);
      if (!isSnapshot(to) || fsOf(to) !== dataset(src)) {
        throw new LxtError("internal", `zfs snapshot of ${dataset(src)} named ${to}`);
      }
      await zfs("snapshot", to);
    },
    async clone(src, dst, opts) {
      const to = dataset(dst);
      if (!opts.cow) {
        await driver.create(dst);
        await copyTree(run, src, rootDir(dst));
        return;
      }
      if (src.spec.backend !== "zfs") {
        throw new LxtError(
          "usage",
          `a ${src.spec.backend} rootfs cannot be cloned as a zfs clone: copy it in full (no -s)`,
        );
      }
      const from = src.spec.dataset;
      const revert = new Reverter();
      try {
        let origin = from;
        if (!isSnapshot(from)) {
          origin = `${from}@${COPY_SNAP}${leaf(dst.dir)}`;
          await zfs("snapshot", origin);
          revert.add("copy snapshot", () => zfs("destroy", origin).then(() => undefined));
        }
        await zfs("clone", "-o", `mountpoint=${dst.dir}/rootfs`, origin, to);
        revert.success();
      } catch (err) {
        await revert.revert();
        throw err;
      }
    },
    async usage(ref) {
      const out = await zfs("get", "-H", "-p", "-o", "value", "used", dataset(ref));
      const n = Number(out.trim());
      if (!Number.isFinite(n))
        throw new LxtError("system", `zfs get used ${dataset(ref)}: "${out.trim()}"`);
      return n;
    },
    async dependents(ref) {
      const ds = dataset(ref);
      if (isSnapshot(ds) || !(await exists(ds, "filesystem"))) return [];
      return foreignClones([ds, ...(await retired(ds, ref.dir))]);
    },
    sendSpec(src, dir) {
      // A snapshot of the container's dataset, named for the staging directory it is made for.
      return { backend: "zfs", dataset: `${dataset(src)}@${leaf(dir)}` };
    },
    ...zfsStreams(run, zfs, root, dataset, exists),
    async replaceRootfs(live, snap): Promise<RootfsSwap> {
      const old = dataset(live);
      const origin = dataset(snap);
      if (!isSnapshot(origin)) throw new LxtError("internal", `zfs restore from ${origin}`);
      const mountpoint = `${live.dir}/rootfs`;
      const taken = new Set(
        lines(
          await zfs("list", "-H", "-o", "name", "-t", "filesystem", "-r", "-d", "1", parentOf(old)),
        ),
      );
      const base = fsOf(old).replace(/-r\d+$/, "");
      let k = 1;
      while (taken.has(`${base}-r${k}`)) k++;
      const fresh = `${base}-r${k}`;
      const revert = new Reverter();
      try {
        await zfs("clone", "-o", "mountpoint=none", origin, fresh);
        revert.add("restored dataset", () => zfs("destroy", fresh).then(() => undefined));
        await zfs("set", "mountpoint=none", old);
        revert.add("old mountpoint", () =>
          zfs("set", `mountpoint=${mountpoint}`, old).then(() => undefined),
        );
        await zfs("set", `mountpoint=${mountpoint}`, fresh);
        revert.add("new mountpoint", () =>
          zfs("set", "mountpoint=none", fresh).then(() => undefined),
        );
      } catch (err) {
        await revert.revert();
        throw err;
      }
      return {
        ref: { spec: { backend: "zfs", dataset: fresh }, dir: live.dir },
        undo: () => revert.revert(),
        async commit() {
          revert.success();
          const snaps = lines(
            await zfs("list", "-H", "-o", "name", "-t", "snapshot", "-d", "1", old),
          );
          // Its snapshots (the container's older ones, the origin of the new
          // rootfs) keep it; without any it goes now.
          if (snaps.length > 0) await zfs("set", `${RETIRED_PROP}=${live.dir}`, old);
          else await zfs("destroy", old);
        },
      };
    },
  };
  return driver;
}

registerDriver("zfs", zfsDriver);
