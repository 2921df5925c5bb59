import { type ChildProcess, spawn } from "node:child_process";
import { connect } from "node:net";
import { constants } from "node:os";
import { getSystemErrorMap } from "node:util";
import type { Stdio } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { phase } from "../core/phase.js";
import { limitError, type WaitLimit, watchLimit } from "../core/wait.js";
import { assignMonitor, type HelperPool } from "./helper-pool.js";
import {
  type ControlRequest,
  controlLine,
  type HelperFailure,
  parseStatusLine,
} from "./helper-protocol.js";
import { groupGone, type ProcessRef } from "./proc.js";

/** `ENOENT (no such file or directory)` for a positive errno. */
export function describeErrno(errno: number): string {
  if (!errno) return "";
  const entry = getSystemErrorMap().get(-errno);
  return entry ? `${entry[0]} (${entry[1]})` : `errno ${errno}`;
}

/** `SIGKILL` for 9, `signal 64` for a number without a name. */
function signalName(n: number): string {
  const name = Object.entries(constants.signals).find(([, v]) => v === n)?.[0];
  return name ?? `signal ${n}`;
}

/** `mount dev/pts: EPERM (operation not permitted)` */
export function describeFailure(f: HelperFailure): string {
  // An lxc.hook.TYPE (op `lxc.hook.TYPE:exit:N`) or a host-hook (op `exit:N`).
  const lxcHook = /^(lxc\.hook\.[a-z-]+):(.*)$/.exec(f.op);
  if (f.stage === "hook" && lxcHook)
    return `${lxcHook[1]} ${f.path} failed (${(lxcHook[2] as string).replace(":", " ")})`;
  if (f.stage === "hook") return `host hook ${f.path} failed (${f.op.replace(":", " ")})`;
  // The container's first process ended before its exec (docs/helper-protocol.md).
  const ended = /^(signal|exit):(\d+)$/.exec(f.op);
  if (f.stage === "exec" && ended) {
    const how =
      ended[1] === "signal"
        ? `was killed by ${signalName(Number(ended[2]))}`
        : `exited with status ${ended[2]}`;
    return `the init ${how} before it could exec ${f.path}`;
  }
  // A plan with more records of one kind than the helper holds.
  const over = /^(.+):max=(\d+)$/.exec(f.op);
  if (f.stage === "plan" && over) return `plan ${f.path}: more than ${over[2]} ${over[1]} records`;
  // A tree the monitor could not idmap: the rootfs, or an lxc.mount.entry with idmap=.
  if (f.stage === "idmap" && /^(open_tree|mount_setattr|move_mount)$/.test(f.op)) {
    const why = describeErrno(f.errno);
    const hint =
      f.op === "mount_setattr"
        ? ": its filesystem cannot be idmapped, or idmap= does not name a user namespace"
        : "";
    return `idmapped mount of ${f.path}: ${f.op}: ${why}${hint}`;
  }
  if (f.stage === "console-path")
    return `lxc.console.path ${f.path}: ${f.op}: ${describeErrno(f.errno)}`;
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
 * Kills a monitor that gave no verdict, with everything it runs (host
 * hooks): its whole process group when it leads one (a detached monitor),
 * so a hung `script.up` goes too. Its init dies with it (PDEATHSIG).
 */
function killMonitor(monitor: ChildProcess, detached: boolean): void {
  const pid = monitor.pid;
  if (pid === undefined) return;
  try {
    process.kill(detached ? -pid : pid, "SIGKILL");
  } catch {
    monitor.kill("SIGKILL");
  }
}

/**
 * Spawns `HELPER monitor PLAN` and waits for its verdict on fd 3. Detached
 * (its own session, stdio closed) unless `foreground` is given: then the
 * monitor takes those stdin, stdout and stderr (the caller's terminal) and
 * the caller waits for it to exit. When `wait` limits the wait and it runs
 * out (or is cancelled), the monitor and its process group are killed and
 * reaped before the `timeout` (`cancelled`) error is thrown. With `pool`, a
 * detached start takes a monitor made ahead of demand when one is ready.
 */
export function spawnMonitor(
  helper: string,
  planFile: string,
  foreground?: Stdio,
  wait: WaitLimit = {},
  pool?: HelperPool,
): Promise<MonitorStarted> {
  // A detached monitor made ahead of demand is the same process, minus its spawn and exec.
  const member = foreground ? undefined : pool?.take();
  if (member) {
    assignMonitor(member, planFile);
    phase("monitor assigned");
    return awaitVerdict(member, foreground, wait);
  }
  const stdio = foreground
    ? [...foreground, "pipe" as const]
    : (["ignore", "ignore", "ignore", "pipe"] as const);
  const monitor = spawn(helper, ["monitor", planFile], {
    stdio: [...stdio],
    detached: !foreground,
  });
  phase("monitor spawned");
  return awaitVerdict(monitor, foreground, wait);
}

/** The verdict of a monitor that was given its plan (see `spawnMonitor`). */
function awaitVerdict(
  monitor: ChildProcess,
  foreground: Stdio | undefined,
  wait: WaitLimit,
): Promise<MonitorStarted> {
  const exited = new Promise<void>((r) => monitor.once("exit", () => r()));
  return new Promise((resolve, reject) => {
    let buf = "";
    let settled = false;
    const status = monitor.stdio[3] as NodeJS.ReadableStream | null;
    const settle = (fn: () => void) => {
      if (!settled) {
        settled = true;
        unwatch();
        fn();
      }
    };
    const unwatch = watchLimit(wait, (why) =>
      settle(() => {
        killMonitor(monitor, !foreground);
        const e = limitError(`no verdict from the monitor (pid ${monitor.pid})`, why, wait);
        // Returned once the monitor and what it ran (a hung hook) are dead, not only signalled.
        const pgid = foreground ? undefined : monitor.pid;
        void exited
          .then(() => (pgid === undefined ? undefined : groupGone(pgid)))
          .then(() => reject(e));
      }),
    );
    monitor.on("error", (e) =>
      settle(() => reject(new LxtError("host", `spawn monitor: ${e.message}`, e))),
    );
    status?.on("data", (chunk: Buffer) => {
      buf += chunk.toString();
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const s = parseStatusLine(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (s.kind === "running") {
          phase("verdict");
          settle(() => resolve({ monitor, init: s.init }));
        } else if (s.kind === "error") {
          // It has undone its part and exits next: the start returns once it has.
          const e = new LxtError("start", describeFailure(s.failure), s.failure);
          settle(() => void exited.then(() => reject(e)));
        } else if (s.kind === "unknown") {
          settle(() => reject(new LxtError("internal", `monitor said "${s.line}"`)));
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

/** How a control request is made and waited for. */
export interface ControlOptions extends WaitLimit {
  /** Sees each reply line as it comes (e.g. `stopping`). */
  onLine?: (line: string) => void;
}

/**
 * Sends one request to a monitor's control socket and collects every line
 * until the monitor closes the connection. When `opts` limits the wait and
 * it runs out (or is cancelled), the connection is closed and a `timeout`
 * (`cancelled`) error names the socket and the request.
 */
export function controlRequest(
  socketPath: string,
  request: ControlRequest,
  opts: ControlOptions = {},
): Promise<string[]> {
  const line = controlLine(request);
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    const lines: string[] = [];
    let buf = "";
    const unwatch = watchLimit(opts, (why) => {
      sock.destroy();
      reject(limitError(`no answer to "${line}" from the monitor at ${socketPath}`, why, opts));
    });
    sock.on("connect", () => sock.write(`${line}\n`));
    sock.on("data", (chunk) => {
      buf += chunk.toString();
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const l = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(l);
        opts.onLine?.(l);
        nl = buf.indexOf("\n");
      }
    });
    sock.on("error", (e) => {
      unwatch();
      reject(e);
    });
    sock.on("close", () => {
      unwatch();
      if (buf) lines.push(buf);
      resolve(lines);
    });
  });
}
