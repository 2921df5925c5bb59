/**
 * LXD's response envelopes (sync, async, error) and how an `LxtError`
 * becomes one: its category decides the HTTP status (core/errors.ts), its
 * message is the text the client prints.
 */
import { CATEGORY_STATUS, LxtError } from "../core/errors.js";
import type { AsyncBody, ErrorBody, SyncBody } from "./types.js";

export type { AsyncBody, ErrorBody, SyncBody } from "./types.js";

export function syncBody<T>(metadata: T): SyncBody<T> {
  return {
    type: "sync",
    status: "Success",
    status_code: 200,
    operation: "",
    error_code: 0,
    error: "",
    metadata,
  };
}

export function asyncBody<T>(url: string, metadata: T): AsyncBody<T> {
  return {
    type: "async",
    status: "Operation created",
    status_code: 100,
    operation: url,
    error_code: 0,
    error: "",
    metadata,
  };
}

export function errorBody(code: number, message: string): ErrorBody {
  return {
    type: "error",
    status: "",
    status_code: 0,
    operation: "",
    error_code: code,
    error: message,
    metadata: null,
  };
}

/** An error an API handler answers with: an HTTP status and LXD-style words. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** 400 with LXD's words for a request it cannot take. */
export function badRequest(message: string): ApiError {
  return new ApiError(400, message);
}

export function notFound(what: string): ApiError {
  return new ApiError(404, `${what} not found`);
}

/** The status and message a thrown value is answered with. */
export function errorOf(err: unknown): { status: number; message: string } {
  if (err instanceof ApiError) return { status: err.status, message: err.message };
  if (err instanceof LxtError) {
    return { status: CATEGORY_STATUS[err.category], message: err.message };
  }
  const e = err as { statusCode?: number; message?: string; code?: string };
  // fastify's own errors (body too large, bad JSON, bad content type) carry a status.
  if (typeof e?.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 600) {
    return { status: e.statusCode, message: e.message ?? String(err) };
  }
  return { status: 500, message: e?.message ?? String(err) };
}
