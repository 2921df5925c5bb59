/**
 * cgroup v2 delegation: getting controllers enabled for a container's cgroup
 * while keeping it beneath the caller's cgroup C.
 *
 * On v2 a controller's files appear in `C/lxt.payload.NAME` only once C
 * enables it in `C/cgroup.subtree_control`, and the kernel refuses that
 * (EBUSY) while C holds processes, unless C is the hierarchy's root
 * (cgroups(7), "no internal processes" rule). lxt itself is always in C. So,
 * as LXC splits its monitor from the payload (`lxc.monitor.NAME` beside
 * `lxc.payload.NAME`) and as crun/podman move themselves into a leaf first:
 *
 * - C is the root, or holds no processes: enable the controllers in C.
 * - C holds lxt and nothing else (a `systemd-run --scope -p Delegate=yes`
 *   scope, a Delegate=yes service started for lxt), counting lxt's own
 *   children such as its lock helper: lxt moves itself and them into
 *   the leaf `C/lxt.monitor.NAME` (its monitor is forked from there and stays
 *   there), then enables the controllers in C. Everything stays beneath C.
 * - C holds other processes (a login session's scope, a container's init at
 *   the root of its cgroup namespace): those are not lxt's to move (systemd
 *   owns a non-delegated unit's cgroup; see systemd's "Control Group APIs
 *   and Delegation"). Limits that need a controller are refused with
 *   `cgroup-delegation`, naming the processes; without limits the container
 *   starts without controllers (no memory/pids figures in `info`).
 *
 * Planning is pure (`planV2Delegation`); `delegateV2` applies a plan and
 * `undoV2Delegation` reverts it; `releaseMonitorLeaf` removes the leaf once
 * the monitor is gone.
 */

import { posix } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { errnoCode, LxtError, wrapError } from "../core/errors.js";
import type { CgroupFs } from "../host/cgroup-fs.js";
import { listPids, PAYLOAD_PREFIX } from "./container.js";

/** Directory name prefix of the leaf lxt and a container's monitor move into (LXC: `lxc.monitor.`). */
export const MONITOR_PREFIX = "lxt.monitor.";

/** Controllers enabled for every container when lxt may, so that `info`/`top` have figures. */
export const STATS_CONTROLLERS = ["cpu", "memory", "pids", "io"] as const;

/** What `planV2Delegation` looks at, read from C by `readV2Delegation`. */
export interface V2DelegationInput {
  /** C: the caller's cgroup dir in the v2 hierarchy (the container's parent). */
  parent: string;
  /** Whether C is the hierarchy's root cgroup (exempt from the rule). */
  isRoot: boolean;
  /** Pids in `C/cgroup.procs`; not read at the root, which is exempt from the rule (empty there). */
  procs: number[];
  /** This process. */
  selfPid: number;
  /** Pids in C that are lxt's own: this process and its descendants (its lock helper). */
  ours: number[];
  /** `C/cgroup.controllers`. */
  available: string[];
  /** `C/cgroup.subtree_control`. */
  enabled: string[];
  /** Controllers the container's limits write to. */
  required: string[];
  /** Controllers wanted for stats (enabled when possible, never an error). */
  wanted: readonly string[];
  /** The monitor leaf to use when lxt must leave C: `C/lxt.monitor.NAME`. */
  leaf: string;
}

/** What lxt does in C before creating the container's cgroup. */
export type V2Delegation =
  /** Nothing to write in C: what is needed is on already, or nothing is needed. */
  | { kind: "ready"; parent?: string }
  /** Write these into `C/cgroup.subtree_control`. */
  | { kind: "enable"; parent: string; controllers: string[] }
  /** Move lxt (`pids`: itself first, then its descendants) into `leaf`, then enable these in C. */
  | { kind: "split"; parent: string; leaf: string; pids: number[]; controllers: string[] }
  /** Start without these wanted (not required) controllers; `reason` says why. */
  | { kind: "without"; parent: string; controllers: string[]; reason: string };

/** The monitor leaf beside a payload dir: `.../lxt.payload.NAME[-N]` -> `.../lxt.monitor.NAME[-N]`. */
export function monitorLeafOf(payloadDir: string): string {
  const base = posix.basename(payloadDir);
  const rest = base.startsWith(PAYLOAD_PREFIX) ? base.slice(PAYLOAD_PREFIX.length) : base;
  return posix.join(posix.dirname(payloadDir), `${MONITOR_PREFIX}${rest}`);
}

function describePids(pids: number[], comm: (pid: number) => string | undefined): string {
  const shown = pids.slice(0, 5).map((p) => {
    const c = comm(p);
    return c ? `${p} (${c})` : String(p);
  });
  return pids.length > 5 ? `${shown.join(", ")} and ${pids.length - 5} more` : shown.join(", ");
}

/**
 * Decides what to do in C (see the module comment).
 *
 * @throws LxtError("host") when a required controller is not in
 *   `C/cgroup.controllers` (C's parent does not delegate it);
 *   LxtError("cgroup-delegation") when required controllers are off and C
 *   holds processes other than lxt. `comm` names pids in the message.
 */
export function planV2Delegation(
  i: V2DelegationInput,
  comm: (pid: number) => string | undefined = () => undefined,
): V2Delegation {
  const missing = i.required.filter((c) => !i.available.includes(c));
  if (missing.length > 0) {
    throw new LxtError(
      "host",
      `cgroup v2: the ${missing.join(", ")} controller${missing.length > 1 ? "s are" : " is"} not available in ${i.parent}/cgroup.controllers (not enabled by its parent cgroup, so not delegated to lxt)`,
    );
  }
  const want = [...new Set([...i.required, ...i.wanted.filter((c) => i.available.includes(c))])];
  const controllers = want.filter((c) => !i.enabled.includes(c));
  if (controllers.length === 0) return { kind: "ready", parent: i.parent };
  if (i.isRoot || i.procs.length === 0) return { kind: "enable", parent: i.parent, controllers };
  const ours = new Set([i.selfPid, ...i.ours]);
  const others = i.procs.filter((p) => !ours.has(p));
  if (others.length === 0) {
    const pids = [i.selfPid, ...i.procs.filter((p) => p !== i.selfPid)];
    return { kind: "split", parent: i.parent, leaf: i.leaf, pids, controllers };
  }
  const needed = i.required.filter((c) => !i.enabled.includes(c));
  const why = `${i.parent} holds processes other than lxt: ${describePids(others, comm)}`;
  if (needed.length === 0) {
    return { kind: "without", parent: i.parent, controllers, reason: why };
  }
  throw new LxtError(
    "cgroup-delegation",
    `cgroup v2: cannot enable the ${needed.join(", ")} controller${needed.length > 1 ? "s" : ""} for the container: ${why}; the kernel lets a non-root cgroup enable controllers for its children only while it holds no processes (cgroups(7), "no internal processes" rule), and lxt moves only itself`,
  );
}

/** The parent pid from `/proc/PID/stat` (after the `(comm)` field, which may hold spaces). */
export function parentPid(stat: string): number | undefined {
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ppid = Number(rest[1]);
  return Number.isInteger(ppid) ? ppid : undefined;
}

/** The pids of `procs` that are `selfPid` or descend from it, by `/proc/PID/stat`. */
function descendantsOf(fs: CgroupFs, selfPid: number, procs: number[]): number[] {
  const ppidOf = (pid: number): number | undefined => {
    try {
      return parentPid(fs.readFile(`/proc/${pid}/stat`));
    } catch {
      return undefined;
    }
  };
  return procs.filter((pid) => {
    for (let p: number | undefined = pid, hops = 0; p !== undefined && p > 1 && hops < 64; hops++) {
      if (p === selfPid) return true;
      p = ppidOf(p);
    }
    return false;
  });
}

/** Reads C's state for `planV2Delegation`. */
export function readV2Delegation(
  fs: CgroupFs,
  parent: string,
  fields: Pick<V2DelegationInput, "required" | "wanted" | "leaf" | "selfPid">,
): V2DelegationInput {
  const isRoot = isHierarchyRoot(fs, parent);
  // The root's list is every process of the host left there: long, and never needed.
  const procs = isRoot ? [] : listPids(parent, fs);
  const words = (file: string): string[] => {
    try {
      return fs.readFile(`${parent}/${file}`).split(/\s+/).filter(Boolean);
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return [];
      throw wrapError(`cgroup v2: read ${parent}/${file}`, err);
    }
  };
  return {
    parent,
    isRoot,
    procs,
    // The root is exempt from the rule: no need to tell lxt's pids from others' there.
    ours: isRoot ? [fields.selfPid] : descendantsOf(fs, fields.selfPid, procs),
    available: words("cgroup.controllers"),
    enabled: words("cgroup.subtree_control"),
    ...fields,
  };
}

/**
 * The real root has no `cgroup.type` file (the kernel omits it there); the
 * root of a cgroup namespace or a mounted subtree has one and is not exempt.
 */
function isHierarchyRoot(fs: CgroupFs, dir: string): boolean {
  return !fs.exists(`${dir}/cgroup.type`);
}

/** What `delegateV2` changed, for `undoV2Delegation`. */
export interface V2DelegationDone {
  parent: string;
  /** The leaf lxt moved into, if it moved. */
  leaf?: string;
  /** The pids moved into the leaf. */
  moved: number[];
  /** Controllers this call turned on in `parent/cgroup.subtree_control`. */
  enabled: string[];
  /** Directories between C and the payload's parent (`lxc.cgroup.dir`) this call made, outermost first. */
  made: string[];
  /** Each such directory (made or found) with the controllers this call turned on in it. */
  chain: Array<{ dir: string; enabled: string[] }>;
}

/**
 * Applies a plan: for "split", makes the leaf (an empty leftover is reused)
 * and moves `selfPid` into it; then enables each controller in C. A required
 * controller that fails is an error (everything undone); a wanted one that
 * fails is skipped.
 *
 * @throws LxtError naming the file and the errno.
 */
export function delegateV2(
  plan: V2Delegation,
  required: string[],
  fs: CgroupFs,
  selfPid: number,
  /** Directories from C down to the payload's parent (`lxc.cgroup.dir`), outermost first. */
  chain: readonly string[] = [],
): V2DelegationDone | undefined {
  if (chain.length === 0 && (plan.kind === "ready" || plan.kind === "without")) return undefined;
  const done: V2DelegationDone = {
    parent: plan.parent ?? posix.dirname(chain[0] ?? ""),
    enabled: [],
    moved: [],
    made: [],
    chain: [],
  };
  try {
    const makeMissing = (dirs: readonly string[]) => {
      for (const dir of dirs) {
        if (fs.exists(dir)) continue;
        try {
          fs.mkdir(dir);
        } catch (err) {
          throw wrapError(`cgroup v2: create ${dir}`, err);
        }
        done.made.push(dir);
      }
    };
    makeMissing(chain);
    if (plan.kind === "split") {
      // A named leaf may lie deeper (lxc.cgroup.dir.monitor = a/b).
      makeMissing(chainBetween(plan.parent, posix.dirname(plan.leaf)));
      try {
        fs.mkdir(plan.leaf);
      } catch (err) {
        if (errnoCode(err) !== "EEXIST") throw wrapError(`cgroup v2: create ${plan.leaf}`, err);
        if (listPids(plan.leaf, fs).length > 0)
          throw new LxtError("system", `cgroup v2: create ${plan.leaf}: already in use`);
      }
      done.leaf = plan.leaf;
      for (const pid of plan.pids) {
        try {
          fs.writeFile(`${plan.leaf}/cgroup.procs`, String(pid));
        } catch (err) {
          // A helper of lxt's that has just exited is no longer in the way.
          if (pid !== selfPid && errnoCode(err) === "ESRCH") continue;
          throw wrapError(`cgroup v2: move lxt's pid ${pid} into ${plan.leaf}`, err);
        }
        done.moved.push(pid);
      }
    }
    const control = `${done.parent}/cgroup.subtree_control`;
    for (const c of plan.kind === "ready" ? [] : plan.controllers) {
      try {
        fs.writeFile(control, `+${c}`);
        done.enabled.push(c);
      } catch (err) {
        if (!required.includes(c)) continue;
        const why =
          errnoCode(err) === "EBUSY"
            ? `${done.parent} still holds processes (${listPids(done.parent, fs).join(" ") || "none now"})`
            : (err as Error).message;
        throw new LxtError(
          "cgroup-delegation",
          `cgroup v2: enable the ${c} controller in ${control}: ${why}`,
          err,
        );
      }
    }
    // Down the chain: each directory passes on what it got from above.
    const wanted = plan.kind === "without" ? [] : [...new Set([...required, ...STATS_CONTROLLERS])];
    for (const dir of chain) {
      const step = { dir, enabled: [] as string[] };
      done.chain.push(step);
      const has = words(fs, `${dir}/cgroup.controllers`);
      const on = words(fs, `${dir}/cgroup.subtree_control`);
      for (const c of wanted.filter((x) => has.includes(x) && !on.includes(x))) {
        try {
          fs.writeFile(`${dir}/cgroup.subtree_control`, `+${c}`);
          step.enabled.push(c);
        } catch (err) {
          if (!required.includes(c)) continue;
          throw new LxtError(
            "cgroup-delegation",
            `cgroup v2: enable the ${c} controller in ${dir}/cgroup.subtree_control: ${(err as Error).message}`,
            err,
          );
        }
      }
    }
  } catch (err) {
    undoV2Delegation(done, fs, selfPid);
    throw err;
  }
  return done;
}

/** The words of a small cgroup file; none when it is missing. */
function words(fs: CgroupFs, path: string): string[] {
  try {
    return fs.readFile(path).split(/\s+/).filter(Boolean);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return [];
    throw wrapError(`cgroup v2: read ${path}`, err);
  }
}

/**
 * Undoes `delegateV2` after a failed start, best effort: turns off the
 * controllers it turned on (only while C has no child cgroup besides the
 * leaf, so no other container loses them), moves `selfPid` back into C and
 * removes the leaf.
 */
export function undoV2Delegation(
  done: V2DelegationDone | undefined,
  fs: CgroupFs,
  selfPid: number,
): void {
  if (!done) return;
  for (const { dir, enabled } of [...done.chain].reverse()) {
    for (const c of [...enabled].reverse()) {
      try {
        fs.writeFile(`${dir}/cgroup.subtree_control`, `-${c}`);
      } catch {
        // Best effort, as below.
      }
    }
  }
  const control = `${done.parent}/cgroup.subtree_control`;
  // C's children that are this start's: the leaf's (or the made path's) top directory.
  const ours = new Set(
    [done.leaf, done.made[0]].filter((d) => d !== undefined).map((d) => topBelow(done.parent, d)),
  );
  let others: string[] = [];
  try {
    others = fs
      .readdir(done.parent)
      .filter((e) => e.isDirectory && !ours.has(posix.join(done.parent, e.name)))
      .map((e) => e.name);
  } catch {
    others = ["?"];
  }
  if (others.length === 0) {
    for (const c of [...done.enabled].reverse()) {
      try {
        fs.writeFile(control, `-${c}`);
      } catch {
        // Best effort: a controller left on is harmless.
      }
    }
  }
  if (done.leaf !== undefined) {
    try {
      for (const pid of done.moved.length > 0 ? done.moved : [selfPid]) {
        try {
          fs.writeFile(`${done.parent}/cgroup.procs`, String(pid));
        } catch (err) {
          if (pid === selfPid || errnoCode(err) !== "ESRCH") throw err;
        }
      }
      fs.rmdir(done.leaf);
    } catch {
      // C keeps controllers on for another container: lxt stays in the leaf
      // until it exits, and the next start or stop from C removes it.
      return;
    }
  }
  for (const dir of [...done.made].reverse()) {
    try {
      fs.rmdir(dir);
    } catch {
      // Best effort: another container may have come to use it.
    }
  }
}

/** The child of `base` that `dir` lies in (`base/a` for `base/a/b/c`). */
function topBelow(base: string, dir: string): string {
  const rel = posix.relative(base, dir).split("/")[0] ?? "";
  return posix.join(base, rel);
}

/**
 * Removes the monitor leaf beside a stopped container's v2 payload dir, and
 * the monitor's named cgroups (`lxc.cgroup.dir.monitor`, a scope's leaf),
 * once the monitor has left them (waits up to `timeoutMs` for it to exit).
 * One that still holds a process after that (lxt itself, `start -F`) is
 * left for the next start or stop. Never throws.
 */
export async function releaseMonitorLeaf(
  payloadDir: string | undefined,
  fs: CgroupFs,
  named: readonly string[] = [],
  timeoutMs = 2000,
): Promise<void> {
  const leaves = [...(payloadDir === undefined ? [] : [monitorLeafOf(payloadDir)]), ...named];
  const deadline = Date.now() + timeoutMs;
  for (const leaf of leaves) {
    for (;;) {
      if (!fs.exists(leaf)) break;
      try {
        if (listPids(leaf, fs).length === 0) {
          fs.rmdir(leaf);
          break;
        }
      } catch (err) {
        const code = errnoCode(err);
        if (code === "ENOENT" || code !== "EBUSY") break;
      }
      if (Date.now() > deadline) return;
      await sleep(20);
    }
  }
}

/** The v2 controllers a list of limit writes needs enabled (v2 core `cgroup.*` files need none). */
export function requiredV2Controllers(writes: { version: 1 | 2; controller: string }[]): string[] {
  return [
    ...new Set(
      writes.filter((w) => w.version === 2 && w.controller !== "cgroup").map((w) => w.controller),
    ),
  ];
}

/** The directories below `base` down to `dir`, outermost first (none when `dir` is `base`). */
export function chainBetween(base: string, dir: string): string[] {
  const rel = posix.relative(base, dir);
  if (rel === "" || rel.startsWith("..")) return [];
  const parts = rel.split("/");
  return parts.map((_, i) => posix.join(base, ...parts.slice(0, i + 1)));
}

/** What `delegateForContainer` did, for the start transaction and its log. */
export interface ContainerDelegation {
  done?: V2DelegationDone;
  plan: V2Delegation;
  /** A line for the user when controllers had to be left off. */
  warning?: string;
}

/**
 * Reads C (the parent of the container's v2 dir), plans and applies the
 * delegation for a container whose limits are `writes`. No v2 dir: nothing.
 *
 * @throws see `planV2Delegation` and `delegateV2`.
 */
export function delegateForContainer(
  payloadV2: string | undefined,
  writes: { version: 1 | 2; controller: string }[],
  fs: CgroupFs,
  selfPid: number,
  /** C, the caller's cgroup, when the payload is deeper than its child (`lxc.cgroup.dir`). */
  base?: string,
  /** Where lxt and its monitor go when C must be left: a named one (`lxc.cgroup.dir.monitor`). */
  leaf?: string,
): ContainerDelegation {
  if (payloadV2 === undefined) return { plan: { kind: "ready" } };
  const parent = base ?? posix.dirname(payloadV2);
  const chain = chainBetween(parent, posix.dirname(payloadV2));
  const required = requiredV2Controllers(writes);
  const input = readV2Delegation(fs, parent, {
    required,
    wanted: STATS_CONTROLLERS,
    leaf: leaf ?? monitorLeafOf(payloadV2),
    selfPid,
  });
  const comm = (pid: number): string | undefined => {
    try {
      return fs.readFile(`/proc/${pid}/comm`).trim();
    } catch {
      return undefined;
    }
  };
  const plan = planV2Delegation(input, comm);
  const done = delegateV2(plan, required, fs, selfPid, chain);
  const warning =
    plan.kind === "without"
      ? `cgroup v2: the ${plan.controllers.join(", ")} controllers are not enabled for the container, so info and top show no figures for them: ${plan.reason} (run lxt in a cgroup of its own, e.g. systemd-run --scope -p Delegate=yes lxt start ...)`
      : undefined;
  return { done, plan, warning };
}
