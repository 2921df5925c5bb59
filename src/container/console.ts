import { connect, type Socket } from "node:net";
import { join } from "node:path";
import type { Context, Env } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { limitError, type WaitLimit, watchLimit } from "../core/wait.js";
import { controlLine, parseControlReply } from "../host/helper-protocol.js";
import { controlRequest } from "../host/monitor-client.js";
import { loadContainerConfig } from "./launch-input.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { observe, requireState } from "./state.js";

/** How long the monitor has to answer a `console` request (it answers at once when it is well). */
export const CONSOLE_ANSWER_TIMEOUT_MS = 10_000;

/**
 * Connects to tty `ttyNum` of a running container (0 = the console) through
 * its monitor and resolves with a socket carrying raw terminal bytes. The
 * monitor's answer is waited for up to `limit.timeoutMs` (default
 * `CONSOLE_ANSWER_TIMEOUT_MS`); the session itself has no limit.
 */
export async function openConsole(
  ctx: Context,
  paths: ContainerPaths,
  ttyNum: number,
  limit: WaitLimit = {},
): Promise<Socket> {
  requireExists(paths, "console");
  requireState("console", paths.name, observe(ctx, paths).state);
  const wait = { timeoutMs: CONSOLE_ANSWER_TIMEOUT_MS, ...limit };
  const sock = connect(join(paths.runtimeDir, "control.sock"));
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const unwatch = watchLimit(wait, (why) => {
      sock.destroy();
      reject(limitError(`console ${paths.name}: tty ${ttyNum}: the monitor's answer`, why, wait));
    });
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(10);
      if (nl < 0) return;
      unwatch();
      sock.off("data", onData);
      const answer = parseControlReply(buf.subarray(0, nl).toString());
      const rest = buf.subarray(nl + 1);
      if (answer.kind === "ok") {
        if (rest.length > 0) sock.unshift(rest);
        resolve(sock);
      } else {
        sock.destroy();
        const why =
          answer.kind === "busy"
            ? "another client is attached"
            : answer.kind === "none"
              ? "no such tty"
              : buf.subarray(0, nl).toString();
        reject(new LxtError("state", `console ${paths.name}: tty ${ttyNum}: ${why}`));
      }
    };
    sock.on("data", onData);
    sock.once("error", (e) => {
      unwatch();
      reject(new LxtError("system", `console ${paths.name}: ${e.message}`, e));
    });
    sock.once("connect", () => sock.write(`${controlLine({ verb: "console", tty: ttyNum })}\n`));
  });
}

/**
 * Sets the size of tty `ttyNum` of a running container (0 = the console),
 * as a console client's window changes. False when the monitor has no such
 * tty or does not know the request (a monitor older than it).
 */
export async function resizeConsole(
  paths: ContainerPaths,
  ttyNum: number,
  size: { cols: number; rows: number },
): Promise<boolean> {
  const lines = await controlRequest(
    join(paths.runtimeDir, "control.sock"),
    { verb: "winsize", tty: ttyNum, ...size },
    { timeoutMs: CONSOLE_ANSWER_TIMEOUT_MS },
  );
  return lines[0] === "ok";
}

/** The files a container's own logs are written to. */
export interface ContainerLogFiles {
  /** The console's copy: `lxc.console.logfile`, else `console.log` in its directory. */
  console: string;
  /** `lxc.log.file`, when set. */
  log?: string;
}

/** Where this container's console copy and log go, from its config (`env` resolves `lxc.environment`-style values). */
export function containerLogFiles(paths: ContainerPaths, env: Env): ContainerLogFiles {
  const cfg = loadContainerConfig(paths, env);
  return {
    console: cfg.console.logFile ?? paths.consoleLog,
    ...(cfg.log.file ? { log: cfg.log.file } : {}),
  };
}
