import { closeSync, fstatSync, openSync, readSync } from "node:fs";
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

/** What `readConsoleLog` found and where. */
export interface ConsoleLog {
  /** `buffer`: the running monitor's ring buffer; `file`: the console log file. */
  source: "buffer" | "file";
  /** The buffer's bytes, or the file's last bytes (at most its buffer size, else 128 KiB). */
  data: Buffer;
  /** The console log file. */
  file: string;
}

/** How much of the log file is shown when there is no ring buffer to read. */
const FILE_TAIL = 128 * 1024;

/**
 * The console's recent output, as `lxc-console`'s ring buffer and `lxc
 * console --show-log` give it: a running container with a ring buffer
 * (`lxc.console.buffer.size`) answers from its monitor's memory (`clear`
 * empties it after); otherwise the last bytes of its console log file
 * (`lxc.console.logfile`, else `console.log`), running or not.
 */
export async function readConsoleLog(
  ctx: Context,
  paths: ContainerPaths,
  opts: { clear?: boolean; env?: Env } = {},
): Promise<ConsoleLog> {
  requireExists(paths, "console");
  const cfg = loadContainerConfig(paths, opts.env ?? {});
  const file = cfg.console.logFile ?? paths.consoleLog;
  const state = observe(ctx, paths).state;
  if (state === "RUNNING" || state === "FROZEN") {
    const data = await monitorRing(paths, opts.clear ?? false).catch(() => undefined);
    if (data) return { source: "buffer", data, file };
  }
  let data = Buffer.alloc(0);
  try {
    const fd = openSync(file, "r");
    try {
      const size = fstatSync(fd).size;
      const want = Math.min(size, cfg.console.bufferSize || FILE_TAIL);
      data = Buffer.alloc(want);
      const n = readSync(fd, data, 0, want, size - want);
      data = data.subarray(0, n);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT")
      throw new LxtError("system", `console ${paths.name}: read ${file}`, err);
  }
  return { source: "file", data, file };
}

/** The monitor's ring buffer (`console-log`), or undefined when it keeps none. */
function monitorRing(paths: ContainerPaths, clear: boolean): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const sock = connect(join(paths.runtimeDir, "control.sock"));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new LxtError("timeout", `console ${paths.name}: no answer from the monitor`));
    }, CONSOLE_ANSWER_TIMEOUT_MS);
    sock.on("connect", () =>
      sock.write(`${controlLine({ verb: "console-log", ...(clear ? { clear } : {}) })}\n`),
    );
    sock.on("data", (b) => chunks.push(b));
    sock.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on("close", () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const nl = all.indexOf(10);
      const head = nl < 0 ? "" : all.subarray(0, nl).toString();
      const m = /^ok (\d+)$/.exec(head);
      if (!m) return resolve(undefined);
      const body = all.subarray(nl + 1);
      if (body.length !== Number(m[1]))
        return reject(new LxtError("system", `console ${paths.name}: a cut console log`));
      resolve(body);
    });
  });
}
