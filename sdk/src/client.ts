/**
 * The client: one typed call for every endpoint (`request("GET
 * /1.0/instances/:name", {params: {name}})`), LXD's envelopes unwrapped,
 * errors turned into `LxdError`s, operations awaited; and, on top, the
 * resources as objects (`client.instances.start("c1")`, resources.ts).
 */
import type { ErrorBody, OperationJson } from "../../src/api/types.js";
import {
  ENDPOINTS,
  type EndpointKey,
  type Endpoints,
  fillPath,
  type ParamsOf,
  type PathOf,
  splitKey,
} from "./endpoints.js";
import { errorFor, LxdError, OperationError } from "./errors.js";
import { type EventStream, type EventsOptions, openEvents } from "./events.js";
import { InstancesApi } from "./instances.js";
import {
  AliasesApi,
  CertificatesApi,
  ImagesApi,
  NetworkDetailsApi,
  NetworksApi,
  OperationsApi,
  ProfilesApi,
  ServerApi,
  StorageApi,
} from "./resources.js";
import {
  type ConnectOptions,
  type RawRequest,
  type RawResponse,
  readAll,
  Transport,
} from "./transport.js";

/** The `:params` of endpoint `K`, by name. */
export type Params<K extends EndpointKey> = [ParamsOf<PathOf<K>>] extends [never]
  ? { params?: undefined }
  : { params: Record<ParamsOf<PathOf<K>>, string> };

/** What a call takes beyond its endpoint. */
export type CallOptions<K extends EndpointKey> = Params<K> & {
  query?: RawRequest["query"];
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** For an answer that is an operation: false returns it as created instead of waiting for its end. */
  wait?: boolean;
} & (Endpoints[K]["body"] extends undefined
    ? { body?: undefined }
    : { body: Endpoints[K]["body"] });

/** A call's options: optional when nothing in them is required (no params, no body). */
export type Args<K extends EndpointKey> =
  Record<never, never> extends CallOptions<K> ? [CallOptions<K>?] : [CallOptions<K>];

/** A sync answer with its ETag (for `If-Match` on the next `PUT`/`PATCH`). */
export interface WithEtag<T> {
  value: T;
  etag: string | undefined;
}

function isJson(res: RawResponse): boolean {
  return /^application\/json/.test(String(res.headers["content-type"] ?? ""));
}

interface Envelope {
  type: "sync" | "async" | "error";
  metadata: unknown;
  operation?: string;
  error?: string;
  error_code?: number;
}

export class LxdClient {
  readonly transport: Transport;
  /** `/1.0`, `/1.0/metrics`. */
  readonly server: ServerApi;
  /** `/1.0/instances` (with `.snapshots`, `.backups`, `.files`), exec and console. */
  readonly instances: InstancesApi;
  readonly images: ImagesApi;
  readonly aliases: AliasesApi;
  readonly profiles: ProfilesApi;
  readonly networks: NetworksApi;
  /** Leases and forwards of a network. */
  readonly network: NetworkDetailsApi;
  readonly storage: StorageApi;
  readonly certificates: CertificatesApi;
  readonly operations: OperationsApi;

  /** A client of the lxtd at `opts` (nothing is connected until the first call). */
  constructor(opts: ConnectOptions) {
    this.transport = new Transport(opts);
    this.server = new ServerApi(this);
    this.instances = new InstancesApi(this);
    this.images = new ImagesApi(this);
    this.profiles = new ProfilesApi(this);
    this.networks = new NetworksApi(this);
    this.certificates = new CertificatesApi(this);
    this.aliases = new AliasesApi(this);
    this.network = new NetworkDetailsApi(this);
    this.storage = new StorageApi(this);
    this.operations = new OperationsApi(this);
  }

  /** Closes idle connections (open event streams and exec sessions are closed by their owners). */
  close(): void {
    this.transport.close();
  }

  /**
   * Sends a request and checks its answer: an error envelope (or any
   * status ≥ 400) rejects with the `LxdError` of its status; otherwise the
   * raw answer is returned, its body unread.
   */
  async raw(req: RawRequest): Promise<RawResponse> {
    const res = await this.transport.request(req);
    if (res.status < 400) return res;
    const text = (await readAll(res.body)).toString();
    let message = `${res.status} ${res.body.statusMessage ?? ""}`.trim();
    try {
      const e = JSON.parse(text) as ErrorBody;
      if (e.error) message = e.error;
    } catch {}
    throw errorFor(res.status, message, `${req.method} ${req.path}`);
  }

  /** The envelope of an answer known to be JSON. */
  private async envelope(res: RawResponse, what: string): Promise<Envelope> {
    const text = (await readAll(res.body)).toString();
    try {
      return JSON.parse(text) as Envelope;
    } catch {
      throw new LxdError(
        res.status,
        `${what}: the answer is not JSON: ${text.slice(0, 200)}`,
        what,
      );
    }
  }

  /**
   * Calls endpoint `key`. A sync answer resolves with its `metadata`; an
   * operation is awaited (unless `wait: false`) and resolves with its final
   * state, or rejects with an `OperationError` when it failed; a raw
   * endpoint (files, exports, logs) resolves with the body as a stream.
   */
  async request<K extends EndpointKey>(
    key: K,
    ...[opts]: Args<K>
  ): Promise<Endpoints[K]["response"]> {
    return (await this.requestWithEtag(key, ...([opts] as [CallOptions<K>]))).value;
  }

  /** As `request`, with the answer's ETag. */
  async requestWithEtag<K extends EndpointKey>(
    key: K,
    ...[opts]: Args<K>
  ): Promise<WithEtag<Endpoints[K]["response"]>> {
    const o = (opts ?? {}) as CallOptions<K>;
    const { method, path } = splitKey(key);
    const filled = fillPath(path, o.params as Record<string, string> | undefined);
    const res = await this.raw({
      method,
      path: filled,
      query: o.query,
      headers: o.headers,
      body: o.body,
      signal: o.signal,
    });
    const etag = typeof res.headers.etag === "string" ? res.headers.etag : undefined;
    if (method === "HEAD") {
      res.body.resume();
      return { value: {} as Endpoints[K]["response"], etag };
    }
    if (ENDPOINTS[key] === "raw" && !isJson(res)) {
      return { value: res.body as Endpoints[K]["response"], etag };
    }
    const env = await this.envelope(res, `${method} ${filled}`);
    if (env.type === "async") {
      const op = env.metadata as OperationJson;
      const value = o.wait === false ? op : await this.wait(op.id, { signal: o.signal });
      return { value: value as Endpoints[K]["response"], etag };
    }
    return { value: env.metadata as Endpoints[K]["response"], etag };
  }

  /**
   * Waits for operation `id` to end; resolves with its final state when it
   * succeeded, rejects with an `OperationError` when it failed or was
   * cancelled. `timeoutSeconds`: give up (with the operation still running)
   * after that long, rejecting with an `LxdError` of status 0.
   */
  async wait(
    id: string,
    opts: { timeoutSeconds?: number; signal?: AbortSignal } = {},
  ): Promise<OperationJson> {
    const op = await this.request("GET /1.0/operations/:id/wait", {
      params: { id },
      query: { timeout: opts.timeoutSeconds ?? -1 },
      signal: opts.signal,
    });
    if (op.status === "Success") return op;
    if (op.status === "Failure" || op.status === "Cancelled") throw new OperationError(op);
    throw new LxdError(
      0,
      `operation ${id} still ${op.status} after the wait`,
      `GET /1.0/operations/${id}/wait`,
    );
  }

  /**
   * The events stream (`GET /1.0/events`) as an async iterator; opening it
   * starts at once, `ready` resolves once the daemon has subscribed it (so
   * what happens after is seen). `break` or `close()` ends it.
   */
  events(opts: EventsOptions = {}): EventStream {
    return openEvents(this.transport, opts);
  }
}
