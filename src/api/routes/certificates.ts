/**
 * `/1.0/certificates`: the trust store, as LXD serves it. A trusted client
 * lists, adds, edits and removes certificates, and asks for one-time tokens
 * (`certificate_token`: an operation of class `token` whose metadata holds
 * the secret; the client prints it base64-encoded). An untrusted HTTPS client
 * may only POST its own certificate, with the trust password or a token.
 */
import { randomBytes } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Daemon } from "../daemon.js";
import { ApiError, asyncBody, badRequest, syncBody } from "../envelope.js";
import { checkIfMatch, etagOf, sendWithEtag } from "../etag.js";
import type { Operation } from "../operations.js";
import { checkPassword } from "../password.js";
import { peerCertificate } from "../tls.js";
import {
  type CertificatePut,
  type CertificateType,
  certificateType,
  commonName,
  parseCertificate,
  type TrustedCertificate,
} from "../trust.js";
import { decodeToken } from "../trust-token.js";
import type { CertificatesPost } from "../types.js";
import { recursion } from "./params.js";

const BASE = "/1.0/certificates";

/** What a POST may carry (LXD's api.CertificatesPost; `trust_token` is newer clients' field). */
const POST_KEYS = new Set([
  "name",
  "type",
  "restricted",
  "projects",
  "certificate",
  "password",
  "token",
  "trust_token",
]);
const PUT_KEYS = new Set(["name", "type", "restricted", "projects", "certificate", "fingerprint"]);

function checkKeys(body: unknown, keys: ReadonlySet<string>): Record<string, unknown> {
  if (!body || typeof body !== "object" || Array.isArray(body))
    throw badRequest("Request body must be a JSON object");
  for (const k of Object.keys(body)) {
    if (!keys.has(k)) throw badRequest(`Unknown field "${k}"`);
  }
  return body as Record<string, unknown>;
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw badRequest(`Invalid "${key}": not a string`);
  return v;
}

function editable(c: TrustedCertificate) {
  return {
    name: c.name,
    type: c.type,
    restricted: c.restricted,
    projects: c.projects,
    certificate: c.certificate,
  };
}

/** The live token operation holding `secret`, if any. */
function tokenOperation(d: Daemon, secret: string): Operation | undefined {
  return d.operations
    .list()
    .find(
      (op) =>
        op.spec.class === "token" && op.status === "Running" && op.metadata?.secret === secret,
    );
}

/** Makes a token operation: it runs until its token is used or it is cancelled. */
function issueToken(d: Daemon, name: string, type: CertificateType): Operation {
  const tls = d.tls;
  if (!tls) throw badRequest("Can't issue token when server isn't listening on network");
  return d.operations.start({
    class: "token",
    description: "Certificate add token",
    mayCancel: true,
    metadata: {
      secret: randomBytes(32).toString("hex"),
      fingerprint: tls.fingerprint,
      addresses: tls.addresses,
      request: { name, type, restricted: false, projects: [], certificate: "" },
    },
    run: (op) =>
      new Promise<void>((resolve) => {
        if (op.signal.aborted) resolve();
        else op.signal.addEventListener("abort", () => resolve(), { once: true });
      }),
  });
}

async function post(d: Daemon, req: FastifyRequest, reply: FastifyReply) {
  const body = checkKeys(req.body ?? {}, POST_KEYS) as CertificatesPost & Record<string, unknown>;
  let name = optionalString(body, "name") ?? "";
  let type = certificateType(body.type);
  const certificate = optionalString(body, "certificate");
  const password = optionalString(body, "trust_token") ?? optionalString(body, "password") ?? "";
  if (body.token !== undefined && typeof body.token !== "boolean")
    throw badRequest('Invalid "token": not a boolean');
  if (body.restricted !== undefined && body.restricted !== false)
    throw badRequest(
      "Restricted certificates are not supported (lxt has only the default project)",
    );
  if (
    body.projects &&
    (!Array.isArray(body.projects) || body.projects.some((p) => p !== "default"))
  )
    throw badRequest("Only the default project exists");
  if (body.token && certificate) throw badRequest("Can't use certificate if token is requested");
  if (body.token && type !== "client")
    throw badRequest("Tokens can only be issued for client certificates");

  if (req.trusted && !certificate && !body.token) throw badRequest("Client is already trusted");
  if (!req.trusted) {
    if (body.token || password === "") throw new ApiError(403, "not authorized");
    const token = decodeToken(password);
    if (token) {
      const op = tokenOperation(d, token.secret);
      if (!op) throw new ApiError(403, "No matching certificate add operation found");
      // One use: the token's operation ends here, whatever follows.
      d.operations.cancel(op);
      const asked = (op.metadata?.request ?? {}) as { name?: string; type?: string };
      name = asked.name ?? "";
      type = certificateType(asked.type);
    } else if (!(await checkPassword(d.config.get("core.trust_password"), password))) {
      d.log.warn({ url: req.url, ip: req.ip }, "bad trust password");
      throw new ApiError(403, "not authorized");
    }
  }

  if (body.token) {
    const op = issueToken(d, name, type);
    return reply.code(202).header("Location", op.url).send(asyncBody(op.url, op.json()));
  }
  let der: Buffer;
  if (certificate) {
    der = parseCertificate(certificate).der;
  } else {
    const peer = peerCertificate(req.raw);
    if (!peer) {
      throw badRequest(
        req.raw.socket && "encrypted" in req.raw.socket
          ? "No client certificate provided"
          : "Can't use TLS data on non-TLS link",
      );
    }
    der = parseCertificate(peer.toString("base64")).der;
  }
  if (name === "") name = commonName(parseCertificate(der.toString("base64")).cert) || req.ip;
  const fingerprint = d.trust.add(der, { name, type });
  const url = `${BASE}/${fingerprint}`;
  d.events.lifecycle("certificate-created", url, { name });
  d.log.info({ fingerprint, name, type }, "certificate trusted");
  return reply.code(201).header("Location", url).send(syncBody(null));
}

export function registerCertificateRoutes(app: FastifyInstance, d: Daemon): void {
  app.get(BASE, async (req) => {
    const list = d.trust.list();
    if (recursion(req) > 0) return syncBody(list);
    return syncBody(list.map((c) => `${BASE}/${c.fingerprint}`));
  });
  app.post(BASE, (req, reply) => post(d, req, reply));
  app.get<{ Params: { fp: string } }>(`${BASE}/:fp`, async (req, reply) => {
    const c = d.trust.find(req.params.fp);
    return sendWithEtag(reply, syncBody(c), etagOf(editable(c)));
  });
  const update = async (req: FastifyRequest<{ Params: { fp: string } }>) => {
    const c = d.trust.find(req.params.fp);
    checkIfMatch(req, etagOf(editable(c)));
    const put = checkKeys(req.body ?? {}, PUT_KEYS) as CertificatePut & { fingerprint?: unknown };
    if (put.fingerprint !== undefined && put.fingerprint !== c.fingerprint)
      throw badRequest("The fingerprint cannot be changed (it is the certificate's)");
    const next = d.trust.update(c.fingerprint, put, req.method === "PUT");
    d.events.lifecycle("certificate-updated", `${BASE}/${c.fingerprint}`, {
      fingerprint: next.fingerprint,
    });
    return syncBody({});
  };
  app.put<{ Params: { fp: string } }>(`${BASE}/:fp`, update);
  app.patch<{ Params: { fp: string } }>(`${BASE}/:fp`, update);
  app.delete<{ Params: { fp: string } }>(`${BASE}/:fp`, async (req) => {
    const fingerprint = d.trust.remove(req.params.fp);
    d.events.lifecycle("certificate-deleted", `${BASE}/${fingerprint}`);
    d.log.info({ fingerprint }, "certificate removed from the trust store");
    return syncBody({});
  });
}
