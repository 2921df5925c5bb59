/**
 * Errors the SDK rejects with. Every failure lxtd answers is an `LxdError`
 * carrying LXD's status (`status`, the HTTP status the daemon put in
 * `error_code`) and its words (`message`); the common statuses have a class
 * of their own, so callers can `catch (e) { if (e instanceof NotFoundError) ... }`.
 * An operation that ends in `Failure` or `Cancelled` is an `OperationError`
 * holding the operation's final state.
 */
import type { OperationJson } from "../../src/api/types.js";

/** A failure lxtd reported, or a request that could not reach it. */
export class LxdError extends Error {
  /** LXD's status: the HTTP status of the answer (400, 403, 404, 409, 412, 500...), 0 when none came. */
  readonly status: number;
  /** The request that failed: `METHOD PATH`. */
  readonly request: string;

  constructor(status: number, message: string, request: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LxdError";
    this.status = status;
    this.request = request;
  }

  /** Alias of `status`, LXD's name for it in the error envelope (`error_code`). */
  get code(): number {
    return this.status;
  }
}

/** 400: the request is wrong (a bad body, a verb the object's state refuses). */
export class BadRequestError extends LxdError {
  override readonly name = "BadRequestError";
}
/** 403: the client is not trusted, or the action is not allowed. */
export class ForbiddenError extends LxdError {
  override readonly name = "ForbiddenError";
}
/** 404: no such object (instance, snapshot, operation, path...). */
export class NotFoundError extends LxdError {
  override readonly name = "NotFoundError";
}
/** 409: the object exists already, or is busy. */
export class ConflictError extends LxdError {
  override readonly name = "ConflictError";
}
/** 412: the `If-Match` ETag no longer matches (someone changed the object). */
export class PreconditionFailedError extends LxdError {
  override readonly name = "PreconditionFailedError";
}
/** 5xx: the daemon failed. */
export class ServerError extends LxdError {
  override readonly name = "ServerError";
}
/** No answer at all: the socket or address refused, TLS failed, the connection dropped. */
export class ConnectionError extends LxdError {
  override readonly name = "ConnectionError";
}

/** An operation that ended in `Failure` (status 400) or `Cancelled` (401). */
export class OperationError extends LxdError {
  override readonly name = "OperationError";
  /** The operation's final state (its `err`, its `metadata`: an exec's `return` code). */
  readonly operation: OperationJson;

  constructor(operation: OperationJson) {
    super(
      operation.status_code,
      operation.err || operation.status,
      `operation ${operation.id} (${operation.description})`,
    );
    this.operation = operation;
  }

  get cancelled(): boolean {
    return this.operation.status === "Cancelled";
  }
}

const BY_STATUS: Record<number, typeof LxdError> = {
  400: BadRequestError,
  403: ForbiddenError,
  404: NotFoundError,
  409: ConflictError,
  412: PreconditionFailedError,
};

/** The error for an answer of `status` with LXD's `message`. */
export function errorFor(status: number, message: string, request: string): LxdError {
  const Class = BY_STATUS[status] ?? (status >= 500 ? ServerError : LxdError);
  return new Class(status, message, request);
}
