/**
 * A typed client for lxtd, lxt's LXD-compatible REST daemon.
 *
 * ```ts
 * import { LxdClient } from "@lxt/sdk";
 * const client = new LxdClient({ socket: "/var/lib/lxt/.lxtd/unix.socket" });
 * await client.instances.create({ name: "c1", source: { type: "image", alias: "busybox" } });
 * await client.instances.start("c1");
 * ```
 *
 * The wire types are lxtd's own (src/api/types.ts), re-exported here.
 * @packageDocumentation
 */

export * from "../../src/api/types.js";
export { type CallOptions, LxdClient, type Params, type WithEtag } from "./client.js";
export {
  ENDPOINTS,
  type EndpointKey,
  type EndpointKind,
  type Endpoints,
  type Ep,
  fillPath,
  type ParamsOf,
  type PathOf,
  WEBSOCKETS,
} from "./endpoints.js";
export {
  BadRequestError,
  ConflictError,
  ConnectionError,
  errorFor,
  ForbiddenError,
  LxdError,
  NotFoundError,
  OperationError,
  PreconditionFailedError,
  ServerError,
} from "./errors.js";
export type { EventStream, EventsOptions } from "./events.js";
export type { ConsoleSession, ExecOptions, ExecProcess, ExecResult } from "./exec.js";
export { type FileStat, FilesApi, type Pulled, type PushOptions } from "./files.js";
export { BackupsApi, InstancesApi, SnapshotsApi, type StateOptions } from "./instances.js";
export {
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
export {
  type ConnectOptions,
  fingerprintOf,
  type HttpsOptions,
  type RawRequest,
  type RawResponse,
  Transport,
  type UnixOptions,
} from "./transport.js";
