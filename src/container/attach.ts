import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { allDirs, type ContainerCgroupDirs } from "../cgroups/container.js";
import type { Caller, Context, Env, Stdio } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { phase } from "../core/phase.js";
import { limitError, watchLimit } from "../core/wait.js";
import { type AttachConnection, ControlReader } from "../host/attach-server.js";
import { type AttachControl, attachControlLine } from "../host/helper-protocol.js";
import { exitStatus } from "../host/proc.js";
import { loadContainerConfig } from "./launch-input.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { runtimeCgroups } from "./runtime.js";
import { type Observed, observe, requireState } from "./state.js";

export interface AttachOptions {
  argv: string[];
  /** Start from the caller's environment (`--keep-env`) instead of a clean one. */
  keepEnv?: boolean;
  /** `-v VAR=val` (or `-v VAR`, which copies the caller's value). */
  setEnv?: string[];
  uid?: number;
  gid?: number;
  cwd?: string;
  /** The directory to start in when `cwd` is not given and it exists (the user's HOME; else `/`). */
  home?: string;
  /** Exactly this environment (`K=V`), as a daemon built it; else `attachEnvironment`'s. */
  env?: string[];
  /** Allocate a pty (the CLI does when its stdin is a terminal). */
  pty?: boolean;
  /** Who asked: `--keep-env` and `-v NAME` copy from its environment. */
  caller: Caller;
  /** The attached command's stdin, stdout and stderr (the caller's terminal, a daemon's pipes). */
  stdio: Stdio;
  /** Milliseconds the command may run (default: no limit: it is the caller's command). */
  timeoutMs?: number;
  /** Cancels the attach: the command is asked to end (SIGTERM), then killed. */
  signal?: AbortSignal;
}

/** How long a command that was asked to end (SIGTERM) has before SIGKILL. */
export const ATTACH_KILL_GRACE_MS = 5_000;

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * The attached process's environment. Clean by default, as `lxc exec` in
 * LXD: nothing of the host leaks in unless asked for (`--keep-env`, `-v`).
 */
export function attachEnvironment(
  opts: Pick<AttachOptions, "keepEnv" | "setEnv" | "uid">,
  callerEnv: Env,
): string[] {
  const env = new Map<string, string>();
  if (opts.keepEnv) {
    for (const [k, v] of Object.entries(callerEnv)) if (v !== undefined) env.set(k, v);
  } else {
    env.set("PATH", DEFAULT_PATH);
    env.set("container", "lxc");
    env.set("HOME", (opts.uid ?? 0) === 0 ? "/root" : "/");
    if (callerEnv.TERM) env.set("TERM", callerEnv.TERM);
  }
  for (const item of opts.setEnv ?? []) {
    const eq = item.indexOf("=");
    if (eq === 0) throw new LxtError("usage", `bad environment variable "${item}"`);
    if (eq > 0) env.set(item.slice(0, eq), item.slice(eq + 1));
    else if (callerEnv[item] !== undefined) env.set(item, callerEnv[item] as string);
  }
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/**
 * The container's own environment (`lxc.environment`, `K=V` each, `env`
 * resolving `lxc.environment = NAME`): what LXD's `environment.*` gives
 * exec'd commands too.
 */
export function configEnvironment(paths: ContainerPaths, env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of loadContainerConfig(paths, env).environment) {
    const eq = e.indexOf("=");
    if (eq > 0) out[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return out;
}

/**
 * The helper's arguments for an attach. `planFile` is the running
 * container's plan: the helper applies its caps, no-new-privs and seccomp
 * records, so an attached command is confined exactly as the init was
 * (even if the config changed since the start).
 */
export function attachArgs(
  init: { pid: number; start: string },
  cgroups: ContainerCgroupDirs,
  opts: Pick<AttachOptions, "argv" | "uid" | "gid" | "cwd" | "home" | "pty">,
  env: string[],
  planFile?: string,
): string[] {
  const args = ["attach", "--pid", String(init.pid), "--pid-start", init.start];
  for (const dir of allDirs(cgroups)) args.push("--cgroup", dir);
  if (planFile) args.push("--confinement", planFile);
  if (opts.uid !== undefined) args.push("--uid", String(opts.uid));
  if (opts.gid !== undefined) args.push("--gid", String(opts.gid));
  if (opts.cwd !== undefined) args.push("--cwd", opts.cwd);
  else if (opts.home !== undefined) args.push("--home", opts.home);
  for (const e of env) args.push("--env", e);
  args.push(opts.pty ? "--pty" : "--no-pty", "--", ...opts.argv);
  return args;
}

/** The helper's arguments for attaching to this running container (checks it runs). */
function prepareAttach(
  ctx: Context,
  paths: ContainerPaths,
  opts: Omit<AttachOptions, "stdio">,
  observed?: Observed,
): string[] {
  requireExists(paths, "attach");
  const seen = observed ?? observe(ctx, paths);
  requireState("attach", paths.name, seen.state);
  if (!seen.init) throw new LxtError("state", `attach ${paths.name}: no init process`);
  if (opts.argv.length === 0) throw new LxtError("usage", "attach: no command given");
  const env = opts.env ?? attachEnvironment(opts, opts.caller.env);
  return attachArgs(
    seen.init,
    runtimeCgroups(ctx, paths),
    opts,
    env,
    join(paths.runtimeDir, "plan"),
  );
}

/**
 * Runs a command inside a running container and resolves with its exit code
 * (128+N for a signal). No lock: attach must not hold up a stop.
 */
export async function attachContainer(
  ctx: Context,
  paths: ContainerPaths,
  opts: AttachOptions,
): Promise<number> {
  const args = prepareAttach(ctx, paths, opts);
  const child = spawn(ctx.host.helper, args, { stdio: [...opts.stdio] });
  phase("attach spawned");
  return new Promise((resolve, reject) => {
    let ended: LxtError | undefined;
    let kill: NodeJS.Timeout | undefined;
    // The helper forwards SIGTERM to the command; SIGKILL ends both.
    const unwatch = watchLimit(opts, (why) => {
      ended = limitError(`attach ${paths.name}: ${opts.argv.join(" ")}`, why, opts);
      child.kill("SIGTERM");
      kill = setTimeout(() => child.kill("SIGKILL"), ATTACH_KILL_GRACE_MS);
    });
    child.on("error", (e) => {
      unwatch();
      reject(new LxtError("host", `attach ${paths.name}: ${e.message}`, e));
    });
    child.on("exit", (code, signal) => {
      phase("attach exited");
      unwatch();
      clearTimeout(kill);
      if (ended) reject(ended);
      else resolve(exitStatus(code, signal));
    });
  });
}

/** How an attached command a daemon holds ended. */
export interface AttachExit {
  /** The exit code, 128+N for signal N; 126 (cannot run) or 127 (not found) when it never ran. */
  code: number;
  /** The helper's error line when the command never ran. */
  failure?: string;
}

/**
 * A command a daemon runs in a container: its streams are the daemon's to
 * relay, and it lives no longer than the daemon holds it (a cancelled
 * signal, `kill()`, or the daemon's end kill it and its process group).
 */
export interface AttachSession {
  /** The command's stdin (with a pty: the terminal's input). */
  readonly stdin: Writable;
  /** Its stdout (with a pty: everything the terminal shows). */
  readonly stdout: Readable;
  /** Its stderr; none with a pty (the terminal carries it). */
  readonly stderr?: Readable;
  /** Sets the pty's size (nothing without a pty). */
  resize(cols: number, rows: number): void;
  /** Sends signal `n` to the command. */
  signal(n: number): void;
  /** SIGKILL to the command and its process group. */
  kill(): void;
  /** Settles when the helper has exited (never rejects once spawned). */
  readonly exited: Promise<AttachExit>;
}

/** What `openAttach` takes beyond an attach's options. */
export type OpenAttachOptions = Omit<AttachOptions, "stdio" | "timeoutMs"> & {
  /** Sizes the pty before the command starts. */
  winsize?: { cols: number; rows: number };
  /** False: the command's stdin is /dev/null (`session.stdin` takes and drops writes). */
  input?: boolean;
  /** False: its stdout and stderr go to /dev/null (`session.stdout` ends at once). */
  output?: boolean;
  /** The container's state as the caller has just read it (in this turn): not read again. */
  observed?: Observed;
};

/**
 * Starts a command in a running container for a daemon: pipes instead of
 * the caller's stdio, and the helper's control channel (`--control-fd`,
 * docs/helper-protocol.md) for the pty's size, signals and the kill.
 * Through the context's attach server when it has one listening (no spawn),
 * else a helper of its own; both run the same attach.
 */
export function openAttach(
  ctx: Context,
  paths: ContainerPaths,
  opts: OpenAttachOptions,
): AttachSession {
  const args = prepareAttach(ctx, paths, opts, opts.observed);
  phase("attach prepared");
  const at = args.indexOf("--");
  const extra = ["--control-fd", "3"];
  if (opts.pty && opts.winsize)
    extra.push("--winsize", `${opts.winsize.cols}x${opts.winsize.rows}`);
  args.splice(at, 0, ...extra);
  const input = opts.input ?? true;
  const output = opts.output ?? true;
  const conn = ctx.host.attachServer?.open(args.slice(1), [input, output, output && !opts.pty]);
  if (conn) {
    phase("attach sent");
    return serverSession(conn, opts);
  }
  const child: ChildProcess = spawn(ctx.host.helper, args, {
    stdio: [
      input ? "pipe" : "ignore",
      output ? "pipe" : "ignore",
      opts.pty || !output ? "ignore" : "pipe",
      "pipe",
    ],
  });
  phase("attach spawned");
  const control = child.stdio[3] as (Readable & Writable) | null;
  let failure = "";
  control?.on("data", (b: Buffer) => {
    failure += b.toString();
  });
  // The failure line is read to the control channel's end (only the helper holds it).
  const controlEnded = new Promise<void>((r) => {
    if (!control) r();
    control?.once("close", () => r());
  });
  const exited = new Promise<AttachExit>((resolve) => {
    const done = async (code: number) => {
      await controlEnded;
      resolve({ code, ...(failure ? { failure: failure.trim() } : {}) });
    };
    child.on("error", (e) => {
      failure ||= e.message;
      control?.destroy();
      void done(126);
    });
    child.on("exit", (code, sig) => {
      phase("attach exited");
      void done(exitStatus(code, sig));
    });
  });
  return session(control, [child.stdin, child.stdout, child.stderr], exited, opts);
}

/**
 * A session over the attach server's connections: the exit code is the
 * control channel's first `exit CODE` line (the attach writes it before it
 * ends, its reaper repeats it after), what came before it the failure; a
 * channel closed without one is an attach that never reported.
 */
function serverSession(conn: AttachConnection, opts: OpenAttachOptions): AttachSession {
  const { control, streams } = conn;
  // The stdin connection is only written; read it too, so its end (the helper's) closes it here.
  streams[0]?.resume();
  const exited = new Promise<AttachExit>((resolve) => {
    const reader = new ControlReader();
    let why = "";
    let done = false;
    const end = (code: number | undefined) => {
      if (done) return;
      done = true;
      phase("attach exited");
      const failure = reader.failure() || why;
      for (const s of streams) if (code === undefined) s?.destroy();
      resolve({
        code: code ?? 126,
        ...(failure || code === undefined
          ? { failure: failure || "attach server: no exit status" }
          : {}),
      });
    };
    control.on("data", (b: Buffer) => {
      const code = reader.push(b.toString());
      if (code !== undefined) end(code);
    });
    control.once("error", (e) => {
      why = e.message;
    });
    control.once("close", () => end(undefined));
  });
  return session(control, streams, exited, opts);
}

/** The session a daemon holds, over the command's streams and the helper's control channel. */
function session(
  control: (Readable & Writable) | null,
  streams: readonly (Readable | Writable | null | undefined)[],
  exited: Promise<AttachExit>,
  opts: OpenAttachOptions,
): AttachSession {
  const send = (r: AttachControl) => {
    if (control && !control.destroyed && control.writable)
      control.write(`${attachControlLine(r)}\n`);
  };
  // The command may end before its input does: a write then fails, which is no error of ours.
  for (const s of [...streams, control]) s?.on("error", () => {});
  const onAbort = () => send({ verb: "kill" });
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  if (opts.signal?.aborted) onAbort();
  void exited.then(() => opts.signal?.removeEventListener("abort", onAbort));
  const [stdin, stdout, stderr] = streams;
  return {
    stdin: (stdin as Writable | null | undefined) ?? discard(),
    stdout: (stdout as Readable | null | undefined) ?? Readable.from([]),
    ...(stderr ? { stderr: stderr as Readable } : !opts.pty ? { stderr: Readable.from([]) } : {}),
    resize: (cols, rows) => send({ verb: "winsize", cols, rows }),
    signal: (n) => send({ verb: "signal", signal: n }),
    kill: () => send({ verb: "kill" }),
    exited,
  };
}

/** A stdin for a command whose input is /dev/null: what is written is dropped. */
function discard(): Writable {
  return new Writable({ write: (_c, _e, done) => done() });
}
