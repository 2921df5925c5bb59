import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { LxtError } from "../core/errors.js";
import { limitError, type WaitLimit, watchLimit } from "../core/wait.js";
import { LOCKED_LINE } from "./helper-protocol.js";

let cachedShim: string | undefined;

/**
 * Path of the `lxt-shim` helper: `$LXT_SHIM`, else `native/build/lxt-shim`
 * found upward from this module (works from the bundle in dist/ and from
 * src/ under tsx).
 */
export function shimPath(): string {
  cachedShim ??= findShim();
  return cachedShim;
}

function findShim(): string {
  const fromEnv = process.env.LXT_SHIM;
  if (fromEnv) return fromEnv;
  // bin/lxt sets LXT_SHIM; this search serves tests and tools run from src/ under tsx.
  // In the CommonJS bundle import.meta is empty: start from the bundle's own path.
  const here = import.meta.url
    ? fileURLToPath(import.meta.url)
    : realpathSync(process.argv[1] ?? ".");
  let dir = dirname(here);
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "native", "build", "lxt-shim");
    if (existsSync(candidate)) return candidate;
    dir = resolve(dir, "..");
  }
  throw new LxtError("host", "helper lxt-shim not found (build it with `npm run build`)");
}

/**
 * A held lock; `release` is idempotent and resolves once the helper has
 * exited (so it is reaped by us, not orphaned). The kernel drops the lock if we die.
 */
export interface HeldLock {
  release(): Promise<void>;
}

/** How a lock is waited for: a limit (none by default: wait, as LXC does) and the helper. */
export interface LockOptions extends WaitLimit {
  /** The helper binary (default `shimPath()`). */
  helper?: string;
}

/**
 * Takes an exclusive flock on `path` through the helper (Node has no flock)
 * and resolves once it is held. The helper holds it until its stdin closes,
 * so a CLI killed with SIGKILL frees the lock at once. When `opts` limits
 * the wait and it runs out (or is cancelled), the helper is killed and
 * reaped before the `timeout` (`cancelled`) error is thrown, so nothing is
 * left holding or waiting for the lock; the message names the holder.
 */
export function takeLock(path: string, what: string, opts: LockOptions = {}): Promise<HeldLock> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const child: ChildProcess = spawn(opts.helper ?? shimPath(), ["lock", path], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
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
    const unwatch = watchLimit(opts, (why) => {
      // Who holds it is read while it is still held, before our helper goes.
      const holder = describeHolder(path, child.pid);
      settle(() => {
        child.kill("SIGKILL");
        const e = limitError(`lock ${what}: waiting for ${path}${holder}`, why, opts);
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
        settle(() => resolveLock({ release }));
      }
    });
    child.stderr?.on("data", (b: Buffer) => {
      err += b.toString();
    });
    child.on("error", (e) =>
      settle(() => reject(new LxtError("host", `lock ${what}: ${e.message}`, e))),
    );
    child.on("exit", (code) =>
      settle(() =>
        reject(new LxtError("system", `lock ${what}: helper exited ${code}: ${err.trim()}`)),
      ),
    );
  });
}

/** Runs `fn` with the flock on `path` held (see `takeLock`); the lock goes even if `fn` throws. */
export async function withFileLock<T>(
  path: string,
  what: string,
  fn: (lock: HeldLock) => Promise<T>,
  opts: LockOptions = {},
): Promise<T> {
  const lock = await takeLock(path, what, opts);
  try {
    return await fn(lock);
  } finally {
    await lock.release();
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
