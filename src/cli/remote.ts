/**
 * `lxt remote`: other lxtd hosts this state root talks to over HTTPS, as
 * the LXD client keeps its remotes. One client certificate per state root
 * (`STATE_ROOT/.remotes/client.crt`, made on first use) is what remotes
 * trust; each remote's server certificate is pinned when it is added
 * (`remotes.yaml`), and every later connection is refused unless the
 * server presents that same certificate.
 */
import { createHash, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { request } from "node:https";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { connect, type TLSSocket } from "node:tls";
import { parse, stringify } from "yaml";
import { parseAnswer, pipeBody } from "../api/migrate-send.js";
import { LxtError } from "../core/errors.js";
import { checkName } from "../core/names.js";
import { clientIdentity, type Identity, writeWhole } from "./client-cert.js";

/** A remote as stored: where it listens and the certificate it must present. */
export interface Remote {
  name: string;
  /** `https://HOST:PORT` */
  url: string;
  /** The server's certificate, PEM, pinned at `remote add`. */
  certificate: string;
}

/** Where a state root keeps its remotes and its client certificate. */
export function remotesDir(lxcpath: string): string {
  return join(lxcpath, ".remotes");
}

function remotesFile(lxcpath: string): string {
  return join(remotesDir(lxcpath), "remotes.yaml");
}

/** The remotes of a state root, by name. */
export function readRemotes(lxcpath: string): Map<string, Remote> {
  const file = remotesFile(lxcpath);
  const out = new Map<string, Remote>();
  if (!existsSync(file)) return out;
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new LxtError("config", `${file}: not YAML (${(err as Error).message})`, err);
  }
  const list = (raw as { remotes?: Record<string, Partial<Remote>> } | null)?.remotes ?? {};
  for (const [name, r] of Object.entries(list)) {
    if (typeof r?.url !== "string" || typeof r.certificate !== "string") {
      throw new LxtError("config", `${file}: remote "${name}" has no url or certificate`);
    }
    out.set(name, { name, url: r.url, certificate: r.certificate });
  }
  return out;
}

/** Writes the remotes of a state root (atomically). */
export function writeRemotes(lxcpath: string, remotes: Map<string, Remote>): void {
  mkdirSync(remotesDir(lxcpath), { recursive: true, mode: 0o700 });
  const body: Record<string, { url: string; certificate: string }> = {};
  for (const r of [...remotes.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    body[r.name] = { url: r.url, certificate: r.certificate };
  }
  writeWhole(remotesFile(lxcpath), stringify({ remotes: body }), 0o600);
}

/** The remote called `name`, or a not-found error naming the state root's list. */
export function findRemote(lxcpath: string, name: string, what: string): Remote {
  const r = readRemotes(lxcpath).get(name);
  if (!r) {
    throw new LxtError(
      "not-found",
      `${what}: no remote "${name}" (lxt remote list shows them; lxt remote add NAME URL adds one)`,
    );
  }
  return r;
}

/** A remote's name as `lxt remote add` takes it: a container-like name. */
export function checkRemoteName(name: string): string {
  try {
    return checkName(name);
  } catch {
    throw new LxtError(
      "usage",
      `remote add: "${name}" is not a valid remote name (letters, digits, - and _)`,
    );
  }
}

/** `https://HOST[:PORT]` checked and normalised (LXD's port 8443 when none). */
export function parseRemoteUrl(url: string): { url: string; host: string; port: number } {
  let u: URL;
  try {
    u = new URL(url.includes("://") ? url : `https://${url}`);
  } catch {
    throw new LxtError("usage", `remote add: "${url}" is not a URL (https://HOST:PORT)`);
  }
  if (u.protocol !== "https:" || (u.pathname !== "/" && u.pathname !== "")) {
    throw new LxtError("usage", `remote add: "${url}" is not an https://HOST[:PORT] URL`);
  }
  const port = u.port === "" ? 8443 : Number(u.port);
  const host = u.hostname.replace(/^\[|\]$/g, "");
  // `u.hostname` keeps an IPv6 address's brackets, as the URL needs them.
  return { url: `https://${u.hostname}:${port}`, host, port };
}

/** This state root's client certificate, made once. */
export function localIdentity(lxcpath: string): Identity {
  return clientIdentity(remotesDir(lxcpath), `root@${hostname()}`);
}

/** sha256 of a certificate's DER, lowercase hex (LXD's fingerprint). */
export function fingerprintOf(der: Buffer): string {
  return createHash("sha256").update(der).digest("hex");
}

/** A TLS connection to `url` presenting `id`; resolves once the handshake is done. */
/**
 * A connection to a remote or a request on it that sees no byte either way
 * for this long fails (a remote that is stopped, or cut off, answers
 * nothing): no call to a remote waits without end. An operation's wait is
 * asked in shorter slices (`WAIT_SLICE_S`), so it is never this quiet.
 */
export const REMOTE_IDLE_MS = 60_000;
const WAIT_SLICE_S = 20;
/** The most a remote's operation is waited for, all slices together. */
export const REMOTE_OPERATION_MS = 30 * 60_000;

function idleError(what: string, url: string): LxtError {
  return new LxtError(
    "timeout",
    `${what}: ${url} sent nothing for ${REMOTE_IDLE_MS / 1000} s (is its lxtd stopped or the network cut?)`,
  );
}

function tlsConnect(url: string, id: Identity, what: string): Promise<TLSSocket> {
  const { host, port } = parseRemoteUrl(url);
  return new Promise((resolve, reject) => {
    const sock = connect({
      host,
      port,
      cert: id.cert,
      key: id.key,
      // The server's certificate is self-signed: it is checked by its
      // pinned fingerprint below, before anything is sent.
      rejectUnauthorized: false,
      minVersion: "TLSv1.2",
      ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }),
    });
    sock.setTimeout(REMOTE_IDLE_MS, () => sock.destroy(idleError(what, url)));
    sock.once("secureConnect", () => {
      sock.removeAllListeners("error");
      sock.setTimeout(0);
      resolve(sock);
    });
    sock.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err instanceof LxtError
          ? err
          : new LxtError(
              "daemon",
              `${what}: cannot reach ${url} (${err.code ?? err.message})`,
              err,
            ),
      ),
    );
  });
}

/** The certificate a server presents (for `remote add`), PEM, and its fingerprint. */
export async function serverCertificate(
  url: string,
  id: Identity,
): Promise<{ pem: string; fingerprint: string }> {
  const sock = await tlsConnect(url, id, "remote add");
  const raw = sock.getPeerCertificate(false)?.raw;
  sock.destroy();
  if (!raw || raw.length === 0) {
    throw new LxtError("daemon", `remote add: ${url} presented no certificate`);
  }
  return { pem: new X509Certificate(raw).toString(), fingerprint: fingerprintOf(raw) };
}

interface Envelope {
  type?: string;
  error?: string;
  error_code?: number;
  status_code?: number;
  operation?: string;
  metadata?: unknown;
}

export interface RemoteCall {
  method: string;
  path: string;
  /** JSON, or a stream sent as `application/octet-stream`. */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * One request to a remote, over a connection whose server certificate is
 * the pinned one (else refused before anything is sent); resolves with the
 * whole envelope. An error envelope becomes an LxtError with the remote's
 * words, prefixed by `what` and the remote's name.
 */
export async function remoteRequest(
  remote: Remote,
  id: Identity,
  what: string,
  call: RemoteCall,
): Promise<Envelope> {
  const sock = await tlsConnect(remote.url, id, what);
  const raw = sock.getPeerCertificate(false)?.raw;
  const pinned = fingerprintOf(new X509Certificate(remote.certificate).raw);
  if (!raw || fingerprintOf(raw) !== pinned) {
    sock.destroy();
    throw new LxtError(
      "remote",
      `${what}: remote ${remote.name} (${remote.url}) presented a certificate other than the one pinned at remote add (expected ${pinned.slice(0, 12)}, got ${raw ? fingerprintOf(raw).slice(0, 12) : "none"})`,
    );
  }
  const stream = isStream(call.body) ? call.body : undefined;
  const data = call.body === undefined || stream ? undefined : JSON.stringify(call.body);
  return new Promise((resolve, reject) => {
    sock.setTimeout(REMOTE_IDLE_MS, () => req.destroy(idleError(what, remote.url)));
    const req = request(
      {
        createConnection: () => sock,
        method: call.method,
        path: call.path,
        headers: {
          Host: new URL(remote.url).host,
          ...(data
            ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) }
            : {}),
          ...(stream ? { "Content-Type": "application/octet-stream" } : {}),
          ...call.headers,
        },
        signal: call.signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          sock.destroy();
          try {
            resolve(
              parseAnswer<Envelope>(
                Buffer.concat(chunks),
                res.statusCode,
                `${what}: remote ${remote.name}`,
              ),
            );
          } catch (err) {
            reject(err);
          }
        });
      },
    );
    req.on("error", (err: NodeJS.ErrnoException) => {
      sock.destroy();
      if (err instanceof LxtError) {
        reject(err);
        return;
      }
      reject(
        new LxtError(
          "daemon",
          `${what}: remote ${remote.name} (${remote.url}): ${err.code ?? err.message}`,
          err,
        ),
      );
    });
    if (stream) {
      pipeBody(stream, req);
    } else req.end(data);
  });
}

function isStream(body: unknown): body is Readable {
  return !!body && typeof (body as { pipe?: unknown }).pipe === "function";
}

/**
 * Waits for an operation a remote started; resolves with its metadata when
 * it succeeded, rejects with the operation's error otherwise.
 */
export async function waitRemoteOperation(
  remote: Remote,
  id: Identity,
  what: string,
  operation: string,
): Promise<unknown> {
  const deadline = Date.now() + REMOTE_OPERATION_MS;
  let op: { status_code?: number; err?: string; metadata?: unknown };
  for (;;) {
    const env = await remoteRequest(remote, id, what, {
      method: "GET",
      path: `${operation}/wait?timeout=${WAIT_SLICE_S}`,
    });
    op = env.metadata as typeof op;
    // 1xx: created, running, pending (LXD's status codes); the rest are final.
    if (typeof op?.status_code !== "number" || op.status_code >= 200) break;
    if (Date.now() > deadline)
      throw new LxtError(
        "timeout",
        `${what}: remote ${remote.name}'s operation ${operation} did not end within ${REMOTE_OPERATION_MS / 60_000} min`,
      );
  }
  if (op?.status_code !== 200) {
    throw new LxtError(
      "remote",
      `${what}: remote ${remote.name}: ${op?.err || `operation ended with status ${op?.status_code}`}`,
    );
  }
  return op.metadata;
}
