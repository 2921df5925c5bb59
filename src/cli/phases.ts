import { writeSync } from "node:fs";
import { setPhaseSink } from "../core/phase.js";

/**
 * `LXT_PHASES=1`: every phase a command passes is timed and printed to stderr
 * as it exits, one `lxt-phase EPOCH_MS NAME` line each (EPOCH_MS in ms since
 * the epoch with µs, so a caller that noted the time before exec can place
 * each phase; bench/phases.sh does). Node's own start-up milestones come
 * first (`node:` names, from `performance.nodeTiming`), then the loader's
 * (`src/cli/boot.ts`), the CLI's and the core's marks (`src/core/phase.ts`).
 *
 * The loader may have started the list before the bundle ran: it keeps it
 * on `globalThis.__lxtPhases` as [name, process.hrtime.bigint()] pairs.
 */
type Marks = [string, bigint][];

const g = globalThis as { __lxtPhases?: Marks };

/** Turns tracing on when `env.LXT_PHASES` is "1"; returns whether it is on. */
export function installPhases(env: NodeJS.ProcessEnv): boolean {
  if (env.LXT_PHASES !== "1") return false;
  g.__lxtPhases ??= [];
  const marks = g.__lxtPhases;
  setPhaseSink((name) => marks.push([name, process.hrtime.bigint()]));
  process.on("exit", () => {
    marks.push(["exit", process.hrtime.bigint()]);
    // hrtime and performance.now() share a clock only up to an offset: take it once, here.
    const nowHr = process.hrtime.bigint();
    const nowEpoch = performance.timeOrigin + performance.now();
    const epochOf = (t: bigint) => nowEpoch - Number(nowHr - t) / 1e6;
    const lines: string[] = [];
    // Typed in node:perf_hooks, which the bundle does not load for this alone.
    const nt = (performance as unknown as { nodeTiming: Record<string, number> }).nodeTiming;
    for (const [name, at = 0] of [
      ["node:start", nt.nodeStart],
      ["node:v8 started", nt.v8Start],
      ["node:environment", nt.environment],
      ["node:bootstrapped", nt.bootstrapComplete],
    ] as const) {
      if (at > 0) lines.push(`lxt-phase ${(performance.timeOrigin + at).toFixed(3)} ${name}`);
    }
    for (const [name, t] of marks) lines.push(`lxt-phase ${epochOf(t).toFixed(3)} ${name}`);
    writeSync(2, `${lines.join("\n")}\n`);
  });
  return true;
}

/** A CLI-side mark (the core's go through src/core/phase.ts). */
export { phase } from "../core/phase.js";
