/**
 * A command in an instance (`POST /1.0/instances/NAME/exec` with
 * `wait-for-websocket`) and an instance's console, as Node streams over
 * the operation's websockets, with LXD's framing: bytes travel as binary
 * messages, an empty text message ends a stream (stdin's end, each
 * output's end), `control` carries `window-resize` and `signal`.
 */
import { PassThrough, Readable, Writable } from "node:stream";
import type { WebSocket } from "ws";
import type { ControlRequest, InstanceExecPost, OperationJson } from "../../src/api/types.js";
import type { LxdClient } from "./client.js";
import { OperationError } from "./errors.js";

/** How to run a command. */
export interface ExecOptions {
  /** A pty: one stream both ways (stdout carries stderr too), resizable. Default false. */
  interactive?: boolean;
  environment?: Record<string, string>;
  cwd?: string;
  user?: number;
  group?: number;
  /** The pty's size (interactive only). */
  width?: number;
  height?: number;
}

/** A running command. */
export interface ExecProcess {
  /** The operation's id (cancel it with `client.request("DELETE /1.0/operations/:id", ...)`). */
  readonly id: string;
  /** Its input; `end()` closes the command's stdin. */
  readonly stdin: Writable;
  readonly stdout: Readable;
  /** Its error output (interactive: empty, the pty carries both). */
  readonly stderr: Readable;
  /**
   * Resolves with the exit code (128+N for a signal N) once the command has
   * ended and its output has been delivered; rejects with an
   * `OperationError` when it never ran (127 `Command not found`, 126).
   */
  readonly exit: Promise<number>;
  /** Sends signal `n` (e.g. 15) to the command. */
  signal(n: number): void;
  /** Sets the pty's size (interactive). */
  resize(cols: number, rows: number): void;
}

/** An attached console. */
export interface ConsoleSession {
  readonly id: string;
  /** Keystrokes to the console. */
  readonly input: Writable;
  /** What the console shows. */
  readonly output: Readable;
  resize(cols: number, rows: number): void;
  /** Detaches (the container keeps running); resolves when the operation has ended. */
  close(): Promise<void>;
}

/** A readable fed by one operation websocket's binary messages until its barrier or close. */
function readableOf(ws: WebSocket): Readable {
  const out = new Readable({
    read() {
      if (ws.isPaused) ws.resume();
    },
  });
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    out.push(null);
  };
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (done) return;
    if (!isBinary) return finish(); // the barrier
    if (!out.push(data)) ws.pause();
  });
  ws.once("close", finish);
  return out;
}

/** A writable that sends binary messages; its end sends the barrier. */
function writableOf(ws: WebSocket): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (ws.readyState !== ws.OPEN) return cb();
      ws.send(chunk, { binary: true }, (err) => cb(err ?? null));
    },
    final(cb) {
      if (ws.readyState !== ws.OPEN) return cb();
      ws.send("", { binary: false }, (err) => cb(err ?? null));
    },
  });
}

function sendControl(ws: WebSocket | undefined, msg: ControlRequest): void {
  if (ws?.readyState === ws?.OPEN) ws?.send(JSON.stringify(msg));
}

function resizeMessage(cols: number, rows: number): ControlRequest {
  return { command: "window-resize", args: { width: String(cols), height: String(rows) } };
}

/** The streams' secrets of a websocket operation. */
function fdsOf(op: OperationJson): Record<string, string> {
  const fds = (op.metadata as { fds?: Record<string, string> } | null)?.fds;
  if (!fds) throw new OperationError({ ...op, err: "the operation has no websockets" });
  return fds;
}

function socketPath(op: OperationJson, secret: string): string {
  return `/1.0/operations/${op.id}/websocket?secret=${encodeURIComponent(secret)}`;
}

/** Runs `command` in instance `name` with its streams attached. */
export async function execProcess(
  client: LxdClient,
  name: string,
  command: string[],
  opts: ExecOptions = {},
): Promise<ExecProcess> {
  const body: InstanceExecPost = {
    command,
    environment: opts.environment ?? {},
    interactive: !!opts.interactive,
    "wait-for-websocket": true,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.user !== undefined ? { user: opts.user } : {}),
    ...(opts.group !== undefined ? { group: opts.group } : {}),
    ...(opts.width ? { width: opts.width } : {}),
    ...(opts.height ? { height: opts.height } : {}),
  };
  const op = (await client.request("POST /1.0/instances/:name/exec", {
    params: { name },
    body,
    wait: false,
  })) as OperationJson;
  const fds = fdsOf(op);
  const names = opts.interactive ? ["control", "0"] : ["control", "0", "1", "2"];
  // All at once (the daemon waits 5 s for them), each output read from the moment it is
  // open: the command starts as soon as the daemon has its data streams, and may write
  // before the last of them is open on this side.
  const opened = await Promise.allSettled(
    names.map(async (n) => {
      const secret = fds[n];
      if (!secret) throw new OperationError({ ...op, err: `exec: no websocket "${n}"` });
      const reads = n === "1" || n === "2" || (n === "0" && opts.interactive);
      let out: Readable | undefined;
      const ws = await client.transport.websocket(socketPath(op, secret), (w) => {
        if (reads) out = readableOf(w);
      });
      return { ws, out };
    }),
  );
  const sockets = opened.flatMap((r) => (r.status === "fulfilled" ? [r.value.ws] : []));
  const failed = opened.find((r) => r.status === "rejected");
  if (failed) {
    for (const ws of sockets) ws.terminate();
    throw failed.reason;
  }
  const got = opened.map(
    (r) => (r as PromiseFulfilledResult<{ ws: WebSocket; out?: Readable }>).value,
  );
  const control = got[0]?.ws as WebSocket;
  const stdin = writableOf(got[1]?.ws as WebSocket);
  const stdout = got[opts.interactive ? 1 : 2]?.out as Readable;
  const stderr = opts.interactive ? Readable.from([]) : (got[3]?.out as Readable);
  const exit = client.wait(op.id).then(
    (final) => Number((final.metadata as { return?: number } | null)?.return ?? 0),
    (err: unknown) => {
      for (const ws of sockets) ws.terminate();
      throw err;
    },
  );
  exit.catch(() => {}); // a caller reading only the streams must not see an unhandled rejection
  exit.finally(() => control.close()).catch(() => {});
  return {
    id: op.id,
    stdin,
    stdout,
    stderr,
    exit,
    signal: (n) => sendControl(control, { command: "signal", signal: n }),
    resize: (cols, rows) => sendControl(control, resizeMessage(cols, rows)),
  };
}

/** Collected output of a command: `client.instances.execOutput` resolves with it. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function text(r: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts).toString();
}

/** Runs a command to its end with `input` as its stdin; resolves with its code and output. */
export async function execOutput(
  client: LxdClient,
  name: string,
  command: string[],
  opts: ExecOptions & { input?: string | Buffer } = {},
): Promise<ExecResult> {
  const p = await execProcess(client, name, command, { ...opts, interactive: false });
  p.stdin.end(opts.input ?? "");
  const [stdout, stderr, code] = await Promise.all([text(p.stdout), text(p.stderr), p.exit]);
  return { code, stdout, stderr };
}

/** Attaches to instance `name`'s console. */
export async function openConsole(
  client: LxdClient,
  name: string,
  opts: { width?: number; height?: number } = {},
): Promise<ConsoleSession> {
  const op = (await client.request("POST /1.0/instances/:name/console", {
    params: { name },
    body: {
      type: "console",
      ...(opts.width ? { width: opts.width } : {}),
      ...(opts.height ? { height: opts.height } : {}),
    },
    wait: false,
  })) as OperationJson;
  const fds = fdsOf(op);
  let shown: Readable | undefined;
  const ws0 = await client.transport.websocket(socketPath(op, fds["0"] ?? ""), (w) => {
    shown = readableOf(w);
  });
  let control: WebSocket;
  try {
    control = await client.transport.websocket(socketPath(op, fds.control ?? ""));
  } catch (err) {
    ws0.terminate();
    throw err;
  }
  const output = new PassThrough();
  shown?.pipe(output);
  const ended = client.wait(op.id).then(
    () => {},
    () => {}, // a detach ends the operation; how it ended is not the caller's concern
  );
  return {
    id: op.id,
    input: writableOf(ws0),
    output,
    resize: (cols, rows) => sendControl(control, resizeMessage(cols, rows)),
    async close() {
      control.close();
      ws0.close();
      await ended;
    },
  };
}
