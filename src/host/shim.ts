import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { LxtError } from "../core/errors.js";
import { phase } from "../core/phase.js";
import { limitError, type WaitLimit, watchLimit } from "../core/wait.js";
import type { HelperPool } from "./helper-pool.js";
import { BUSY_LINE, LOCKED_LINE } from "./helper-protocol.js";

/**
 * A held lock; `release` is idempotent and resolves once the helper has
 * exited (so it is reaped by us, not orphaned), or, for a daemon's lock
 * (context.ts, `gated`), once the helper has been told to end: the flock
 * then goes a moment after. The kernel drops the lock if we die.
 */
export interface HeldLock {
  release(): Promise<void>;
}

/**
 * Takes an exclusive flock on `path` through the helper `helper` (Node has
 * no flock) and resolves once it is held. The helper holds it until its
 * stdin closes, so a CLI killed with SIGKILL frees the lock at once. When
 * `wait` limits the wait and it runs out (or is cancelled), the helper is
 * killed and reaped before the `timeout` (`cancelled`) error is thrown, so
 * nothing is left holding or waiting for the lock; the message names the
 * holder. Without a limit it waits until the lock is free, as LXC does.
 * With `pool`, a helper made ahead of demand takes it when one is ready.
 */
export function takeLock(
  helper: string,
  path: string,
  what: string,
  wait: WaitLimit = {},
  pool?: HelperPool,
): Promise<HeldLock> {
  // A pooled helper reads the path as a line: one with a newline gets a spawned one.
  const ready = path.includes("\n") ? undefined : pool?.take();
  return lockVia(helper, path, what, false, wait, ready) as Promise<HeldLock>;
}

/**
 * Like `takeLock`, but only tries (`lock -n`): resolves undefined at once
 * when another process holds the lock.
 */
export function tryLock(helper: string, path: string, what: string): Promise<HeldLock | undefined> {
  return lockVia(helper, path, what, true, {});
}

function lockVia(
  helper: string,
  path: string,
  what: string,
  onlyTry: boolean,
  wait: WaitLimit,
  ready?: ChildProcess,
): Promise<HeldLock | undefined> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let child: ChildProcess;
  if (ready) {
    // `lxt-shim lock -`, made ahead of demand: the path is its first line of stdin.
    child = ready;
    child.stdin?.on("error", () => {});
    child.stdin?.write(`${path}\n`);
    phase("lock helper assigned");
  } else {
    child = spawn(helper, ["lock", ...(onlyTry ? ["-n"] : []), path], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    phase("lock helper spawned");
  }
  const exited = new Promise<void>((r) =>
    child.once("exit", () => {
      phase("lock released");
      r();
    }),
  );
  return new Promise((resolveLock, reject) => {
    let out = "";
    let err = "";
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      unwatch();
      fn();
    };
    const unwatch = watchLimit(wait, (why) => {
      // Who holds it is read while it is still held, before our helper goes.
      const holder = describeHolder(path, child.pid);
      settle(() => {
        child.kill("SIGKILL");
        const e = limitError(`lock ${what}: waiting for ${path}${holder}`, why, wait);
        void exited.then(() => reject(e));
      });
    });
    const release = () => {
      child.stdin?.end();
      return exited;
    };
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.split("\n").includes(LOCKED_LINE)) {
        child.stdout?.removeAllListeners("data");
        settle(() => {
          phase("lock taken");
          resolveLock({ release });
        });
      }
    });
    child.stderr?.on("data", (b: Buffer) => {
      err += b.toString();
    });
    child.on("error", (e) =>
      settle(() => reject(new LxtError("host", `lock ${what}: ${e.message}`, e))),
    );
    // On `close`, not `exit`: a `lock -n` that finds the lock busy prints
    // its line and exits at once, and `exit` may come before that line is read.
    child.on("close", (code) =>
      settle(() => {
        if (onlyTry && code === 0 && out === `${BUSY_LINE}\n`) resolveLock(undefined);
        else reject(new LxtError("system", `lock ${what}: helper exited ${code}: ${err.trim()}`));
      }),
    );
  });
}

/** A way to take a lock: the context's `lock` door (`takeLock` with its helper). */
export type LockDoor = (path: string, what: string, wait?: WaitLimit) => Promise<HeldLock>;

/**
 * Runs `fn` with the flock on `path` held, taken through `lock` (the
 * context's door); the lock goes even if `fn` throws.
 */
export async function withFileLock<T>(
  lock: LockDoor,
  path: string,
  what: string,
  fn: (held: HeldLock) => Promise<T>,
  wait: WaitLimit = {},
): Promise<T> {
  const held = await lock(path, what, wait);
  try {
    return await fn(held);
  } finally {
    await held.release();
  }
}

/**
 * ` (held by pid N: COMMAND)`: the command that holds a flock on `path`
 * (from /proc/locks the helper holding it, whose parent took it), or an
 * empty string when none can be named. `self` (our own waiting helper) is
 * never named.
 */
export function describeHolder(path: string, self?: number): string {
  let ino: number;
  try {
    ino = statSync(path).ino;
  } catch {
    return "";
  }
  let text = "";
  try {
    text = readFileSync("/proc/locks", "utf8");
  } catch {
    return "";
  }
  const pid = flockHolders(text, ino).find((p) => p !== self);
  if (pid === undefined) return "";
  const parent = readParent(pid);
  const full = parent ? readCmdline(parent) : "";
  if (!parent || !full) return ` (held by pid ${pid})`;
  return ` (held by pid ${parent}: ${full.length > 80 ? `${full.slice(0, 79)}…` : full})`;
}

/** Pids holding (not waiting for) a FLOCK on inode `ino`, from /proc/locks text. */
export function flockHolders(procLocks: string, ino: number): number[] {
  return procLocks.split("\n").flatMap((line) => {
    const f = line.trim().split(/\s+/);
    // `N: -> FLOCK ...` lines are waiters.
    if (f[1] !== "FLOCK") return [];
    const dev = f[5]?.split(":");
    return dev && Number(dev[2]) === ino ? [Number(f[4])] : [];
  });
}

function readParent(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
  } catch {
    return "";
  }
}

/** A process that lives until released: `lxt-shim hold`. */
export interface HeldProcess {
  pid: number;
  /** Ends it (closes its stdin) and resolves once it has exited; idempotent. */
  release(): Promise<void>;
}

/**
 * Starts `lxt-shim hold` and resolves once it runs: a process that lives as
 * long as we keep its stdin open (and so dies with us), the first member of
 * a systemd scope until the container's monitor has moved in.
 */
export function spawnHold(helper: string): Promise<HeldProcess> {
  const child = spawn(helper, ["hold"], { stdio: ["pipe", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
      if (out === "held\n" && child.pid !== undefined) {
        const pid = child.pid;
        resolve({
          pid,
          release: () => {
            child.stdin?.end();
            return exited;
          },
        });
      }
    });
    child.stderr?.on("data", (b: Buffer) => {
      err += b.toString();
    });
    child.on("error", (e) => reject(new LxtError("host", `hold: ${e.message}`, e)));
    child.on("exit", (code) => {
      if (out !== "held\n")
        reject(new LxtError("system", `hold: helper exited ${code}: ${err.trim() || out.trim()}`));
    });
  });
}
