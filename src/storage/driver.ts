import type { Readable } from "node:stream";
import type { PlanMount } from "../config/mounts.js";
import { LxtError } from "../core/errors.js";
import type { CommandRunner } from "../host/runner.js";
import { BACKENDS, type BackendName, overlayWorkDir, type RootfsSpec } from "./rootfs-spec.js";

/** What a backend can do; callers branch on these, never on names. */
export interface StorageCapabilities {
  /** `snapshot` is a copy-on-write point in time (constant time), not a full copy. */
  snapshots: boolean;
  /** `clone(..., { cow: true })` shares data with the source instead of copying it. */
  cowClone: boolean;
  /** A snapshot of a running container is consistent (atomic), so it is allowed. */
  liveSnapshot: boolean;
  /** `usage` is cheap enough to show in listings. */
  usage: boolean;
}

/** A rootfs of any backend, as a source of files: its spec and the container directory holding it. */
export interface RootfsRef {
  spec: RootfsSpec;
  /** The container (or snapshot) directory, `<lxcpath>/<name>`. */
  dir: string;
}

/** One storage backend. Every host command goes through `run`. */
export interface StorageDriver {
  readonly name: BackendName;
  readonly capabilities: StorageCapabilities;
  /** Why this backend cannot hold containers under `lxcpath` on this host, or undefined. */
  unavailable(lxcpath: string): Promise<string | undefined>;
  /**
   * The spec of a new rootfs in container directory `dir`. With `cowOf`, the
   * spec of a copy-on-write clone of that rootfs (overlay: the source's tree
   * becomes the lower directory).
   */
  newSpec(dir: string, cowOf?: RootfsRef): RootfsSpec;
  /** Makes an empty rootfs, ready for a template to fill `filesDir`. */
  create(ref: RootfsRef): Promise<void>;
  /** Removes the rootfs (only what `create`/`clone` made). Idempotent. */
  destroy(ref: RootfsRef): Promise<void>;
  /** Makes `dst` (a new spec of this backend) a read-only point-in-time copy of `src` (same backend). */
  snapshot(src: RootfsRef, dst: RootfsRef): Promise<void>;
  /** Makes `dst` (a new spec of this backend) a copy of `src` (any backend); `cow` needs `capabilities.cowClone`. */
  clone(src: RootfsRef, dst: RootfsRef, opts: { cow: boolean }): Promise<void>;
  /** Bytes used by this rootfs alone. */
  usage?(ref: RootfsRef): Promise<number>;
  /**
   * Other containers' rootfs that share data with `ref` and would break if it
   * went (zfs: clones of its snapshots). Checked before anything is destroyed.
   */
  dependents?(ref: RootfsRef): Promise<string[]>;
  /**
   * For a backend whose rootfs cannot be moved aside as files (zfs: a mounted
   * dataset): makes snapshot `snap` the live rootfs of `live`'s container.
   * `commit` retires the old rootfs, `undo` puts it back.
   */
  replaceRootfs?(live: RootfsRef, snap: RootfsRef): Promise<RootfsSwap>;
  /**
   * For a backend with a send stream of its own (btrfs, zfs): why container
   * rootfs `main` with snapshots `snaps` (oldest first) cannot go as a chain
   * of `send` streams, or undefined when it can (each snapshot the change
   * since the one before, then the rootfs since the last).
   */
  sendable?(main: RootfsRef, snaps: readonly RootfsRef[]): Promise<string | undefined>;
  /**
   * The spec of the read-only point-in-time copy of `src` that `send` reads,
   * made by `snapshot` in directory `dir` (a staging directory's): btrfs a
   * subvolume there, zfs a snapshot of `src`'s dataset.
   */
  sendSpec?(src: RootfsRef, dir: string): RootfsSpec;
  /**
   * The stream of read-only `ref`, as the change since `parent` (read-only
   * too, and on the receiving side already) when given. It ends only when
   * the whole stream was read, errors otherwise; destroying it stops the
   * send. Only a `receiver` of the same backend understands it.
   */
  send?(ref: RootfsRef, parent?: RootfsRef): Readable;
  /**
   * Receives a chain of `send` streams for a container staged in directory
   * `staging` whose snapshots are `snapshots` (names, oldest first; their
   * directories `staging/snaps/NAME`).
   */
  receiver?(staging: string, snapshots: readonly string[]): StreamReceiver;
}

/**
 * A chain of `send` streams being received (`StorageDriver.receiver`):
 * nothing it makes is a container's storage until `placed`.
 */
export interface StreamReceiver {
  /**
   * Receives stream `index` (snapshot `index`, the last one the rootfs) from
   * `input` as it arrives, in order; an `input` that errors or closes before
   * its end, or a failing receive, fails it (what it left goes by `destroy`).
   */
  receive(index: number, input: Readable): Promise<void>;
  /**
   * After the last stream: names the storage for the container's final
   * directory `finalDir` (its rootfs writable) and returns the refs the
   * configs get, `main` in `staging`, each snapshot's in its directory there.
   */
  prepare(finalDir: string): Promise<{ main: RootfsRef; snaps: RootfsRef[] }>;
  /** After `staging` was renamed to `finalDir`: makes the rootfs appear there (zfs: mounts it). */
  placed(): Promise<void>;
  /** Removes everything received, also what `prepare` renamed. Idempotent. */
  destroy(): Promise<void>;
}

/** A rootfs swapped in by `replaceRootfs`, not yet final. */
export interface RootfsSwap {
  ref: RootfsRef;
  commit(): Promise<void>;
  undo(): Promise<void>;
}

/** Per-call driver settings (from the CLI). */
export interface DriverOptions {
  /** zfs: the parent dataset of new containers' datasets (`--zfsroot`, LXC's `lxc.bdev.zfs.root`). */
  zfsRoot?: string;
}

/**
 * Where the container's `/` is on the host: the tree (dir, btrfs) or a mount
 * point in its directory. A zfs snapshot (`DATASET@snapN`, in
 * `<container>/snaps/snapN`) is read through the container's mounted
 * dataset, `<container>/rootfs/.zfs/snapshot/snapN`.
 */
export function rootDir(ref: RootfsRef): string {
  const s = ref.spec;
  if (s.backend === "zfs" && s.dataset.includes("@")) {
    const container = ref.dir.slice(0, ref.dir.lastIndexOf("/snaps/"));
    return `${container}/rootfs/.zfs/snapshot/${s.dataset.slice(s.dataset.indexOf("@") + 1)}`;
  }
  return s.backend === "dir" || s.backend === "btrfs" ? s.path : `${ref.dir}/rootfs`;
}

/** The host directory holding the container's own writable files (overlay: the upper directory). */
export function filesDir(ref: RootfsRef): string {
  const s = ref.spec;
  return s.backend === "overlay" ? s.upper : rootDir(ref);
}

/** Whether the rootfs lives inside its container directory (so the container owns it). */
export function ownsRootfs(ref: RootfsRef): boolean {
  const s = ref.spec;
  const inside = (p: string) => p.startsWith(`${ref.dir}/`);
  if (s.backend === "overlay") return inside(s.upper);
  if (s.backend === "zfs") return true;
  return inside(s.path);
}

/**
 * Mounts the helper makes in the container's own mount namespace before it
 * binds the rootfs (docs/helper-protocol.md: `mount` before `rootfs`).
 */
export function startMounts(ref: RootfsRef): PlanMount[] {
  const s = ref.spec;
  if (s.backend !== "overlay") return [];
  return [
    {
      source: "overlay",
      target: rootDir(ref),
      fstype: "overlay",
      flags: 0,
      data: `lowerdir=${s.lower},upperdir=${s.upper},workdir=${overlayWorkDir(s.upper)}`,
      remountFlags: 0,
    },
  ];
}

/** The names drivers use inside a container directory (moved as a whole by an in-place restore). */
export const STORAGE_ENTRIES = ["rootfs", "overlay"] as const;

type Factory = (run: CommandRunner, opts: DriverOptions) => StorageDriver;
const registry = new Map<BackendName, Factory>();

/** `run`'s `pipe` (for a driver's send and receive), which a runner that cannot stream lacks. */
export function piped(run: CommandRunner): NonNullable<CommandRunner["pipe"]> {
  if (!run.pipe) throw new LxtError("internal", "send/receive: this command runner cannot stream");
  return run.pipe.bind(run);
}

/** Adds a backend to the registry (each driver module registers itself). */
export function registerDriver(name: BackendName, factory: Factory): void {
  registry.set(name, factory);
}

/** The driver for `name`, running its commands through `run`. */
export function storageDriver(
  name: string,
  run: CommandRunner,
  opts: DriverOptions = {},
): StorageDriver {
  const factory = registry.get(name as BackendName);
  if (!factory) {
    throw new LxtError(
      "usage",
      `unknown storage backend "${name}" (known: ${BACKENDS.filter((b) => registry.has(b)).join(", ")})`,
    );
  }
  return factory(run, opts);
}

/** Every registered backend name. */
export function storageBackends(): BackendName[] {
  return BACKENDS.filter((b) => registry.has(b));
}
