/**
 * The resources of lxtd as objects over `LxdClient.request`: each method is
 * one endpoint (its `METHOD PATH` is in its TSDoc), answers unwrapped,
 * operations awaited.
 */
import type { Readable } from "node:stream";
import type {
  BackupJson,
  BackupsPost,
  ImageJson,
  ImagePut,
  InstanceFull,
  InstanceJson,
  InstancePut,
  InstanceState,
  InstancesPost,
  NetworkJson,
  NetworksPost,
  OperationJson,
  ProfileJson,
  ProfilePut,
  ProfilesPost,
  ServerJson,
  SnapshotJson,
  TrustedCertificate,
} from "../../src/api/types.js";
import type { LxdClient } from "./client.js";
import {
  type ConsoleSession,
  type ExecOptions,
  type ExecProcess,
  type ExecResult,
  execOutput,
  execProcess,
  openConsole,
} from "./exec.js";

/** Options of the state changes (`PUT /1.0/instances/NAME/state`). */
export interface StateOptions {
  /** Seconds to wait for a clean stop before killing (-1: wait as long as it takes). */
  timeout?: number;
  /** Kill (stop) rather than ask. */
  force?: boolean;
}

const names = (urls: string[]) =>
  urls.map((u) => decodeURIComponent(u.slice(u.lastIndexOf("/") + 1)));

/** `/1.0` and `/1.0/resources`. */
export class ServerApi {
  constructor(private readonly c: LxdClient) {}
  /** `GET /1.0` as a trusted client sees it. */
  async get(): Promise<ServerJson> {
    return (await this.c.request("GET /1.0")) as ServerJson;
  }
  /** `PATCH /1.0`: sets (empty value: unsets) server config keys. */
  async setConfig(config: Record<string, string>): Promise<void> {
    await this.c.request("PATCH /1.0", { body: { config } });
  }
  /** `GET /1.0/metrics` (Prometheus text). */
  async metrics(): Promise<string> {
    return text(await this.c.request("GET /1.0/metrics"));
  }
}

/** `/1.0/instances` and what hangs below it. */
export class InstancesApi {
  readonly snapshots: SnapshotsApi;
  readonly backups: BackupsApi;
  readonly files: FilesApi;
  constructor(private readonly c: LxdClient) {
    this.snapshots = new SnapshotsApi(c);
    this.backups = new BackupsApi(c);
    this.files = new FilesApi(c);
  }
  /** `GET /1.0/instances` (names). */
  async names(): Promise<string[]> {
    return names((await this.c.request("GET /1.0/instances")) as string[]);
  }
  /** `GET /1.0/instances?recursion=1`. */
  async list(): Promise<InstanceJson[]> {
    return (await this.c.request("GET /1.0/instances", {
      query: { recursion: 1 },
    })) as InstanceJson[];
  }
  /** `GET /1.0/instances?recursion=2` (with state, snapshots, backups). */
  async listFull(): Promise<InstanceFull[]> {
    return (await this.c.request("GET /1.0/instances", {
      query: { recursion: 2 },
    })) as InstanceFull[];
  }
  /** `GET /1.0/instances/NAME`. */
  async get(name: string): Promise<InstanceJson> {
    return (await this.c.request("GET /1.0/instances/:name", { params: { name } })) as InstanceJson;
  }
  /** `GET /1.0/instances/NAME/state`. */
  state(name: string): Promise<InstanceState> {
    return this.c.request("GET /1.0/instances/:name/state", { params: { name } });
  }
  /**
   * `POST /1.0/instances`: creates (and with `start: true` starts) an
   * instance; resolves when it is made. `{name, source: {type: "image", alias: "busybox"}}`.
   */
  create(body: InstancesPost): Promise<OperationJson> {
    return this.c.request("POST /1.0/instances", { body }) as Promise<OperationJson>;
  }
  /** `PUT /1.0/instances/NAME`: replaces its config, devices, profiles, description (`etag`: If-Match). */
  async update(name: string, put: InstancePut, etag?: string): Promise<void> {
    await this.c.request("PUT /1.0/instances/:name", {
      params: { name },
      body: put,
      headers: etag ? { "if-match": etag } : {},
    });
  }
  /** `PATCH /1.0/instances/NAME`: merges. */
  async patch(name: string, patch: Partial<InstancePut>): Promise<void> {
    await this.c.request("PATCH /1.0/instances/:name", { params: { name }, body: patch });
  }
  /** `POST /1.0/instances/NAME` (rename; stopped only). */
  async rename(name: string, to: string): Promise<void> {
    await this.c.request("POST /1.0/instances/:name", { params: { name }, body: { name: to } });
  }
  /** `DELETE /1.0/instances/NAME` (stopped only; with its snapshots). */
  async delete(name: string): Promise<void> {
    await this.c.request("DELETE /1.0/instances/:name", { params: { name } });
  }
  private async change(name: string, action: string, opts: StateOptions = {}): Promise<void> {
    await this.c.request("PUT /1.0/instances/:name/state", {
      params: { name },
      body: { action, ...opts },
    });
  }
  /** `PUT /1.0/instances/NAME/state {action: start}`; resolves once it runs. */
  start(name: string): Promise<void> {
    return this.change(name, "start");
  }
  /** Stops it (`force`: kill; `timeout` seconds before killing). */
  stop(name: string, opts?: StateOptions): Promise<void> {
    return this.change(name, "stop", opts);
  }
  restart(name: string, opts?: StateOptions): Promise<void> {
    return this.change(name, "restart", opts);
  }
  freeze(name: string): Promise<void> {
    return this.change(name, "freeze");
  }
  unfreeze(name: string): Promise<void> {
    return this.change(name, "unfreeze");
  }
  /** `PUT /1.0/instances/NAME {restore}`: restores snapshot `snap` in place. */
  async restore(name: string, snap: string): Promise<void> {
    await this.c.request("PUT /1.0/instances/:name", { params: { name }, body: { restore: snap } });
  }
  /** `POST /1.0/instances/NAME/exec`: the command with its streams attached. */
  exec(name: string, command: string[], opts?: ExecOptions): Promise<ExecProcess> {
    return execProcess(this.c, name, command, opts);
  }
  /** Runs a command to its end; resolves with its exit code and output. */
  execOutput(
    name: string,
    command: string[],
    opts?: ExecOptions & { input?: string | Buffer },
  ): Promise<ExecResult> {
    return execOutput(this.c, name, command, opts);
  }
  /** `POST /1.0/instances/NAME/console`: attaches to its console. */
  console(name: string, opts?: { width?: number; height?: number }): Promise<ConsoleSession> {
    return openConsole(this.c, name, opts);
  }
  /** `GET /1.0/instances/NAME/console`: what the console showed so far. */
  async consoleLog(name: string): Promise<string> {
    return text(await this.c.request("GET /1.0/instances/:name/console", { params: { name } }));
  }
  /** `GET /1.0/instances/NAME/logs` (file names). */
  async logs(name: string): Promise<string[]> {
    return names(await this.c.request("GET /1.0/instances/:name/logs", { params: { name } }));
  }
  /** `GET /1.0/instances/NAME/logs/FILE`. */
  async log(name: string, file: string): Promise<string> {
    return text(
      await this.c.request("GET /1.0/instances/:name/logs/:file", { params: { name, file } }),
    );
  }
}

/** `/1.0/instances/NAME/snapshots`. */
export class SnapshotsApi {
  constructor(private readonly c: LxdClient) {}
  /** `GET .../snapshots?recursion=1`. */
  async list(instance: string): Promise<SnapshotJson[]> {
    return (await this.c.request("GET /1.0/instances/:name/snapshots", {
      params: { name: instance },
      query: { recursion: 1 },
    })) as SnapshotJson[];
  }
  get(instance: string, snap: string): Promise<SnapshotJson> {
    return this.c.request("GET /1.0/instances/:name/snapshots/:snap", {
      params: { name: instance, snap },
    });
  }
  /** `POST .../snapshots`: takes one (unnamed: LXD's next `snapN`); resolves with its name. */
  async create(
    instance: string,
    opts: { name?: string; expiresAt?: string } = {},
  ): Promise<string> {
    const op = (await this.c.request("POST /1.0/instances/:name/snapshots", {
      params: { name: instance },
      body: {
        ...(opts.name ? { name: opts.name } : {}),
        ...(opts.expiresAt ? { expires_at: opts.expiresAt } : {}),
      },
    })) as OperationJson;
    return String((op.metadata as { name?: string } | null)?.name ?? opts.name ?? "");
  }
  async rename(instance: string, snap: string, to: string): Promise<void> {
    await this.c.request("POST /1.0/instances/:name/snapshots/:snap", {
      params: { name: instance, snap },
      body: { name: to },
    });
  }
  async delete(instance: string, snap: string): Promise<void> {
    await this.c.request("DELETE /1.0/instances/:name/snapshots/:snap", {
      params: { name: instance, snap },
    });
  }
}

/** `/1.0/instances/NAME/backups`. */
export class BackupsApi {
  constructor(private readonly c: LxdClient) {}
  async list(instance: string): Promise<BackupJson[]> {
    return (await this.c.request("GET /1.0/instances/:name/backups", {
      params: { name: instance },
      query: { recursion: 1 },
    })) as BackupJson[];
  }
  async create(instance: string, body: BackupsPost = {}): Promise<void> {
    await this.c.request("POST /1.0/instances/:name/backups", { params: { name: instance }, body });
  }
  /** `GET .../backups/B/export`: the tarball as a stream. */
  export(instance: string, backup: string): Promise<Readable> {
    return this.c.request("GET /1.0/instances/:name/backups/:backup/export", {
      params: { name: instance, backup },
    });
  }
  async delete(instance: string, backup: string): Promise<void> {
    await this.c.request("DELETE /1.0/instances/:name/backups/:backup", {
      params: { name: instance, backup },
    });
  }
}

/** What a pull found at a path. */
export type Pulled =
  | { type: "file"; uid: number; gid: number; mode: number; content: Readable }
  | { type: "symlink"; uid: number; gid: number; mode: number; target: string }
  | { type: "directory"; uid: number; gid: number; mode: number; entries: string[] };

/** How a push writes. */
export interface PushOptions {
  uid?: number;
  gid?: number;
  /** Permission bits, e.g. 0o644. */
  mode?: number;
  /** `append` adds to the end of an existing file (default: overwrite). */
  write?: "overwrite" | "append";
}

/** What `stat` says of a path. */
export interface FileStat {
  type: "file" | "directory" | "symlink";
  uid: number;
  gid: number;
  mode: number;
  /** A file's size in bytes (0 for the others). */
  size: number;
}

/** The owner and mode LXD's file headers carry. */
function fileMeta(h: import("node:http").IncomingHttpHeaders) {
  return {
    uid: Number(h["x-lxd-uid"] ?? 0),
    gid: Number(h["x-lxd-gid"] ?? 0),
    mode: Number.parseInt(String(h["x-lxd-mode"] ?? "0"), 8),
  };
}

/** `/1.0/instances/NAME/files?path=P`. */
export class FilesApi {
  constructor(private readonly c: LxdClient) {}
  /** `HEAD`: the path's type, owner, mode and size, without its content. */
  async stat(instance: string, path: string): Promise<FileStat> {
    const res = await this.c.raw({
      method: "HEAD",
      path: `/1.0/instances/${encodeURIComponent(instance)}/files`,
      query: { path },
    });
    res.body.resume();
    const type = String(res.headers["x-lxd-type"] ?? "file") as FileStat["type"];
    const size = type === "file" ? Number(res.headers["content-length"] ?? 0) : 0;
    return { type, ...fileMeta(res.headers), size };
  }
  /** `GET`: a file's content as a stream, a directory's entries, a symlink's target. */
  async pull(instance: string, path: string): Promise<Pulled> {
    const res = await this.c.raw({
      method: "GET",
      path: `/1.0/instances/${encodeURIComponent(instance)}/files`,
      query: { path },
    });
    const meta = fileMeta(res.headers);
    const type = String(res.headers["x-lxd-type"] ?? "file");
    if (type === "directory") {
      const env = JSON.parse((await readText(res.body)) || "{}") as { metadata?: string[] };
      return { type, ...meta, entries: env.metadata ?? [] };
    }
    if (type === "symlink") return { type, ...meta, target: await readText(res.body) };
    return { type: "file", ...meta, content: res.body };
  }
  /** `POST`: writes `data` (a stream, bytes or text) to `path`, whole or not at all. */
  async push(
    instance: string,
    path: string,
    data: Readable | Buffer | string,
    opts: PushOptions = {},
  ): Promise<void> {
    await this.c.request("POST /1.0/instances/:name/files", {
      params: { name: instance },
      query: { path },
      headers: { "x-lxd-type": "file", ...pushHeaders(opts) },
      body: data,
    });
  }
  /** `POST` with `X-LXD-type: directory`. */
  async mkdir(instance: string, path: string, opts: PushOptions = {}): Promise<void> {
    await this.c.request("POST /1.0/instances/:name/files", {
      params: { name: instance },
      query: { path },
      headers: { "x-lxd-type": "directory", ...pushHeaders(opts) },
      body: Buffer.alloc(0),
    });
  }
  /** `POST` with `X-LXD-type: symlink`: `path` → `target`. */
  async symlink(instance: string, path: string, target: string): Promise<void> {
    await this.c.request("POST /1.0/instances/:name/files", {
      params: { name: instance },
      query: { path },
      headers: { "x-lxd-type": "symlink" },
      body: target,
    });
  }
  /** `DELETE`. */
  async delete(instance: string, path: string): Promise<void> {
    await this.c.request("DELETE /1.0/instances/:name/files", {
      params: { name: instance },
      query: { path },
    });
  }
}

function pushHeaders(o: PushOptions): Record<string, string> {
  const h: Record<string, string> = {};
  if (o.uid !== undefined) h["x-lxd-uid"] = String(o.uid);
  if (o.gid !== undefined) h["x-lxd-gid"] = String(o.gid);
  if (o.mode !== undefined) h["x-lxd-mode"] = `0${o.mode.toString(8)}`;
  if (o.write) h["x-lxd-write"] = o.write;
  return h;
}

/** `/1.0/images`. */
export class ImagesApi {
  constructor(private readonly c: LxdClient) {}
  async list(): Promise<ImageJson[]> {
    return (await this.c.request("GET /1.0/images", { query: { recursion: 1 } })) as ImageJson[];
  }
  get(fp: string): Promise<ImageJson> {
    return this.c.request("GET /1.0/images/:fp", { params: { fp } });
  }
  async patch(fp: string, put: ImagePut): Promise<void> {
    await this.c.request("PATCH /1.0/images/:fp", { params: { fp }, body: put });
  }
  /** `POST /1.0/images`: imports a unified image tarball (`alias` given to it). */
  async upload(data: Readable | Buffer, opts: { alias?: string } = {}): Promise<OperationJson> {
    return (await this.c.request("POST /1.0/images", {
      body: data,
      headers: opts.alias ? { "x-lxd-aliases": opts.alias } : {},
    })) as OperationJson;
  }
  export(fp: string): Promise<Readable> {
    return this.c.request("GET /1.0/images/:fp/export", { params: { fp } });
  }
  async delete(fp: string): Promise<void> {
    await this.c.request("DELETE /1.0/images/:fp", { params: { fp } });
  }
}

/** `/1.0/profiles`. */
export class ProfilesApi {
  constructor(private readonly c: LxdClient) {}
  async list(): Promise<ProfileJson[]> {
    return (await this.c.request("GET /1.0/profiles", {
      query: { recursion: 1 },
    })) as ProfileJson[];
  }
  get(name: string): Promise<ProfileJson> {
    return this.c.request("GET /1.0/profiles/:name", { params: { name } });
  }
  async create(body: ProfilesPost): Promise<void> {
    await this.c.request("POST /1.0/profiles", { body });
  }
  async update(name: string, put: ProfilePut): Promise<void> {
    await this.c.request("PUT /1.0/profiles/:name", { params: { name }, body: put });
  }
  async delete(name: string): Promise<void> {
    await this.c.request("DELETE /1.0/profiles/:name", { params: { name } });
  }
}

/** `/1.0/networks`. */
export class NetworksApi {
  constructor(private readonly c: LxdClient) {}
  async list(): Promise<NetworkJson[]> {
    return (await this.c.request("GET /1.0/networks", {
      query: { recursion: 1 },
    })) as NetworkJson[];
  }
  get(name: string): Promise<NetworkJson> {
    return this.c.request("GET /1.0/networks/:name", { params: { name } });
  }
  async create(body: NetworksPost): Promise<void> {
    await this.c.request("POST /1.0/networks", { body });
  }
  async delete(name: string): Promise<void> {
    await this.c.request("DELETE /1.0/networks/:name", { params: { name } });
  }
}

/** `/1.0/certificates`: the trust store. */
export class CertificatesApi {
  constructor(private readonly c: LxdClient) {}
  async list(): Promise<TrustedCertificate[]> {
    return (await this.c.request("GET /1.0/certificates", {
      query: { recursion: 1 },
    })) as TrustedCertificate[];
  }
  /** `POST /1.0/certificates`: trusts `certificate` (PEM) under `name`. */
  async add(certificate: string, name: string): Promise<void> {
    await this.c.request("POST /1.0/certificates", { body: { certificate, name, type: "client" } });
  }
  async delete(fp: string): Promise<void> {
    await this.c.request("DELETE /1.0/certificates/:fp", { params: { fp } });
  }
}

async function readText(r: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts).toString();
}

const text = readText;
