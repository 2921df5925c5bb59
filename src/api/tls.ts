/**
 * lxtd's HTTPS identity: a self-made server certificate (ECDSA P-384, as
 * LXD makes its own), created once under lxtd's state directory and kept,
 * and the helpers that read a client's certificate off a TLS connection.
 * Clients are trusted by the sha256 fingerprint of the certificate they
 * present (the trust store, trust.ts), so nothing here verifies a chain.
 */
import "reflect-metadata";
import { createHash, webcrypto, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import * as x509 from "@peculiar/x509";
import { writeFileAtomic } from "../host/atomic.js";

export interface ServerIdentity {
  /** The certificate, PEM. */
  cert: string;
  /** Its private key, PKCS#8 PEM (kept mode 0600). */
  key: string;
  /** sha256 of the certificate's DER, lowercase hex (LXD's fingerprint). */
  fingerprint: string;
}

/** How long the server certificate is valid (LXD: ten years). */
const VALID_YEARS = 10;

/** sha256 of a certificate's DER, lowercase hex: the fingerprint LXD shows and stores. */
export function fingerprintOf(der: Buffer): string {
  return createHash("sha256").update(der).digest("hex");
}

/** The DER of a PEM certificate (the first one in the text). */
export function pemToDer(pem: string): Buffer {
  return Buffer.from(new X509Certificate(pem).raw);
}

/** A DER certificate as PEM. */
export function derToPem(der: Buffer): string {
  const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n");
  return `-----BEGIN CERTIFICATE-----\n${b64.replace(/\n$/, "")}\n-----END CERTIFICATE-----\n`;
}

/**
 * The server certificate and key under `dir` (`server.crt`, `server.key`),
 * made on first use for `hostname`: a self-signed ECDSA P-384 certificate
 * whose names are the host's name and the loopback addresses. Later calls
 * read what was made, so clients that pinned it keep trusting it.
 */
export async function serverIdentity(dir: string, hostname: string): Promise<ServerIdentity> {
  const certFile = join(dir, "server.crt");
  const keyFile = join(dir, "server.key");
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    const made = await makeSelfSigned(hostname);
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    // The key first: a certificate without its key would be taken as made.
    writeFileAtomic(keyFile, made.key, 0o600);
    writeFileAtomic(certFile, made.cert, 0o644);
  }
  const cert = readFileSync(certFile, "utf8");
  const key = readFileSync(keyFile, "utf8");
  return { cert, key, fingerprint: fingerprintOf(pemToDer(cert)) };
}

async function makeSelfSigned(hostname: string): Promise<{ cert: string; key: string }> {
  const crypto = webcrypto as unknown as Crypto;
  const alg = { name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" };
  const keys = (await crypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const now = new Date();
  const notAfter = new Date(now);
  notAfter.setFullYear(now.getFullYear() + VALID_YEARS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Buffer.from(crypto.getRandomValues(new Uint8Array(16)))
        .toString("hex")
        .replace(/^[89a-f]/, "1"),
      name: [{ O: ["lxt"] }, { CN: [`root@${hostname}`] }],
      notBefore: now,
      notAfter,
      signingAlgorithm: alg,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        // The stock client verifies against the pinned certificate with its first DNS name.
        new x509.SubjectAlternativeNameExtension([
          { type: "dns", value: hostname },
          { type: "ip", value: "127.0.0.1" },
          { type: "ip", value: "::1" },
        ]),
      ],
    },
    crypto,
  );
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const b64 = pkcs8
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .replace(/\n$/, "");
  return {
    cert: cert.toString("pem"),
    key: `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`,
  };
}

const peerPrints = new WeakMap<object, string | null>();

/** The DER of the certificate a TLS client presented, if any (undefined over the unix socket). */
export function peerCertificate(req: IncomingMessage): Buffer | undefined {
  const sock = req.socket as Partial<TLSSocket>;
  if (typeof sock.getPeerCertificate !== "function") return undefined;
  const raw = sock.getPeerCertificate(false)?.raw;
  return raw && raw.length > 0 ? raw : undefined;
}

/** The fingerprint of a TLS client's certificate, worked out once per connection. */
export function peerFingerprint(req: IncomingMessage): string | undefined {
  const sock = req.socket;
  let fp = peerPrints.get(sock);
  if (fp === undefined) {
    const der = peerCertificate(req);
    fp = der ? fingerprintOf(der) : null;
    peerPrints.set(sock, fp);
  }
  return fp ?? undefined;
}
