import { closeSync, openSync, readdir, readFile, readFileSync, readSync } from "node:fs";
import { constants } from "node:os";
import { promisify } from "node:util";

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
  return statStartTime(stat);
}

/** Field 22 (start time) of a /proc/PID/stat text; undefined for a zombie or dead task. */
function statStartTime(stat: string): string | undefined {
  // comm (field 2) may hold spaces and parentheses: the fields start after the last ')'.
  // Scanned rather than split: a daemon asks this of every monitor on every list.
  let at = stat.lastIndexOf(")") + 2;
  const state = stat[at];
  if (state === "Z" || state === "X") return undefined;
  // Field 3 (state) starts at `at`; field 22 is 19 spaces further.
  for (let i = 0; i < 19; i++) {
    at = stat.indexOf(" ", at) + 1;
    if (at === 0) return undefined;
  }
  const end = stat.indexOf(" ", at);
  return stat.slice(at, end < 0 ? undefined : end);
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

/** Tells whether a process is alive, as `isAlive` does (a door a daemon replaces by `heldLiveness`). */
export type LivenessFn = (ref: ProcessRef) => boolean;

/**
 * `isAlive` for a long-running front-end (lxtd) that asks about the same
 * monitors on every list and scrape: each one's /proc/PID/stat, once found
 * alive, stays open, and the next question is one pread(2) at offset 0
 * (procfs renders the figures anew) instead of a path walk, open and close.
 * The descriptor is bound to the task, not to the pid: once the task is
 * reaped it reads ESRCH, so a reused pid is never mistaken for it; the
 * start time is still compared on every read. A dead or zombie process's
 * descriptor is closed at once; at most `max` are kept, the least recently
 * asked about closed first.
 */
export function heldLiveness(max: number): LivenessFn {
  const held = new Map<string, number>();
  const buf = Buffer.allocUnsafe(4096);
  const close = (fd: number) => {
    try {
      closeSync(fd);
    } catch {
      // already unusable: nothing to release
    }
  };
  const readStat = (fd: number): string => {
    // /proc/PID/stat is one line well under 4 kB, rendered whole on each read.
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.toString("latin1", 0, n);
  };
  return (ref) => {
    const key = `${ref.pid} ${ref.start}`;
    let fd = held.get(key);
    if (fd !== undefined) held.delete(key);
    else {
      try {
        fd = openSync(`/proc/${ref.pid}/stat`, "r");
      } catch {
        return false;
      }
    }
    let alive: boolean;
    try {
      alive = statStartTime(readStat(fd)) === ref.start;
    } catch {
      alive = false; // reaped (ESRCH): the task this descriptor names is gone
    }
    if (!alive) {
      close(fd);
      return false;
    }
    held.set(key, fd);
    while (held.size > max) {
      const [oldest, ofd] = held.entries().next().value as [string, number];
      held.delete(oldest);
      close(ofd);
    }
    return true;
  };
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

// node:fs's callbacks, not node:fs/promises (~1 ms to load, on every command
// that loads this module) nor a dynamic import() (the CLI's loader,
// src/cli/boot.ts, runs the bundle as a vm.Script, which cannot import).
const readdirAsync = promisify(readdir);
const readFileAsync = promisify(readFile);

/**
 * The live (not zombie) members of process group `pgid`, from /proc (field 5
 * of /proc/PID/stat). Read without blocking the event loop: it is only
 * called after a kill, to wait for it.
 */
export async function groupMembers(pgid: number): Promise<number[]> {
  const pids = (await readdirAsync("/proc")).filter((e) => /^\d+$/.test(e));
  const members: number[] = [];
  for (const e of pids) {
    let stat: string;
    try {
      stat = await readFileAsync(`/proc/${e}/stat`, "utf8");
    } catch {
      continue;
    }
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (f[0] !== "Z" && f[0] !== "X" && Number(f[2]) === pgid) members.push(Number(e));
  }
  return members;
}

/**
 * Resolves once no live process is left in group `pgid` (SIGKILL is not
 * instant: a killed process dies when it next runs), or after `ms`.
 */
export async function groupGone(pgid: number, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while ((await groupMembers(pgid)).length > 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 5));
  }
}
