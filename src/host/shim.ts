import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { LxtError } from "../core/errors.js";

/**
 * A held lock; `release` is idempotent and resolves once the helper has
 * exited (so it is reaped by us, not orphaned). The kernel drops the lock if we die.
 */
export interface HeldLock {
  release(): Promise<void>;
}

/**
 * Takes an exclusive flock on `path` through the helper `helper` (Node has
 * no flock) and resolves once it is held. The helper holds it until its
 * stdin closes, so a CLI killed with SIGKILL frees the lock at once.
 */
export function takeLock(helper: string, path: string, what: string): Promise<HeldLock> {
  return lockVia(helper, path, what, false) as Promise<HeldLock>;
}

/**
 * Like `takeLock`, but only tries (`lock -n`): resolves undefined at once
 * when another process holds the lock.
 */
export function tryLock(helper: string, path: string, what: string): Promise<HeldLock | undefined> {
  return lockVia(helper, path, what, true);
}

function lockVia(
  helper: string,
  path: string,
  what: string,
  onlyTry: boolean,
): Promise<HeldLock | undefined> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const child: ChildProcess = spawn(helper, ["lock", ...(onlyTry ? ["-n"] : []), path], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  return new Promise((resolveLock, reject) => {
    let out = "";
    let err = "";
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    const release = () => {
      child.stdin?.end();
      return exited;
    };
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("locked\n")) {
        child.stdout?.removeAllListeners("data");
        resolveLock({ release });
      }
    });
    child.stderr?.on("data", (b: Buffer) => {
      err += b.toString();
    });
    child.on("error", (e) => reject(new LxtError("host", `lock ${what}: ${e.message}`, e)));
    child.on("exit", (code) => {
      if (out.includes("locked\n")) return;
      if (onlyTry && code === 0 && out === "busy\n") resolveLock(undefined);
      else reject(new LxtError("system", `lock ${what}: helper exited ${code}: ${err.trim()}`));
    });
  });
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
