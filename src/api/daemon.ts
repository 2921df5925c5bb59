/**
 * What every lxtd handler shares: the core's context, the events stream,
 * the operations, the logger, and the caller the daemon starts containers
 * as. One per daemon process; the unix and HTTPS listeners serve the same.
 */

import { join } from "node:path";
import type { Logger } from "pino";
import type { Caller, Context } from "../core/context.js";
import type { Cluster } from "./cluster.js";
import type { ClusterNet } from "./cluster-net.js";
import { EventHub } from "./events.js";
import { OperationStore } from "./operation-store.js";
import { Operations } from "./operations.js";
import { hashPassword } from "./password.js";
import { ServerConfig, type ServerKey } from "./server-config.js";
import { TrustStore } from "./trust.js";
import { UiSessions } from "./ui-auth.js";
import { UiFiles } from "./ui-files.js";

/** The server config keys lxtd gives a meaning. */
export const SERVER_KEYS: Record<string, ServerKey> = {
  "core.https_address": {
    check(v) {
      if (!/^(\[[0-9a-fA-F:.]+\]|[0-9A-Za-z.-]*):\d{1,5}$/.test(v))
        throw new Error("expected ADDRESS:PORT");
    },
  },
  // Kept as a salted hash; an untrusted client that knows it may add its certificate.
  "core.trust_password": { secret: true, check() {}, store: hashPassword },
};

/** The HTTPS listener, as the server config moves it (`core.https_address`). */
export interface HttpsControl {
  /** Listens on ADDRESS:PORT instead (undefined: stops); on failure the old listener stays. */
  listen(address: string | undefined): Promise<void>;
}

/** The HTTPS side, once it listens: what `GET /1.0` shows of it. */
export interface TlsIdentity {
  certificate: string;
  fingerprint: string;
  addresses: string[];
}

export interface DaemonOptions {
  ctx: Context;
  log: Logger;
  /** The daemon as the caller of every verb: its environment and its cgroup. */
  caller: Caller;
  /** Where lxtd keeps what is its own (profiles, trust store, operation records). */
  stateDir: string;
  /** `environment.server_name`. */
  serverName: string;
  serverPid: number;
  /** Bounds on what a client may hold of the daemon (defaults: `DEFAULT_LIMITS`). */
  limits?: Partial<ClientLimits>;
  /** The built web UI (dist/ui); without it `/ui/` answers 404. */
  uiDir?: string;
  /**
   * busybox instances as overlays over one tree shared by all of them
   * (`--shared-busybox`; container/busybox-base.ts), where the state root
   * allows it; otherwise each gets its own copied tree.
   */
  sharedBusybox?: boolean;
}

/** The loopback HTTP listener of the web UI, started when first asked for. */
export interface UiLocalControl {
  /** Listens if it does not yet; resolves with its base URL (`http://127.0.0.1:PORT`). */
  ensure(): Promise<string>;
}

/** How long a client may take before it is cut off. */
export interface ClientLimits {
  /** Milliseconds to send a whole request (headers and body): slow or stuck senders get 408. */
  requestTimeoutMs: number;
  /** Milliseconds between websocket pings: a peer that misses one pong is dropped at the next. */
  heartbeatMs: number;
}

export const DEFAULT_LIMITS: ClientLimits = { requestTimeoutMs: 120_000, heartbeatMs: 30_000 };

export class Daemon {
  readonly ctx: Context;
  readonly log: Logger;
  readonly caller: Caller;
  readonly stateDir: string;
  readonly serverName: string;
  readonly serverPid: number;
  readonly events: EventHub;
  readonly operations: Operations;
  readonly config: ServerConfig;
  /** The client certificates HTTPS clients are trusted by. */
  readonly trust: TrustStore;
  /** When the daemon started (the context's clock), for `lxd_uptime_seconds`. */
  readonly startedAt: number;
  readonly limits: ClientLimits;
  readonly sharedBusybox: boolean;
  tls?: TlsIdentity;
  /** Set when the daemon can serve HTTPS: what a change of `core.https_address` moves. */
  https?: HttpsControl;
  /** The web UI's login tokens and sessions (memory only). */
  readonly ui: UiSessions;
  readonly uiFiles: UiFiles;
  /** Set when the daemon can open a loopback listener for the UI (`lxt ui`). */
  uiLocal?: UiLocalControl;
  /** Set when lxtd runs as a cluster member (`--cluster`): membership and the shared names. */
  cluster?: Cluster;
  /** Set with `cluster`: the managed networks that span the members. */
  clusterNet?: ClusterNet;

  constructor(o: DaemonOptions) {
    this.ctx = o.ctx;
    this.log = o.log;
    this.caller = o.caller;
    this.stateDir = o.stateDir;
    this.serverName = o.serverName;
    this.serverPid = o.serverPid;
    this.startedAt = o.ctx.host.clock.now();
    this.limits = {
      requestTimeoutMs: o.limits?.requestTimeoutMs ?? DEFAULT_LIMITS.requestTimeoutMs,
      heartbeatMs: o.limits?.heartbeatMs ?? DEFAULT_LIMITS.heartbeatMs,
    };
    this.events = new EventHub();
    this.operations = new Operations(
      this.events,
      "none",
      Date.now,
      new OperationStore(join(o.stateDir, "operations")),
    );
    this.config = new ServerConfig(join(o.stateDir, "server.yaml"), SERVER_KEYS);
    this.trust = new TrustStore(join(o.stateDir, "trust"));
    this.ui = new UiSessions();
    this.uiFiles = new UiFiles(o.uiDir);
    this.sharedBusybox = o.sharedBusybox ?? false;
  }

  addresses(): string[] {
    return this.tls?.addresses ?? [];
  }

  /** Where the profiles are kept. */
  get profilesDir(): string {
    return join(this.stateDir, "profiles");
  }

  certificate(): string {
    return this.tls?.certificate ?? "";
  }

  fingerprint(): string {
    return this.tls?.fingerprint ?? "";
  }
}
