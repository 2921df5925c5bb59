/**
 * The web UI at `/ui/` (docs/ui.md): its pages and assets, the login that
 * trades a one-time token for a session cookie, and `POST /ui/token`, where
 * a trusted client (`lxt ui`, `lxt trust ui-token`) gets a token and the
 * URLs to open it at. Only the login page is served to an untrusted
 * browser; `/ui/` sends it there.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Daemon } from "../daemon.js";
import { ApiError, syncBody } from "../envelope.js";
import { parseBody, uiTokenPost } from "../schemas.js";
import type { UiToken } from "../types.js";
import { clearedCookie, LOCAL_TOKEN_MS, sessionCookie } from "../ui-auth.js";
import type { UiFile } from "../ui-files.js";

/** Requests an untrusted browser may make: the login page, and the login itself. */
const PUBLIC = new Set(["GET /ui", "GET /ui/", "GET /ui/login", "POST /ui/login"]);

/** Whether `METHOD PATH` is one of the UI's public requests. */
export function uiPublic(route: string): boolean {
  return PUBLIC.has(route);
}

/**
 * Why a request may not be made with a UI session only, or undefined when
 * it may: a session ends, so it may not make trust that outlives it (a
 * certificate or an add token).
 */
export function sessionRefusal(method: string, path: string): string | undefined {
  if (method !== "GET" && path.replace(/\/+$/, "").startsWith("/1.0/certificates"))
    return "a web UI session cannot change the trust store (use lxt trust on the host)";
  return undefined;
}

function secure(req: FastifyRequest): boolean {
  return "encrypted" in req.raw.socket && Boolean(req.raw.socket.encrypted);
}

function send(req: FastifyRequest, reply: FastifyReply, file: UiFile | undefined) {
  if (!file) throw new ApiError(404, "not found");
  void reply
    .header("Content-Type", file.type)
    .header("Cache-Control", file.cache)
    .header("ETag", file.etag)
    .header("X-Content-Type-Options", "nosniff")
    .header("Referrer-Policy", "no-referrer")
    .header("Vary", "Accept-Encoding");
  if (file.csp)
    void reply.header("Content-Security-Policy", file.csp).header("X-Frame-Options", "DENY");
  if (req.headers["if-none-match"] === file.etag) return reply.code(304).send();
  const gzip = file.gzip && /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
  if (gzip) void reply.header("Content-Encoding", "gzip");
  return reply.send(gzip ? file.gzip : file.body);
}

/** The token a login form or JSON body carries. */
async function tokenOf(req: FastifyRequest): Promise<string> {
  const body = req.body;
  if (body && typeof body === "object" && "pipe" in body) {
    let text = "";
    for await (const chunk of body as unknown as AsyncIterable<Buffer>) {
      text += chunk.toString("utf8");
      if (text.length > 4096) throw new ApiError(413, "login form too large");
    }
    return new URLSearchParams(text).get("token")?.trim() ?? "";
  }
  const t = (body as { token?: unknown } | undefined)?.token;
  return typeof t === "string" ? t.trim() : "";
}

export function registerUiRoutes(app: FastifyInstance, d: Daemon): void {
  const files = d.uiFiles;
  app.get("/ui", async (req, reply) => {
    if (!req.url.startsWith("/ui/")) return reply.redirect("/ui/", 301);
    if (!req.trusted) return reply.redirect("/ui/login", 303);
    return send(req, reply, files.get("index.html"));
  });
  app.get("/ui/login", async (req, reply) => {
    // Already in (a session, or a trusted certificate): nothing to log in to.
    if (req.trusted && !req.url.includes("failed=")) return reply.redirect("/ui/", 303);
    return send(req, reply, files.get("login.html"));
  });
  app.post("/ui/login", async (req, reply) => {
    const id = d.ui.redeem(await tokenOf(req));
    if (!id) {
      d.log.warn({ ip: req.ip }, "ui login with a token that is spent, expired or unknown");
      return reply.redirect("/ui/login?failed=1", 303);
    }
    d.log.info({ ip: req.ip }, "ui session opened");
    return reply.header("Set-Cookie", sessionCookie(id, secure(req))).redirect("/ui/", 303);
  });
  app.post("/ui/logout", async (req, reply) => {
    const id = d.ui.sessionOf(req.raw);
    if (id) d.ui.end(id);
    void reply.header("Set-Cookie", clearedCookie(secure(req)));
    return reply.redirect("/ui/login", 303);
  });
  app.get<{ Params: { file: string } }>("/ui/assets/:file", async (req, reply) =>
    send(req, reply, files.get(`assets/${req.params.file}`)),
  );
  app.post("/ui/token", async (req) => {
    // A session may not mint more sessions: only the socket's or a certificate's clients.
    if (req.viaSession) throw new ApiError(403, "a UI session cannot make login tokens");
    const body = parseBody(uiTokenPost, req.body ?? {});
    if (!files.built)
      throw new ApiError(503, "the web UI is not built (run `npm run build` in lxt's checkout)");
    const ttl = body.expiry !== undefined ? body.expiry * 1000 : LOCAL_TOKEN_MS;
    const { token, expiresAt } = d.ui.issueToken(ttl);
    let bases: string[];
    if (body.https) {
      if (d.addresses().length === 0)
        throw new ApiError(400, "lxtd does not listen on HTTPS (core.https_address)");
      bases = d.addresses().map((a) => `https://${a}`);
    } else {
      if (!d.uiLocal) throw new ApiError(503, "this lxtd serves no local UI listener");
      bases = [await d.uiLocal.ensure()];
    }
    const answer: UiToken = {
      token,
      expires_at: new Date(expiresAt).toISOString(),
      urls: bases.map((b) => `${b}/ui/login#token=${token}`),
    };
    d.log.info({ expires_at: answer.expires_at, https: body.https === true }, "ui token issued");
    return syncBody(answer);
  });
}
