/**
 * `lxt autostart`: lxc-autostart(1) over the state root. Containers with
 * `lxc.start.auto = 1` are started in `lxc.start.order` (then name) order,
 * waiting `lxc.start.delay` seconds after each, group by group as `-g`
 * lists them (LXC's NULL group, no `lxc.group` at all, when none is
 * given); stops, kills and reboots go in the reverse order.
 */

import type { AutostartConfig } from "../config/lifecycle.js";
import type { Caller, Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { reapIfEphemeral } from "./ephemeral.js";
import { loadContainerConfig } from "./launch-input.js";
import { listNames } from "./list.js";
import { type ContainerPaths, containerPaths } from "./paths.js";
import { startContainer } from "./start.js";
import { observe } from "./state.js";
import { stopContainer } from "./stop.js";

export type AutostartAction = "start" | "shutdown" | "kill" | "reboot";

/** Which containers: `-a`, `-A`, and the `-g` groups in order (`""` is the NULL group). */
export interface AutostartSelection {
  /** `-a`: every group (lxc.group ignored). */
  all: boolean;
  /** `-A`: lxc.start.auto ignored. */
  ignoreAuto: boolean;
  /** Groups in the order given; empty means LXC's default, the NULL group only. */
  groups: string[];
}

/** One container as autostart sees it. */
export interface AutostartCandidate extends AutostartConfig {
  name: string;
  running: boolean;
}

/**
 * `-g` arguments as lxc-autostart accumulates them: each split on commas,
 * an empty item (leading, trailing or doubled comma, or an empty argument)
 * is the NULL group, and a group named twice counts once, where first named.
 */
export function parseGroupArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of args) for (const g of a.split(",")) if (!out.includes(g)) out.push(g);
  return out;
}

function byOrder(a: AutostartCandidate, b: AutostartCandidate): number {
  if (a.order !== b.order) return a.order - b.order;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * The containers an action applies to, in the order it takes them: sorted
 * by order then name (reversed for shutdown and kill), one pass per group,
 * each container at most once; starts take stopped containers, the other
 * actions running ones (lxc_autostart.c's passes).
 */
export function selectAutostart(
  cands: readonly AutostartCandidate[],
  sel: AutostartSelection,
  action: AutostartAction,
): AutostartCandidate[] {
  const reverse = action === "shutdown" || action === "kill";
  const sorted = [...cands].sort((a, b) => (reverse ? -byOrder(a, b) : byOrder(a, b)));
  const passes = sel.all || sel.groups.length === 0 ? [""] : sel.groups;
  const done = new Set<string>();
  const out: AutostartCandidate[] = [];
  for (const group of passes) {
    for (const c of sorted) {
      if (done.has(c.name)) continue;
      if (!sel.ignoreAuto && !c.auto) {
        done.add(c.name);
        continue;
      }
      if (!sel.all && !(group === "" ? c.groups.length === 0 : c.groups.includes(group))) continue;
      done.add(c.name);
      if (c.running === (action === "start")) continue;
      out.push(c);
    }
  }
  return out;
}

/** What happened to one container (or, with `config`, why it was not considered). */
export type AutostartEvent =
  | { kind: "listed"; name: string; delay?: number }
  | { kind: "done"; name: string }
  | { kind: "failed"; name: string; error: unknown };

export interface AutostartOptions {
  action: AutostartAction;
  selection: AutostartSelection;
  /** `-L`: list what would be done, do nothing. */
  list?: boolean;
  /** `-t`: seconds a shutdown or reboot waits before SIGKILL (-1: forever). */
  timeout: number;
  /** Who starts the containers (their cgroups go beneath its). */
  caller: Caller;
  /** Each container's outcome, as it happens. */
  onEvent?: (e: AutostartEvent) => void;
}

/** Counts, for the exit status: lxc-autostart exits 1 when all attempts failed, 2 when some did. */
export interface AutostartResult {
  attempted: number;
  failed: number;
}

/**
 * Runs an autostart action over the state root's containers. A container
 * whose config does not load counts as a failed attempt (it may have been
 * meant), and the others go on; so does any container that fails.
 */
export async function runAutostart(ctx: Context, opts: AutostartOptions): Promise<AutostartResult> {
  const emit = opts.onEvent ?? (() => {});
  const result: AutostartResult = { attempted: 0, failed: 0 };
  const cands: AutostartCandidate[] = [];
  const paths = new Map<string, ContainerPaths>();
  for (const name of listNames(ctx.lxcpath)) {
    const p = containerPaths(ctx, name);
    try {
      const cfg = loadContainerConfig(p, opts.caller.env);
      const running = observe(ctx, p).state !== "STOPPED";
      cands.push({ name, running, ...cfg.autostart });
      paths.set(name, p);
    } catch (error) {
      result.attempted++;
      result.failed++;
      emit({ kind: "failed", name, error });
    }
  }
  for (const c of selectAutostart(cands, opts.selection, opts.action)) {
    const p = paths.get(c.name) as ContainerPaths;
    const withDelay = opts.action === "start" || opts.action === "reboot";
    if (opts.list) {
      emit({ kind: "listed", name: c.name, ...(withDelay ? { delay: c.delay } : {}) });
      continue;
    }
    result.attempted++;
    try {
      await act(ctx, p, opts);
      emit({ kind: "done", name: c.name });
    } catch (error) {
      result.failed++;
      emit({ kind: "failed", name: c.name, error });
      continue;
    }
    if (withDelay && c.delay > 0) await ctx.host.clock.sleep(c.delay * 1000);
  }
  return result;
}

async function act(ctx: Context, p: ContainerPaths, opts: AutostartOptions): Promise<void> {
  if (opts.action === "start") {
    await startContainer(ctx, p, { caller: opts.caller });
    return;
  }
  const cfg = loadContainerConfig(p, opts.caller.env);
  const kill = opts.action === "kill";
  if (opts.action === "reboot" && cfg.ephemeral) {
    throw new LxtError(
      "unsupported",
      `reboot ${p.name}: an ephemeral container is destroyed when it stops`,
    );
  }
  await stopContainer(ctx, p, { kill, timeout: opts.timeout, haltSignal: cfg.signals.halt });
  // A reboot is a clean stop and a new start (a new monitor), not LXC's in-place restart.
  if (opts.action === "reboot") {
    await startContainer(ctx, p, { caller: opts.caller });
    return;
  }
  await reapIfEphemeral(ctx, p);
}
