import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, realpathSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { LxtError } from "../core/errors.js";
import { phase } from "../core/phase.js";

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

/**
 * Takes an exclusive flock on `path` through the helper (Node has no flock)
 * and resolves once it is held. The helper holds it until its stdin closes,
 * so a CLI killed with SIGKILL frees the lock at once.
 */
export function takeLock(path: string, what: string): Promise<HeldLock> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const child: ChildProcess = spawn(shimPath(), ["lock", path], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  phase("lock helper spawned");
  return new Promise((resolveLock, reject) => {
    let out = "";
    let err = "";
    const exited = new Promise<void>((r) =>
      child.once("exit", () => {
        phase("lock released");
        r();
      }),
    );
    const release = () => {
      child.stdin?.end();
      return exited;
    };
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("locked\n")) {
        child.stdout?.removeAllListeners("data");
        phase("lock taken");
        resolveLock({ release });
      }
    });
    child.stderr?.on("data", (b: Buffer) => {
      err += b.toString();
    });
    child.on("error", (e) => reject(new LxtError("host", `lock ${what}: ${e.message}`, e)));
    child.on("exit", (code) => {
      if (!out.includes("locked\n")) {
        reject(new LxtError("system", `lock ${what}: helper exited ${code}: ${err.trim()}`));
      }
    });
  });
}
