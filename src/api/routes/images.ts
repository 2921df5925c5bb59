/**
 * `/1.0/images`: list, get, upload (a unified tarball, or LXD's split image
 * as multipart metadata + rootfs, as `lxc image import` sends them), edit,
 * export and delete, over lxt's image store. The built-in busybox template
 * shows as an image of its own that can be launched but not changed.
 * Uploaded files are kept in the image, so an export gives back the bytes
 * the fingerprint is the sha256 of (the client checks it).
 */
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, mkdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { editImage } from "../../images/edit.js";
import type { ImageMeta } from "../../images/metadata.js";
import { deleteImage, imageFiles, importImage, listImages } from "../../images/store.js";
import type { Daemon } from "../daemon.js";
import { ApiError, asyncBody, badRequest, syncBody } from "../envelope.js";
import { checkIfMatch, etagOf, sendWithEtag } from "../etag.js";
import { issueImageSecret, spendSecret } from "../image-pull.js";
import { allImages, BUSYBOX_FINGERPRINT, findImageJson, type ImageJson } from "../images-view.js";
import { multipartBoundary, readMultipart, writeMultipart } from "../multipart.js";
import type { Operation } from "../operations.js";
import { registerAliasRoutes } from "./image-aliases.js";
import { recursion } from "./params.js";

export const IMAGES = "/1.0/images";

/** Starts an async operation on `resources` and answers 202 with it. */
export function startOperation(
  d: Daemon,
  reply: FastifyReply,
  description: string,
  resources: Record<string, string[]>,
  run: (op: Operation) => Promise<unknown>,
) {
  const op = d.operations.start({ description, resources, run });
  return reply.code(202).header("Location", op.url).send(asyncBody(op.url, op.json()));
}

/** The image a path's fingerprint (or unique prefix) names; LXD's 404 otherwise. */
export function imageOf(d: Daemon, fp: string): ImageJson {
  const img = findImageJson(d.ctx.lxcpath, fp, false);
  if (!img) throw new ApiError(404, "Image not found");
  return img;
}

/** The store's record of a path's image; the built-in one is refused with `what`. */
function storedOf(d: Daemon, fp: string, what: string): ImageMeta {
  const img = imageOf(d, fp);
  if (img.fingerprint === BUSYBOX_FINGERPRINT) {
    throw badRequest(`The built-in busybox image cannot be ${what}`);
  }
  const meta = listImages(d.ctx.lxcpath).find((m) => m.fingerprint === img.fingerprint);
  if (!meta) throw new ApiError(404, "Image not found");
  return meta;
}

/** What `PUT`/`PATCH` may change (LXD's ImagePut). */
interface ImagePut {
  auto_update?: boolean;
  properties?: Record<string, string>;
  public?: boolean;
  expires_at?: string;
  profiles?: string[];
}

function editable(img: ImageJson): ImagePut {
  return {
    auto_update: img.auto_update,
    properties: img.properties,
    public: img.public,
    expires_at: img.expires_at,
    profiles: img.profiles,
  };
}

function checkPut(body: unknown): ImagePut {
  if (!body || typeof body !== "object" || Array.isArray(body))
    throw badRequest("Invalid request body");
  const b = body as Record<string, unknown>;
  const known = ["auto_update", "properties", "public", "expires_at", "profiles", "cached"];
  for (const k of Object.keys(b)) {
    if (!known.includes(k)) throw badRequest(`Unknown image field "${k}"`);
  }
  if (b.auto_update !== undefined && typeof b.auto_update !== "boolean")
    throw badRequest(`Invalid value for "auto_update"`);
  if (b.public !== undefined && typeof b.public !== "boolean")
    throw badRequest(`Invalid value for "public"`);
  if (b.properties !== undefined && b.properties !== null) {
    const p = b.properties;
    if (
      typeof p !== "object" ||
      Array.isArray(p) ||
      Object.values(p).some((v) => typeof v !== "string")
    )
      throw badRequest(`Invalid value for "properties": expected a map of strings`);
  }
  if (Array.isArray(b.profiles) && b.profiles.some((p) => p !== "default"))
    throw badRequest("Images here always use the default profile");
  return b as ImagePut;
}

/** The request's `X-LXD-*` headers of an upload. */
function uploadHeaders(req: FastifyRequest) {
  const h = (k: string) => {
    const v = req.headers[k];
    return Array.isArray(v) ? v[0] : v;
  };
  const properties: Record<string, string> = {};
  const raw = h("x-lxd-properties");
  if (raw) for (const [k, v] of new URLSearchParams(raw)) properties[k] = v;
  const profiles = new URLSearchParams(h("x-lxd-profiles") ?? "").getAll("profile");
  if (profiles.some((p) => p !== "default"))
    throw badRequest("Images here always use the default profile");
  return {
    fingerprint: h("x-lxd-fingerprint"),
    filename: h("x-lxd-filename"),
    public: h("x-lxd-public") === "true" || h("x-lxd-public") === "1",
    properties,
  };
}

/** Receives an upload into `dir`: the files, in LXD's order (metadata, then rootfs). */
async function receive(req: FastifyRequest, dir: string, filename?: string) {
  const body = req.body as Readable | undefined;
  if (!body || typeof (body as Readable).pipe !== "function")
    throw badRequest("Image upload: no file in the request body");
  return receiveImage(body, req.headers["content-type"], dir, filename);
}

/**
 * Receives an image's bytes (an upload's body, or another server's export)
 * into `dir`: one unified file, or multipart metadata + rootfs, in LXD's order.
 */
export async function receiveImage(
  body: Readable,
  contentType: string | undefined,
  dir: string,
  filename?: string,
) {
  const boundary = multipartBoundary(contentType);
  if (boundary === undefined) {
    const path = join(dir, "upload");
    await pipeline(body, createWriteStream(path, { mode: 0o600 }));
    return [{ path, name: filename || "image.tar" }];
  }
  const parts = await readMultipart(body, boundary, dir);
  const meta = parts.find((p) => p.name === "metadata");
  const rootfs = parts.find((p) => p.name === "rootfs");
  if (parts.find((p) => p.name === "rootfs.img"))
    throw badRequest("Virtual-machine images are not supported (lxt runs containers only)");
  if (!meta || !rootfs || parts.length !== 2) throw badRequest("Invalid multipart image");
  return [
    { path: meta.path, name: meta.filename || "meta.tar" },
    { path: rootfs.path, name: rootfs.filename || "rootfs" },
  ];
}

export function registerImageRoutes(app: FastifyInstance, d: Daemon): void {
  app.get(IMAGES, async (req) => {
    const all = allImages(d.ctx.lxcpath);
    return syncBody(recursion(req) > 0 ? all : all.map((i) => `${IMAGES}/${i.fingerprint}`));
  });

  app.post(IMAGES, async (req, reply) => {
    const type = req.headers["content-type"] ?? "";
    if (/^application\/json/i.test(type)) {
      const src = (req.body as { source?: { type?: string } } | null)?.source;
      throw new ApiError(
        501,
        `Image source type "${src?.type ?? ""}" is not supported: upload a file (lxc image import)`,
      );
    }
    const hdr = uploadHeaders(req);
    const dir = join(d.stateDir, "uploads", randomBytes(8).toString("hex"));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    let files: { path: string; name: string }[];
    try {
      files = await receive(req, dir, hdr.filename);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    return startOperation(d, reply, "Downloading image", { images: [] }, async () => {
      try {
        const out = await importImage(
          d.ctx,
          files.map((f) => f.path),
          {
            keep: { meta: files[0]?.name ?? "", ...(files[1] ? { rootfs: files[1].name } : {}) },
            describe: { public: hdr.public },
            expect: hdr.fingerprint,
          },
        );
        if (out.existed) throw new ApiError(409, "Image with same fingerprint already exists");
        if (Object.keys(hdr.properties).length > 0) {
          await editImage(d.ctx, out.meta.fingerprint, {
            properties: { ...out.meta.properties, ...hdr.properties },
          });
        }
        d.events.lifecycle("image-created", `${IMAGES}/${out.meta.fingerprint}`);
        return { fingerprint: out.meta.fingerprint, size: out.meta.size ?? 0 };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  app.get<{ Params: { fp: string } }>(`${IMAGES}/:fp`, async (req, reply) => {
    const img = imageOf(d, req.params.fp);
    return sendWithEtag(reply, syncBody(img), etagOf(editable(img)));
  });

  const edit = async (req: FastifyRequest<{ Params: { fp: string } }>, whole: boolean) => {
    const meta = storedOf(d, req.params.fp, "changed");
    const img = imageOf(d, meta.fingerprint);
    checkIfMatch(req, etagOf(editable(img)));
    const body = checkPut(req.body);
    await editImage(d.ctx, meta.fingerprint, {
      ...(whole || body.properties !== undefined
        ? { properties: { ...(whole ? {} : img.properties), ...(body.properties ?? {}) } }
        : {}),
      ...(whole || body.public !== undefined ? { public: body.public ?? false } : {}),
      ...(whole || body.auto_update !== undefined ? { autoUpdate: body.auto_update ?? false } : {}),
    });
    d.events.lifecycle("image-updated", `${IMAGES}/${meta.fingerprint}`);
    return syncBody({});
  };
  app.put<{ Params: { fp: string } }>(`${IMAGES}/:fp`, (req) => edit(req, true));
  app.patch<{ Params: { fp: string } }>(`${IMAGES}/:fp`, (req) => edit(req, false));

  app.delete<{ Params: { fp: string } }>(`${IMAGES}/:fp`, async (req, reply) => {
    const meta = storedOf(d, req.params.fp, "deleted");
    const url = `${IMAGES}/${meta.fingerprint}`;
    return startOperation(d, reply, "Deleting image", { images: [url] }, async () => {
      await deleteImage(d.ctx, meta.fingerprint);
      d.events.lifecycle("image-deleted", url);
    });
  });

  // A one-time secret another server pulls this image with (lxc launch IMAGE REMOTE:NAME).
  app.post<{ Params: { fp: string } }>(`${IMAGES}/:fp/secret`, async (req, reply) => {
    const op = issueImageSecret(d, imageOf(d, req.params.fp).fingerprint);
    return reply.code(202).header("Location", op.url).send(asyncBody(op.url, op.json()));
  });

  app.get<{ Params: { fp: string } }>(`${IMAGES}/:fp/export`, async (req, reply) => {
    const meta = storedOf(d, req.params.fp, "exported (it is built on the host)");
    // Sent once: the secret that opened it (an untrusted server's pull) is spent.
    if (!req.trusted) reply.raw.once("finish", () => spendSecret(d, req.url));
    const files = imageFiles(d.ctx.lxcpath, meta);
    if (!files) {
      throw badRequest(
        "Image was not uploaded through lxtd: its original files are not kept, so it cannot be exported",
      );
    }
    const [first, second] = files;
    if (first && !second) {
      return reply
        .header("Content-Type", "application/octet-stream")
        .header("Content-Disposition", `attachment;filename=${quoteName(first.name)}`)
        .send(createReadStream(first.path));
    }
    const { stream, contentType } = writeMultipart(
      [
        { field: "metadata", name: first?.name ?? "", path: first?.path ?? "" },
        { field: "rootfs", name: second?.name ?? "", path: second?.path ?? "" },
      ],
      randomBytes(16).toString("hex"),
    );
    return reply.header("Content-Type", contentType).send(stream);
  });

  registerAliasRoutes(app, d);
}

/** A file name as a Content-Disposition parameter (quoted when it must be). */
function quoteName(name: string): string {
  const safe = name.replace(/["\\\r\n]/g, "_");
  return /^[A-Za-z0-9._-]+$/.test(safe) ? safe : `"${safe}"`;
}
