/**
 * One error family for the whole library. Every failure that reaches a user is
 * an `LxtError` with a stable code; front-ends map the code to an exit status,
 * a hint and (later) the LXD error envelope. Messages are lowercase and name
 * the operation and the object; the cause is kept.
 */

export const ERROR_CODES = {
  /** Malformed or unknown configuration (file and line in the message). */
  config: { exit: 2, hint: "see lxc.container.conf(5) and docs/config.md" },
  /** Bad command-line usage or a bad argument value. */
  usage: { exit: 2, hint: "see --help" },
  /** Container name not acceptable. */
  name: {
    exit: 2,
    hint: "names are 1-64 characters: letters, digits, '-', '_' and '.', starting with a letter or digit",
  },
  /** Container does not exist. */
  "not-found": { exit: 1, hint: "see `lxt ls`" },
  /** Container already exists. */
  exists: { exit: 1, hint: "pick another name or `lxt destroy` the old one" },
  /** The verb is not allowed in the container's current state. */
  state: { exit: 1, hint: "see `lxt info`" },
  /** A config key is recognised but its feature is not implemented yet. */
  unsupported: { exit: 1, hint: "remove the key or wait for the release that implements it" },
  /** The host lacks something (a binary, a kernel feature, a package). */
  host: { exit: 1, hint: "run the README's setup command" },
  /** cgroup v2: lxt may not enable the controllers a limit needs beneath its own cgroup. */
  "cgroup-delegation": {
    exit: 1,
    hint: 'run lxt as the only process of a delegated cgroup, e.g. `systemd-run --scope -p Delegate=yes lxt start NAME` (docs/config.md, "cgroup v2 delegation")',
  },
  /** A step of start failed (rolled back). */
  start: { exit: 1, hint: "every step was undone; the message names the step that failed" },
  /** The filesystem being written is full (or a quota is reached); the partial work was removed. */
  "no-space": { exit: 1, hint: "free space on that filesystem, or use another state root (-P)" },
  /** A timeout expired: a wait for a lock, the helper or a monitor gave up. */
  timeout: { exit: 1, hint: "" },
  /** The caller cancelled the operation (its AbortSignal fired); what it held was let go. */
  cancelled: { exit: 130, hint: "" },
  /** The helper misbehaved: a bug. */
  internal: { exit: 70, hint: "this is a bug in lxt; please report it" },
  /** Anything from the OS not classified above. */
  system: { exit: 1, hint: "" },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class LxtError extends Error {
  readonly code: ErrorCode;
  override readonly cause: unknown;

  constructor(code: ErrorCode, message: string, cause?: unknown) {
    super(message);
    this.name = "LxtError";
    this.code = code;
    this.cause = cause;
  }

  /** A copy of this error with `context: ` put in front of the message. */
  wrap(context: string): LxtError {
    return new LxtError(this.code, `${context}: ${this.message}`, this.cause);
  }
}

/** A config error at a known place: `FILE:LINE: message`. */
export function configError(file: string, line: number, message: string): LxtError {
  return new LxtError("config", `${file}:${line}: ${message}`);
}

/** The errno name (`ENOENT`) of a Node system error, or undefined. */
export function errnoCode(err: unknown): string | undefined {
  if (err && typeof err === "object" && "code" in err && typeof err.code === "string") {
    return err.code;
  }
  return undefined;
}

/**
 * Turns any thrown value into an LxtError with `context` in front, keeping
 * LxtErrors' codes. A Node system error becomes `context: ENOENT: ...`.
 */
export function wrapError(context: string, err: unknown): LxtError {
  if (err instanceof LxtError) return err.wrap(context);
  const msg = err instanceof Error ? err.message : String(err);
  return new LxtError("system", `${context}: ${msg}`, err);
}
