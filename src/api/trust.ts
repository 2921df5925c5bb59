/**
 * lxtd's trust store: the client certificates HTTPS clients are trusted
 * by, one YAML file per certificate under `STATE_ROOT/.lxtd/trust/`, named
 * by its sha256 fingerprint. The daemon reads the directory once and keeps
 * it in memory; every change goes through this class (the API, and `lxt
 * trust` through the daemon's socket), so the two never differ.
 */
import { X509Certificate } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { writeFileAtomic } from "../host/atomic.js";
import { ApiError, badRequest } from "./envelope.js";
import { derToPem, fingerprintOf } from "./tls.js";
import type { CertificateType, TrustedCertificate } from "./types.js";

export type { CertificateType, TrustedCertificate } from "./types.js";
export const CERTIFICATE_TYPES: readonly CertificateType[] = ["client", "metrics"];

/** The editable part (`PUT`/`PATCH`). */
export interface CertificatePut {
  name?: unknown;
  type?: unknown;
  restricted?: unknown;
  projects?: unknown;
  certificate?: unknown;
}

const FP = /^[0-9a-f]{64}$/;

/**
 * Parses a certificate given as PEM or as base64 DER (LXD's POST body) and
 * checks it as LXD does: valid now. Throws LXD's words when it is not.
 */
export function parseCertificate(text: string): { der: Buffer; cert: X509Certificate } {
  let cert: X509Certificate;
  try {
    const input = text.includes("-----BEGIN") ? text : Buffer.from(text, "base64");
    cert = new X509Certificate(input);
  } catch (err) {
    throw badRequest(`Invalid certificate material: ${(err as Error).message}`);
  }
  const now = Date.now();
  if (now < Date.parse(cert.validFrom))
    throw badRequest("The provided certificate isn't valid yet");
  if (now > Date.parse(cert.validTo)) throw badRequest("The provided certificate is expired");
  return { der: Buffer.from(cert.raw), cert };
}

/** A certificate's subject CN, or "" (LXD names a certificate added without a name by it). */
export function commonName(cert: X509Certificate): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? "";
}

export class TrustStore {
  private readonly certs = new Map<string, TrustedCertificate>();

  constructor(readonly dir: string) {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      // no trust store yet: nobody is trusted over HTTPS
    }
    for (const file of names) {
      const fp = file.replace(/\.yaml$/, "");
      if (!FP.test(fp) || !file.endsWith(".yaml")) continue;
      try {
        const raw = parse(readFileSync(join(dir, file), "utf8")) as Partial<TrustedCertificate>;
        const pem = String(raw.certificate ?? "");
        const der = Buffer.from(new X509Certificate(pem).raw);
        // A file is trusted for the certificate it holds, whatever its name says.
        if (fingerprintOf(der) !== fp) continue;
        this.certs.set(fp, {
          name: String(raw.name ?? ""),
          type: raw.type === "metrics" ? "metrics" : "client",
          restricted: raw.restricted === true,
          projects: Array.isArray(raw.projects) ? raw.projects.map(String) : [],
          certificate: derToPem(der),
          fingerprint: fp,
        });
      } catch {
        // an unreadable entry trusts nobody
      }
    }
  }

  /** The entry for a full fingerprint, if trusted. */
  get(fingerprint: string): TrustedCertificate | undefined {
    return this.certs.get(fingerprint);
  }

  list(): TrustedCertificate[] {
    return [...this.certs.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The entry a fingerprint or a unique prefix of one names (LXD takes prefixes); 404 when none. */
  find(prefix: string): TrustedCertificate {
    const p = prefix.toLowerCase();
    const hits = p ? [...this.certs.values()].filter((c) => c.fingerprint.startsWith(p)) : [];
    if (hits.length > 1) throw badRequest(`More than one certificate matches "${prefix}"`);
    const hit = hits[0];
    if (!hit) throw new ApiError(404, "Certificate not found");
    return hit;
  }

  /** Adds a certificate (DER); 409 when it is already trusted. */
  add(der: Buffer, entry: { name: string; type: CertificateType; projects?: string[] }): string {
    const fingerprint = fingerprintOf(der);
    if (this.certs.has(fingerprint)) throw new ApiError(409, "Certificate already in trust store");
    this.write({
      name: entry.name,
      type: entry.type,
      restricted: false,
      projects: entry.projects ?? [],
      certificate: derToPem(der),
      fingerprint,
    });
    return fingerprint;
  }

  /**
   * Applies a PUT (every field) or PATCH (the fields given) to an entry. A
   * new `certificate` replaces the old one (and so its fingerprint). Keys
   * with no meaning here (restricted, projects other than default) are refused.
   */
  update(fingerprint: string, put: CertificatePut, replace: boolean): TrustedCertificate {
    const old = this.find(fingerprint);
    const next: TrustedCertificate = { ...old };
    if (put.name !== undefined || replace) {
      if (typeof put.name !== "string" && !(replace && put.name === undefined))
        throw badRequest("Invalid name: not a string");
      next.name = typeof put.name === "string" ? put.name : "";
    }
    if (put.type !== undefined || replace) {
      next.type = certificateType(put.type ?? "client");
    }
    if (put.restricted !== undefined && put.restricted !== false)
      throw badRequest(
        "Restricted certificates are not supported (lxt has only the default project)",
      );
    if (put.projects !== undefined && put.projects !== null) {
      if (!Array.isArray(put.projects) || put.projects.some((p) => p !== "default"))
        throw badRequest("Only the default project exists");
      next.projects = put.projects as string[];
    } else if (replace) next.projects = [];
    if (
      typeof put.certificate === "string" &&
      put.certificate !== "" &&
      put.certificate !== old.certificate
    ) {
      const { der } = parseCertificate(put.certificate);
      next.certificate = derToPem(der);
      next.fingerprint = fingerprintOf(der);
      if (next.fingerprint !== old.fingerprint && this.certs.has(next.fingerprint))
        throw new ApiError(409, "Certificate already in trust store");
    }
    this.write(next);
    if (next.fingerprint !== old.fingerprint) this.remove(old.fingerprint);
    return next;
  }

  /** Removes an entry by fingerprint (or unique prefix); returns the full fingerprint. */
  remove(prefix: string): string {
    const { fingerprint } = this.find(prefix);
    try {
      unlinkSync(this.file(fingerprint));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    this.certs.delete(fingerprint);
    return fingerprint;
  }

  private file(fingerprint: string): string {
    return join(this.dir, `${fingerprint}.yaml`);
  }

  private write(c: TrustedCertificate): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const { fingerprint, ...rest } = c;
    writeFileAtomic(this.file(fingerprint), stringify(rest), 0o600);
    this.certs.set(fingerprint, c);
  }
}

/** Checks a certificate `type` as LXD names them. */
export function certificateType(v: unknown): CertificateType {
  if (v === "" || v === undefined) return "client";
  if (typeof v === "string" && (CERTIFICATE_TYPES as readonly string[]).includes(v))
    return v as CertificateType;
  throw badRequest(`Unknown certificate type "${String(v)}"`);
}
