/**
 * The contract with `lxt-shim` (docs/helper-protocol.md), typed in one
 * place: the plan's record ops and their field counts, the `net` verbs, the
 * monitor's status lines, the control socket's requests and replies, the
 * lock's answer. Renderers and clients build and read lines only through
 * this module; `test/unit/helper-protocol.test.ts` checks the op table and
 * the `net` verbs against `native/src/plan.c` and `native/src/netlink.c`.
 */
import { decodeRecord, encodeRecord } from "../core/encode.js";
import { LxtError } from "../core/errors.js";
import { type ProcessRef, parseProcessRef } from "./proc.js";

/** Version of the plan format the helper understands. */
export const PLAN_VERSION = 1;
/** The plan's first line. */
export const PLAN_HEADER = `lxt-plan ${PLAN_VERSION}`;

/** How many fields a record takes and whether it may appear more than once. */
export interface OpShape {
  min: number;
  max: number;
  once: boolean;
}

const one = { min: 1, max: 1, once: true } as const;
const each = { min: 1, max: 1, once: false } as const;
/** seccomp-rule: ARCH ACTION SYSCALL and up to CONF_MAX_CMPS (6) comparisons. */
const SECCOMP_MAX_CMPS = 6;
/** host-hook, stop-hook, exit-hook: ARGV0 and up to 63 arguments. */
const HOOK = { min: 1, max: 64, once: false } as const;

/** Every plan record op with its field counts, as plan.c's table states them. */
export const PLAN_OPS = {
  name: one,
  runtime: one,
  "exit-file": one,
  cgroup2: one,
  cgroup1: each,
  "cgroup-kill": each,
  namespaces: one,
  console: one,
  tty: each,
  "console-log": one,
  "console-buffer": one,
  "console-log-size": one,
  "console-log-rotate": one,
  "console-path": one,
  stdio: one,
  foreground: one,
  "init-shim": one,
  rootfs: { min: 1, max: 2, once: true },
  "block-mount": { min: 6, max: 6, once: true },
  hostname: one,
  mount: { min: 7, max: 7, once: false },
  mkdir: { min: 2, max: 2, once: false },
  mknod: { min: 5, max: 5, once: false },
  symlink: { min: 2, max: 2, once: false },
  pivot: { min: 0, max: 0, once: true },
  sysctl: { min: 2, max: 2, once: false },
  rlimit: { min: 3, max: 3, once: false },
  cwd: one,
  gid: one,
  uid: one,
  env: each,
  exec: { min: 1, max: 4096, once: true },
  caps: one,
  "no-new-privs": one,
  seccomp: { min: 2, max: 2, once: true },
  "seccomp-rule": { min: 3, max: 3 + SECCOMP_MAX_CMPS, once: false },
  apparmor: one,
  "host-hook": HOOK,
  net: { min: 2, max: 8, once: false },
  netdev: each,
  "stop-hook": HOOK,
  idmap: { min: 4, max: 4, once: false },
  "idmapped-mount": each,
  "exit-hook": HOOK,
  "monitor-cgroup": each,
  "monitor-pivot": each,
  "lxc-hook": { min: 2, max: 65, once: false },
  "lxc-hook-env": { min: 2, max: 2, once: false },
  "hook-log": one,
  opt: { min: 2, max: 5, once: false },
  "criu-restore": { min: 2, max: 256, once: true },
} as const satisfies Record<string, OpShape>;

export type PlanOp = keyof typeof PLAN_OPS;

/** The `net` record's verbs and how many arguments each takes after the verb. */
export const NET_VERBS = {
  pin: 1,
  veth: 7,
  macvlan: 5,
  vlan: 5,
  ipvlan: 5,
  "bridge-vlan": 4,
  move: 1,
  link: 4,
  up: 1,
  addr: 2,
  route: 3,
  "host-route": 2,
  "host-proxy": 2,
} as const;

export type NetVerb = keyof typeof NET_VERBS;

/** The `opt` record's verbs (native/src/nsopts.c) and how many arguments each takes after the verb. */
export const OPT_VERBS = {
  "ns-share": 2,
  timens: 4,
  proc: 2,
  groups: 1,
  keyring: 1,
  "sched-core": 1,
  pdeath: 1,
  personality: 1,
  "monitor-unshare": 1,
  "seccomp-proxy": 2,
} as const;

export type OptVerb = keyof typeof OPT_VERBS;

/** One `net` step: the verb, then its arguments. */
export type NetStep = readonly [NetVerb, ...string[]];

function shapeError(op: string, detail: string): LxtError {
  return new LxtError("internal", `plan record ${op}: ${detail}`);
}

/**
 * One plan line: `op` and its fields, encoded. Throws `internal` when the
 * field count is not one the helper takes (the helper would refuse the
 * whole plan), so a mis-shaped record fails where it is made.
 */
export function planRecord(op: PlanOp, fields: readonly string[]): string {
  const shape: OpShape = PLAN_OPS[op];
  if (fields.length < shape.min || fields.length > shape.max) {
    const takes = shape.min === shape.max ? `${shape.min}` : `${shape.min}-${shape.max}`;
    throw shapeError(op, `${fields.length} fields, the helper takes ${takes}`);
  }
  if (op === "net" || op === "opt") {
    const [verb = "", ...args] = fields;
    const want = ((op === "net" ? NET_VERBS : OPT_VERBS) as Record<string, number>)[verb];
    if (want === undefined) throw shapeError(op, `unknown verb "${verb}"`);
    if (args.length !== want)
      throw shapeError(op, `${verb} takes ${want} arguments, not ${args.length}`);
  }
  return fields.length === 0 ? op : encodeRecord(op, fields);
}

// ---- status lines (fd 3 of `lxt-shim monitor`, stdout of lock and probes) ----

/** A failure the helper reported as an `error STAGE OP PATH ERRNO` line. */
export interface HelperFailure {
  stage: string;
  op: string;
  path: string;
  errno: number;
}

/** The stages an error line may name (docs/helper-protocol.md, "Error lines"). */
export const ERROR_STAGES = [
  "plan",
  "monitor",
  "pty",
  "console-path",
  "socket",
  "clone",
  "cgroup",
  "rootfs",
  "hostname",
  "mount",
  "mkdir",
  "mknod",
  "symlink",
  "pivot",
  "sysctl",
  "rlimit",
  "cwd",
  "ids",
  "caps",
  "no-new-privs",
  "apparmor",
  "seccomp",
  "exec",
  "attach",
  "lock",
  "locks",
  "hold",
  "sockopt",
  "pool",
  "idmap",
  "shift",
  "devices",
  "net",
  "hook",
  "restore",
  "file",
  "namespace",
  "proc",
  "keyring",
  "sched-core",
  "personality",
  "seccomp-notify",
] as const;

/** A line on the monitor's status channel, decoded. */
export type MonitorStatus =
  | { kind: "running"; init: ProcessRef }
  | { kind: "error"; failure: HelperFailure }
  | { kind: "stage"; name: string }
  | { kind: "unknown"; line: string };

/** `error STAGE OP PATH ERRNO` decoded, or undefined for any other line. */
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

/** One status line: `running INITPID INITSTART`, an error line, or `stage NAME`. */
export function parseStatusLine(line: string): MonitorStatus {
  const { op, fields } = decodeRecord(line);
  if (op === "running") {
    const init = parseProcessRef(fields.join(" "));
    if (init) return { kind: "running", init };
  } else if (op === "error") {
    const failure = parseErrorLine(line);
    if (failure) return { kind: "error", failure };
  } else if (op === "stage" && fields[0]) {
    return { kind: "stage", name: fields[0] };
  }
  return { kind: "unknown", line };
}

/** What `lxt-shim lock` prints once it holds the lock. */
export const LOCKED_LINE = "locked";
/** What `lxt-shim lock -n` prints when another process holds the lock. */
export const BUSY_LINE = "busy";

// ---- runtime files the monitor writes ----

/** `DIR/state`: `RUNNING|STOPPING INITPID INITSTART`. */
export interface MonitorState {
  word: "RUNNING" | "STOPPING";
  init: ProcessRef;
}

/** Decodes `DIR/state` (or a `state` reply); undefined for anything else. */
export function parseMonitorState(text: string | undefined): MonitorState | undefined {
  if (text === undefined) return undefined;
  // A daemon reads every container's unchanged state line on every list: each text is decoded once.
  if (STATES.has(text)) return STATES.get(text);
  const [word, ...rest] = text.trim().split(/\s+/);
  let state: MonitorState | undefined;
  if (word === "RUNNING" || word === "STOPPING") {
    const init = parseProcessRef(rest.join(" "));
    if (init) state = Object.freeze({ word, init: Object.freeze(init) });
  }
  if (STATES.size >= STATES_MAX) STATES.delete(STATES.keys().next().value as string);
  STATES.set(text, state);
  return state;
}

/** Decoded state lines by text (a pure function of it; frozen: shared). */
const STATES = new Map<string, MonitorState | undefined>();
const STATES_MAX = 4096;

/** How the init ended, as the monitor reports it (`exited CODE` or `signaled SIG`). */
export interface ExitRecord {
  code?: number;
  signal?: number;
}

/** Decodes an exit line (a `stop`/`wait` reply, or the exit-file); undefined for anything else. */
export function parseExitLine(line: string | undefined): ExitRecord | undefined {
  const [word, n] = (line ?? "").trim().split(/\s+/);
  if (word === "exited") return { code: Number(n) };
  if (word === "signaled") return { signal: Number(n) };
  return undefined;
}

// ---- control socket (DIR/control.sock) ----

/** One request to a monitor's control socket. */
export type ControlRequest =
  | { verb: "state" }
  | { verb: "signal"; signal: number }
  /** `timeoutS` -1: wait for the init forever. */
  | { verb: "stop"; signal: number; timeoutS: number }
  | { verb: "wait" }
  | { verb: "console"; tty: number }
  | { verb: "winsize"; tty: number; cols: number; rows: number }
  /** The console's ring buffer: `ok LEN` then LEN bytes, or `none`; `clear` empties it after. */
  | { verb: "console-log"; clear?: boolean };

/** The request's line (without its newline). */
export function controlLine(r: ControlRequest): string {
  switch (r.verb) {
    case "signal":
      return `signal ${r.signal}`;
    case "stop":
      return `stop ${r.signal} ${r.timeoutS}`;
    case "console":
      return `console ${r.tty}`;
    case "winsize":
      return `winsize ${r.tty} ${r.cols} ${r.rows}`;
    case "console-log":
      return r.clear ? "console-log clear" : "console-log";
    default:
      return r.verb;
  }
}

/** A monitor's reply line, decoded. */
export type ControlReply =
  | { kind: "state"; state: MonitorState }
  | { kind: "ok" }
  | { kind: "stopping" }
  | { kind: "exit"; exit: ExitRecord }
  | { kind: "busy" }
  | { kind: "none" }
  | { kind: "error"; failure: HelperFailure }
  | { kind: "unknown"; line: string };

/** Decodes one reply line of the control socket. */
export function parseControlReply(line: string): ControlReply {
  const word = line.trim().split(" ")[0];
  if (word === "ok" || word === "stopping" || word === "busy" || word === "none")
    return { kind: word };
  const exit = parseExitLine(line);
  if (exit) return { kind: "exit", exit };
  const state = parseMonitorState(line);
  if (state) return { kind: "state", state };
  const failure = parseErrorLine(line);
  if (failure) return { kind: "error", failure };
  return { kind: "unknown", line };
}

// ---- attach --control-fd ----

/** One record a daemon sends an attached command's helper. */
export type AttachControl =
  | { verb: "winsize"; cols: number; rows: number }
  | { verb: "signal"; signal: number }
  | { verb: "kill" };

/** The record's line (without its newline). */
export function attachControlLine(r: AttachControl): string {
  switch (r.verb) {
    case "winsize":
      return `winsize ${r.cols} ${r.rows}`;
    case "signal":
      return `signal ${r.signal}`;
    default:
      return r.verb;
  }
}
