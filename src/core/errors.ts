/**
 * One error family for the whole library. Every failure that reaches a user is
 * an `LxtError` with a stable code; each code belongs to a category, which a
 * daemon answers with its HTTP status. Front-ends own the rest: the CLI maps
 * codes to exit statuses and hints (src/cli/errors.ts). Messages are
 * lowercase and name the operation and the object; the cause is kept.
 */

/** What kind of failure, as an API client needs to know it. */
export type ErrorCategory =
  | "invalid"
  | "not-found"
  | "conflict"
  | "state"
  | "unsupported"
  | "unavailable"
  | "no-space"
  | "timeout"
  | "cancelled"
  | "failed"
  | "internal";

/**
 * The HTTP status of each category, as LXD answers where it has a use:
 * 400 for a bad request and for a verb the instance's state refuses, 404,
 * 409 for a name that exists, 500 for a failed operation. A request its
 * client cancelled gets 499 (the client closed the request, as nginx and
 * gRPC gateways say it): no standard status exists, and LXD itself reports
 * a cancelled operation in the operation's status, not as a server error.
 */
export const CATEGORY_STATUS: Readonly<Record<ErrorCategory, number>> = {
  invalid: 400,
  "not-found": 404,
  conflict: 409,
  state: 400,
  unsupported: 501,
  unavailable: 503,
  "no-space": 507,
  timeout: 504,
  cancelled: 499,
  failed: 500,
  internal: 500,
};

export const ERROR_CODES = {
  /** Malformed or unknown configuration (file and line in the message). */
  config: { category: "invalid" },
  /** Bad usage or a bad argument value. */
  usage: { category: "invalid" },
  /** Container name not acceptable. */
  name: { category: "invalid" },
  /** Container (or network, image, snapshot) does not exist. */
  "not-found": { category: "not-found" },
  /** Container (or network, image alias, forward) already exists. */
  exists: { category: "conflict" },
  /** The verb is not allowed in the container's current state. */
  state: { category: "state" },
  /**
   * A valid request lxt does not carry out: a config value it cannot honour
   * (refused at start, naming the key), or a verb it cannot do for this
   * container (a ZFS rename, a checkpoint it cannot take).
   */
  unsupported: { category: "unsupported" },
  /** The host lacks something (a binary, a kernel feature, a package). */
  host: { category: "unavailable" },
  /** cgroup v2: lxt may not enable the controllers a limit needs beneath its caller's cgroup. */
  "cgroup-delegation": { category: "unavailable" },
  /** No lxtd answers on the state root's socket (a verb that goes through the daemon). */
  daemon: { category: "unavailable" },
  /** A remote lxtd (a move or copy to another host) refused or failed a request, or presented another certificate. */
  remote: { category: "failed" },
  /** A step of start failed (rolled back). */
  start: { category: "failed" },
  /** CRIU failed to dump or restore (its log named); a failed restore left nothing behind. */
  checkpoint: { category: "failed" },
  /** A container hook (lxc.hook.clone, .destroy) failed; the copy or destroy was undone. */
  hook: { category: "failed" },
  /** The filesystem being written is full (or a quota is reached); the partial work was removed. */
  "no-space": { category: "no-space" },
  /** A timeout expired: a wait for a lock, the helper or a monitor gave up. */
  timeout: { category: "timeout" },
  /** The caller cancelled the operation (its AbortSignal fired); what it held was let go. */
  cancelled: { category: "cancelled" },
  /** The helper misbehaved: a bug. */
  internal: { category: "internal" },
  /** Anything from the OS not classified above. */
  system: { category: "failed" },
} as const satisfies Record<string, { category: ErrorCategory }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class LxtError extends Error {
  readonly code: ErrorCode;
  override readonly cause: unknown;
  /** The step of a multi-step change (e.g. a start) that failed, when one did. */
  readonly step?: string;

  constructor(code: ErrorCode, message: string, cause?: unknown, step?: string) {
    super(message);
    this.name = "LxtError";
    this.code = code;
    this.cause = cause;
    if (step !== undefined) this.step = step;
  }

  get category(): ErrorCategory {
    return ERROR_CODES[this.code].category;
  }

  /** The HTTP status a daemon answers this error with. */
  get httpStatus(): number {
    return CATEGORY_STATUS[this.category];
  }

  /** A copy of this error with `context: ` put in front of the message. */
  wrap(context: string): LxtError {
    return new LxtError(this.code, `${context}: ${this.message}`, this.cause, this.step);
  }

  /** A copy of this error that says step `step` failed. */
  atStep(step: string): LxtError {
    return new LxtError(this.code, this.message, this.cause, step);
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
