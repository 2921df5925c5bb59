import { type ChildProcess, spawn } from "node:child_process";
import { connect } from "node:net";
import { getSystemErrorMap } from "node:util";
import { decodeRecord } from "../core/encode.js";
import { LxtError } from "../core/errors.js";
import { phase } from "../core/phase.js";
import type { ProcessRef } from "./proc.js";
import { shimPath } from "./shim.js";

/** `ENOENT (no such file or directory)` for a positive errno. */
export function describeErrno(errno: number): string {
  if (!errno) return "";
  const entry = getSystemErrorMap().get(-errno);
  return entry ? `${entry[0]} (${entry[1]})` : `errno ${errno}`;
}

/** A failure the helper reported as an `error STAGE OP PATH ERRNO` line. */
export interface HelperFailure {
  stage: string;
  op: string;
  path: string;
  errno: number;
}

export function parseErrorLine(line: string): HelperFailure | undefined {
  const { op, fields } = decodeRecord(line);
  if (op !== "error" || fields.length < 4) return undefined;
  return {
    stage: fields[0] ?? "",
    op: fields[1] ?? "",
    path: fields[2] ?? "",
    errno: Number(fields[3]),
  };
}

/** `mount dev/pts: EPERM (operation not permitted)` */
export function describeFailure(f: HelperFailure): string {
  if (f.stage === "hook") return `host hook ${f.path} failed (${f.op.replace(":", " ")})`;
  const what = [f.op || f.stage, f.path].filter(Boolean).join(" ");
  const why = describeErrno(f.errno);
  return why ? `${what}: ${why}` : what;
}

/** The running monitor's answer to a start. */
export interface MonitorStarted {
  monitor: ChildProcess;
  init: ProcessRef;
}

/**
 * Spawns `lxt-shim monitor PLAN` and waits for its verdict on fd 3. Detached
 * (its own session, stdio closed) unless `foreground`, where it keeps the
 * terminal and the caller waits for it to exit.
 */
export function spawnMonitor(planFile: string, foreground: boolean): Promise<MonitorStarted> {
  const stdio: ("inherit" | "ignore" | "pipe")[] = foreground
    ? ["inherit", "inherit", "inherit", "pipe"]
    : ["ignore", "ignore", "ignore", "pipe"];
  const monitor = spawn(shimPath(), ["monitor", planFile], { stdio, detached: !foreground });
  phase("monitor spawned");
  return new Promise((resolve, reject) => {
    let buf = "";
    let settled = false;
    const status = monitor.stdio[3] as NodeJS.ReadableStream | null;
    const settle = (fn: () => void) => {
      if (!settled) {
        settled = true;
        fn();
      }
    };
    monitor.on("error", (e) =>
      settle(() => reject(new LxtError("host", `spawn monitor: ${e.message}`, e))),
    );
    status?.on("data", (chunk: Buffer) => {
      buf += chunk.toString();
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const { op, fields } = decodeRecord(line);
        if (op === "running") {
          phase("verdict");
          const pid = Number(fields[0]);
          const start = fields[1] ?? "";
          settle(() => resolve({ monitor, init: { pid, start } }));
        } else if (op === "error") {
          const f = parseErrorLine(line);
          settle(() => reject(new LxtError("start", f ? describeFailure(f) : line, f)));
        }
        nl = buf.indexOf("\n");
      }
    });
    status?.on("end", () =>
      settle(() =>
        reject(new LxtError("internal", "monitor closed its status channel without a verdict")),
      ),
    );
    monitor.on("exit", (code, signal) =>
      settle(() =>
        reject(new LxtError("internal", `monitor exited (${signal ?? code}) before reporting`)),
      ),
    );
  });
}

/**
 * Sends one request line to a monitor's control socket and collects every
 * line until the monitor closes the connection. `onLine` sees lines as they
 * come (e.g. `stopping`).
 */
export function controlRequest(
  socketPath: string,
  request: string,
  onLine?: (line: string) => void,
): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    const lines: string[] = [];
    let buf = "";
    sock.on("connect", () => sock.write(`${request}\n`));
    sock.on("data", (chunk) => {
      buf += chunk.toString();
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        onLine?.(line);
        nl = buf.indexOf("\n");
      }
    });
    sock.on("error", (e) => reject(e));
    sock.on("close", () => {
      if (buf) lines.push(buf);
      resolve(lines);
    });
  });
}
