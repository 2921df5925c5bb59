import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isFrozen } from "../cgroups/freezer.js";
import type { CgroupLayout } from "../cgroups/layout.js";
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { parseMonitorState } from "../host/helper-protocol.js";
import { isAlive, type ProcessRef, parseProcessRef } from "../host/proc.js";
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

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * The runtime directory's files and the monitor's liveness, without the
 * freezer (no cgroup is read): enough to tell a running container from a
 * stopped one, for shell completion. No lock needed: files are written atomically.
 */
export function readMonitorFacts(paths: Pick<ContainerPaths, "runtimeDir">): RuntimeFacts {
  const runtimeDirExists = existsSync(paths.runtimeDir);
  if (!runtimeDirExists) return { runtimeDirExists, monitorAlive: false };
  const monitorText = readOptional(join(paths.runtimeDir, "monitor"));
  const monitor = monitorText ? parseProcessRef(monitorText) : undefined;
  const monitorAlive = monitor ? isAlive(monitor) : false;
  const stateLine = readOptional(join(paths.runtimeDir, "state"));
  return { runtimeDirExists, monitor, monitorAlive, stateLine };
}

/**
 * Reads the runtime directory of a container and, when it runs, its freezer
 * (`layout`, the host's cgroup layout when the caller has it: the freezer's
 * dir is then known rather than searched for).
 */
export function readRuntimeFacts(
  ctx: Context,
  paths: ContainerPaths,
  layout?: CgroupLayout,
): RuntimeFacts {
  const facts = readMonitorFacts(paths);
  const running = facts.monitorAlive && parseMonitorState(facts.stateLine)?.word === "RUNNING";
  const frozen = running ? isFrozen(runtimeCgroups(ctx, paths), ctx.host.cgroupFs, layout) : false;
  return { ...facts, frozen };
}

export function observe(ctx: Context, paths: ContainerPaths, layout?: CgroupLayout): Observed {
  return deriveState(readRuntimeFacts(ctx, paths, layout));
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
