/**
 * Who members trust, and joining with a token. Members trust one another
 * by certificate: `/lxt/trust/FINGERPRINT` names a member whose HTTPS
 * certificate the others accept as a client (forwarded requests) and as a
 * server. The first member of a cluster founds that set with its own
 * certificate; any other member's certificate joins it only through a
 * token a trusted member issued (`POST /1.0/cluster/members`, `lxt
 * cluster add NAME`, LXD's `lxc cluster add`): one use, for one member
 * name, for `TOKEN_TTL_MS`. The token is LXD's join token (base64 of JSON:
 * server_name, fingerprint and addresses of the issuer, secret,
 * expires_at); the store keeps only the secret's hash.
 */
import { createHash, randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { Cluster } from "./cluster.js";
import type { ClusterStore } from "./cluster-store.js";
import type { Daemon } from "./daemon.js";
import { ApiError, asyncBody, badRequest } from "./envelope.js";
import { decodeJoinToken } from "./join-token.js";
import { parseBody } from "./schemas.js";

/** How long a join token is good for (LXD's cluster.join_token_expiry default). */
export const TOKEN_TTL_MS = 3 * 3600 * 1000;

export const TRUST_KEYS = {
  /** A trusted member certificate: the member's name. */
  trust: (fp: string) => `/lxt/trust/${fp}`,
  trusts: "/lxt/trust/",
  /** Claimed once by the member that founds the trust. */
  founded: "/lxt/trust-founded",
  /** A join token waiting for member NAME: its secret's hash and expiry. */
  token: (name: string) => `/lxt/tokens/${name}`,
  /** Claimed when a token is spent: a token is good once. */
  spent: (hash: string) => `/lxt/tokens-spent/${hash}`,
};

interface TokenRecord {
  hash: string;
  expires_at: string;
  issuer: string;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** The trusted certificates' fingerprints. */
export async function trustedFingerprints(store: ClusterStore): Promise<Set<string>> {
  const all = await store.getPrefix(TRUST_KEYS.trusts);
  return new Set([...all.keys()].map((k) => k.slice(TRUST_KEYS.trusts.length)));
}

/**
 * Issues a join token for a new member `name`: the operation metadata
 * LXD's client makes the token of (join-token.ts). 409 when a member of
 * that name exists.
 */
export async function issueJoinToken(
  d: Daemon,
  cluster: Cluster,
  name: string,
): Promise<Record<string, unknown>> {
  const store = cluster.store;
  if ((await cluster.members()).some((m) => m.name === name)) {
    throw new ApiError(409, `The cluster already has a member with name: ${name}`);
  }
  const secret = randomBytes(32).toString("hex");
  const expiresAt = new Date(d.ctx.host.clock.now() + TOKEN_TTL_MS).toISOString();
  const rec: TokenRecord = { hash: sha256(secret), expires_at: expiresAt, issuer: cluster.member };
  await store.put(TRUST_KEYS.token(name), JSON.stringify(rec));
  const addresses = [new URL(cluster.address).host];
  return { serverName: name, secret, fingerprint: d.fingerprint(), addresses, expiresAt };
}

/**
 * Admits this member's certificate (`fingerprint`) to the trust before it
 * joins: with a token, the token is checked (its name, its issuer a
 * trusted member, its secret, its expiry) and spent; without one, the
 * first member founds the trust, a member already trusted (a restart)
 * stays so, and any other joins untrusted (it is told so: the others do
 * not take its calls). Throws saying why a token is refused.
 */
export async function admit(
  store: ClusterStore,
  member: string,
  fingerprint: string,
  tokenText: string | undefined,
  now: number,
): Promise<{ trusted: boolean }> {
  const trusted = await trustedFingerprints(store);
  if (trusted.has(fingerprint)) return { trusted: true };
  if (tokenText === undefined) {
    if ((await store.claim(TRUST_KEYS.founded, member)) !== undefined) return { trusted: false };
    await store.put(TRUST_KEYS.trust(fingerprint), member);
    return { trusted: true };
  }
  const t = decodeJoinToken(tokenText);
  if (t.server_name !== member) {
    throw new Error(`the token is for member ${t.server_name}, not ${member}`);
  }
  if (!trusted.has(t.fingerprint)) {
    throw new Error("the token was not issued by a member of this cluster");
  }
  const raw = await store.get(TRUST_KEYS.token(member));
  const rec = raw ? (JSON.parse(raw) as TokenRecord) : undefined;
  const hash = sha256(t.secret);
  if ((await store.get(TRUST_KEYS.spent(hash))) !== undefined) {
    throw new Error(`the join token for ${member} was already used`);
  }
  if (!rec || rec.hash !== hash) throw new Error(`the join token for ${member} is not valid`);
  if (Date.parse(rec.expires_at) < now) {
    throw new Error(`the join token for ${member} expired at ${rec.expires_at}`);
  }
  // One use: the first to claim the spent mark has it.
  if ((await store.claim(TRUST_KEYS.spent(hash), member)) !== undefined) {
    throw new Error(`the join token for ${member} was already used`);
  }
  await store.put(TRUST_KEYS.trust(fingerprint), member);
  await store.deleteIf(TRUST_KEYS.token(member), raw as string);
  return { trusted: true };
}

/** `POST /1.0/cluster/members` {server_name}: a join token, as LXD's (a token operation). */
export function registerClusterTokenRoutes(app: FastifyInstance, d: Daemon): void {
  app.post("/1.0/cluster/members", async (req, reply) => {
    const cluster = d.cluster;
    if (!cluster) throw badRequest("Server isn't part of a cluster");
    const body = parseBody(z.object({ server_name: z.string() }), req.body);
    const name = body.server_name ?? "";
    if (!/^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/.test(name)) {
      throw badRequest(`Invalid member name "${name}": letters, digits and dashes`);
    }
    const metadata = await issueJoinToken(d, cluster, name);
    const op = d.operations.start({
      class: "token",
      description: "Requesting a join token",
      resources: { cluster: [`/1.0/cluster/members/${name}`] },
      metadata,
      run: async () => {},
    });
    return reply.code(202).header("Location", op.url).send(asyncBody(op.url, op.json()));
  });
}
