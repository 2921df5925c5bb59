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
import { WebSocketServer } from "ws";
import type { Daemon } from "./daemon.js";
import { errorBody, errorOf } from "./envelope.js";
import { ROUTES } from "./routes/index.js";
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
    /** Whether the client is trusted (unix socket, or a client certificate in the trust store). */
    trusted: boolean;
  }
}

/** Paths an untrusted client may reach (LXD: the server's public view, and the certificate POST). */
const PUBLIC = new Set(["GET /1.0", "GET /", "POST /1.0/certificates"]);

export function buildApp(d: Daemon, opts: AppOptions = {}): FastifyInstance {
  const trusted = opts.trusted ?? (() => true);
  const app = Fastify({
    loggerInstance: d.log as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    // Slow or stuck clients do not hold a request forever.
    requestTimeout: 120_000,
    connectionTimeout: 0,
    keepAliveTimeout: 60_000,
    routerOptions: { ignoreTrailingSlash: true },
    ...(opts.https ? { https: opts.https } : {}),
  }) as unknown as FastifyInstance;
  app.decorateRequest("trusted", false);
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
    req.trusted = trusted(req.raw);
    const route = `${req.method} ${req.url.split("?")[0]}`;
    if (!req.trusted && !PUBLIC.has(route)) {
      return reply.code(403).send(errorBody(403, "not authorized"));
    }
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
    if (!trusted(req)) {
      socket.end("HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    handleUpgrade(d, wss, req, socket, head);
  });
  // Upgraded sockets would hold the server's close open: end them first.
  app.addHook("preClose", async () => {
    for (const ws of wss.clients) ws.terminate();
  });
  return app;
}

function notFoundText(req: FastifyRequest): string {
  return req.method === "GET" || req.method === "HEAD"
    ? "not found"
    : "method or path not supported";
}
