/**
 * How the SDK reaches lxtd: over its unix socket (trusted by the socket's
 * permissions) or over HTTPS with a client certificate, the server's
 * certificate pinned (LXD's model: self-signed certificates on both ends,
 * trust by fingerprint). One keep-alive agent per client; websockets (events,
 * exec, console) go the same way.
 */
import { X509Certificate } from "node:crypto";
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from "node:http";
import {
  Agent as HttpsAgent,
  type RequestOptions as HttpsRequestOptions,
  request as httpsRequest,
} from "node:https";
import { isIP } from "node:net";
import { type Duplex, Readable } from "node:stream";
import { type ConnectionOptions as TlsConnectionOptions, connect as tlsConnect } from "node:tls";
import { WebSocket } from "ws";
import { ConnectionError, errorFor, LxdError } from "./errors.js";

/** Where lxtd listens and how to prove who we are. */
export type ConnectOptions = UnixOptions | HttpsOptions;

export interface UnixOptions {
  /** The daemon's unix socket (`STATE/.lxtd/unix.socket`). */
  socket: string;
}

export interface HttpsOptions {
  /** `https://HOST:PORT` of the daemon (`core.https_address`). */
  url: string;
  /** This client's certificate (PEM), trusted by the daemon (`lxt trust add`, a token, or the password). */
  cert: string | Buffer;
  /** Its private key (PEM). */
  key: string | Buffer;
  /**
   * The server's certificate (PEM), pinned: a server showing any other is
   * refused. `GET /1.0` over the socket shows it (`environment.certificate`).
   */
  serverCertificate: string | Buffer;
}

/** One request as the transport sends it. */
export interface RawRequest {
  method: string;
  /** The path, `/1.0/...`, without the query. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  /** JSON-encoded unless a Buffer, a string or a stream (sent as `application/octet-stream`). */
  body?: unknown;
  signal?: AbortSignal;
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body, unread. */
  body: IncomingMessage;
}

/** `path?query` with empty values left out. */
export function pathWithQuery(path: string, query: RawRequest["query"] = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** The SHA-256 fingerprint of a PEM certificate, lowercase hex without colons (LXD's form). */
export function fingerprintOf(pem: string | Buffer): string {
  return new X509Certificate(pem).fingerprint256.replaceAll(":", "").toLowerCase();
}

function isStream(v: unknown): v is Readable {
  return v instanceof Readable || (typeof v === "object" && v !== null && "pipe" in v);
}

export class Transport {
  private readonly agent: HttpAgent;
  private readonly tls?: {
    host: string;
    port: number;
    cert: string | Buffer;
    key: string | Buffer;
    pin: string;
  };
  private readonly socket?: string;

  constructor(opts: ConnectOptions) {
    if ("socket" in opts) {
      this.socket = opts.socket;
      this.agent = new HttpAgent({ keepAlive: true });
    } else {
      const u = new URL(opts.url);
      if (u.protocol !== "https:") throw new TypeError(`lxtd url must be https: ${opts.url}`);
      this.tls = {
        host: u.hostname.replace(/^\[|\]$/g, ""),
        port: Number(u.port || 8443),
        cert: opts.cert,
        key: opts.key,
        pin: fingerprintOf(opts.serverCertificate),
      };
      const agent = new HttpsAgent({ keepAlive: true });
      // The agent's sockets come from pinnedConnect (asynchronous: handed over once checked).
      (agent as unknown as { createConnection: unknown }).createConnection = this.pinnedConnect;
      this.agent = agent;
    }
  }

  /** Who we talk to, for messages: the socket's path or the URL. */
  get target(): string {
    return this.socket ?? `https://${this.tls?.host}:${this.tls?.port}`;
  }

  /**
   * Opens a TLS connection for a request or a websocket and hands it over
   * only once the server has shown the pinned certificate: nothing (not even
   * the request line) is sent to a server that is not the one pinned. The
   * certificates are self-signed, so the fingerprint is the check, not a CA.
   */
  private readonly pinnedConnect = (
    options: TlsConnectionOptions & { path?: string | null },
    done: (err: Error | null, socket?: Duplex) => void,
  ): undefined => {
    const t = this.tls;
    if (!t) throw new Error("pinnedConnect without TLS");
    const socket = tlsConnect({
      ...options,
      path: undefined,
      servername: options.host && isIP(options.host) === 0 ? options.host : "",
      cert: t.cert,
      key: t.key,
      rejectUnauthorized: false,
    });
    let settled = false;
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      if (err) {
        socket.destroy();
        done(err);
      } else done(null, socket);
    };
    socket.once("secureConnect", () => {
      const fp = socket.getPeerCertificate().fingerprint256?.replaceAll(":", "").toLowerCase();
      settle(
        fp === t.pin ? null : new Error(`server certificate ${fp} is not the pinned ${t.pin}`),
      );
    });
    socket.once("error", settle);
    return undefined;
  };

  request(req: RawRequest): Promise<RawResponse> {
    const target = pathWithQuery(req.path, req.query);
    const what = `${req.method} ${req.path}`;
    const headers: Record<string, string> = { ...req.headers };
    let payload: Buffer | Readable | undefined;
    if (isStream(req.body)) {
      payload = req.body;
      headers["content-type"] ??= "application/octet-stream";
    } else if (Buffer.isBuffer(req.body) || typeof req.body === "string") {
      payload = Buffer.from(req.body);
      headers["content-type"] ??= "application/octet-stream";
    } else if (req.body !== undefined) {
      payload = Buffer.from(JSON.stringify(req.body));
      headers["content-type"] = "application/json";
    }
    if (Buffer.isBuffer(payload)) headers["content-length"] = String(payload.length);
    const common = {
      method: req.method,
      path: target,
      headers,
      agent: this.agent,
      ...(req.signal ? { signal: req.signal } : {}),
    };
    return new Promise((resolve, reject) => {
      const r = this.tls
        ? httpsRequest({ ...common, host: this.tls.host, port: this.tls.port })
        : httpRequest({ ...common, socketPath: this.socket });
      r.once("response", (res) =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }),
      );
      r.once("error", (err) => {
        if (err instanceof LxdError) reject(err);
        else
          reject(
            new ConnectionError(0, `${what} on ${this.target}: ${err.message}`, what, {
              cause: err,
            }),
          );
      });
      if (isStream(payload)) {
        payload.once("error", (err) => r.destroy(err));
        payload.pipe(r);
      } else r.end(payload);
    });
  }

  /**
   * Opens a websocket on `path` (with its query); resolves once it is open.
   * `onOpen` runs as it opens, before any message can be delivered (a
   * message in the same read as the handshake's answer would otherwise be
   * emitted before an awaiting caller could listen).
   * @internal (events and exec use it; its `ws` type is not part of the SDK's types)
   */
  websocket(path: string, onOpen?: (ws: WebSocket) => void): Promise<WebSocket> {
    const host = this.tls?.host.includes(":") ? `[${this.tls.host}]` : this.tls?.host;
    const ws = this.tls
      ? new WebSocket(`wss://${host}:${this.tls.port}${path}`, {
          createConnection: this
            .pinnedConnect as unknown as HttpsRequestOptions["createConnection"],
        })
      : new WebSocket(`ws+unix://${this.socket}:${path}`);
    return new Promise((resolve, reject) => {
      const fail = (err: Error) => {
        ws.terminate();
        reject(
          new ConnectionError(
            0,
            `websocket ${path} on ${this.target}: ${err.message}`,
            `GET ${path}`,
            {
              cause: err,
            },
          ),
        );
      };
      ws.once("open", () => {
        ws.off("error", fail);
        onOpen?.(ws);
        resolve(ws);
      });
      ws.once("error", fail);
      ws.once("unexpected-response", (req, res) => {
        ws.off("error", fail);
        // The refusal's body (LXD's error envelope) is read before the request is let go.
        readAll(res)
          .finally(() => req.destroy())
          .then(
            (buf) => {
              let message = `${res.statusCode} ${res.statusMessage ?? ""}`.trim();
              try {
                message = (JSON.parse(buf.toString()) as { error?: string }).error || message;
              } catch {}
              reject(errorFor(res.statusCode ?? 0, message, `GET ${path}`));
            },
            (err: Error) => fail(err),
          );
      });
    });
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }
}

/** Collects a stream. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}
