/**
 * The request bodies lxtd's route modules check by hand (the others are
 * the zod schemas' types, re-exported by types.ts); part of the wire types
 * of types.ts, which re-exports them. No runtime imports.
 */
import type { Devices, ForwardPortJson, Profile, TrustedCertificate } from "./types.js";

// ── Request bodies the route modules check by hand ────────────────────────
// (the others are the zod schemas' types, re-exported at the top; each of
// these names the module whose checks decide it: a field added there is
// added here).

/** `POST /1.0/instances/NAME/snapshots` (routes/snapshots.ts). */
export interface SnapshotsPost {
  name?: string;
  stateful?: boolean;
  expires_at?: string | null;
}

/** `PUT`/`PATCH /1.0/instances/NAME/snapshots/SNAP` (routes/snapshots.ts). */
export interface SnapshotPut {
  expires_at?: string;
}

/** `POST /1.0/instances/NAME/backups` (routes/backups.ts). */
export interface BackupsPost {
  name?: string;
  expires_at?: string | null;
  instance_only?: boolean;
  container_only?: boolean;
  optimized_storage?: boolean;
  compression_algorithm?: string;
}

/** A rename: `POST` on an instance, snapshot, backup, profile or alias. */
export interface RenamePost {
  name: string;
}

/** `PUT /1.0/instances/NAME` with a restore (routes/snapshots.ts `restoreRequest`). */
export interface RestorePut {
  /** The snapshot's name (or `INSTANCE/SNAP`, as the stock client sends it). */
  restore: string;
  stateful?: boolean;
}

/** `POST /1.0/profiles` (routes/profiles.ts). */
export interface ProfilesPost {
  name: string;
  description?: string;
  config?: Record<string, string>;
  devices?: Devices;
}

/** `PUT`/`PATCH /1.0/profiles/NAME`. */
export type ProfilePut = Partial<Omit<Profile, "name">>;

/** `PUT`/`PATCH /1.0/images/FP` (routes/images.ts). */
export interface ImagePut {
  auto_update?: boolean;
  properties?: Record<string, string>;
  public?: boolean;
  expires_at?: string;
  profiles?: string[];
}

/** `POST /1.0/images/aliases` (routes/image-aliases.ts). */
export interface AliasesPost {
  name: string;
  description?: string;
  /** The image's fingerprint. */
  target: string;
  type?: string;
}

/** `PUT`/`PATCH /1.0/images/aliases/NAME`. */
export interface AliasPut {
  description?: string;
  target?: string;
}

/** `POST /1.0/networks` (routes/networks.ts). */
export interface NetworksPost {
  name: string;
  description?: string;
  type?: string;
  config?: Record<string, string>;
}

/** `PUT`/`PATCH /1.0/networks/NAME`. */
export interface NetworkPut {
  description?: string;
  config?: Record<string, string>;
}

/** `POST /1.0/networks/NAME/forwards`, and its `PUT`/`PATCH` (routes/network-forwards.ts). */
export interface ForwardsPost {
  listen_address: string;
  description?: string;
  config?: Record<string, string>;
  ports?: Partial<ForwardPortJson>[];
}

/** `POST /1.0/certificates` (routes/certificates.ts). */
export interface CertificatesPost {
  name?: string;
  type?: string;
  restricted?: boolean;
  projects?: string[] | null;
  /** PEM or base64 DER; absent: the client's own TLS certificate. */
  certificate?: string;
  password?: string;
  /** `true` asks for a one-time trust token (an operation whose metadata holds it). */
  token?: boolean;
  trust_token?: string;
}

/** `PUT`/`PATCH /1.0/certificates/FP`. */
export type CertificatePut = Partial<Omit<TrustedCertificate, "fingerprint">>;

/** `PUT`/`PATCH /1.0` (routes/server.ts). */
export interface ServerPut {
  config?: Record<string, string>;
}
