/**
 * What lxtd's API looks like on the wire: the one home of the response
 * shapes the daemon sends and of the request bodies it takes, for every
 * client in this repository (the SDK in `sdk/`, the web UI).
 *
 * The daemon builds its answers typed by these interfaces (instance-view.ts,
 * operations.ts, events.ts, the route modules), so an answer that drifts
 * from them fails `npm run typecheck`; the request bodies are inferred from
 * the zod schemas the daemon validates with (schemas.ts), never copied.
 *
 * The request bodies checked by hand live in types-requests.ts and the
 * cluster's in types-cluster.ts, both re-exported here.
 *
 * This module has no runtime imports: a client may import it (types, and
 * the few constants below) without pulling in the daemon.
 */
import type {
  InstanceConsolePost,
  InstanceExecPost,
  InstanceStatePut,
  InstancesPost,
  UiTokenPost,
} from "./schemas.js";

export type * from "./types-cluster.js";
export type * from "./types-requests.js";
export type { InstanceConsolePost, InstanceExecPost, InstanceStatePut, InstancesPost, UiTokenPost };

/** What `POST /ui/token` answers: a one-time login token for the web UI. */
export interface UiToken {
  token: string;
  expires_at: string;
  /** Where to open it: the login page with the token in its fragment (never sent to a server). */
  urls: string[];
}

// ── Envelopes ─────────────────────────────────────────────────────────────

/** A synchronous answer (`type: sync`): the result is `metadata`. */
export interface SyncBody<T> {
  type: "sync";
  status: "Success";
  status_code: 200;
  operation: "";
  error_code: 0;
  error: "";
  metadata: T;
}

/** An asynchronous answer: `operation` is the URL of the operation doing the work. */
export interface AsyncBody<T> {
  type: "async";
  status: "Operation created";
  status_code: 100;
  operation: string;
  error_code: 0;
  error: "";
  metadata: T;
}

/** An error: `error_code` is the HTTP status, `error` LXD's words. */
export interface ErrorBody {
  type: "error";
  status: "";
  status_code: 0;
  operation: "";
  error_code: number;
  error: string;
  metadata: null;
}

// ── Server ────────────────────────────────────────────────────────────────

/** `GET /1.0` as any client sees it, trusted or not. */
export interface ServerPublic {
  api_extensions: readonly string[];
  api_status: string;
  api_version: string;
  auth: "trusted" | "untrusted";
  auth_methods: string[];
  public: boolean;
}

/** `GET /1.0` as a trusted client sees it (LXD's api.Server). */
export interface ServerJson extends ServerPublic {
  config: Record<string, string>;
  environment: {
    addresses: string[];
    architectures: string[];
    certificate: string;
    certificate_fingerprint: string;
    driver: string;
    driver_version: string;
    firewall: string;
    kernel: string;
    kernel_architecture: string;
    kernel_features: Record<string, string>;
    kernel_version: string;
    lxc_features: Record<string, string>;
    os_name: string;
    os_version: string;
    project: string;
    server: string;
    server_clustered: boolean;
    server_event_mode: string;
    server_name: string;
    server_pid: number;
    server_version: string;
    storage: string;
    storage_version: string;
    storage_supported_drivers: { Name: string; Version: string; Remote: boolean }[];
  };
}

// ── Operations ────────────────────────────────────────────────────────────

/** LXD's status codes (shared/api/status_code.go). */
export const STATUS = {
  Created: 100,
  Started: 101,
  Stopped: 102,
  Running: 103,
  Cancelling: 104,
  Pending: 105,
  Starting: 106,
  Stopping: 107,
  Aborting: 108,
  Freezing: 109,
  Frozen: 110,
  Thawed: 111,
  Error: 112,
  Ready: 113,
  Success: 200,
  Failure: 400,
  Cancelled: 401,
} as const;
export type StatusName = keyof typeof STATUS;

export type OperationClass = "task" | "websocket" | "token";

/** `GET /1.0/operations/ID` (LXD's api.Operation). */
export interface OperationJson {
  id: string;
  class: OperationClass;
  description: string;
  created_at: string;
  updated_at: string;
  status: StatusName;
  status_code: number;
  resources: Record<string, string[]> | null;
  metadata: Record<string, unknown> | null;
  may_cancel: boolean;
  err: string;
  location: string;
}

/** `GET /1.0/operations?recursion=1`: operations by lowercased status (`running`, `success`, ...). */
export type OperationsByStatus = Record<string, OperationJson[]>;

// ── Events ────────────────────────────────────────────────────────────────

export type EventType = "operation" | "lifecycle" | "logging";
export const EVENT_TYPES: readonly EventType[] = ["operation", "lifecycle", "logging"];

/** One message of `GET /1.0/events` (a websocket). */
export interface LxdEvent {
  type: EventType;
  timestamp: string;
  metadata: unknown;
  location: string;
  project: string;
}

/** The metadata of a `lifecycle` event (`instance-started`, `instance-snapshot-created`, ...). */
export interface LifecycleMetadata {
  action: string;
  /** The URL of the object it happened to. */
  source: string;
  context: Record<string, unknown>;
  requestor: null;
}

/** The metadata of a `logging` event. */
export interface LoggingMetadata {
  message: string;
  level: "debug" | "info" | "warning" | "error";
  context: Record<string, string>;
}

// ── Instances ─────────────────────────────────────────────────────────────

/** Devices by name, each a map of its options (`type`, `path`, ...). */
export type Devices = Record<string, Record<string, string>>;

/** `GET /1.0/instances/NAME` (LXD's api.Instance). */
export interface InstanceJson {
  architecture: string;
  config: Record<string, string>;
  devices: Devices;
  ephemeral: boolean;
  profiles: string[];
  stateful: boolean;
  description: string;
  created_at: string;
  expanded_config: Record<string, string>;
  expanded_devices: Devices;
  name: string;
  status: string;
  status_code: number;
  last_used_at: string;
  location: string;
  type: "container";
  project: string;
}

/** The parts of an instance a `PUT /1.0/instances/NAME` sets. */
export type InstancePut = Pick<
  InstanceJson,
  "architecture" | "config" | "devices" | "ephemeral" | "profiles" | "stateful" | "description"
>;

/** One address of a NIC in an instance's state. */
export interface StateAddress {
  family: "inet" | "inet6";
  address: string | undefined;
  netmask: string;
  scope: string;
}

/** One NIC in an instance's state. */
export interface StateNetwork {
  addresses: StateAddress[];
  counters: {
    bytes_received: number;
    bytes_sent: number;
    packets_received: number;
    packets_sent: number;
  };
  hwaddr: string;
  host_name: string;
  mtu: number;
  state: string;
  type: string;
}

/** `GET /1.0/instances/NAME/state` (LXD's api.InstanceState). */
export interface InstanceState {
  status: string;
  status_code: number;
  disk: Record<string, never>;
  memory: { usage: number; usage_peak: number; swap_usage: number; swap_usage_peak: number };
  /** NICs by name; null while stopped. */
  network: Record<string, StateNetwork> | null;
  pid: number;
  processes: number;
  cpu: { usage: number };
}

/** `GET /1.0/instances/NAME/snapshots/SNAP` (LXD's api.InstanceSnapshot). */
export interface SnapshotJson extends InstancePut {
  name: string;
  created_at: string;
  expires_at: string;
  last_used_at: string;
  expanded_config: Record<string, string>;
  expanded_devices: Devices;
  size: number;
}

/** `GET /1.0/instances/NAME/backups/B` (LXD's api.InstanceBackup). */
export interface BackupJson {
  name: string;
  created_at: string;
  expires_at: string;
  instance_only: boolean;
  container_only: boolean;
  optimized_storage: boolean;
}

/** `GET /1.0/instances/NAME?recursion=1` and list entries at recursion 2 (api.InstanceFull). */
export interface InstanceFull extends InstanceJson {
  state: InstanceState;
  snapshots: SnapshotJson[] | null;
  backups: BackupJson[] | null;
}

// ── Images ────────────────────────────────────────────────────────────────

/** `GET /1.0/images/FP` (LXD's api.Image). */
export interface ImageJson {
  aliases: { name: string; description: string }[];
  architecture: string;
  auto_update: boolean;
  cached: boolean;
  created_at: string;
  expires_at: string;
  filename: string;
  fingerprint: string;
  last_used_at: string;
  profiles: string[];
  properties: Record<string, string>;
  public: boolean;
  size: number;
  type: "container";
  update_source?: unknown;
  uploaded_at: string;
}

/** `GET /1.0/images/aliases/NAME` (LXD's api.ImageAliasesEntry). */
export interface AliasJson {
  name: string;
  description: string;
  target: string;
  type: "container";
}

// ── Profiles ──────────────────────────────────────────────────────────────

/** A profile as lxtd stores it. */
export interface Profile {
  name: string;
  description: string;
  config: Record<string, string>;
  devices: Devices;
}

/** `GET /1.0/profiles/NAME`: the profile and the instances using it. */
export interface ProfileJson extends Profile {
  used_by: string[];
}

// ── Networks ──────────────────────────────────────────────────────────────

/** `GET /1.0/networks/NAME` (LXD's api.Network). */
export interface NetworkJson {
  name: string;
  description: string;
  type: string;
  managed: boolean;
  status: string;
  config: Record<string, string>;
  used_by: string[];
  locations: string[];
}

/** One entry of `GET /1.0/networks/NAME/leases`. */
export interface LeaseJson {
  hostname: string;
  hwaddr: string;
  address: string;
  type: "dynamic" | "static";
  location: string;
}

/** One port of a network forward. */
export interface ForwardPortJson {
  description: string;
  protocol: string;
  listen_port: string;
  target_address: string;
  target_port: string;
}

/** `GET /1.0/networks/NAME/forwards/ADDR` (LXD's api.NetworkForward). */
export interface ForwardJson {
  listen_address: string;
  description: string;
  config: Record<string, string>;
  ports: ForwardPortJson[];
  location: string;
}

// ── Storage ───────────────────────────────────────────────────────────────

/** `GET /1.0/storage-pools/POOL/volumes/TYPE/NAME` (LXD's api.StorageVolume). */
export interface VolumeJson {
  config: Record<string, string>;
  description: string;
  name: string;
  type: "container" | "image";
  used_by: string[];
  location: string;
  content_type: "filesystem";
  project: string;
}

// ── Certificates ──────────────────────────────────────────────────────────

/** `client` may do anything; `metrics` only read `/1.0/metrics` (as LXD). */
export type CertificateType = "client" | "metrics";

/** A trusted certificate as `GET /1.0/certificates/FP` shows it (LXD's api.Certificate). */
export interface TrustedCertificate {
  name: string;
  type: CertificateType;
  restricted: boolean;
  projects: string[];
  /** PEM. */
  certificate: string;
  fingerprint: string;
}

// ── Exec and console ──────────────────────────────────────────────────────

/** A message on an exec's or console's `control` websocket. */
export type ControlRequest =
  | { command: "window-resize"; args: { width: string; height: string } }
  | { command: "signal"; signal: number };

/** The metadata of an exec operation with websockets: each stream's secret. */
export interface ExecSocketsMetadata {
  fds: Record<string, string>;
  command: string[];
  environment: Record<string, string>;
  interactive: boolean;
}
