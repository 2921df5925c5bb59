/**
 * The client certificate `lxt remote` presents: a self-signed ECDSA P-384
 * certificate (as lxtd's own server certificate, src/api/tls.ts), made
 * once per state root. Built here with node's crypto and a few lines of
 * DER (RFC 5280) rather than with the daemon's X.509 library, which the
 * CLI's bundle does not carry.
 */
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** A certificate (PEM), its key (PKCS#8 PEM) and its sha256 fingerprint. */
export interface Identity {
  cert: string;
  key: string;
  fingerprint: string;
}

/** How long the certificate is valid (as lxtd's: ten years). */
const VALID_YEARS = 10;

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** A DER element: tag, length, contents. */
function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}

const seq = (...parts: Buffer[]) => tlv(0x30, ...parts);

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split(".").map(Number);
  const out = [40 * a + b];
  for (const n of rest) {
    const groups: number[] = [];
    for (let v = n; ; v = Math.floor(v / 128)) {
      groups.unshift((v % 128) | (groups.length > 0 ? 0x80 : 0));
      if (v < 128) break;
    }
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

/** `YYMMDDHHMMSSZ` (UTCTime: dates before 2050, RFC 5280 4.1.2.5). */
function utcTime(d: Date): Buffer {
  const iso = d.toISOString();
  const s = `${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return tlv(0x17, Buffer.from(s, "ascii"));
}

function name(org: string, cn: string): Buffer {
  const rdn = (type: string, value: string) =>
    tlv(0x31, seq(oid(type), tlv(0x0c, Buffer.from(value, "utf8"))));
  return seq(rdn("2.5.4.10", org), rdn("2.5.4.3", cn));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value));
}

/** A new self-signed client certificate for `cn`. */
export function makeClientCertificate(cn: string, now = new Date()): Identity {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "secp384r1" });
  const ecdsaSha384 = seq(oid("1.2.840.10045.4.3.3"));
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f; // positive
  const until = new Date(now);
  until.setUTCFullYear(now.getUTCFullYear() + VALID_YEARS);
  const subject = name("lxt", cn);
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))), // v3
    tlv(0x02, serial),
    ecdsaSha384,
    subject,
    seq(utcTime(now), utcTime(until)),
    subject,
    publicKey.export({ type: "spki", format: "der" }),
    tlv(
      0xa3,
      seq(
        extension("2.5.29.19", true, seq()), // basicConstraints: not a CA
        extension("2.5.29.15", true, tlv(0x03, Buffer.from([0x07, 0x80]))), // keyUsage: digitalSignature
        extension("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.2"))), // extKeyUsage: clientAuth
      ),
    ),
  );
  const signature = sign("sha384", tbs, { key: privateKey, dsaEncoding: "der" });
  const der = seq(tbs, ecdsaSha384, tlv(0x03, Buffer.from([0]), signature));
  const b64 = der
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .replace(/\n$/, "");
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`,
    key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    fingerprint: createHash("sha256").update(der).digest("hex"),
  };
}

/** Writes `text` to `file` by a rename, so that a reader never sees half of it. */
function writeWhole(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp-${randomBytes(4).toString("hex")}`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, file);
}

/**
 * The client certificate and key under `dir` (`client.crt`, `client.key`),
 * made on first use and kept: remotes trust it by its fingerprint.
 */
export function clientIdentity(dir: string, cn: string): Identity {
  const certFile = join(dir, "client.crt");
  const keyFile = join(dir, "client.key");
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    const made = makeClientCertificate(cn);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // The key first: a certificate without its key would be taken as made.
    writeWhole(keyFile, made.key, 0o600);
    writeWhole(certFile, made.cert, 0o644);
  }
  const cert = readFileSync(certFile, "utf8");
  const der = Buffer.from(cert.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
  return {
    cert,
    key: readFileSync(keyFile, "utf8"),
    fingerprint: createHash("sha256").update(der).digest("hex"),
  };
}

/** writeWhole for other files of the CLI's remotes (`remotes.yaml`). */
export { writeWhole };
