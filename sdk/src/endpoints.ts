/**
 * Every endpoint lxtd serves, as `METHOD PATH` (fastify's form, `:param`
 * for a path parameter), with what it answers and what it takes. The
 * runtime table (`ENDPOINTS`) and the type map (`Endpoints`) have the same
 * keys (the compiler checks it), and a test compares them with the daemon's
 * own route table (src/api/routes/index.ts), so a route added to the daemon
 * and not here, or gone from it, fails the tests.
 *
 * Automatic `HEAD`s (fastify answers one for each `GET`) are left out; the
 * files' `HEAD` is its own route and is listed.
 */
import type {
  AliasesPost,
  AliasJson,
  AliasPut,
  BackupJson,
  BackupsPost,
  CertificatePut,
  CertificatesPost,
  ClusterJson,
  ClusterMemberJson,
  ForwardJson,
  ForwardsPost,
  ImageJson,
  ImagePut,
  InstanceConsolePost,
  InstanceExecPost,
  InstanceFull,
  InstanceJson,
  InstancePut,
  InstanceState,
  InstanceStatePut,
  InstancesPost,
  LeaseJson,
  MemberView,
  NetworkJson,
  NetworkPut,
  NetworksPost,
  OperationJson,
  OperationsByStatus,
  ProfileJson,
  ProfilePut,
  ProfilesPost,
  RenamePost,
  RestorePut,
  ServerJson,
  ServerPublic,
  ServerPut,
  SnapshotJson,
  SnapshotPut,
  SnapshotsPost,
  TrustedCertificate,
  UiToken,
  UiTokenPost,
  VolumeJson,
} from "../../src/api/types.js";

/**
 * How an endpoint answers: `sync` (a JSON envelope whose `metadata` is the
 * result), `async` (an operation the SDK waits for), `raw` (bytes: files,
 * exports, logs, metrics; errors still come as envelopes).
 */
export type EndpointKind = "sync" | "async" | "raw";

/** An endpoint's answer (`response`: the sync metadata, or the operation's) and body. */
export interface Ep<Response, Body = undefined> {
  response: Response;
  body: Body;
}

type Empty = Record<string, never>;
/** A list: URLs at `recursion=0`, objects at 1. */
type List<T> = string[] | T[];
/** Bytes, not JSON. */
type Bytes = import("node:stream").Readable;
/** A body sent as a stream (file push, image or backup upload). */
type Upload = import("node:stream").Readable | Buffer | string;
/** A server's network or storage state, which this SDK does not model further. */
type Opaque = Record<string, unknown>;

/** The type of every endpoint, by `METHOD PATH`. */
export interface Endpoints {
  "GET /": Ep<string[]>;
  "GET /1.0": Ep<ServerJson | ServerPublic>;
  "PUT /1.0": Ep<Empty, ServerPut>;
  "PATCH /1.0": Ep<Empty, ServerPut>;
  "GET /1.0/resources": Ep<Opaque>;
  "GET /1.0/metrics": Ep<Bytes>;

  "GET /1.0/operations": Ep<Record<string, string[]> | OperationsByStatus>;
  "GET /1.0/operations/:id": Ep<OperationJson>;
  "DELETE /1.0/operations/:id": Ep<Empty>;
  "GET /1.0/operations/:id/wait": Ep<OperationJson>;

  "GET /1.0/instances": Ep<List<InstanceJson> | InstanceFull[]>;
  "POST /1.0/instances": Ep<OperationJson, InstancesPost | Upload>;
  "GET /1.0/instances/:name": Ep<InstanceJson | InstanceFull>;
  "PUT /1.0/instances/:name": Ep<Empty | OperationJson, InstancePut | RestorePut>;
  "PATCH /1.0/instances/:name": Ep<Empty, Partial<InstancePut>>;
  "POST /1.0/instances/:name": Ep<OperationJson, RenamePost>;
  "DELETE /1.0/instances/:name": Ep<OperationJson>;
  "GET /1.0/instances/:name/state": Ep<InstanceState>;
  "PUT /1.0/instances/:name/state": Ep<OperationJson, InstanceStatePut>;
  "POST /1.0/instances/:name/exec": Ep<OperationJson, InstanceExecPost>;
  "POST /1.0/instances/:name/console": Ep<OperationJson, InstanceConsolePost>;
  "GET /1.0/instances/:name/console": Ep<Bytes>;
  "DELETE /1.0/instances/:name/console": Ep<Empty>;
  "GET /1.0/instances/:name/logs": Ep<string[]>;
  "GET /1.0/instances/:name/logs/:file": Ep<Bytes>;
  "DELETE /1.0/instances/:name/logs/:file": Ep<Empty>;
  /** A file's or symlink's bytes; a directory's entries (JSON). */
  "GET /1.0/instances/:name/files": Ep<Bytes | string[]>;
  "HEAD /1.0/instances/:name/files": Ep<Empty>;
  "POST /1.0/instances/:name/files": Ep<Empty, Upload | undefined>;
  "DELETE /1.0/instances/:name/files": Ep<Empty>;
  "GET /1.0/instances/:name/snapshots": Ep<List<SnapshotJson>>;
  "POST /1.0/instances/:name/snapshots": Ep<OperationJson, SnapshotsPost>;
  "GET /1.0/instances/:name/snapshots/:snap": Ep<SnapshotJson>;
  "PUT /1.0/instances/:name/snapshots/:snap": Ep<Empty | OperationJson, SnapshotPut>;
  "PATCH /1.0/instances/:name/snapshots/:snap": Ep<Empty | OperationJson, SnapshotPut>;
  "POST /1.0/instances/:name/snapshots/:snap": Ep<OperationJson, RenamePost>;
  "DELETE /1.0/instances/:name/snapshots/:snap": Ep<OperationJson>;
  "GET /1.0/instances/:name/backups": Ep<List<BackupJson>>;
  "POST /1.0/instances/:name/backups": Ep<OperationJson, BackupsPost>;
  "GET /1.0/instances/:name/backups/:backup": Ep<BackupJson>;
  "POST /1.0/instances/:name/backups/:backup": Ep<OperationJson, RenamePost>;
  "DELETE /1.0/instances/:name/backups/:backup": Ep<OperationJson>;
  "GET /1.0/instances/:name/backups/:backup/export": Ep<Bytes>;
  // lxt's own: receiving a running container (docs/api.md, "Migrations").
  "GET /1.0/migrations": Ep<{ receive: string[] }>;
  "POST /1.0/migrations": Ep<{ id: string; name: string; streams?: number }, Upload>;
  "PUT /1.0/migrations/:id/delta": Ep<Empty, Upload>;
  "PUT /1.0/migrations/:id/streams/:n": Ep<Empty, Upload>;
  "POST /1.0/migrations/:id": Ep<OperationJson, Upload>;
  "DELETE /1.0/migrations/:id": Ep<Empty>;

  "GET /1.0/images": Ep<List<ImageJson>>;
  "POST /1.0/images": Ep<OperationJson, Upload>;
  "GET /1.0/images/:fp": Ep<ImageJson>;
  "PUT /1.0/images/:fp": Ep<Empty, ImagePut>;
  "PATCH /1.0/images/:fp": Ep<Empty, ImagePut>;
  "DELETE /1.0/images/:fp": Ep<OperationJson>;
  "POST /1.0/images/:fp/secret": Ep<OperationJson>;
  "GET /1.0/images/:fp/export": Ep<Bytes>;
  "GET /1.0/images/aliases": Ep<List<AliasJson>>;
  "POST /1.0/images/aliases": Ep<Empty, AliasesPost>;
  "GET /1.0/images/aliases/:name": Ep<AliasJson>;
  "PUT /1.0/images/aliases/:name": Ep<Empty, AliasPut>;
  "PATCH /1.0/images/aliases/:name": Ep<Empty, AliasPut>;
  "POST /1.0/images/aliases/:name": Ep<Empty, RenamePost>;
  "DELETE /1.0/images/aliases/:name": Ep<Empty>;

  "GET /1.0/profiles": Ep<List<ProfileJson>>;
  "POST /1.0/profiles": Ep<Empty, ProfilesPost>;
  "GET /1.0/profiles/:name": Ep<ProfileJson>;
  "PUT /1.0/profiles/:name": Ep<Empty, ProfilePut>;
  "PATCH /1.0/profiles/:name": Ep<Empty, ProfilePut>;
  "POST /1.0/profiles/:name": Ep<Empty, RenamePost>;
  "DELETE /1.0/profiles/:name": Ep<Empty>;

  "GET /1.0/networks": Ep<List<NetworkJson>>;
  "POST /1.0/networks": Ep<Empty, NetworksPost>;
  "GET /1.0/networks/:name": Ep<NetworkJson>;
  "PUT /1.0/networks/:name": Ep<Empty, NetworkPut>;
  "PATCH /1.0/networks/:name": Ep<Empty, NetworkPut>;
  "POST /1.0/networks/:name": Ep<Empty, RenamePost>;
  "DELETE /1.0/networks/:name": Ep<Empty>;
  "GET /1.0/networks/:name/leases": Ep<LeaseJson[]>;
  "GET /1.0/networks/:name/state": Ep<Opaque>;
  "GET /1.0/networks/:name/forwards": Ep<List<ForwardJson>>;
  "POST /1.0/networks/:name/forwards": Ep<Empty, ForwardsPost>;
  "GET /1.0/networks/:name/forwards/:addr": Ep<ForwardJson>;
  "PUT /1.0/networks/:name/forwards/:addr": Ep<Empty, Partial<ForwardsPost>>;
  "PATCH /1.0/networks/:name/forwards/:addr": Ep<Empty, Partial<ForwardsPost>>;
  "DELETE /1.0/networks/:name/forwards/:addr": Ep<Empty>;

  "GET /1.0/storage-pools": Ep<List<Opaque>>;
  "POST /1.0/storage-pools": Ep<Empty, Opaque>;
  "GET /1.0/storage-pools/:pool": Ep<Opaque>;
  "PUT /1.0/storage-pools/:pool": Ep<Empty, Opaque>;
  "PATCH /1.0/storage-pools/:pool": Ep<Empty, Opaque>;
  "POST /1.0/storage-pools/:pool": Ep<Empty, Opaque>;
  "DELETE /1.0/storage-pools/:pool": Ep<Empty>;
  "GET /1.0/storage-pools/:pool/resources": Ep<Opaque>;
  "GET /1.0/storage-pools/:pool/volumes": Ep<List<VolumeJson>>;
  "POST /1.0/storage-pools/:pool/volumes": Ep<Empty, Opaque>;
  "GET /1.0/storage-pools/:pool/volumes/:type": Ep<List<VolumeJson>>;
  "POST /1.0/storage-pools/:pool/volumes/:type": Ep<Empty, Opaque>;
  "GET /1.0/storage-pools/:pool/volumes/:type/:name": Ep<VolumeJson>;

  "GET /1.0/certificates": Ep<List<TrustedCertificate>>;
  "POST /1.0/certificates": Ep<Empty | OperationJson, CertificatesPost>;
  "GET /1.0/certificates/:fp": Ep<TrustedCertificate>;
  "PUT /1.0/certificates/:fp": Ep<Empty, CertificatePut>;
  "PATCH /1.0/certificates/:fp": Ep<Empty, CertificatePut>;
  "DELETE /1.0/certificates/:fp": Ep<Empty>;

  /** lxt's own: a one-time login token for the web UI (not LXD's). */
  "POST /ui/token": Ep<UiToken, UiTokenPost>;

  "GET /1.0/cluster": Ep<ClusterJson>;
  "GET /1.0/cluster/members": Ep<List<ClusterMemberJson>>;
  "GET /1.0/cluster/members/:name": Ep<ClusterMemberJson>;
  /** A join token for a new member (a token operation; `lxc cluster add`). */
  "POST /1.0/cluster/members": Ep<OperationJson, { server_name: string }>;
  /** Remove a member for good (`lxc cluster remove`; `?force=1` with `--force`). */
  "DELETE /1.0/cluster/members/:name": Ep<Empty>;
  /** lxt's own: every member's record, load and last heartbeat (`lxt cluster list`). */
  "GET /1.0/cluster/heartbeats": Ep<MemberView[]>;
  /** Evacuate or restore a member (`lxc cluster evacuate/restore`). */
  "POST /1.0/cluster/members/:name/state": Ep<OperationJson, { action: "evacuate" | "restore" }>;
  /** lxt's own: send a local instance to another member (what a restore asks). */
  "POST /1.0/cluster/moves": Ep<OperationJson, { name: string; member: string; mode?: string }>;
}

export type EndpointKey = keyof Endpoints;

/** The runtime table: how each endpoint answers. Its keys are `Endpoints`' (checked). */
export const ENDPOINTS: { readonly [K in EndpointKey]: EndpointKind } = {
  "GET /": "sync",
  "GET /1.0": "sync",
  "PUT /1.0": "sync",
  "PATCH /1.0": "sync",
  "GET /1.0/resources": "sync",
  "GET /1.0/metrics": "raw",
  "GET /1.0/operations": "sync",
  "GET /1.0/operations/:id": "sync",
  "DELETE /1.0/operations/:id": "sync",
  "GET /1.0/operations/:id/wait": "sync",
  "GET /1.0/instances": "sync",
  "POST /1.0/instances": "async",
  "GET /1.0/instances/:name": "sync",
  "PUT /1.0/instances/:name": "sync",
  "PATCH /1.0/instances/:name": "sync",
  "POST /1.0/instances/:name": "async",
  "DELETE /1.0/instances/:name": "async",
  "GET /1.0/instances/:name/state": "sync",
  "PUT /1.0/instances/:name/state": "async",
  "POST /1.0/instances/:name/exec": "async",
  "POST /1.0/instances/:name/console": "async",
  "GET /1.0/instances/:name/console": "raw",
  "DELETE /1.0/instances/:name/console": "sync",
  "GET /1.0/instances/:name/logs": "sync",
  "GET /1.0/instances/:name/logs/:file": "raw",
  "DELETE /1.0/instances/:name/logs/:file": "sync",
  "GET /1.0/instances/:name/files": "raw",
  "HEAD /1.0/instances/:name/files": "raw",
  "POST /1.0/instances/:name/files": "sync",
  "DELETE /1.0/instances/:name/files": "sync",
  "GET /1.0/instances/:name/snapshots": "sync",
  "POST /1.0/instances/:name/snapshots": "async",
  "GET /1.0/instances/:name/snapshots/:snap": "sync",
  "PUT /1.0/instances/:name/snapshots/:snap": "sync",
  "PATCH /1.0/instances/:name/snapshots/:snap": "sync",
  "POST /1.0/instances/:name/snapshots/:snap": "async",
  "DELETE /1.0/instances/:name/snapshots/:snap": "async",
  "GET /1.0/instances/:name/backups": "sync",
  "POST /1.0/instances/:name/backups": "async",
  "GET /1.0/instances/:name/backups/:backup": "sync",
  "POST /1.0/instances/:name/backups/:backup": "async",
  "DELETE /1.0/instances/:name/backups/:backup": "async",
  "GET /1.0/instances/:name/backups/:backup/export": "raw",
  "GET /1.0/migrations": "sync",
  "POST /1.0/migrations": "sync",
  "PUT /1.0/migrations/:id/delta": "sync",
  "PUT /1.0/migrations/:id/streams/:n": "sync",
  "POST /1.0/migrations/:id": "async",
  "DELETE /1.0/migrations/:id": "sync",
  "GET /1.0/images": "sync",
  "POST /1.0/images": "async",
  "GET /1.0/images/:fp": "sync",
  "PUT /1.0/images/:fp": "sync",
  "PATCH /1.0/images/:fp": "sync",
  "DELETE /1.0/images/:fp": "async",
  "POST /1.0/images/:fp/secret": "async",
  "GET /1.0/images/:fp/export": "raw",
  "GET /1.0/images/aliases": "sync",
  "POST /1.0/images/aliases": "sync",
  "GET /1.0/images/aliases/:name": "sync",
  "PUT /1.0/images/aliases/:name": "sync",
  "PATCH /1.0/images/aliases/:name": "sync",
  "POST /1.0/images/aliases/:name": "sync",
  "DELETE /1.0/images/aliases/:name": "sync",
  "GET /1.0/profiles": "sync",
  "POST /1.0/profiles": "sync",
  "GET /1.0/profiles/:name": "sync",
  "PUT /1.0/profiles/:name": "sync",
  "PATCH /1.0/profiles/:name": "sync",
  "POST /1.0/profiles/:name": "sync",
  "DELETE /1.0/profiles/:name": "sync",
  "GET /1.0/networks": "sync",
  "POST /1.0/networks": "sync",
  "GET /1.0/networks/:name": "sync",
  "PUT /1.0/networks/:name": "sync",
  "PATCH /1.0/networks/:name": "sync",
  "POST /1.0/networks/:name": "sync",
  "DELETE /1.0/networks/:name": "sync",
  "GET /1.0/networks/:name/leases": "sync",
  "GET /1.0/networks/:name/state": "sync",
  "GET /1.0/networks/:name/forwards": "sync",
  "POST /1.0/networks/:name/forwards": "sync",
  "GET /1.0/networks/:name/forwards/:addr": "sync",
  "PUT /1.0/networks/:name/forwards/:addr": "sync",
  "PATCH /1.0/networks/:name/forwards/:addr": "sync",
  "DELETE /1.0/networks/:name/forwards/:addr": "sync",
  "GET /1.0/storage-pools": "sync",
  "POST /1.0/storage-pools": "sync",
  "GET /1.0/storage-pools/:pool": "sync",
  "PUT /1.0/storage-pools/:pool": "sync",
  "PATCH /1.0/storage-pools/:pool": "sync",
  "POST /1.0/storage-pools/:pool": "sync",
  "DELETE /1.0/storage-pools/:pool": "sync",
  "GET /1.0/storage-pools/:pool/resources": "sync",
  "GET /1.0/storage-pools/:pool/volumes": "sync",
  "POST /1.0/storage-pools/:pool/volumes": "sync",
  "GET /1.0/storage-pools/:pool/volumes/:type": "sync",
  "POST /1.0/storage-pools/:pool/volumes/:type": "sync",
  "GET /1.0/storage-pools/:pool/volumes/:type/:name": "sync",
  "GET /1.0/certificates": "sync",
  "POST /1.0/certificates": "sync",
  "GET /1.0/certificates/:fp": "sync",
  "PUT /1.0/certificates/:fp": "sync",
  "PATCH /1.0/certificates/:fp": "sync",
  "DELETE /1.0/certificates/:fp": "sync",
  "POST /ui/token": "sync",
  "GET /1.0/cluster": "sync",
  "GET /1.0/cluster/members": "sync",
  "GET /1.0/cluster/members/:name": "sync",
  "POST /1.0/cluster/members": "async",
  "DELETE /1.0/cluster/members/:name": "sync",
  "GET /1.0/cluster/heartbeats": "sync",
  "POST /1.0/cluster/members/:name/state": "async",
  "POST /1.0/cluster/moves": "async",
};

/** The websocket endpoints (upgrades beside the route table, src/api/websockets.ts). */
export const WEBSOCKETS = ["/1.0/events", "/1.0/operations/:id/websocket"] as const;

/** The names of a path's `:params`, as a type: `"/a/:x/b/:y"` → `"x" | "y"`. */
export type ParamsOf<P extends string> = P extends `${string}:${infer Name}/${infer Rest}`
  ? Name | ParamsOf<`/${Rest}`>
  : P extends `${string}:${infer Name}`
    ? Name
    : never;

/** The path part of a key. */
export type PathOf<K extends string> = K extends `${string} ${infer P}` ? P : never;

/** `/1.0/instances/:name` with `{name: "c1"}` → `/1.0/instances/c1` (each value URL-encoded). */
export function fillPath(path: string, params: Record<string, string> = {}): string {
  return path.replace(/:([a-z]+)/g, (_m, k: string) => {
    const v = params[k];
    if (v === undefined || v === "") throw new TypeError(`${path}: no value for :${k}`);
    return encodeURIComponent(v);
  });
}

/** Splits `METHOD PATH`. */
export function splitKey(key: EndpointKey): { method: string; path: string } {
  const i = key.indexOf(" ");
  return { method: key.slice(0, i), path: key.slice(i + 1) };
}
