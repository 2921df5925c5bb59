import {
  type BigIntStats,
  closeSync,
  existsSync,
  fstatSync,
  openSync,
  readFileSync,
  statSync,
} from "node:fs";
import type { ContainerCgroupDirs } from "../cgroups/container.js";
import { isFrozen } from "../cgroups/freezer.js";
import type { CgroupLayout } from "../cgroups/layout.js";
import { type Caches, cacheKey } from "../core/cache.js";
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { parseMonitorState } from "../host/helper-protocol.js";
import { isAlive, type LivenessFn, type ProcessRef, parseProcessRef } from "../host/proc.js";
import type { ContainerPaths } from "./paths.js";
import { runtimeCgroups } from "./runtime-cgroups.js";

/** Container states, as LXC names them. */
export type ContainerState = "STOPPED" | "STARTING" | "RUNNING" | "FROZEN" | "STOPPING";

/** What the runtime directory says, read without any lock. */
export interface RuntimeFacts {
  runtimeDirExists: boolean;
  monitor?: ProcessRef;
  monitorAlive: boolean;
  /** First line of `state`, e.g. `RUNNING 123 456`. */
  stateLine?: string;
  /** The container's cgroup freezer says frozen (observed, never stored). */
  frozen?: boolean;
}

/** The observed state of a container and whether its runtime files are stale. */
export interface Observed {
  state: ContainerState;
  monitor?: ProcessRef;
  init?: ProcessRef;
  /** Runtime files exist but no monitor owns them: the next locked command repairs. */
  stale: boolean;
}

/**
 * Derives the state from the facts. A container is only ever as alive as its
 * monitor: the init dies with the monitor (PR_SET_PDEATHSIG), so a dead
 * monitor means STOPPED whatever the files say.
 */
export function deriveState(f: RuntimeFacts): Observed {
  if (!f.runtimeDirExists) return { state: "STOPPED", stale: false };
  if (!f.monitor || !f.monitorAlive) return { state: "STOPPED", stale: true };
  const s = parseMonitorState(f.stateLine);
  if (s?.word === "RUNNING")
    return {
      state: f.frozen ? "FROZEN" : "RUNNING",
      monitor: f.monitor,
      init: s.init,
      stale: false,
    };
  if (s?.word === "STOPPING")
    return { state: "STOPPING", monitor: f.monitor, init: s.init, stale: false };
  return { state: "STARTING", monitor: f.monitor, stale: false };
}

/**
 * The runtime files' texts by path, each with its file's identity. The
 * monitor replaces `monitor` and `state` only by an atomic rename (a new
 * inode, made while the old one still exists), so a stat that finds the
 * same identity finds the same text: a daemon that observes the same
 * containers on every list and scrape reads a file again only once it changed.
 */
export const RUNTIME_FILE_CACHE = cacheKey<{ identity: string; text: string }>(
  "runtime-files",
  4096,
);

/** A file's text, or undefined when it does not exist or cannot be read. */
function readOptional(path: string, cache?: Caches): string | undefined {
  if (!cache) {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return undefined;
    }
  }
  const files = cache.of(RUNTIME_FILE_CACHE);
  const hit = files.get(path);
  if (hit) {
    // Seen before: a stat tells whether the text still holds (one call instead of an open, read, close).
    const st = statSync(path, { bigint: true, throwIfNoEntry: false });
    if (st && identityOf(st) === hit.identity) return hit.text;
  }
  // Not seen (or changed): the identity from the descriptor read, no stat more than a plain read.
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    files.delete(path);
    return undefined;
  }
  try {
    const identity = identityOf(fstatSync(fd, { bigint: true }));
    const text = readFileSync(fd, "utf8");
    files.set(path, { identity, text });
    return text;
  } catch {
    files.delete(path);
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function identityOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
}

/** What reading the runtime files may reuse: a context's caches and its liveness door. */
export interface FactsReader {
  /** Texts of unchanged runtime files are taken from here (`RUNTIME_FILE_CACHE`). */
  caches?: Caches;
  /** Defaults to `isAlive`. */
  liveness?: LivenessFn;
}

/**
 * The runtime directory's files and the monitor's liveness, without the
 * freezer (no cgroup is read): enough to tell a running container from a
 * stopped one, for shell completion. No lock needed: files are written atomically.
 */
export function readMonitorFacts(
  paths: Pick<ContainerPaths, "runtimeDir">,
  reader: FactsReader = {},
): RuntimeFacts {
  // runtimeDir is normalized (a join): templates, no join per container of a list.
  const monitorText = readOptional(`${paths.runtimeDir}/monitor`, reader.caches);
  // A running container's `monitor` is there: the directory needs a look of its own only without it.
  const runtimeDirExists = monitorText !== undefined || existsSync(paths.runtimeDir);
  if (!runtimeDirExists) return { runtimeDirExists, monitorAlive: false };
  const monitor = monitorText ? parseProcessRef(monitorText) : undefined;
  const monitorAlive = monitor ? (reader.liveness ?? isAlive)(monitor) : false;
  const stateLine = readOptional(`${paths.runtimeDir}/state`, reader.caches);
  return { runtimeDirExists, monitor, monitorAlive, stateLine };
}

/**
 * Reads the runtime directory of a container and, when it runs, its freezer
 * (`layout`, the host's cgroup layout when the caller has it: the freezer's
 * dir is then known rather than searched for; `dirs`, its cgroup dirs when
 * the caller reads them too, so that the plan is looked at once).
 */
export function readRuntimeFacts(
  ctx: Context,
  paths: ContainerPaths,
  layout?: CgroupLayout,
  dirs?: () => ContainerCgroupDirs,
): RuntimeFacts {
  const facts = readMonitorFacts(paths, { caches: ctx.caches, liveness: ctx.host.liveness });
  const running = facts.monitorAlive && parseMonitorState(facts.stateLine)?.word === "RUNNING";
  const frozen = running
    ? isFrozen(dirs ? dirs() : runtimeCgroups(ctx, paths), ctx.host.cgroupFs, layout)
    : false;
  return { ...facts, frozen };
}

/** The observed state of a container (`readRuntimeFacts`'s arguments). */
export function observe(
  ctx: Context,
  paths: ContainerPaths,
  layout?: CgroupLayout,
  dirs?: () => ContainerCgroupDirs,
): Observed {
  return deriveState(readRuntimeFacts(ctx, paths, layout, dirs));
}

/**
 * Verbs and the states they accept; everything else is refused with a clear
 * message. Shell completion offers a verb the containers in these states.
 */
export const VERB_STATES: Readonly<Record<string, readonly ContainerState[]>> = {
  start: ["STOPPED"],
  stop: ["RUNNING", "FROZEN", "STARTING", "STOPPING"],
  freeze: ["RUNNING"],
  unfreeze: ["FROZEN"],
  cgroup: ["RUNNING", "FROZEN"],
  attach: ["RUNNING"],
  console: ["RUNNING"],
  destroy: ["STOPPED"],
  execute: ["STOPPED"],
  checkpoint: ["RUNNING"],
  restore: ["STOPPED"],
};

/** Throws a `state` error unless `verb` is allowed in `state`. */
export function requireState(verb: string, name: string, state: ContainerState): void {
  const ok = VERB_STATES[verb];
  if (ok && !ok.includes(state)) {
    const hint =
      verb === "destroy"
        ? " (stop it first, or use -f)"
        : verb === "start"
          ? " (already started)"
          : state === "FROZEN"
            ? " (unfreeze it first)"
            : "";
    throw new LxtError("state", `${verb} ${name}: container is ${state}${hint}`);
  }
}
