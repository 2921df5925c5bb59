/**
 * A cluster join token as LXD's client prints it (`lxc cluster add`):
 * base64 of LXD's api.ClusterMemberJoinToken JSON. Pure: the daemon issues
 * and checks it, `lxt cluster add` prints it.
 */

/** The token's JSON: the new member's name, the issuer's certificate fingerprint and addresses, the secret. */
export interface JoinToken {
  server_name: string;
  fingerprint: string;
  addresses: string[];
  secret: string;
  expires_at: string;
}

/** The token from a join-token operation's metadata (LXD's keys: serverName, secret, fingerprint, addresses, expiresAt). */
export function tokenOfMetadata(m: Record<string, unknown>): string {
  const t: JoinToken = {
    server_name: String(m.serverName ?? ""),
    fingerprint: String(m.fingerprint ?? ""),
    addresses: Array.isArray(m.addresses) ? m.addresses.map(String) : [],
    secret: String(m.secret ?? ""),
    expires_at: String(m.expiresAt ?? ""),
  };
  return Buffer.from(JSON.stringify(t)).toString("base64");
}

/** Decodes a token; throws saying what it is not. */
export function decodeJoinToken(text: string): JoinToken {
  let t: Partial<JoinToken> | undefined;
  try {
    t = JSON.parse(Buffer.from(text.trim(), "base64").toString("utf8")) as Partial<JoinToken>;
  } catch {
    t = undefined;
  }
  if (
    typeof t?.server_name !== "string" ||
    typeof t.secret !== "string" ||
    typeof t.fingerprint !== "string" ||
    typeof t.expires_at !== "string" ||
    !Array.isArray(t.addresses)
  ) {
    throw new Error("not a join token (expected what `lxt cluster add NAME` printed)");
  }
  return t as JoinToken;
}
