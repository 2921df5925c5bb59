/**
 * The websockets of one `websocket`-class operation (exec, console): each
 * named stream ("0", "1", "2", "control") has a secret the client shows on
 * `GET /1.0/operations/ID/websocket?secret=S`, and LXD's framing: bytes go
 * as binary messages, and an empty text message (the "barrier") ends a
 * stream without closing the socket.
 */
import { randomBytes } from "node:crypto";
import type { Readable, Writable } from "node:stream";
import type { WebSocket } from "ws";
import { ApiError } from "./envelope.js";

/** How long an operation waits for its client to connect every required socket (LXD: 5 s). */
export const CONNECT_TIMEOUT_MS = 5_000;

/** Past this many bytes queued towards a client, a stream is paused until the socket drains. */
const HIGH_WATER = 1024 * 1024;

export class OperationSockets {
  /** Each stream's name → its secret (the operation's `metadata.fds`). */
  readonly fds: Record<string, string> = {};
  private readonly conns = new Map<string, WebSocket>();
  private readonly waiters = new Set<() => void>();
  private readonly queues = new Map<string, [Buffer, boolean][]>();
  private readonly handlers = new Map<string, (data: Buffer, isBinary: boolean) => void>();

  constructor(names: readonly string[]) {
    for (const n of names) this.fds[n] = randomBytes(32).toString("hex");
  }

  /** Takes the socket whose secret names one of our streams; false for a secret not ours. */
  connect(secret: string, ws: WebSocket): boolean {
    const name = Object.keys(this.fds).find((n) => this.fds[n] === secret);
    if (name === undefined) return false;
    if (this.conns.has(name)) {
      ws.close(1008, "Websocket number already connected");
      return true;
    }
    this.conns.set(name, ws);
    // What the client sends before the command starts is kept for it.
    const queue: [Buffer, boolean][] = [];
    this.queues.set(name, queue);
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      const to = this.handlers.get(name);
      if (to) to(data, isBinary);
      else queue.push([data, isBinary]);
    });
    for (const w of this.waiters) w();
    return true;
  }

  /** Hands stream `name`'s messages to `fn`, those that came before first. */
  onMessage(name: string, fn: (data: Buffer, isBinary: boolean) => void): void {
    const queue = this.queues.get(name) ?? [];
    this.handlers.set(name, fn);
    for (const [data, isBinary] of queue.splice(0)) fn(data, isBinary);
  }

  get(name: string): WebSocket | undefined {
    return this.conns.get(name);
  }

  /** Calls `fn` with stream `name`'s socket: now if it is connected, else when it connects. */
  whenConnected(name: string, fn: (ws: WebSocket) => void): void {
    const ws = this.conns.get(name);
    if (ws) {
      fn(ws);
      return;
    }
    const check = () => {
      const now = this.conns.get(name);
      if (!now) return;
      this.waiters.delete(check);
      fn(now);
    };
    this.waiters.add(check);
  }

  /**
   * Resolves once every one of `names` is connected; LXD's error after
   * `ms`, or the signal's reason when the operation is cancelled first.
   */
  waitFor(names: readonly string[], signal: AbortSignal, ms = CONNECT_TIMEOUT_MS): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!names.every((n) => this.conns.has(n))) return;
        end();
        resolve();
      };
      const onAbort = () => {
        end();
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        end();
        reject(new ApiError(400, "Timed out waiting for websockets to connect"));
      }, ms);
      const end = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
        signal.removeEventListener("abort", onAbort);
      };
      this.waiters.add(check);
      signal.addEventListener("abort", onAbort, { once: true });
      if (signal.aborted) onAbort();
      else check();
    });
  }

  /** Closes every connected socket (normal closure). */
  closeAll(): void {
    for (const ws of this.conns.values()) {
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(1000);
    }
  }
}

/**
 * Sends what `from` yields as binary messages, then the barrier; resolves
 * when `from` has ended (or the socket is gone). The stream is paused while
 * the client is slow, so a command's output never piles up in the daemon.
 */
export function sendStream(ws: WebSocket, from: Readable): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      from.off("data", onData);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(chunk, { binary: true }, () => {
        if (from.isPaused() && ws.bufferedAmount < HIGH_WATER) from.resume();
      });
      if (ws.bufferedAmount >= HIGH_WATER) from.pause();
    };
    from.on("data", onData);
    from.once("end", () => {
      if (ws.readyState === ws.OPEN) ws.send("", { binary: false });
      finish();
    });
    from.once("error", finish);
    from.once("close", finish);
    // A client gone for good reads nothing more: let the output drain to nowhere.
    ws.once("close", () => {
      from.resume();
    });
  });
}

/**
 * Writes every binary message of stream `name` into `to`; the barrier (a
 * text message) or the socket's close ends `to`. What `to` cannot take any
 * more is dropped.
 */
export function receiveStream(socks: OperationSockets, name: string, to: Writable): void {
  const ws = socks.get(name);
  if (!ws) return;
  const end = () => {
    if (!to.writableEnded && !to.destroyed) to.end();
  };
  socks.onMessage(name, (data, isBinary) => {
    if (!isBinary) {
      end();
      return;
    }
    if (!to.writableEnded && !to.destroyed) to.write(data);
  });
  if (ws.readyState === ws.CLOSED || ws.readyState === ws.CLOSING) end();
  else ws.once("close", end);
}

/** A control-socket message (LXD's `InstanceExecControl` / `InstanceConsoleControl`). */
export type ControlMessage =
  | { kind: "window-resize"; cols: number; rows: number }
  | { kind: "signal"; signal: number };

/** Decodes one control message; undefined for what LXD would ignore too. */
export function parseControlMessage(text: string): ControlMessage | undefined {
  let m: { command?: unknown; args?: Record<string, unknown>; signal?: unknown };
  try {
    m = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!m || typeof m !== "object") return undefined;
  if (m.command === "window-resize") {
    const cols = Number(m.args?.width);
    const rows = Number(m.args?.height);
    const ok = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
    return ok(cols) && ok(rows) ? { kind: "window-resize", cols, rows } : undefined;
  }
  if (m.command === "signal") {
    const n = m.signal;
    return typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= 64
      ? { kind: "signal", signal: n }
      : undefined;
  }
  return undefined;
}
