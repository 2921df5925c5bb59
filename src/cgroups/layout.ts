/**
 * Where this process's cgroups are: the mounted cgroup hierarchies (v1, v2 or
 * both) and this process's directory in each, from `/proc/self/mountinfo`
 * (proc(5)) and `/proc/self/cgroup` (cgroups(7)). Parsing is pure; only
 * `readCgroupLayout` touches the host.
 */

import { posix } from "node:path";
import { errnoCode, LxtError, wrapError } from "../core/errors.js";
import type { CgroupFs } from "../host/cgroup-fs.js";

/** One mounted cgroup hierarchy and this process's place in it. */
export interface Hierarchy {
  /** 1 for a legacy hierarchy, 2 for the unified one. */
  version: 1 | 2;
  /**
   * v1: the controllers bound to the hierarchy as `/proc/self/cgroup` names
   * them (`["cpu", "cpuacct"]` for a comount, `["name=systemd"]` for a named
   * hierarchy). v2: the contents of `cgroup.controllers` in `ownDir` when
   * `readCgroupLayout` read it, else empty.
   */
  controllers: string[];
  /** Hierarchy id from `/proc/self/cgroup` (0 for v2). */
  id: number;
  /** Where the hierarchy is mounted. */
  mountPoint: string;
  /** mountinfo field 4: the cgroup shown at `mountPoint` ("/" unless a subtree is mounted). */
  mountRoot: string;
  /** This process's cgroup in the hierarchy, as `/proc/self/cgroup` gives it. */
  ownPath: string;
  /** The directory of this process's cgroup: `mountPoint` + `ownPath` relative to `mountRoot`. */
  ownDir: string;
}

/**
 * The cgroup setup of the host as this process sees it. `kind` is "hybrid"
 * when v1 hierarchies with controllers sit beside a cgroup2 mount; "v1" and
 * "v2" when only one version is mounted (a named-only v1 hierarchy beside
 * cgroup2 still counts as "v2"); "none" when nothing usable is mounted.
 */
export interface CgroupLayout {
  kind: "v1" | "hybrid" | "v2" | "none";
  hierarchies: Hierarchy[];
}

/** One line of `/proc/self/cgroup`. */
interface ProcCgroupEntry {
  id: number;
  controllers: string[];
  path: string;
}

/** The cgroup fields of one mountinfo line. */
interface CgroupMount {
  fsType: "cgroup" | "cgroup2";
  root: string;
  mountPoint: string;
  superOptions: string[];
}

/** Undoes mountinfo's octal escapes (`\040` for a space, `\134` for `\`). */
function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split("\n")) {
    const fields = line.trim().split(" ");
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
    const sep = fields.indexOf("-", 6);
    if (sep < 0 || fields.length < sep + 4) continue;
    const fsType = fields[sep + 1];
    if (fsType !== "cgroup" && fsType !== "cgroup2") continue;
    mounts.push({
      fsType,
      root: unescapeMountinfo(fields[3] ?? ""),
      mountPoint: unescapeMountinfo(fields[4] ?? ""),
      superOptions: (fields[sep + 3] ?? "").split(","),
    });
  }
  return mounts;
}

function parseProcCgroup(text: string): ProcCgroupEntry[] {
  const entries: ProcCgroupEntry[] = [];
  for (const line of text.split("\n")) {
    // hierarchy-ID:controller-list:cgroup-path; the path may contain ':'.
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) continue;
    const id = Number(line.slice(0, first));
    if (!Number.isInteger(id)) continue;
    const list = line.slice(first + 1, second);
    entries.push({
      id,
      controllers: list === "" ? [] : list.split(","),
      path: line.slice(second + 1),
    });
  }
  return entries;
}

/** `mountPoint` + `ownPath` relative to `root`, or undefined if the mount does not show it. */
function dirOf(mount: CgroupMount, ownPath: string): string | undefined {
  const root = mount.root;
  if (root.split("/").includes("..") || ownPath.split("/").includes("..")) return undefined;
  let rel: string;
  if (root === "/") rel = ownPath;
  else if (ownPath === root) rel = "/";
  else if (ownPath.startsWith(`${root}/`)) rel = ownPath.slice(root.length);
  else return undefined;
  const dir = posix.join(mount.mountPoint, rel);
  return dir.length > 1 && dir.endsWith("/") ? dir.slice(0, -1) : dir;
}

/** The /proc/self/cgroup entry of a v1 mount: the one with most controllers all in its options. */
function entryOfV1Mount(
  mount: CgroupMount,
  entries: ProcCgroupEntry[],
): ProcCgroupEntry | undefined {
  let best: ProcCgroupEntry | undefined;
  for (const e of entries) {
    if (e.controllers.length === 0) continue;
    if (!e.controllers.every((c) => mount.superOptions.includes(c))) continue;
    if (!best || e.controllers.length > best.controllers.length) best = e;
  }
  return best;
}

/**
 * Turns the text of `/proc/self/mountinfo` and `/proc/self/cgroup` into a
 * layout; `rootPrefix` is put in front of every mount point (the mounts of
 * another mount namespace, reached through `/proc/PID/root`). A hierarchy mounted more than once appears once, through the mount
 * that shows this process's cgroup with the shortest mount root. Hierarchies
 * listed in `/proc/self/cgroup` but not mounted are left out.
 *
 * @throws LxtError("host") when a hierarchy is mounted but no mount of it
 *   shows this process's cgroup (for example a cgroup namespace whose root
 *   lies below the mount), since a container cgroup could then only be
 *   placed outside this process's own.
 */
export function parseCgroupLayout(
  mountinfo: string,
  procCgroup: string,
  rootPrefix = "",
): CgroupLayout {
  const entries = parseProcCgroup(procCgroup);
  const v2Entry = entries.find((e) => e.id === 0 && e.controllers.length === 0);
  const groups = new Map<string, { entry: ProcCgroupEntry; mounts: CgroupMount[] }>();
  for (const found of parseCgroupMounts(mountinfo)) {
    const mount = rootPrefix ? { ...found, mountPoint: rootPrefix + found.mountPoint } : found;
    const entry = mount.fsType === "cgroup2" ? v2Entry : entryOfV1Mount(mount, entries);
    if (!entry) continue;
    const key = mount.fsType === "cgroup2" ? "v2" : `v1:${entry.id}`;
    const group = groups.get(key) ?? { entry, mounts: [] };
    group.mounts.push(mount);
    groups.set(key, group);
  }

  const hierarchies: Hierarchy[] = [];
  for (const { entry, mounts } of groups.values()) {
    const visible = mounts
      .map((mount) => ({ mount, dir: dirOf(mount, entry.path) }))
      .filter((m) => m.dir !== undefined)
      .sort((a, b) => a.mount.root.length - b.mount.root.length);
    const chosen = visible[0];
    const isV2 = mounts[0]?.fsType === "cgroup2";
    if (!chosen || chosen.dir === undefined) {
      const what = isV2 ? "cgroup2" : entry.controllers.join(",");
      const where = mounts.map((m) => `${m.mountPoint} (root ${m.root})`).join(", ");
      throw new LxtError(
        "host",
        `parse cgroup layout: no mount of the ${what} hierarchy at ${where} shows this process's cgroup ${entry.path}`,
      );
    }
    hierarchies.push({
      version: isV2 ? 2 : 1,
      controllers: isV2 ? [] : [...entry.controllers],
      id: entry.id,
      mountPoint: chosen.mount.mountPoint,
      mountRoot: chosen.mount.root,
      ownPath: entry.path,
      ownDir: chosen.dir,
    });
  }
  return { kind: kindOf(hierarchies), hierarchies };
}

function kindOf(hierarchies: Hierarchy[]): CgroupLayout["kind"] {
  const v2 = hierarchies.some((h) => h.version === 2);
  const v1 = hierarchies.filter((h) => h.version === 1);
  const v1Controllers = v1.some((h) => h.controllers.some((c) => !c.startsWith("name=")));
  if (v2) return v1Controllers ? "hybrid" : "v2";
  return v1.length > 0 ? "v1" : "none";
}

/** Where `readCgroupLayout` reads from; tests may point elsewhere. */
export interface LayoutSources {
  mountinfo: string;
  cgroup: string;
}

const PROC_SELF: LayoutSources = { mountinfo: "/proc/self/mountinfo", cgroup: "/proc/self/cgroup" };
const PID1_MOUNTINFO = "/proc/1/mountinfo";
const PID1_ROOT = "/proc/1/root";

/** The layout as process `pid` sees it (its mounts and its cgroups). */
export function layoutSourcesOf(pid: number): LayoutSources {
  return { mountinfo: `/proc/${pid}/mountinfo`, cgroup: `/proc/${pid}/cgroup` };
}

/**
 * Reads a process's cgroup layout from the host (this process's unless
 * `sources` says whose, see `layoutSourcesOf`), and each v2 hierarchy's
 * available controllers from `cgroup.controllers` in that process's cgroup.
 * Where that process's mount namespace shows no hierarchy, PID 1's mounts
 * are used, under `/proc/1/root`.
 *
 * @throws LxtError("system") when a proc file cannot be read; see
 *   `parseCgroupLayout` for "host".
 */
export function readCgroupLayout(fs: CgroupFs, sources: LayoutSources = PROC_SELF): CgroupLayout {
  let layout: CgroupLayout;
  try {
    const cgroup = fs.readFile(sources.cgroup);
    layout = parseCgroupLayout(fs.readFile(sources.mountinfo), cgroup);
    // No hierarchy mounted here: a private /sys (`ip netns exec` mounts a
    // fresh sysfs, without /sys/fs/cgroup's mounts). The hierarchies are the
    // same; PID 1's mount namespace shows them, through /proc/1/root.
    if (layout.kind === "none" && sources.mountinfo !== PID1_MOUNTINFO) {
      const seen = parseCgroupLayout(fs.readFile(PID1_MOUNTINFO), cgroup, PID1_ROOT);
      // Reaching /proc/1/root takes ptrace access to PID 1, which some sandboxes deny.
      if (seen.kind !== "none" && seen.hierarchies.every((h) => fs.exists(h.ownDir))) layout = seen;
    }
  } catch (err) {
    if (err instanceof LxtError) throw err;
    throw wrapError("read cgroup layout", err);
  }
  for (const h of layout.hierarchies) {
    if (h.version !== 2) continue;
    try {
      h.controllers = fs.readFile(`${h.ownDir}/cgroup.controllers`).split(/\s+/).filter(Boolean);
    } catch (err) {
      if (errnoCode(err) !== "ENOENT") throw wrapError(`read cgroup layout: ${h.ownDir}`, err);
    }
  }
  return sameAsLast(sources, layout);
}

/**
 * The last layout read from each source, so that a read that finds the same
 * layout returns the same object: what is worked out per layout object
 * (`hierarchyOfDir`'s answers) then outlives one list or scrape. Layouts are
 * never changed once read, so sharing one is safe.
 */
const LAST = new Map<string, { json: string; layout: CgroupLayout }>();
const LAST_MAX = 16;

function sameAsLast(sources: LayoutSources, layout: CgroupLayout): CgroupLayout {
  const key = `${sources.mountinfo}\0${sources.cgroup}`;
  const json = JSON.stringify(layout);
  const last = LAST.get(key);
  if (last?.json === json) return last.layout;
  if (!last && LAST.size >= LAST_MAX) LAST.clear();
  LAST.set(key, { json, layout });
  return layout;
}

/** The hierarchy with this v1 controller, or the v2 one for a v2 controller; undefined if none. */
export function hierarchyOf(layout: CgroupLayout, controller: string): Hierarchy | undefined {
  return layout.hierarchies.find((h) => h.controllers.includes(controller));
}

/**
 * The dir of `dirs` that lies in the v1 hierarchy with `controller` (the
 * hierarchy whose mount point is the longest prefix of the dir): wherever
 * beneath its mount it is (the caller's cgroup, an `lxc.cgroup.dir` path, a
 * systemd scope).
 */
export function v1DirWith(
  dirs: readonly string[],
  layout: CgroupLayout,
  controller: string,
): string | undefined {
  const h = layout.hierarchies.find((x) => x.version === 1 && x.controllers.includes(controller));
  if (!h) return undefined;
  // The prefix test first: the longest-prefix search only for a dir beneath h's mount.
  const prefix = `${h.mountPoint}/`;
  const under = (d: string) => d === h.mountPoint || d.startsWith(prefix);
  return dirs.find((d) => under(d) && hierarchyOfDir(layout, d) === h);
}

/**
 * Each layout's answers of `hierarchyOfDir` by dir: a list or a scrape asks
 * it for every controller of every container. Bounded per layout; a layout
 * object is never changed once read (a new read is a new object).
 */
const OF_DIR = new WeakMap<CgroupLayout, Map<string, Hierarchy | undefined>>();
const OF_DIR_MAX = 16384;

/** The hierarchy a cgroup dir lies in: the one whose mount point is the longest prefix of it. */
export function hierarchyOfDir(layout: CgroupLayout, dir: string): Hierarchy | undefined {
  let known = OF_DIR.get(layout);
  if (!known) {
    known = new Map();
    OF_DIR.set(layout, known);
  }
  if (known.has(dir)) return known.get(dir);
  const h = longestPrefix(layout, dir);
  if (known.size >= OF_DIR_MAX) known.clear();
  known.set(dir, h);
  return h;
}

function longestPrefix(layout: CgroupLayout, dir: string): Hierarchy | undefined {
  let best: Hierarchy | undefined;
  for (const h of layout.hierarchies) {
    if (!dir.startsWith(`${h.mountPoint}/`) && dir !== h.mountPoint) continue;
    if (!best || h.mountPoint.length > best.mountPoint.length) best = h;
  }
  return best;
}
