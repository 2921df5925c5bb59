/** `/1.0/images` and `/1.0/images/aliases`: list and get. */
import type { FastifyInstance } from "fastify";
import type { Daemon } from "../daemon.js";
import { ApiError, syncBody } from "../envelope.js";
import { etagOf, sendWithEtag } from "../etag.js";
import { allImages, findImageJson } from "../images-view.js";
import { recursion } from "./params.js";

export function registerImageRoutes(app: FastifyInstance, d: Daemon): void {
  app.get("/1.0/images", async (req) => {
    const all = allImages(d.ctx.lxcpath);
    return syncBody(recursion(req) > 0 ? all : all.map((i) => `/1.0/images/${i.fingerprint}`));
  });
  app.get<{ Params: { fp: string } }>("/1.0/images/:fp", async (req, reply) => {
    const img = findImageJson(d.ctx.lxcpath, req.params.fp, false);
    if (!img) throw new ApiError(404, "Image not found");
    return sendWithEtag(reply, syncBody(img), etagOf(img));
  });
  app.get("/1.0/images/aliases", async (req) => {
    const aliases = allImages(d.ctx.lxcpath).flatMap((i) =>
      i.aliases.map((a) => ({
        name: a.name,
        description: a.description,
        target: i.fingerprint,
        type: "container",
      })),
    );
    return syncBody(
      recursion(req) > 0 ? aliases : aliases.map((a) => `/1.0/images/aliases/${a.name}`),
    );
  });
  app.get<{ Params: { name: string } }>("/1.0/images/aliases/:name", async (req, reply) => {
    const img = findImageJson(d.ctx.lxcpath, req.params.name, true);
    if (!img) throw new ApiError(404, "Image alias not found");
    const alias = {
      name: req.params.name,
      description: img.aliases.find((a) => a.name === req.params.name)?.description ?? "",
      target: img.fingerprint,
      type: "container",
    };
    return sendWithEtag(reply, syncBody(alias), etagOf(alias));
  });
}
