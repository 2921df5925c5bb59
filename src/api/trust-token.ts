/**
 * The trust token of `POST /1.0/certificates` as the stock client encodes
 * it (base64 of LXD's api.CertificateAddToken JSON). Pure: the daemon reads
 * it, and `lxt remote add` checks the fingerprint in it.
 */

/** A token as the stock client encodes it: base64 of this JSON (LXD's api.CertificateAddToken). */
export interface AddToken {
  client_name: string;
  fingerprint: string;
  addresses: string[];
  secret: string;
}

/** The token inside a password, if the password is one (else it is a trust password). */
export function decodeToken(text: string): AddToken | undefined {
  if (!/^[A-Za-z0-9+/]+=*$/.test(text)) return undefined;
  try {
    const t = JSON.parse(Buffer.from(text, "base64").toString("utf8")) as Partial<AddToken>;
    if (
      typeof t?.client_name === "string" &&
      t.client_name !== "" &&
      typeof t.secret === "string" &&
      t.secret !== "" &&
      Array.isArray(t.addresses) &&
      typeof t.fingerprint === "string"
    )
      return t as AddToken;
  } catch {
    // not JSON: a password
  }
  return undefined;
}
