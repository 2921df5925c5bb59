/**
 * Limits on waits: every wait for the helper or a monitor takes a timeout
 * and an AbortSignal, so that a hung helper never holds a lock forever and
 * a front-end (a daemon request, a CLI's Ctrl-C) can cancel it.
 */
import { LxtError } from "./errors.js";

/** How long a wait may last and who may cancel it. */
export interface WaitLimit {
  /** Milliseconds before the wait gives up; undefined or negative: no limit. */
  timeoutMs?: number;
  /** Aborting it cancels the wait. */
  signal?: AbortSignal;
}

/** Why a watched wait ended early. */
export type GiveUp = "timeout" | "cancelled";

/** `1 s`, `0.25 s`, `120 s`: a duration as messages give it. */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(ms < 1000 ? 2 : 0))} s`;
}

/**
 * The error of a wait that ended early: `timeout` naming what was waited
 * for and for how long, or `cancelled`.
 */
export function limitError(what: string, why: GiveUp, limit: WaitLimit): LxtError {
  if (why === "cancelled") return new LxtError("cancelled", `${what}: cancelled`);
  return new LxtError("timeout", `${what}: timed out after ${formatSeconds(limit.timeoutMs ?? 0)}`);
}

/**
 * Watches a wait: calls `giveUp` at most once, when `limit.timeoutMs` has
 * passed or `limit.signal` aborts (at once, if it already has). Returns a
 * function that ends the watch; call it when the wait ends by itself.
 */
export function watchLimit(limit: WaitLimit, giveUp: (why: GiveUp) => void): () => void {
  let done = false;
  const fire = (why: GiveUp) => {
    if (done) return;
    stop();
    giveUp(why);
  };
  const onAbort = () => fire("cancelled");
  const ms = limit.timeoutMs;
  const timer = ms !== undefined && ms >= 0 ? setTimeout(() => fire("timeout"), ms) : undefined;
  const stop = () => {
    done = true;
    if (timer) clearTimeout(timer);
    limit.signal?.removeEventListener("abort", onAbort);
  };
  if (limit.signal?.aborted) queueMicrotask(onAbort);
  else limit.signal?.addEventListener("abort", onAbort, { once: true });
  return stop;
}
