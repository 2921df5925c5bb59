import type { ContainerPaths } from "../container/paths.js";
import { containerPaths } from "../container/paths.js";
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { checkName } from "../core/names.js";
import { cliContext } from "./context.js";
import { reportError } from "./output.js";

/** `-n NAME` (repeatable), `--all`, `-P`, as `start` and `stop` take them. */
export interface BulkOptions {
  name: string[];
  all?: boolean;
  lxcpath?: string;
}

/** A bulk verb's context (its state root from `-P`) and the containers it acts on. */
export interface BulkTargets {
  ctx: Context;
  targets: ContainerPaths[];
}

/**
 * The containers a bulk verb acts on, in the order given: every `-n NAME`,
 * then every positional name (a name given twice counts once), all checked
 * before any is touched. With `--all`: the state root's containers whose
 * state `wanted` accepts.
 */
export async function bulkTargets(
  verb: string,
  opts: BulkOptions,
  positional: readonly string[],
  wanted: (state: string) => boolean,
): Promise<BulkTargets> {
  const given = [...new Set([...opts.name, ...positional])];
  if (opts.all && given.length > 0) {
    throw new LxtError("usage", `${verb} --all: takes no container names (got ${given.join(" ")})`);
  }
  if (!opts.all && given.length === 0) checkName(undefined);
  const names = given.map((n) => checkName(n));
  const ctx = cliContext(opts);
  if (!opts.all) return { ctx, targets: names.map((n) => containerPaths(ctx, n)) };
  const [{ listNames }, { observe }] = await Promise.all([
    import("../container/list.js"),
    import("../container/state.js"),
  ]);
  const targets = listNames(ctx.lxcpath)
    .map((n) => containerPaths(ctx, n))
    .filter((p) => wanted(observe(ctx, p).state));
  return { ctx, targets };
}

/**
 * Runs `fn` on each target in turn, in one process (Node's start-up is paid
 * once). With one target an error propagates as from any verb, so a single
 * name behaves exactly as before. With several, each failure is reported at
 * once, naming its container, and the others still run; the command then
 * exits with the first failure's status.
 */
export async function eachTarget(
  verb: string,
  targets: readonly ContainerPaths[],
  fn: (paths: ContainerPaths, many: boolean) => Promise<void>,
): Promise<void> {
  if (targets.length === 1) return fn(targets[0] as ContainerPaths, false);
  let status = 0;
  for (const paths of targets) {
    try {
      await fn(paths, true);
    } catch (err) {
      const code = reportError(named(verb, paths.name, err));
      status ||= code;
    }
  }
  if (status) process.exitCode = status;
}

/** The error with `VERB NAME: ` in front, unless its message already starts so. */
function named(verb: string, name: string, err: unknown): unknown {
  const prefix = `${verb} ${name}`;
  if (!(err instanceof LxtError)) {
    // Not ours (a bug): reported as an internal error, with the original stack.
    const e = new Error(`${prefix}: ${(err as Error)?.message ?? String(err)}`);
    e.stack = (err as Error)?.stack ?? e.stack;
    return e;
  }
  return err.message.startsWith(`${prefix}:`) || err.message.startsWith(`${prefix} `)
    ? err
    : err.wrap(prefix);
}
