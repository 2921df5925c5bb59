/**
 * The other resources of lxtd as objects over `LxdClient.request` (the
 * instances are in instances.ts): each method is one endpoint (its `METHOD
 * PATH` in its TSDoc), answers unwrapped, operations awaited.
 */
import type { Readable } from "node:stream";
import type {
  AliasJson,
  ForwardJson,
  ForwardsPost,
  ImageJson,
  ImagePut,
  LeaseJson,
  NetworkJson,
  NetworksPost,
  OperationJson,
  OperationsByStatus,
  ProfileJson,
  ProfilePut,
  ProfilesPost,
  ServerJson,
  TrustedCertificate,
  VolumeJson,
} from "../../src/api/types.js";
import type { LxdClient } from "./client.js";
import { text } from "./urls.js";

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

/** `/1.0/operations`. */
export class OperationsApi {
  constructor(private readonly c: LxdClient) {}
  /** `GET /1.0/operations?recursion=1`: operations by lowercased status (`running`, `success`...). */
  async list(): Promise<OperationsByStatus> {
    return (await this.c.request("GET /1.0/operations", {
      query: { recursion: 1 },
    })) as OperationsByStatus;
  }
  get(id: string): Promise<OperationJson> {
    return this.c.request("GET /1.0/operations/:id", { params: { id } });
  }
  /** `DELETE /1.0/operations/ID`: cancels it (where it may be cancelled). */
  async cancel(id: string): Promise<void> {
    await this.c.request("DELETE /1.0/operations/:id", { params: { id } });
  }
}

/** `/1.0/images/aliases`. */
export class AliasesApi {
  constructor(private readonly c: LxdClient) {}
  async list(): Promise<AliasJson[]> {
    return (await this.c.request("GET /1.0/images/aliases", {
      query: { recursion: 1 },
    })) as AliasJson[];
  }
  get(name: string): Promise<AliasJson> {
    return this.c.request("GET /1.0/images/aliases/:name", { params: { name } });
  }
  /** Names image `target` (a fingerprint) `name`. */
  async create(name: string, target: string, description = ""): Promise<void> {
    await this.c.request("POST /1.0/images/aliases", { body: { name, target, description } });
  }
  async delete(name: string): Promise<void> {
    await this.c.request("DELETE /1.0/images/aliases/:name", { params: { name } });
  }
}

/** `/1.0/networks/NAME/leases` and `/forwards`. */
export class NetworkDetailsApi {
  constructor(private readonly c: LxdClient) {}
  leases(network: string): Promise<LeaseJson[]> {
    return this.c.request("GET /1.0/networks/:name/leases", { params: { name: network } });
  }
  async forwards(network: string): Promise<ForwardJson[]> {
    return (await this.c.request("GET /1.0/networks/:name/forwards", {
      params: { name: network },
      query: { recursion: 1 },
    })) as ForwardJson[];
  }
  async addForward(network: string, forward: ForwardsPost): Promise<void> {
    await this.c.request("POST /1.0/networks/:name/forwards", {
      params: { name: network },
      body: forward,
    });
  }
  async deleteForward(network: string, listenAddress: string): Promise<void> {
    await this.c.request("DELETE /1.0/networks/:name/forwards/:addr", {
      params: { name: network, addr: listenAddress },
    });
  }
}

/** `/1.0/storage-pools` (one pool, `default`: the state root). */
export class StorageApi {
  constructor(private readonly c: LxdClient) {}
  /** The pool's volumes: the containers and the stored images. */
  async volumes(pool = "default"): Promise<VolumeJson[]> {
    return (await this.c.request("GET /1.0/storage-pools/:pool/volumes", {
      params: { pool },
      query: { recursion: 1 },
    })) as VolumeJson[];
  }
  /** Its space and inodes. */
  resources(pool = "default"): Promise<Record<string, unknown>> {
    return this.c.request("GET /1.0/storage-pools/:pool/resources", { params: { pool } });
  }
}
