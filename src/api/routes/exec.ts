/**
 * `POST /1.0/instances/NAME/exec`: a command in a running instance, as LXD
 * runs it. With `wait-for-websocket` the operation is of class `websocket`
 * and the command starts once the client has connected its streams
 * ("0","1","2" and "control"; interactive: "0", a pty, and "control");
 * without, it is a task whose output goes to `record-output` files or
 * nowhere. The final metadata carries `return`, the exit code. The command
 * lives no longer than its client: the operation's cancel, or a stream or
 * control socket dropped before it ended, kills it and its process group.
 */
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import type { WebSocket } from "ws";
import { type AttachSession, configEnvironment, openAttach } from "../../container/attach.js";
import type { ContainerPaths } from "../../container/paths.js";
import { type Observed, observe } from "../../container/state.js";
import { phase } from "../../core/phase.js";
import type { Daemon } from "../daemon.js";
import { ApiError, asyncBody, badRequest } from "../envelope.js";
import { type ExecRequest, execEnvironment, execFailure, parseExecBody } from "../exec-request.js";
import { EXEC_OUTPUT, execLogDir } from "../instance-logs.js";
import { OperationSockets, parseControlMessage, receiveStream, sendStream } from "../op-sockets.js";
import type { Operation } from "../operations.js";
import { INSTANCES, instancePaths } from "./instances.js";

/**
 * Refuses an instance that cannot run anything now, with LXD's words, and
 * returns what was seen (an attach started at once needs not read it again).
 * Read without a lock: runtime files left by a killed monitor say STOPPED,
 * and the next command that locks the container repairs them.
 */
export async function requireRunning(d: Daemon, paths: ContainerPaths): Promise<Observed> {
  const seen = observe(d.ctx, paths);
  if (seen.state === "FROZEN") throw badRequest("Instance is frozen");
  if (seen.state !== "RUNNING") throw badRequest("Instance is not running");
  return seen;
}

/** The environment the command gets (the instance's own under the request's). */
function environment(d: Daemon, paths: ContainerPaths, req: ExecRequest): Record<string, string> {
  return execEnvironment(req, configEnvironment(paths, d.caller.env));
}

function startSession(
  d: Daemon,
  paths: ContainerPaths,
  req: ExecRequest,
  env: Record<string, string>,
  op: Operation,
  pty: boolean,
  extra: { input?: boolean; output?: boolean; observed?: Observed } = {},
): AttachSession {
  return openAttach(d.ctx, paths, {
    argv: req.command,
    env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    uid: req.user,
    gid: req.group,
    ...(req.cwd ? { cwd: req.cwd } : env.HOME ? { home: env.HOME } : {}),
    pty,
    ...(pty && req.width > 0 && req.height > 0
      ? { winsize: { cols: req.width, rows: req.height } }
      : {}),
    caller: d.caller,
    signal: op.signal,
    ...extra,
  });
}

/** Calls `fn` when `ws` closes (at once when it already has). */
function onClose(ws: WebSocket, fn: () => void): void {
  if (ws.readyState === ws.CLOSED || ws.readyState === ws.CLOSING) fn();
  else ws.once("close", fn);
}

/** The operation's result for an exit code: LXD fails it for a command that never ran. */
function finish(d: Daemon, op: Operation, paths: ContainerPaths, code: number, why?: string) {
  const failed = execFailure(code);
  if (!failed) return { return: code };
  if (why) d.log.info({ instance: paths.name, helper: why }, "exec: the command did not run");
  op.update({ return: code });
  throw new ApiError(400, failed);
}

async function runWithSockets(
  d: Daemon,
  paths: ContainerPaths,
  req: ExecRequest,
  env: Record<string, string>,
  op: Operation,
  socks: OperationSockets,
): Promise<Record<string, unknown>> {
  const streams = req.interactive ? ["0"] : ["0", "1", "2"];
  try {
    // LXD does not wait for a non-interactive client's control socket (old clients had none).
    await socks.waitFor(req.interactive ? [...streams, "control"] : streams, op.signal);
  } catch (err) {
    socks.closeAll();
    throw err;
  }
  let session: AttachSession;
  try {
    session = startSession(d, paths, req, env, op, req.interactive);
  } catch (err) {
    socks.closeAll(); // e.g. stopped meanwhile: the client is not left waiting on its streams
    throw err;
  }
  let ended = false;
  const dropped = () => {
    if (!ended) session.kill();
  };
  // After the EOF of `from` a client closes its socket: that is the normal end, not a client
  // gone (a kill then would race the exit status on the control channel).
  const droppedBefore = (from: Readable) => () => {
    if (!from.readableEnded) dropped();
  };
  // A non-interactive client may connect its control socket after the command started.
  socks.whenConnected("control", (control) => {
    socks.onMessage("control", (data) => {
      const m = parseControlMessage(data.toString());
      if (m?.kind === "signal") session.signal(m.signal);
      else if (m?.kind === "window-resize" && req.interactive) session.resize(m.cols, m.rows);
    });
    onClose(control, dropped);
  });
  const sends: Promise<void>[] = [];
  const ws0 = socks.get("0");
  receiveStream(socks, "0", session.stdin);
  if (req.interactive && ws0) {
    sends.push(sendStream(ws0, session.stdout));
    onClose(ws0, droppedBefore(session.stdout));
  } else {
    const outs: [string, Readable | undefined][] = [
      ["1", session.stdout],
      ["2", session.stderr],
    ];
    for (const [name, from] of outs) {
      const ws = socks.get(name);
      if (!ws || !from) continue;
      sends.push(sendStream(ws, from));
      onClose(ws, droppedBefore(from));
    }
  }
  const { code, failure } = await session.exited;
  ended = true;
  await Promise.all(sends);
  socks.closeAll();
  return finish(d, op, paths, code, failure);
}

function record(path: string): WriteStream {
  return createWriteStream(path, { mode: 0o600 });
}

function sink(from: Readable | undefined, to: WriteStream | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!from) return resolve();
    if (!to) {
      from.resume();
      from.once("end", resolve);
      from.once("close", resolve);
      return;
    }
    from.pipe(to);
    to.once("close", resolve);
    to.once("error", () => resolve());
  });
}

/** Without websockets: stdin empty, the output to `record-output` files or nowhere. */
async function runDetached(
  d: Daemon,
  paths: ContainerPaths,
  req: ExecRequest,
  env: Record<string, string>,
  op: Operation,
  observed?: Observed,
): Promise<Record<string, unknown>> {
  const meta: Record<string, unknown> = {};
  let files: [WriteStream, WriteStream] | undefined;
  if (req.recordOutput) {
    const dir = execLogDir(paths);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const names = [`exec_${op.id}.stdout`, `exec_${op.id}.stderr`] as const;
    if (!names.every((n) => EXEC_OUTPUT.test(n))) throw new Error("exec: bad output name");
    files = [record(join(dir, names[0])), record(join(dir, names[1]))];
    meta.output = {
      "1": `${INSTANCES}/${paths.name}/logs/${names[0]}`,
      "2": `${INSTANCES}/${paths.name}/logs/${names[1]}`,
    };
    op.update(meta);
  }
  // Nothing to read, and output only when it is recorded: the helper gets /dev/null instead.
  const session = startSession(d, paths, req, env, op, false, {
    input: false,
    output: req.recordOutput,
    ...(observed ? { observed } : {}),
  });
  session.stdin.end();
  const sinks = [sink(session.stdout, files?.[0]), sink(session.stderr, files?.[1])];
  const { code, failure } = await session.exited;
  await Promise.all(sinks);
  return { ...meta, ...finish(d, op, paths, code, failure) };
}

export function registerExecRoutes(app: FastifyInstance, d: Daemon): void {
  app.post<{ Params: { name: string } }>(`${INSTANCES}/:name/exec`, async (req, reply) => {
    const paths = instancePaths(d, req.params.name);
    const exec = parseExecBody(req.body);
    const seen = await requireRunning(d, paths);
    phase("exec: running checked");
    const resources = {
      instances: [`${INSTANCES}/${paths.name}`],
      containers: [`/1.0/containers/${paths.name}`],
    };
    const env = environment(d, paths, exec);
    const common = { command: exec.command, environment: env, interactive: exec.interactive };
    phase("exec: environment built");
    let op: Operation;
    if (exec.waitForWebsocket) {
      const socks = new OperationSockets(
        exec.interactive ? ["0", "control"] : ["0", "1", "2", "control"],
      );
      op = d.operations.start({
        class: "websocket",
        description: "Executing command",
        resources,
        metadata: { fds: socks.fds, ...common },
        mayCancel: true,
        connect: (secret, ws) => socks.connect(secret, ws),
        run: (o) => runWithSockets(d, paths, exec, env, o, socks),
      });
    } else {
      op = d.operations.start({
        class: "task",
        description: "Executing command",
        resources,
        mayCancel: true,
        // No sockets to wait for: the attach server gets the command before the 202 is written.
        startNow: true,
        // Started in this turn: what requireRunning saw is still what is.
        run: (o) => runDetached(d, paths, exec, env, o, seen),
      });
    }
    return reply.code(202).header("Location", op.url).send(asyncBody(op.url, op.json()));
  });
}
