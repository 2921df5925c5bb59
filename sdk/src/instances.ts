/**
 * `/1.0/instances` and what hangs below it (state, exec, console, logs,
 * snapshots, backups; files in files.ts), each method one endpoint (its
 * `METHOD PATH` in its TSDoc), answers unwrapped, operations awaited.
 */
import type { Readable } from "node:stream";
import type {
  BackupJson,
  BackupsPost,
  InstanceFull,
  InstanceJson,
  InstancePut,
  InstanceState,
  InstancesPost,
  OperationJson,
  SnapshotJson,
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
import { FilesApi } from "./files.js";
import { names, text } from "./urls.js";

/** Options of the state changes (`PUT /1.0/instances/NAME/state`). */
export interface StateOptions {
  /** Seconds to wait for a clean stop before killing (-1: wait as long as it takes). */
  timeout?: number;
  /** Kill (stop) rather than ask. */
  force?: boolean;
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
