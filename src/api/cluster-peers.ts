/**
 * Calls between cluster members: a member reaches another over HTTPS with
 * its own server certificate as the client certificate, and checks that
 * the peer presents the certificate its record in the store names (the
 * record's `fingerprint`). A member trusts a client whose certificate is
 * a trusted member's (`peerTrusted`).
 */
import type { IncomingMessage } from "node:http";
import { request } from "node:http";
import { connect, type TLSSocket } from "node:tls";
import type { ClusterStore } from "./cluster-store.js";
import { trustedFingerprints } from "./cluster-tokens.js";
import type { Daemon } from "./daemon.js";
import { ApiError } from "./envelope.js";
import { fingerprintOf, peerFingerprint, serverIdentity } from "./tls.js";
import type { MemberView } from "./types.js";

/** How long a member waits for a peer's TLS handshake. */
const CONNECT_TIMEOUT_MS = 5000;
/** How often an unknown client certificate may make a member re-read the members (a flood costs etcd nothing more). */
const REFRESH_MS = 1000;

/**
 * How long a trusted certificate is taken on the last read: a member
 * removed from the cluster (cluster-remove.ts) is refused by every member
 * at most this long after.
 */
const TRUST_MAX_AGE_MS = 5000;

/** The members' certificate fingerprints, re-read at most each `REFRESH_MS`. */
const known = new WeakMap<Daemon, { at: number; fps: Set<string> }>();

/** The re-read under way, if any. */
const rereads = new WeakMap<Daemon, Promise<Set<string>>>();

/**
 * A TLS connection to member `m`, with this member's certificate, once the
 * peer has shown the certificate of its record; 503 naming the member when
 * it cannot be reached or shows another certificate.
 */
export async function connectPeer(d: Daemon, m: MemberView): Promise<TLSSocket> {
  if (!m.online) throw new ApiError(503, `Cluster member ${m.name} is offline`);
  const url = new URL(m.address);
  const id = await serverIdentity(d.stateDir, d.serverName);
  return await new Promise<TLSSocket>((resolve, reject) => {
    const sock = connect({
      host: url.hostname.replace(/^\[|\]$/g, ""),
      port: Number(url.port),
      cert: id.cert,
      key: id.key,
      // Members' certificates are self-signed: the peer is checked by its fingerprint below.
      rejectUnauthorized: false,
      timeout: CONNECT_TIMEOUT_MS,
    });
    const fail = (why: string) => {
      sock.destroy();
      reject(new ApiError(503, `Cluster member ${m.name} (${m.address}): ${why}`));
    };
    sock.once("timeout", () => fail("no answer"));
    sock.once("error", (err) => fail(err.message));
    sock.once("secureConnect", () => {
      const raw = sock.getPeerCertificate().raw;
      if (!raw || fingerprintOf(raw) !== m.fingerprint) {
        fail("its certificate is not the one in its record");
        return;
      }
      sock.setTimeout(0);
      sock.removeAllListeners("timeout");
      sock.removeAllListeners("error");
      resolve(sock);
    });
  });
}

/** The member named `name` (online or not), or undefined. */
export async function memberNamed(d: Daemon, name: string): Promise<MemberView | undefined> {
  return (await d.cluster?.members())?.find((m) => m.name === name);
}

/** A request to a member answered with JSON: its LXD envelope, parsed; 503 when unreachable. */
export async function peerJson(
  d: Daemon,
  m: MemberView,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const sock = await connectPeer(d, m);
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return await new Promise((resolve, reject) => {
    const req = request(
      {
        method,
        path,
        createConnection: () => sock,
        headers: {
          host: new URL(m.address).host,
          connection: "close",
          ...(data ? { "content-type": "application/json", "content-length": data.length } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          try {
            resolve({
              status: res.statusCode ?? 0,
              body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>,
            });
          } catch {
            reject(new ApiError(503, `Cluster member ${m.name} answered ${path} with no JSON`));
          }
        });
        res.on("error", reject);
      },
    );
    req.on("error", (err) =>
      reject(new ApiError(503, `Cluster member ${m.name} (${m.address}): ${err.message}`)),
    );
    req.end(data);
  });
}

/** A member's answer's `metadata` (a sync value, or an operation); an error answer throws its status and words. */
export async function memberAsked(
  d: Daemon,
  m: MemberView,
  method: string,
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const r = await peerJson(d, m, method, path, body);
  if (r.status >= 300) {
    throw new ApiError(r.status, `Cluster member ${m.name}: ${String(r.body.error ?? r.status)}`);
  }
  return (r.body.metadata ?? {}) as Record<string, unknown>;
}

/**
 * Whether the request came from a member (its client certificate is one
 * `peerTrusted` accepted): such a request is for this member alone and is
 * never forwarded again (two members lacking an image would ask each other
 * forever).
 */
export function fromPeer(d: Daemon, req: IncomingMessage): boolean {
  const fp = peerFingerprint(req);
  return fp !== undefined && known.get(d)?.fps.has(fp) === true;
}

/**
 * Whether an HTTPS client's certificate is a trusted member's (under
 * `/lxt/trust/`: cluster-tokens.ts). An unknown certificate makes the member
 * re-read the set, at most once a second: one that comes sooner waits for
 * that re-read rather than being refused on the old set (a member that has
 * just joined with a token is trusted at its first request). A known one is
 * re-read once the set is `TRUST_MAX_AGE_MS` old.
 */
export async function peerTrusted(d: Daemon, req: IncomingMessage): Promise<boolean> {
  const fp = peerFingerprint(req);
  if (!d.cluster || !fp) return false;
  const last = known.get(d);
  if (last?.fps.has(fp) && Date.now() - last.at < TRUST_MAX_AGE_MS) return true;
  try {
    return (await reread(d, d.cluster.store)).has(fp);
  } catch {
    // The store unreadable: the last set read stands.
    return last?.fps.has(fp) === true;
  }
}

/** The trust set read again, no sooner than `REFRESH_MS` after the last read; concurrent callers share one read. */
function reread(d: Daemon, store: ClusterStore): Promise<Set<string>> {
  const pending = rereads.get(d);
  if (pending) return pending;
  const last = known.get(d)?.at;
  const wait = last === undefined ? 0 : Math.max(0, last + REFRESH_MS - Date.now());
  const p = new Promise<void>((r) => setTimeout(r, wait))
    .then(() => trustedFingerprints(store))
    .then((fps) => {
      known.set(d, { at: Date.now(), fps });
      return fps;
    })
    .finally(() => rereads.delete(d));
  rereads.set(d, p);
  return p;
}
