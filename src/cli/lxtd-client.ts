/**
 * Where a state root's lxtd lives, and a small client for its unix socket:
 * what `lxt` verbs that go through the daemon (`lxt trust`) use. LXD's
 * envelopes are unwrapped here; an error envelope becomes an LxtError with
 * the daemon's words.
 */
import { request } from "node:http";
import { join } from "node:path";
import { LxtError } from "../core/errors.js";

/** lxtd's own directory under a state root: its socket, profiles, trust store, server config. */
export function daemonDir(lxcpath: string): string {
  return join(lxcpath, ".lxtd");
}

/** The default unix socket of the lxtd serving `lxcpath`. */
export function daemonSocket(lxcpath: string): string {
  return join(daemonDir(lxcpath), "unix.socket");
}

interface Envelope {
  type?: string;
  error?: string;
  error_code?: number;
  metadata?: unknown;
}

/**
 * One request to the lxtd on `socket`; resolves with the response's
 * metadata. `what` names the verb in errors. No daemon answering is a
 * `daemon` error naming the socket.
 */
export function daemonRequest(
  socket: string,
  what: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: socket,
        method,
        path,
        headers: {
          Host: "lxd",
          ...(data
            ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          let env: Envelope;
          try {
            env = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Envelope;
          } catch {
            reject(
              new LxtError("internal", `${what}: lxtd answered ${res.statusCode} with no JSON`),
            );
            return;
          }
          if (env.type === "error" || (res.statusCode ?? 500) >= 400) {
            const status = env.error_code ?? res.statusCode ?? 500;
            const code =
              status === 404
                ? "not-found"
                : status === 409
                  ? "exists"
                  : status < 500
                    ? "usage"
                    : "system";
            reject(new LxtError(code, `${what}: ${env.error || `lxtd answered ${status}`}`));
            return;
          }
          resolve(env.metadata);
        });
      },
    );
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ECONNREFUSED") {
        reject(new LxtError("daemon", `${what}: no lxtd answers on ${socket} (${err.code})`, err));
      } else reject(new LxtError("system", `${what}: ${socket}: ${err.message}`, err));
    });
    req.end(data);
  });
}

/**
 * A request to the lxtd on `socket` that starts an operation, and the wait
 * for its end; resolves with the operation's metadata when it succeeded,
 * else a `system` error with the operation's words (`failed`: what to say
 * without them).
 */
export async function daemonOperation(
  socket: string,
  what: string,
  method: string,
  path: string,
  body: unknown,
  failed: string,
): Promise<unknown> {
  const op = (await daemonRequest(socket, what, method, path, body)) as { id?: string };
  if (!op.id) throw new LxtError("internal", `${what}: lxtd answered no operation`);
  const done = (await daemonRequest(
    socket,
    what,
    "GET",
    `/1.0/operations/${op.id}/wait?timeout=-1`,
  )) as { status_code?: number; err?: string; metadata?: unknown };
  if (done.status_code !== 200) throw new LxtError("system", `${what}: ${done.err || failed}`);
  return done.metadata;
}
