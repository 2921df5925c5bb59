/**
 * lxtd's lock service: one `lxt-shim locks` child that holds every
 * uncontended flock the daemon takes (docs/helper-protocol.md, _Locks_).
 * Node has no flock, and a helper spawned per lock blocks the event loop for
 * the fork of the whole daemon (~5 ms of its CPU each, five locks per create
 * and start); a line on this child's pipe costs ~0.1 ms.
 *
 * A take never waits: a lock another process holds is `busy`, and the
 * caller waits for it the old way (a `lxt-shim lock` of its own, which
 * names the holder, honours the wait limit and is killed on cancel). The
 * locks are the same flocks on the same files, so the CLI and the daemon
 * still exclude each other. When the daemon dies the child's stdin ends and
 * the kernel drops every lock it held, as for a helper per lock.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { phase } from "../core/phase.js";
import { limitError, type WaitLimit, watchLimit } from "../core/wait.js";
import type { HeldLock } from "./shim.js";

/** What a take answered: held, held by someone else, or the service cannot be used. */
type Answer = "locked" | "busy" | "error";

/** A stream with its handle's ref/unref (net.Socket's; a child's pipes are sockets). */
interface Refable {
  ref?: () => void;
  unref?: () => void;
}

/** The child's stdout as something that keeps the event loop up or not. */
function pipe(child: ChildProcess): { ref(): void; unref(): void } | undefined {
  const out = child.stdout as Refable | null;
  if (!out?.ref || !out.unref) return undefined;
  return { ref: () => out.ref?.(), unref: () => out.unref?.() };
}

/** One `lxt-shim locks` child, made on first use and made again after it died. */
export class LockService {
  private child: ChildProcess | undefined;
  private buf = "";
  private nextId = 1;
  private readonly waiting = new Map<number, (answer: string) => void>();
  /** Per path, the end of the queue of this daemon's takes (`take`). */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(private readonly helper: () => string) {}

  /**
   * Takes the flock on `path`, in turn with this daemon's other takes of
   * it: each waits here for the one before to release (within `wait`'s
   * limit), then tries; a lock another process holds is waited for through
   * `fallback` (a helper of the caller's). So verbs of one daemon queue on a
   * lock (the state root's id-map lock: every first start takes it) without
   * a helper each.
   */
  async take(
    path: string,
    what: string,
    wait: WaitLimit,
    fallback: () => Promise<HeldLock>,
  ): Promise<HeldLock> {
    const before = this.queues.get(path) ?? Promise.resolve();
    let leave = () => {};
    const mine = new Promise<void>((r) => {
      leave = r;
    });
    const tail = before.then(() => mine);
    this.queues.set(path, tail);
    void tail.then(() => {
      if (this.queues.get(path) === tail) this.queues.delete(path);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const unwatch = watchLimit(wait, (why) =>
          reject(limitError(`lock ${what}: waiting for ${path} (held by this daemon)`, why, wait)),
        );
        void before.then(() => {
          unwatch();
          resolve();
        });
      });
      const held = (await this.tryTake(path)) ?? (await fallback());
      let released: Promise<void> | undefined;
      return {
        release: () => {
          released ??= held.release().finally(leave);
          return released;
        },
      };
    } catch (err) {
      leave();
      throw err;
    }
  }

  /**
   * Takes the flock on `path` if no one holds it: the held lock, or
   * undefined when it is busy or the service cannot take it (the caller
   * then waits for it through a helper of its own, which says why).
   */
  async tryTake(path: string): Promise<HeldLock | undefined> {
    // A path with a newline cannot go on the line: the caller's helper takes it.
    if (path.includes("\n")) return undefined;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const child = this.running();
    if (!child) return undefined;
    const id = this.nextId++;
    const answer = await this.ask(child, id, `take ${id} ${path}\n`);
    if ((answer as Answer) !== "locked") return undefined;
    phase("lock taken");
    let released: Promise<void> | undefined;
    return {
      release: () => {
        released ??= this.ask(child, id, `drop ${id}\n`).then(() => phase("lock released"));
        return released;
      },
    };
  }

  /** Pid of the child (tests), if one runs. */
  pid(): number | undefined {
    return this.child?.pid;
  }

  /** Ends the child (its locks go with it) and resolves once it has exited. */
  close(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((r) => {
      child.once("exit", () => r());
      // Waited for: its exit keeps the event loop up until it has come.
      child.ref();
      child.stdin?.end();
    });
  }

  /** The answer to `line` for `id`; "error" when the child is gone or goes before answering. */
  private ask(child: ChildProcess, id: number, line: string): Promise<string> {
    if (child !== this.child) return Promise.resolve("error");
    return new Promise((resolve) => {
      // An answer awaited keeps the process up (the child's pipes are unref'd otherwise).
      if (this.waiting.size === 0) pipe(child)?.ref();
      this.waiting.set(id, (answer) => {
        if (this.waiting.size === 0) pipe(child)?.unref();
        resolve(answer);
      });
      child.stdin?.write(line);
    });
  }

  private running(): ChildProcess | undefined {
    if (this.child) return this.child;
    let child: ChildProcess;
    try {
      child = spawn(this.helper(), ["locks"], { stdio: ["pipe", "pipe", "inherit"] });
    } catch {
      return undefined;
    }
    this.child = child;
    this.buf = "";
    // Not a reason for the daemon to stay up: its exit ends the child.
    child.unref();
    pipe(child)?.unref();
    (child.stdin as Refable | null)?.unref?.();
    child.stdin?.on("error", () => {});
    child.stdout?.on("data", (b: Buffer) => this.read(b.toString()));
    const gone = () => {
      if (this.child === child) this.child = undefined;
      // Every lock it held is gone with it: an answer never coming is an error.
      const waiting = [...this.waiting.values()];
      this.waiting.clear();
      for (const w of waiting) w("error");
    };
    child.once("exit", gone);
    child.once("error", gone);
    return child;
  }

  private read(text: string): void {
    this.buf += text;
    for (let nl = this.buf.indexOf("\n"); nl >= 0; nl = this.buf.indexOf("\n")) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      const sp = line.indexOf(" ");
      const id = Number(line.slice(0, sp));
      const w = this.waiting.get(id);
      if (!w) continue;
      this.waiting.delete(id);
      const word = line.slice(sp + 1);
      w(word.startsWith("error") ? "error" : word);
    }
  }
}
