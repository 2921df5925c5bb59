/**
 * The HTTP side of lxtd: one fastify app per listener (the unix socket, and
 * HTTPS when asked), each with every route, LXD's envelopes for every
 * answer (errors included), and the websocket upgrades (events, operation
 * websockets) handled beside fastify on the same server.
 */
import type { IncomingMessage } from "node:http";
import type { ServerOptions as HttpsOptions } from "node:https";
import type { Duplex } from "node:stream";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
  LogController,
} from "fastify";
import { type WebSocket, WebSocketServer } from "ws";
import { phase } from "../core/phase.js";
import { peerTrusted } from "./cluster-peers.js";
import type { Daemon } from "./daemon.js";
import { errorBody, errorOf } from "./envelope.js";
import { secretOpens } from "./image-pull.js";
import { ROUTES } from "./routes/index.js";
import { sessionRefusal, uiPublic } from "./routes/ui.js";
import { handleUpgrade } from "./websockets.js";

/** Largest JSON body taken (a backup or image upload streams, past this). */
export const BODY_LIMIT = 4 * 1024 * 1024;

export interface AppOptions {
  /** Decides whether a request's client is trusted (the unix socket always is). */
  trusted?: (req: IncomingMessage) => boolean;
  /** Serve HTTPS with these TLS options (the server certificate, client certificates asked for). */
  https?: HttpsOptions;
}

declare module "fastify" {
  interface FastifyRequest {
    /** Whether the client is trusted (unix socket, a client certificate in the trust store, a UI session). */
    trusted: boolean;
    /** Whether it is trusted only by its web UI session. */
    viaSession: boolean;
  }
}

/** Paths an untrusted client may reach (LXD: the server's public view, and the certificate POST). */
const PUBLIC = new Set(["GET /1.0", "GET /", "POST /1.0/certificates"]);

/** How long, and for how many bytes, a lingering close reads what the client still sends. */
export const LINGER_MS = 2_000;
export const LINGER_BYTES = 64 * 1024 * 1024;

/**
 * A lingering close (RFC 9112, 9.6): when the answer goes out before the
 * request's body was read, node closes the connection once the answer is
 * written, and a client still sending then gets EPIPE or a reset, which can
 * reach it before the answer it was sent, so it never reads it. Instead the
 * answer is followed by our FIN, and what the client still sends is read
 * and dropped until it closes its side, for at most `LINGER_MS` and
 * `LINGER_BYTES`; nothing of it is kept.
 */
function lingerBeforeClose(req: IncomingMessage): void {
  const socket = req.socket;
  if ((socket as { lxtLinger?: boolean }).lxtLinger) return;
  (socket as { lxtLinger?: boolean }).lxtLinger = true;
  socket.destroySoon = () => {
    let seen = 0;
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once("close", () => clearTimeout(timer));
    socket.once("end", () => socket.destroy());
    socket.on("data", (b: Buffer) => {
      seen += b.length;
      if (seen > LINGER_BYTES) socket.destroy();
    });
    socket.end();
  };
  // The request's own stream drops the body's bytes (flowing, no reader).
  req.resume();
}

/** How long a client may take over its headers, and how often node checks (it answers 408). */
function slowClientBounds(requestTimeout: number) {
  return {
    headersTimeout: Math.min(60_000, requestTimeout),
    connectionsCheckingInterval: Math.max(100, Math.min(30_000, requestTimeout / 4)),
  };
}

export function buildApp(d: Daemon, opts: AppOptions = {}): FastifyInstance {
  const trusted = opts.trusted ?? (() => true);
  const { requestTimeoutMs: requestTimeout, heartbeatMs } = d.limits;
  const app = Fastify({
    loggerInstance: d.log as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    // Slow or stuck clients do not hold a request forever: node checks every
    // connection's progress each `connectionsCheckingInterval` and answers 408.
    requestTimeout,
    connectionTimeout: 0,
    keepAliveTimeout: 60_000,
    routerOptions: { ignoreTrailingSlash: true },
    // The same bounds on both listeners (the HTTPS server takes them among its TLS options).
    ...(opts.https
      ? { https: { ...opts.https, ...slowClientBounds(requestTimeout) } }
      : { http: slowClientBounds(requestTimeout) }),
  }) as unknown as FastifyInstance;
  app.decorateRequest("trusted", false);
  app.decorateRequest("viaSession", false);
  // An answer sent before the request's body was read (413, a refused upload): linger.
  app.addHook("onSend", async (req, _reply, payload) => {
    if (!req.raw.complete) lingerBeforeClose(req.raw);
    return payload;
  });
  app.addHook("onResponse", async (req, reply) => {
    d.log.debug(
      {
        method: req.method,
        url: req.url,
        status: reply.statusCode,
        duration: Math.round(reply.elapsedTime * 10) / 10,
      },
      "request",
    );
  });
  app.addHook("onRequest", async (req, reply) => {
    phase("api: request");
    req.trusted = trusted(req.raw) || (opts.https !== undefined && (await peerTrusted(d, req.raw)));
    if (!req.trusted && d.ui.sessionOf(req.raw)) req.trusted = req.viaSession = true;
    const route = `${req.method} ${req.url.split("?")[0]}`;
    if (
      !req.trusted &&
      !PUBLIC.has(route) &&
      !uiPublic(route) &&
      !secretOpens(d, req.method, req.url)
    ) {
      return reply.code(403).send(errorBody(403, "not authorized"));
    }
    const refusal = req.viaSession
      ? sessionRefusal(req.method, route.split(" ")[1] ?? "")
      : undefined;
    if (refusal) return reply.code(403).send(errorBody(403, refusal));
    const project = (req.query as Record<string, unknown> | undefined)?.project;
    if (project !== undefined && project !== "" && project !== "default") {
      return reply.code(404).send(errorBody(404, "Project not found"));
    }
  });
  // LXD clients send JSON; file pushes and image uploads are streams read by their handlers.
  app.addContentTypeParser("application/octet-stream", (_req, payload, done) =>
    done(null, payload),
  );
  app.addContentTypeParser("*", (_req, payload, done) => done(null, payload));
  app.setErrorHandler((err, req, reply) => {
    const { status, message } = errorOf(err);
    if (status >= 500) d.log.error({ err, url: req.url }, "request failed");
    void reply.code(status).send(errorBody(status, message));
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorBody(404, notFoundText(req)));
  });
  for (const register of ROUTES) register(app, d);

  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
  app.server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void (async () => {
      if (
        !trusted(req) &&
        !d.ui.sessionOf(req) &&
        !(opts.https !== undefined && (await peerTrusted(d, req)))
      ) {
        socket.end("HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      handleUpgrade(d, wss, req, socket, head);
    })();
  });
  // Upgraded sockets would hold the server's close open: end them first.
  app.addHook("preClose", async () => {
    for (const ws of wss.clients) ws.terminate();
  });
  const beat = heartbeat(wss, heartbeatMs);
  app.addHook("onClose", async () => clearInterval(beat));
  return app;
}

/**
 * Pings every websocket (events, operation streams) each `ms`; one that
 * has not answered the previous ping by then is a dead or half-open peer
 * and is terminated, so a vanished client costs at most two periods.
 */
function heartbeat(wss: WebSocketServer, ms: number): NodeJS.Timeout {
  const answered = new WeakMap<WebSocket, boolean>();
  const timer = setInterval(() => {
    for (const ws of wss.clients) {
      const seen = answered.get(ws);
      if (seen === false) {
        ws.terminate();
        continue;
      }
      if (seen === undefined) ws.on("pong", () => answered.set(ws, true));
      answered.set(ws, false);
      ws.ping();
    }
  }, ms);
  timer.unref();
  return timer;
}

function notFoundText(req: FastifyRequest): string {
  return req.method === "GET" || req.method === "HEAD"
    ? "not found"
    : "method or path not supported";
}
