/**
 * `/1.0/storage-pools`: the state root as LXD's one pool, `default`, read
 * only. Its driver is the backend new containers get (`btrfs` on a btrfs
 * state root, else `dir`; a container made with another backend says so in
 * its volume's config), its space the state root's filesystem's, its
 * volumes the containers (type `container`) and stored images (`image`).
 * lxt has no other pool to make: creating, changing or deleting one is
 * refused.
 */
import type { FastifyInstance } from "fastify";
import { storagePool } from "../../container/storage.js";
import type { Daemon } from "../daemon.js";
import { ApiError, syncBody } from "../envelope.js";
import { etagOf, sendWithEtag } from "../etag.js";
import { allImages, BUSYBOX_FINGERPRINT } from "../images-view.js";
import type { VolumeJson } from "../types.js";
import { recursion } from "./params.js";

const POOLS = "/1.0/storage-pools";
export const POOL = "default";

function poolJson(d: Daemon) {
  const pool = storagePool(d.ctx);
  return {
    config: { source: pool.source },
    description: "The state root of lxt",
    name: POOL,
    driver: pool.driver,
    used_by: [
      ...pool.containers.map((c) => `/1.0/instances/${c.name}`),
      ...storedImages(d).map((fp) => `/1.0/images/${fp}`),
    ],
    status: "Created",
    locations: ["none"],
  };
}

function storedImages(d: Daemon): string[] {
  return allImages(d.ctx.lxcpath)
    .map((i) => i.fingerprint)
    .filter((fp) => fp !== BUSYBOX_FINGERPRINT);
}

function volumes(d: Daemon): VolumeJson[] {
  const vol = (type: VolumeJson["type"], name: string, config: Record<string, string>) => ({
    config,
    description: "",
    name,
    type,
    used_by: [type === "container" ? `/1.0/instances/${name}` : `/1.0/images/${name}`],
    location: "none",
    content_type: "filesystem" as const,
    project: "default",
  });
  return [
    ...storagePool(d.ctx).containers.map((c) =>
      vol("container", c.name, { "lxt.backend": c.backend }),
    ),
    ...storedImages(d).map((fp) => vol("image", fp, {})),
  ];
}

function checkPool(name: string): void {
  if (name !== POOL) throw new ApiError(404, "Storage pool not found");
}

const REFUSED = `lxt has one storage pool, "${POOL}" (its state root): pools cannot be created, changed or deleted`;

export function registerStorageRoutes(app: FastifyInstance, d: Daemon): void {
  app.get(POOLS, async (req) =>
    syncBody(recursion(req) > 0 ? [poolJson(d)] : [`${POOLS}/${POOL}`]),
  );
  app.post(POOLS, async () => {
    throw new ApiError(400, REFUSED);
  });
  app.get<{ Params: { pool: string } }>(`${POOLS}/:pool`, async (req, reply) => {
    checkPool(req.params.pool);
    const pool = poolJson(d);
    return sendWithEtag(
      reply,
      syncBody(pool),
      etagOf({ config: pool.config, description: pool.description }),
    );
  });
  for (const method of ["PUT", "PATCH", "DELETE", "POST"] as const) {
    app.route<{ Params: { pool: string } }>({
      method,
      url: `${POOLS}/:pool`,
      handler: async (req) => {
        checkPool(req.params.pool);
        throw new ApiError(400, REFUSED);
      },
    });
  }
  app.get<{ Params: { pool: string } }>(`${POOLS}/:pool/resources`, async (req) => {
    checkPool(req.params.pool);
    const p = storagePool(d.ctx);
    return syncBody({ space: p.space, inodes: p.inodes });
  });
  app.get<{ Params: { pool: string } }>(`${POOLS}/:pool/volumes`, async (req) => {
    checkPool(req.params.pool);
    const all = volumes(d);
    return syncBody(
      recursion(req) > 0 ? all : all.map((v) => `${POOLS}/${POOL}/volumes/${v.type}/${v.name}`),
    );
  });
  for (const url of [`${POOLS}/:pool/volumes`, `${POOLS}/:pool/volumes/:type`]) {
    app.post<{ Params: { pool: string } }>(url, async (req) => {
      checkPool(req.params.pool);
      throw new ApiError(
        400,
        "Custom storage volumes are not supported: lxt's volumes are its containers and images",
      );
    });
  }
  app.get<{ Params: { pool: string; type: string } }>(
    `${POOLS}/:pool/volumes/:type`,
    async (req) => {
      checkPool(req.params.pool);
      const all = volumes(d).filter((v) => v.type === req.params.type);
      return syncBody(
        recursion(req) > 0 ? all : all.map((v) => `${POOLS}/${POOL}/volumes/${v.type}/${v.name}`),
      );
    },
  );
  app.get<{ Params: { pool: string; type: string; name: string } }>(
    `${POOLS}/:pool/volumes/:type/:name`,
    async (req, reply) => {
      checkPool(req.params.pool);
      const v = volumes(d).find((x) => x.type === req.params.type && x.name === req.params.name);
      if (!v) throw new ApiError(404, "Storage volume not found");
      return sendWithEtag(reply, syncBody(v), etagOf({ config: v.config, description: "" }));
    },
  );
}
