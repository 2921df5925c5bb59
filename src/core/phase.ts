/**
 * Phase marks for latency tracing. The core names the points a command
 * passes (lock taken, config read, plan rendered, helper spawned, verdict);
 * a front-end that wants them installs a sink (the CLI does under
 * `LXT_PHASES=1`, see src/cli/phases.ts). Without a sink a mark is one call
 * that does nothing, so marks may sit on the hot path.
 */
export type PhaseSink = (name: string) => void;

let sink: PhaseSink | undefined;

/** Installs (or, with undefined, removes) the process's phase sink. */
export function setPhaseSink(next: PhaseSink | undefined): void {
  sink = next;
}

/** Marks that the command has reached `name` (a short lower-case phrase). */
export function phase(name: string): void {
  sink?.(name);
}
