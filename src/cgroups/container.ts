/**
 * A container's cgroups: one directory `lxt.payload.<name>` beneath this
 * process's own cgroup in every mounted hierarchy, planned by a pure
 * function, created as a transaction and removed (killing what is left) when
 * the container stops. Nothing is ever created at a hierarchy's root unless
 * this process itself lives there.
 */

import { posix } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { errnoCode, LxtError, wrapError } from "../core/errors.js";
import type { CgroupFs, KillFn } from "../host/cgroup-fs.js";
import { thawDirQuietly } from "./freezer.js";
import { type CgroupLayout, hierarchyOfDir } from "./layout.js";

/** The cgroup directories of one container: at most one v2, one per v1 hierarchy. */
export interface ContainerCgroupDirs {
  v2?: string;
  v1: string[];
}

/** Directory name prefix of container cgroups (LXC uses `lxc.payload.`). */
export const PAYLOAD_PREFIX = "lxt.payload.";

/** How many `-N` suffixes the planner tries before giving up, as LXC does. */
const MAX_SUFFIX = 1000;

/** All dirs of a plan, v2 first. */
export function allDirs(dirs: ContainerCgroupDirs): string[] {
  return dirs.v2 === undefined ? [...dirs.v1] : [dirs.v2, ...dirs.v1];
}

/**
 * Picks the container's cgroup dirs: `lxt.payload.<name>` under each
 * hierarchy's `ownDir` (and `prefix`, `lxc.cgroup.dir`, when given), or `lxt.payload.<name>-1`, `-2`, ... when `inUse`
 * says the name is taken in any hierarchy; the same name is used in all.
 * Pass `(dir) => cgroupInUse(dir, fs)` so that an empty leftover of a crashed
 * run is reused (created afresh) rather than skipped. A "none" layout gives
 * an empty plan.
 *
 * @throws LxtError("name") for a name that is not one path component.
 * @throws LxtError("host") when all suffixes up to 999 are in use.
 */
export function planContainerCgroups(
  layout: CgroupLayout,
  name: string,
  inUse: (dir: string) => boolean,
  /** `lxc.cgroup.dir`: a relative path beneath the caller's cgroup the container's goes in. */
  prefix?: string,
): ContainerCgroupDirs {
  if (name === "" || name === "." || name === ".." || /[/\0\n]/.test(name)) {
    throw new LxtError(
      "name",
      `plan cgroups for ${JSON.stringify(name)}: not a single path component`,
    );
  }
  for (let i = 0; i < MAX_SUFFIX; i++) {
    const base = `${PAYLOAD_PREFIX}${name}${i === 0 ? "" : `-${i}`}`;
    const plan: ContainerCgroupDirs = { v1: [] };
    for (const h of layout.hierarchies) {
      const dir = posix.join(h.ownDir, prefix ?? "", base);
      if (h.version === 2) plan.v2 = dir;
      else plan.v1.push(dir);
    }
    if (!allDirs(plan).some(inUse)) return plan;
  }
  throw new LxtError(
    "host",
    `plan cgroups for ${name}: ${PAYLOAD_PREFIX}${name}-1 to -${MAX_SUFFIX - 1} all in use`,
  );
}

/**
 * Whether a cgroup dir is taken: it exists and holds processes or child
 * cgroups. An existing dir that is empty is a leftover that may be reused.
 */
export function cgroupInUse(dir: string, fs: CgroupFs): boolean {
  if (!fs.exists(dir)) return false;
  return listPids(dir, fs).length > 0 || childCgroups(dir, fs).length > 0;
}

/**
 * Creates the planned dirs, v2 first. An existing empty leftover dir is
 * removed and made again so it carries no stale limits. In a v1 `cpuset`
 * hierarchy the new cgroup's `cpuset.cpus` and `cpuset.mems` start empty
 * (unless the parent has `cgroup.clone_children`), and moving a pid into it
 * would fail with ENOSPC, so they are copied from the parent.
 *
 * v2: only the dirs are made. The controllers they need are enabled in
 * the parent's `cgroup.subtree_control` before (delegation.ts: the parent
 * must hold no processes, so lxt may first move itself into a monitor leaf
 * beside the payload, as LXC's `lxc.monitor.<name>`). For nesting, the
 * container's init would have to go into a leaf below the payload dir for
 * the payload dir to delegate controllers further.
 *
 * Missing parents between a dir and its base (an `lxc.cgroup.dir` path) are
 * made first and, as LXC does, left in place once the start succeeds.
 *
 * A transaction: on failure every dir it made is removed again.
 *
 * @throws LxtError("system") naming the dir that failed, with the cause.
 */
export function createContainerCgroups(
  plan: ContainerCgroupDirs,
  fs: CgroupFs,
  /** The caller's cgroup in each hierarchy: parents between it and a dir are made when missing. */
  bases: readonly string[] = [],
): void {
  const made: string[] = [];
  try {
    for (const dir of allDirs(plan)) {
      for (const parent of missingParents(dir, bases, fs)) {
        fs.mkdir(parent);
        made.push(parent);
        if (dir !== plan.v2) initCpuset(parent, fs);
      }
      makeDir(dir, fs);
      made.push(dir);
      if (dir !== plan.v2) initCpuset(dir, fs);
    }
  } catch (err) {
    for (const dir of made.reverse()) {
      try {
        fs.rmdir(dir);
      } catch {
        // Best effort: the original error is the one worth reporting.
      }
    }
    throw err;
  }
}

/**
 * Makes each of `dirs` and its missing parents beneath its base (v1 cpusets
 * filled from their parent), leaving what exists alone. Returns what it
 * made, outermost first; on failure removes it again and throws.
 */
export function ensureCgroupDirs(
  dirs: readonly string[],
  o: { fs: CgroupFs; bases: readonly string[]; layout: CgroupLayout },
): string[] {
  const made: string[] = [];
  try {
    for (const dir of dirs) {
      const todo = [...missingParents(dir, o.bases, o.fs), ...(o.fs.exists(dir) ? [] : [dir])];
      for (const d of todo) {
        try {
          o.fs.mkdir(d);
        } catch (err) {
          throw wrapError(`create cgroup ${d}`, err);
        }
        made.push(d);
        if (hierarchyOfDir(o.layout, d)?.version === 1) initCpuset(d, o.fs);
      }
    }
  } catch (err) {
    removeEmptyDirs(made, o.fs);
    throw err;
  }
  return made;
}

/** Removes these cgroup dirs, innermost first, where they are empty; never throws. */
export function removeEmptyDirs(dirs: readonly string[], fs: CgroupFs): void {
  for (const d of [...dirs].reverse()) {
    try {
      fs.rmdir(d);
    } catch {
      // Still in use, or gone: either way not ours to force.
    }
  }
}

/**
 * The directories between the base that holds `dir` and `dir` itself that do
 * not exist yet, outermost first (`lxc.cgroup.dir`'s path).
 */
export function missingParents(dir: string, bases: readonly string[], fs: CgroupFs): string[] {
  const base = bases.find((b) => dir.startsWith(`${b}/`));
  if (!base) return [];
  const missing: string[] = [];
  for (let p = posix.dirname(dir); p !== base && p.length > base.length; p = posix.dirname(p)) {
    if (fs.exists(p)) break;
    missing.unshift(p);
  }
  return missing;
}

function makeDir(dir: string, fs: CgroupFs): void {
  try {
    fs.mkdir(dir);
    return;
  } catch (err) {
    if (errnoCode(err) !== "EEXIST") throw wrapError(`create cgroup ${dir}`, err);
  }
  if (cgroupInUse(dir, fs)) {
    throw new LxtError("system", `create cgroup ${dir}: already in use`);
  }
  try {
    fs.rmdir(dir);
    fs.mkdir(dir);
  } catch (err) {
    throw wrapError(`create cgroup ${dir}: recreate leftover`, err);
  }
}

function initCpuset(dir: string, fs: CgroupFs): void {
  const parent = posix.dirname(dir);
  for (const file of ["cpuset.cpus", "cpuset.mems"]) {
    const path = `${dir}/${file}`;
    try {
      if (!fs.exists(path) || fs.readFile(path).trim() !== "") continue;
      fs.writeFile(path, fs.readFile(`${parent}/${file}`).trim());
    } catch (err) {
      throw wrapError(`create cgroup ${dir}: copy ${file} from parent`, err);
    }
  }
}

/** The pids in `cgroup.procs` of this one cgroup (not its children); none if it is gone. */
export function listPids(dir: string, fs: CgroupFs): number[] {
  let text: string;
  try {
    text = fs.readFile(`${dir}/cgroup.procs`);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return [];
    throw wrapError(`list pids of cgroup ${dir}`, err);
  }
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map(Number);
}

/** Whether neither the cgroup nor any cgroup below it holds a process (a missing dir is empty). */
export function cgroupIsEmpty(dir: string, fs: CgroupFs): boolean {
  return subtree(dir, fs).every((d) => listPids(d, fs).length === 0);
}

function childCgroups(dir: string, fs: CgroupFs): string[] {
  try {
    return fs
      .readdir(dir)
      .filter((e) => e.isDirectory)
      .map((e) => `${dir}/${e.name}`);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return [];
    throw wrapError(`list child cgroups of ${dir}`, err);
  }
}

/** `dir` and every cgroup below it, deepest first. */
function subtree(dir: string, fs: CgroupFs): string[] {
  if (!fs.exists(dir)) return [];
  return [...childCgroups(dir, fs).flatMap((c) => subtree(c, fs)), dir];
}

/** Tuning for `removeContainerCgroups`. */
export interface RemoveOptions {
  /** How long to keep killing, and then retrying rmdir on EBUSY, per dir (default 2000 ms). */
  timeoutMs?: number;
  /** Pause between rounds (default 20 ms). */
  pollMs?: number;
  /** Never kill this pid: the process that hosts lxt (an internal error if it is in there). */
  selfPid?: number;
}

/**
 * Removes a container's cgroups with everything below them: SIGKILLs every
 * pid in each `cgroup.procs` (using v2 `cgroup.kill` too where the kernel has
 * it) until they are empty, then rmdirs deepest first, retrying on EBUSY
 * while exiting tasks drain. Idempotent: a dir already gone is fine. Every dir
 * is tried even if one fails.
 *
 * @throws LxtError("timeout") when pids remain or rmdir stays EBUSY past the
 *   timeout; LxtError("internal") if this process is in a container cgroup;
 *   otherwise the first error, naming the dir.
 */
export async function removeContainerCgroups(
  dirs: ContainerCgroupDirs | string[],
  fs: CgroupFs,
  kill: KillFn,
  options: RemoveOptions = {},
): Promise<void> {
  const list = Array.isArray(dirs) ? dirs : allDirs(dirs);
  const errors: LxtError[] = [];
  for (const dir of list) {
    try {
      await removeOne(dir, fs, kill, options);
    } catch (err) {
      errors.push(err instanceof LxtError ? err : wrapError(`remove cgroup ${dir}`, err));
    }
  }
  const first = errors[0];
  if (!first) return;
  if (errors.length === 1) throw first;
  throw new LxtError(first.code, errors.map((e) => e.message).join("; "), first.cause);
}

async function removeOne(
  dir: string,
  fs: CgroupFs,
  kill: KillFn,
  options: RemoveOptions,
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const pollMs = options.pollMs ?? 20;
  const selfPid = options.selfPid;
  const deadline = Date.now() + timeoutMs;
  if (!fs.exists(dir)) return;

  for (let round = 0; ; round++) {
    const pids = subtree(dir, fs).flatMap((d) => listPids(d, fs));
    if (pids.length === 0) break;
    if (selfPid !== undefined && pids.includes(selfPid)) {
      throw new LxtError("internal", `remove cgroup ${dir}: lxt's own pid ${selfPid} is in it`);
    }
    if (round === 0) {
      // Frozen v1 tasks ignore SIGKILL until thawed.
      thawDirQuietly(dir, fs);
      killTree(dir, fs);
    }
    if (Date.now() > deadline) {
      throw new LxtError(
        "timeout",
        `remove cgroup ${dir}: pids ${pids.join(" ")} still there after ${timeoutMs} ms`,
      );
    }
    for (const pid of pids) {
      try {
        kill(pid, "SIGKILL");
      } catch (err) {
        if (errnoCode(err) !== "ESRCH") throw wrapError(`remove cgroup ${dir}: kill ${pid}`, err);
      }
    }
    await sleep(pollMs);
  }

  for (const d of subtree(dir, fs)) {
    for (;;) {
      try {
        fs.rmdir(d);
        break;
      } catch (err) {
        const code = errnoCode(err);
        if (code === "ENOENT") break;
        if (code !== "EBUSY") throw wrapError(`remove cgroup ${d}`, err);
        if (Date.now() > deadline) {
          throw new LxtError(
            "timeout",
            `remove cgroup ${d}: still busy after ${timeoutMs} ms`,
            err,
          );
        }
        await sleep(pollMs);
      }
    }
  }
}

/** v2 (Linux 5.14+): `cgroup.kill` SIGKILLs the whole subtree at once, forks included. */
function killTree(dir: string, fs: CgroupFs): void {
  const path = `${dir}/cgroup.kill`;
  if (!fs.exists(path)) return;
  try {
    fs.writeFile(path, "1");
  } catch (err) {
    if (errnoCode(err) !== "ENOENT")
      throw wrapError(`remove cgroup ${dir}: write cgroup.kill`, err);
  }
}
