import { readFileSync } from "node:fs";
import { constants } from "node:os";

/**
 * The start time (field 22 of /proc/PID/stat, in clock ticks since boot) of a
 * process, or undefined when it does not exist. Pid + start time names a
 * process without the risk of pid reuse.
 */
export function readStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // comm (field 2) may hold spaces and parentheses: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); field 22 is fields[19].
  if (fields[0] === "Z" || fields[0] === "X") return undefined;
  return fields[19];
}

/** A process identified by pid and start time. */
export interface ProcessRef {
  pid: number;
  start: string;
}

/** Whether the process still exists (same pid and same start time, not a zombie). */
export function isAlive(ref: ProcessRef): boolean {
  return readStartTime(ref.pid) === ref.start;
}

/** Parses `PID START` as the helper writes it. */
export function parseProcessRef(text: string): ProcessRef | undefined {
  const [pid, start] = text.trim().split(/\s+/);
  const n = Number(pid);
  if (!Number.isInteger(n) || n <= 0 || !start || !/^\d+$/.test(start)) return undefined;
  return { pid: n, start };
}

/** A shell-style exit status: the code, or 128 + the signal's number. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}
