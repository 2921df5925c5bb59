/**
 * Unprivileged containers at start: which id map (lxc.idmap, or the
 * container's own slice of root's subordinate ids, allocated once under a
 * state-root lock and recorded in `lxt.volatile.idmap.base`), and how the
 * rootfs ownership fits it: an idmapped mount when the kernel and the
 * filesystem allow, else the tree shifted once on disk (recorded in
 * `lxt.volatile.rootfs.shift`, so a later map change or a switch to
 * privileged shifts it again or back). See docs/security.md.
 */

import { chmodSync, chownSync, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ContainerCgroupDirs } from "../cgroups/container.js";
import {
  allocateSlice,
  formatIdmap,
  hostRoot,
  type IdmapLine,
  idmapProblem,
  parseIdmapLine,
  SLICE_SIZE,
  sameIdmap,
  sliceMap,
} from "../config/idmap.js";
import type { SecurityConfig } from "../config/security.js";
import { ConfigDocument } from "../config/write.js";
import { cacheKey } from "../core/cache.js";
import { type Context, runtimeRoot } from "../core/context.js";
import { configError, LxtError } from "../core/errors.js";
import { writeFileAtomicAsync } from "../host/atomic.js";
import { canIdmap, rootSubids, shiftTree } from "../host/subid.js";
import { filesDir, type RootfsRef, rootDir } from "../storage/driver.js";
import { type ContainerPaths, probeCacheDir } from "./paths.js";
import { readVersioned, type Versioned } from "./versioned-file.js";

/** Where the map comes from: none (privileged), the config's lxc.idmap lines, or lxt's slice. */
export type IdmapSource = "privileged" | "config" | "slice";

/**
 * LXC's rule, with lxt's opt-in key: lxc.idmap lines make the container
 * unprivileged with exactly that map; otherwise `lxt.privileged = 0` (which
 * `lxt create` writes) gives it a slice, and a config that says neither (an
 * LXC config) runs privileged, as in LXC.
 */
export function idmapSource(sec: SecurityConfig): IdmapSource {
  if (sec.idmap.length > 0) {
    if (sec.privileged === true && sec.privilegedAt) {
      throw configError(
        sec.privilegedAt.file,
        sec.privilegedAt.line,
        "lxt.privileged = 1 and lxc.idmap are both set: a privileged container has no id map",
      );
    }
    return "config";
  }
  return sec.privileged === false ? "slice" : "privileged";
}

/** The unprivileged part of a start: the map and the idmapped mounts for the plan. */
export interface UsernsSetup {
  idmap: IdmapLine[];
  ownership: "idmapped" | "shifted";
  idmappedMounts: string[];
}

/** Ids lxc.idmap lines and allocated slices of the other containers of this state root use on the host. */
function usedRanges(ctx: Context, lxcpath: string, self: string): IdRange[] {
  const used: IdRange[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(lxcpath);
  } catch {
    return used;
  }
  const cache = ctx.caches.of(ID_RANGES);
  for (const name of names) {
    if (name === self) continue;
    // A config read again only when it changed (a daemon's bulk: every first start looks at all).
    used.push(...(readVersioned(cache, join(lxcpath, name, "config"), configRanges) ?? []));
  }
  return used;
}

/** The host id ranges a config's text claims (its slice, its own `lxc.idmap` lines). */
function configRanges(text: string): IdRange[] {
  const used: IdRange[] = [];
  for (const m of text.matchAll(/^\s*lxt\.volatile\.idmap\.base\s*=\s*(\d+)\s*$/gm))
    used.push({ start: Number(m[1]), count: SLICE_SIZE });
  for (const m of text.matchAll(/^\s*lxc\.idmap\s*=\s*(.+?)\s*$/gm)) {
    try {
      const l = parseIdmapLine(m[1] as string);
      used.push({ start: l.hostid, count: l.range });
    } catch {
      // That container's own start reports its bad line.
    }
  }
  return used;
}

interface IdRange {
  start: number;
  count: number;
}

/** The ranges each config claims, by config path, kept with the config's version. */
const ID_RANGES = cacheKey<Versioned<IdRange[]>>("idmap-ranges", 8192);

async function editConfig(
  paths: ContainerPaths,
  edit: (doc: ConfigDocument) => void,
): Promise<void> {
  const doc = ConfigDocument.parse(readFileSync(paths.config, "utf8"), paths.config);
  edit(doc);
  await writeFileAtomicAsync(paths.config, doc.toString());
}

/** The container's slice: the recorded one, or a new one allocated under the state root's idmap lock. */
async function containerSlice(
  ctx: Context,
  paths: ContainerPaths,
  sec: SecurityConfig,
  notes: string[],
): Promise<number> {
  if (sec.idmapBase !== undefined) return sec.idmapBase;
  return withRootSubids(ctx, paths.lxcpath, notes, async ({ uids, gids }) => {
    const base = allocateSlice(uids, gids, usedRanges(ctx, paths.lxcpath, paths.name));
    if (base === undefined) {
      throw new LxtError(
        "host",
        `no free ${SLICE_SIZE}-id range left in root's /etc/subuid and /etc/subgid ranges: enlarge them`,
      );
    }
    await editConfig(paths, (doc) => doc.set("lxt.volatile.idmap.base", String(base)));
    return base;
  });
}

/**
 * Gives container `paths` the slice at `base` rather than one of this
 * state root's choosing (a live move's target: criu restores the user
 * namespace with the map the source dumped). Refused when root's
 * subordinate ranges here do not hold it or another container of this
 * state root uses those ids.
 */
export async function adoptSlice(ctx: Context, paths: ContainerPaths, base: number): Promise<void> {
  const ids = `host ids ${base}-${base + SLICE_SIZE - 1}`;
  await withRootSubids(ctx, paths.lxcpath, [], async ({ uids, gids }) => {
    const holds = (rs: readonly { start: number; count: number }[]) =>
      rs.some((r) => base >= r.start && base + SLICE_SIZE <= r.start + r.count);
    if (!holds(uids) || !holds(gids))
      throw new LxtError(
        "unsupported",
        `${paths.name}: its id map (${ids}, as where it was checkpointed) is not within root's /etc/subuid and /etc/subgid ranges here`,
      );
    const clash = usedRanges(ctx, paths.lxcpath, paths.name).find(
      (u) => base < u.start + u.count && u.start < base + SLICE_SIZE,
    );
    if (clash)
      throw new LxtError(
        "exists",
        `${paths.name}: its id map (${ids}, as where it was checkpointed) overlaps ids another container here uses (from ${clash.start})`,
      );
    await editConfig(paths, (doc) => doc.set("lxt.volatile.idmap.base", String(base)));
  });
}

/** Runs `use` on root's subordinate id ranges (added when missing) under the state root's idmap lock. */
async function withRootSubids<T>(
  ctx: Context,
  lxcpath: string,
  notes: string[],
  use: (ranges: RootSubids) => T,
): Promise<T> {
  const locks = join(runtimeRoot(ctx.runDir, lxcpath), "locks");
  const lock = await ctx.host.lock(join(locks, ".idmap"), "idmap");
  try {
    const files = { uid: ctx.settings.subuidFile, gid: ctx.settings.subgidFile };
    // Awaited here: the lock is held until what `use` does (a config write) is done.
    return await use(rootSubids(files, notes));
  } finally {
    await lock.release();
  }
}

/** Root's subordinate uid and gid ranges. */
export type RootSubids = ReturnType<typeof rootSubids>;

/**
 * Root's subordinate uid and gid ranges, each added to /etc/subuid or
 * /etc/subgid when root has none there, as the first unprivileged start
 * would (`lxt setup-host`, run by the Debian package's postinst). `notes`
 * say what was added; nothing is changed when root has its ranges.
 */
export async function prepareRootSubids(ctx: Context): Promise<RootSubids & { notes: string[] }> {
  const notes: string[] = [];
  const ranges = await withRootSubids(ctx, ctx.lxcpath, notes, (r) => r);
  return { ...ranges, notes };
}

/** Host paths the child mounts idmapped: the rootfs tree, or an overlay's layers. */
function idmapPaths(ref: RootfsRef): string[] {
  const s = ref.spec;
  if (s.backend !== "overlay") return [rootDir(ref)];
  const own = join(ref.dir, "overlay");
  return s.lower.startsWith(`${own}/`) ? [own] : [own, s.lower];
}

/** Trees a shift rewrites: only what this container owns (a shared overlay lower cannot be shifted). */
function shiftPaths(ref: RootfsRef): string[] {
  const s = ref.spec;
  if (s.backend !== "overlay") return [filesDir(ref)];
  const own = join(ref.dir, "overlay");
  if (!s.lower.startsWith(`${own}/`)) {
    throw new LxtError(
      "host",
      `${s.lower}: this overlay lower is shared with another container and the kernel cannot idmap it, so its ownership cannot be shifted for this container: use lxt.privileged = 1 or another backend`,
    );
  }
  return [own];
}

/**
 * Makes the directories leading to `paths` searchable by the container's
 * root (mode o+x, as LXD's 0711 state directories): the child resolves them
 * as that user. Those under the state root are fixed; one above it is an
 * error whose message ends with `why` (what needs them).
 */
export function ensureTraversable(
  lxcpath: string,
  paths: readonly string[],
  why = "an unprivileged container's root cannot reach its rootfs",
): void {
  const seen = new Set<string>();
  for (const p of paths) {
    for (let d = dirname(p); !seen.has(d); d = dirname(d)) {
      seen.add(d);
      const mode = statSync(d).mode;
      if (!(mode & 0o001)) {
        if (d !== lxcpath && !d.startsWith(`${lxcpath}/`)) {
          throw new LxtError(
            "system",
            `${d} (mode ${(mode & 0o7777).toString(8).padStart(4, "0")}) is not searchable by others: ${why} (chmod o+x it)`,
          );
        }
        chmodSync(d, (mode & 0o7777) | 0o001);
      }
      if (d === "/") break;
    }
  }
}

/** Whether every one of `paths` can be mounted idmapped (asked in order, stopping at the first no). */
async function idmappable(ctx: Context, paths: readonly string[]): Promise<boolean> {
  for (const p of paths) {
    if (!(await canIdmap(ctx.host.helper, p, probeCacheDir(ctx.runDir)))) return false;
  }
  return true;
}

/** What the rootfs allows an unprivileged start to do to it. */
export interface RootfsPolicy {
  /** A block device's mount (the helper idmaps it); nothing on the host to probe or shift. */
  mounted?: boolean;
  /** Why its ownership may not be shifted on disk (lxc.rootfs.managed = 0, idmap=container). */
  noShift?: string;
}

/**
 * Decides and prepares the user namespace of a start (undefined: privileged).
 * Shifts the rootfs on disk when needed (and `rootfs` allows it), records what it did in the config,
 * and returns the plan's part. Call with the container's lock held.
 */
export async function prepareUserns(
  ctx: Context,
  paths: ContainerPaths,
  sec: SecurityConfig,
  ref: RootfsRef,
  notes: string[],
  rootfs: RootfsPolicy = {},
): Promise<UsernsSetup | undefined> {
  const helper = ctx.host.helper;
  const source = idmapSource(sec);
  const onDisk = sec.rootfsShift ?? [];
  if (source === "privileged") {
    if (onDisk.length > 0 && !rootfs.mounted) {
      for (const p of shiftPaths(ref)) await shiftTree(helper, p, onDisk, []);
      await editConfig(paths, (doc) => doc.remove("lxt.volatile.rootfs.shift"));
    }
    return undefined;
  }
  const idmap =
    source === "config" ? sec.idmap : sliceMap(await containerSlice(ctx, paths, sec, notes));
  const problem = idmapProblem(idmap);
  if (problem) {
    const at = sec.idmapAt;
    throw at
      ? configError(at.file, at.line, `lxc.idmap: ${problem}`)
      : new LxtError("config", `${paths.config}: lxc.idmap: ${problem}`);
  }
  let setup: UsernsSetup;
  if (rootfs.mounted) {
    // The helper idmaps the block device's mount itself (blockdev.c).
    setup = { idmap, ownership: "idmapped", idmappedMounts: [] };
  } else if (onDisk.length > 0 && sameIdmap(onDisk, idmap)) {
    setup = { idmap, ownership: "shifted", idmappedMounts: [] };
  } else if (onDisk.length === 0 && (await idmappable(ctx, idmapPaths(ref)))) {
    setup = { idmap, ownership: "idmapped", idmappedMounts: idmapPaths(ref) };
  } else {
    if (rootfs.noShift) {
      throw new LxtError(
        "host",
        `${paths.config}: ${rootfs.noShift}: the rootfs ${rootDir(ref)} cannot be idmapped here (its filesystem or the kernel does not support idmapped mounts), and lxt may not shift its ownership on disk instead`,
      );
    }
    for (const p of shiftPaths(ref)) await shiftTree(helper, p, onDisk, idmap);
    await editConfig(paths, (doc) => doc.set("lxt.volatile.rootfs.shift", formatIdmap(idmap)));
    setup = { idmap, ownership: "shifted", idmappedMounts: [] };
  }
  const reach =
    ref.spec.backend === "overlay" ? [...idmapPaths(ref), rootDir(ref)] : [rootDir(ref)];
  ensureTraversable(
    paths.lxcpath,
    reach.map((p) => join(p, ".")),
  );
  return setup;
}

/** Changes a path's owner, as chown(2) (`delegateCgroups` takes a recording one in tests). */
export type ChownFn = (path: string, uid: number, gid: number) => void;

/**
 * Gives the container's root (the host ids of uid and gid 0 in `idmap`) its
 * cgroups: each directory and the files that delegation needs, cgroups(7)
 * "Cgroups v2 delegation" (v2: `cgroup.procs`, `cgroup.threads`,
 * `cgroup.subtree_control`; v1: `cgroup.procs`, `tasks`), so it can manage
 * sub-cgroups as under LXC. Limit files stay root's. A file the hierarchy
 * lacks is skipped.
 */
export function delegateCgroups(
  dirs: ContainerCgroupDirs,
  idmap: readonly IdmapLine[],
  chown: ChownFn = chownSync,
): void {
  const uid = hostRoot(idmap, "u");
  const gid = hostRoot(idmap, "g");
  const own = (p: string) => {
    if (existsSync(p)) chown(p, uid, gid);
  };
  if (dirs.v2) {
    for (const f of ["", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control"])
      own(f ? join(dirs.v2, f) : dirs.v2);
  }
  for (const d of dirs.v1) for (const f of ["", "cgroup.procs", "tasks"]) own(f ? join(d, f) : d);
}
