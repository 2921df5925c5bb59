/**
 * A send's way to another member (migrate-send.ts's `Link`) over member
 * trust: each request is a TLS connection with this member's certificate
 * to the peer, whose certificate must be the one its record names
 * (cluster-peers.ts `connectPeer`); bodies may be streams (archives).
 */
import { request } from "node:http";
import type { Readable } from "node:stream";
import { LxtError } from "../core/errors.js";
import { connectPeer } from "./cluster-peers.js";
import type { Daemon } from "./daemon.js";
import {
  type Link,
  parseAnswer,
  pipeBody,
  type SendAnswer,
  type SendCall,
} from "./migrate-send.js";
import type { MemberView } from "./types.js";

/** How long one wait on a peer's operation lasts before it is asked again (seconds). */
const WAIT_SLICE_S = 30;

interface Envelope {
  type?: string;
  error?: string;
  error_code?: number;
  metadata?: unknown;
  operation?: string;
}

function isStream(body: unknown): body is Readable {
  return !!body && typeof (body as { pipe?: unknown }).pipe === "function";
}

/** `Link` to member `m` for the work `what` (words for errors). */
export function memberLink(d: Daemon, m: MemberView, what: string): Link {
  const to = `cluster member ${m.name}`;
  const call = async (c: SendCall): Promise<SendAnswer> => {
    const sock = await connectPeer(d, m);
    const stream = isStream(c.body) ? c.body : undefined;
    const data = c.body === undefined || stream ? undefined : Buffer.from(JSON.stringify(c.body));
    return await new Promise<SendAnswer>((resolve, reject) => {
      const req = request(
        {
          method: c.method,
          path: c.path,
          createConnection: () => sock,
          headers: {
            host: new URL(m.address).host,
            connection: "close",
            ...(data ? { "content-type": "application/json", "content-length": data.length } : {}),
            ...(stream ? { "content-type": "application/octet-stream" } : {}),
            ...c.headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (b: Buffer) => chunks.push(b));
          res.on("error", reject);
          res.on("end", () => {
            try {
              const env = parseAnswer<Envelope>(
                Buffer.concat(chunks),
                res.statusCode,
                `${what}: ${to}`,
              );
              resolve({ metadata: env.metadata, operation: env.operation });
            } catch (err) {
              reject(err);
            }
          });
        },
      );
      req.on("error", (err) =>
        reject(new LxtError("remote", `${what}: ${to} (${m.address}): ${err.message}`, err)),
      );
      if (stream) {
        pipeBody(stream, req);
      } else req.end(data);
    });
  };
  const wait = async (operation: string): Promise<unknown> => {
    for (;;) {
      const env = await call({ method: "GET", path: `${operation}/wait?timeout=${WAIT_SLICE_S}` });
      const op = env.metadata as { status_code?: number; err?: string; metadata?: unknown };
      // 1xx: created, running, pending (LXD's status codes); the rest are final.
      if (typeof op?.status_code === "number" && op.status_code < 200) continue;
      if (op?.status_code !== 200) {
        throw new LxtError(
          "remote",
          `${what}: ${to}: ${op?.err || `operation ended with status ${op?.status_code}`}`,
        );
      }
      return op.metadata;
    }
  };
  return { ctx: d.ctx, to, what, request: call, wait };
}
