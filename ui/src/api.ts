/**
 * The UI's door to lxtd: LXD's envelopes unwrapped, async operations
 * awaited, and errors as words (`start c1: Instance is running`). The
 * session cookie goes with every request (same origin); a 403 means the
 * session ended, and the page says so.
 */
import type { OperationJson } from "../../src/api/operations.js";

interface Envelope<T> {
  type: "sync" | "async" | "error";
  status_code: number;
  error_code: number;
  error: string;
  operation: string;
  metadata: T;
}

/** An API error in words, with LXD's status code. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Called when the daemon says the session is over (403). */
export let onLoggedOut: () => void = () => {};
export function setLoggedOutHandler(f: () => void): void {
  onLoggedOut = f;
}

async function envelope<T>(res: Response, what: string): Promise<Envelope<T>> {
  let env: Envelope<T>;
  try {
    env = (await res.json()) as Envelope<T>;
  } catch {
    throw new ApiFailure(res.status, `${what}: lxtd answered ${res.status} ${res.statusText}`);
  }
  if (env.type === "error" || !res.ok) {
    if (res.status === 403) onLoggedOut();
    throw new ApiFailure(env.error_code || res.status, `${what}: ${env.error || res.statusText}`);
  }
  return env;
}

/** One request; resolves with the envelope (sync or async). `what` names it in errors. */
export async function call<T>(
  what: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Envelope<T>> {
  const isRaw = body instanceof Blob;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: "same-origin",
      headers:
        body !== undefined && !isRaw ? { "Content-Type": "application/json", ...headers } : headers,
      body: body === undefined ? undefined : isRaw ? body : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiFailure(0, `${what}: lxtd cannot be reached (${(err as Error).message})`);
  }
  return envelope<T>(res, what);
}

/** A sync GET's metadata. */
export async function get<T>(path: string, what = `GET ${path}`): Promise<T> {
  return (await call<T>(what, "GET", path)).metadata;
}

/** Waits for an operation to end; throws its error in words when it failed. */
export async function waitOperation(url: string, what: string): Promise<OperationJson> {
  for (;;) {
    const op = (await call<OperationJson>(what, "GET", `${url}/wait?timeout=30`)).metadata;
    if (op.status_code === 200) return op;
    if (op.status_code >= 400)
      throw new ApiFailure(op.status_code, `${what}: ${op.err || op.status}`);
  }
}

/** A request that may answer with an operation: resolves once it is done. */
export async function act<T = unknown>(
  what: string,
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
): Promise<T> {
  const env = await call<T>(what, method, path, body, headers);
  if (env.type !== "async") return env.metadata;
  return (await waitOperation(env.operation, what)).metadata as T;
}

/** A websocket URL on this origin. */
export function wsUrl(path: string): string {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
}

/** Bytes as `12.3 MiB`. */
export function bytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}
