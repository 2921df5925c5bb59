/**
 * An instance's console: `POST /1.0/instances/NAME/console` (a websocket
 * operation: "0" carries the terminal's bytes both ways, "control" the
 * window size), and its log, `GET`/`DELETE` (the copy the monitor keeps of
 * everything the console showed: `lxc.console.logfile`, else `console.log`).
 */
import { createReadStream, statSync, truncateSync } from "node:fs";
import type { Socket } from "node:net";
import type { FastifyInstance } from "fastify";
import {
  containerLogFiles,
  openConsole,
  readConsoleLog,
  resizeConsole,
} from "../../container/console.js";
import type { ContainerPaths } from "../../container/paths.js";
import type { Daemon } from "../daemon.js";
import { asyncBody, badRequest, syncBody } from "../envelope.js";
import { parseConsoleBody } from "../exec-request.js";
import { OperationSockets, parseControlMessage } from "../op-sockets.js";
import type { Operation } from "../operations.js";
import { requireRunning } from "./exec.js";
import { INSTANCES, instancePaths } from "./instances.js";

async function resize(d: Daemon, paths: ContainerPaths, cols: number, rows: number) {
  try {
    if (!(await resizeConsole(paths, 0, { cols, rows })))
      d.log.debug({ instance: paths.name }, "console: the monitor did not resize");
  } catch (err) {
    d.log.debug({ instance: paths.name, err }, "console: resize failed");
  }
}

async function runConsole(
  d: Daemon,
  paths: ContainerPaths,
  op: Operation,
  socks: OperationSockets,
  initial: { cols: number; rows: number },
): Promise<void> {
  let sock: Socket;
  try {
    await socks.waitFor(["0", "control"], op.signal);
    sock = await openConsole(d.ctx, paths, 0, { signal: op.signal });
  } catch (err) {
    socks.closeAll();
    throw err;
  }
  d.events.lifecycle("instance-console", `${INSTANCES}/${paths.name}`, { type: "console" });
  if (initial.cols > 0 && initial.rows > 0) await resize(d, paths, initial.cols, initial.rows);
  const ws0 = socks.get("0");
  const control = socks.get("control");
  await new Promise<void>((resolve) => {
    const end = () => {
      sock.destroy();
      socks.closeAll();
      resolve();
    };
    socks.onMessage("control", (data) => {
      const m = parseControlMessage(data.toString());
      if (m?.kind === "window-resize") void resize(d, paths, m.cols, m.rows);
    });
    socks.onMessage("0", (data, isBinary) => {
      if (isBinary) sock.write(data);
    });
    sock.on("data", (b: Buffer) => {
      if (ws0?.readyState === ws0?.OPEN) ws0?.send(b, { binary: true });
    });
    sock.once("close", end);
    sock.once("error", end);
    op.signal.addEventListener("abort", end, { once: true });
    for (const ws of [ws0, control]) {
      if (!ws || ws.readyState === ws.CLOSED) end();
      else ws.once("close", end);
    }
  });
}

export function registerConsoleRoutes(app: FastifyInstance, d: Daemon): void {
  app.post<{ Params: { name: string } }>(`${INSTANCES}/:name/console`, async (req, reply) => {
    const paths = instancePaths(d, req.params.name);
    const { type, ...initial } = parseConsoleBody(req.body);
    if (type === "vga") throw badRequest("VGA console is only supported by virtual machines");
    if (type !== "console") throw badRequest(`Unknown console type "${type}"`);
    await requireRunning(d, paths);
    const socks = new OperationSockets(["0", "control"]);
    const op = d.operations.start({
      class: "websocket",
      description: "Showing console",
      resources: {
        instances: [`${INSTANCES}/${paths.name}`],
        containers: [`/1.0/containers/${paths.name}`],
      },
      metadata: { fds: socks.fds },
      mayCancel: true,
      connect: (secret, ws) => socks.connect(secret, ws),
      run: (o) => runConsole(d, paths, o, socks, initial),
    });
    return reply.code(202).header("Location", op.url).send(asyncBody(op.url, op.json()));
  });

  app.get<{ Params: { name: string } }>(`${INSTANCES}/:name/console`, async (req, reply) => {
    const paths = instancePaths(d, req.params.name);
    reply.header("content-type", "application/octet-stream");
    // The monitor's ring buffer (lxc.console.buffer.size) when it keeps one, as `lxt console --log`.
    const log = await readConsoleLog(d.ctx, paths, { env: d.caller.env });
    if (log.source === "buffer") return reply.send(log.data);
    const file = log.file;
    try {
      if (!statSync(file).isFile()) return reply.send("");
    } catch {
      return reply.send(""); // Nothing reached the console yet.
    }
    return reply.send(createReadStream(file));
  });

  app.delete<{ Params: { name: string } }>(`${INSTANCES}/:name/console`, async (req) => {
    const paths = instancePaths(d, req.params.name);
    const file = containerLogFiles(paths, d.caller.env).console;
    let regular: boolean;
    try {
      regular = statSync(file).isFile();
    } catch {
      return syncBody({}); // No log yet: nothing to clear.
    }
    // Never truncate what a config points at that is no log (a device, a fifo).
    if (!regular) throw badRequest("The console log is not a regular file");
    truncateSync(file, 0);
    // And the ring buffer of a running one (nothing when it keeps none).
    await readConsoleLog(d.ctx, paths, { clear: true, env: d.caller.env });
    d.events.lifecycle("instance-console-reset", `${INSTANCES}/${paths.name}`);
    return syncBody({});
  });
}
