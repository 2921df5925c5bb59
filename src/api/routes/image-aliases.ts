/**
 * `/1.0/images/aliases`: list, get, create, edit (target, description),
 * rename and delete. An alias names one image. `busybox` is the built-in
 * template's alias and stays as it is.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { createAlias, deleteAlias, renameAlias, updateAlias } from "../../images/edit.js";
import { checkAlias } from "../../images/metadata.js";
import type { Daemon } from "../daemon.js";
import { ApiError, badRequest, syncBody } from "../envelope.js";
import { checkIfMatch, etagOf, sendWithEtag } from "../etag.js";
import { allImages, BUSYBOX_FINGERPRINT, findImageJson } from "../images-view.js";
import type { AliasJson } from "../types.js";
import { recursion } from "./params.js";

const ALIASES = "/1.0/images/aliases";

function aliasesOf(d: Daemon): AliasJson[] {
  return allImages(d.ctx.lxcpath).flatMap((i) =>
    i.aliases.map((a) => ({
      name: a.name,
      description: a.description,
      target: i.fingerprint,
      type: "container" as const,
    })),
  );
}

function aliasOf(d: Daemon, name: string): AliasJson {
  const a = aliasesOf(d).find((x) => x.name === name);
  if (!a) throw new ApiError(404, "Image alias not found");
  return a;
}

/** An alias the client may change: not the built-in one. */
function changeable(d: Daemon, name: string): AliasJson {
  const a = aliasOf(d, name);
  if (a.target === BUSYBOX_FINGERPRINT)
    throw badRequest(`The built-in image alias "${name}" cannot be changed`);
  return a;
}

/** The full fingerprint of an alias's target (a unique prefix is taken); not the built-in image. */
function targetOf(d: Daemon, target: unknown): string {
  if (typeof target !== "string" || !target) throw badRequest("No alias target given");
  const img = findImageJson(d.ctx.lxcpath, target, false);
  if (!img) throw new ApiError(404, "Image not found");
  if (img.fingerprint === BUSYBOX_FINGERPRINT)
    throw badRequest("The built-in busybox image takes no other aliases");
  return img.fingerprint;
}

function bodyOf(req: FastifyRequest, known: readonly string[]): Record<string, unknown> {
  const b = req.body;
  if (!b || typeof b !== "object" || Array.isArray(b)) throw badRequest("Invalid request body");
  for (const k of Object.keys(b)) {
    if (!known.includes(k)) throw badRequest(`Unknown image alias field "${k}"`);
  }
  const desc = (b as Record<string, unknown>).description;
  if (desc !== undefined && typeof desc !== "string") throw badRequest(`Invalid "description"`);
  return b as Record<string, unknown>;
}

function checkedName(name: unknown): string {
  if (typeof name !== "string" || !name) throw badRequest("No alias name given");
  try {
    return checkAlias(name);
  } catch (err) {
    throw badRequest(`Invalid alias name "${name}": ${(err as Error).message}`);
  }
}

export function registerAliasRoutes(app: FastifyInstance, d: Daemon): void {
  app.get(ALIASES, async (req) => {
    const all = aliasesOf(d);
    return syncBody(recursion(req) > 0 ? all : all.map((a) => `${ALIASES}/${a.name}`));
  });

  app.post(ALIASES, async (req) => {
    const b = bodyOf(req, ["name", "description", "target", "type"]);
    const name = checkedName(b.name);
    if (b.type !== undefined && b.type !== "" && b.type !== "container")
      throw badRequest(`Unsupported image type "${String(b.type)}"`);
    if (aliasesOf(d).some((a) => a.name === name))
      throw new ApiError(409, `Alias "${name}" already exists`);
    const target = targetOf(d, b.target);
    await createAlias(d.ctx, name, target, (b.description as string | undefined) ?? "");
    d.events.lifecycle("image-alias-created", `${ALIASES}/${name}`, { target });
    return syncBody({});
  });

  app.get<{ Params: { name: string } }>(`${ALIASES}/:name`, async (req, reply) => {
    const a = aliasOf(d, req.params.name);
    return sendWithEtag(
      reply,
      syncBody(a),
      etagOf({ description: a.description, target: a.target }),
    );
  });

  const edit = async (req: FastifyRequest<{ Params: { name: string } }>, whole: boolean) => {
    const a = changeable(d, req.params.name);
    checkIfMatch(req, etagOf({ description: a.description, target: a.target }));
    const b = bodyOf(req, ["description", "target", "name", "type"]);
    if (whole && b.target === undefined) throw badRequest("No alias target given");
    const target = b.target !== undefined ? targetOf(d, b.target) : undefined;
    const description = (b.description as string | undefined) ?? (whole ? "" : undefined);
    await updateAlias(d.ctx, a.name, {
      ...(target !== undefined ? { target } : {}),
      ...(description !== undefined ? { description } : {}),
    });
    d.events.lifecycle("image-alias-updated", `${ALIASES}/${a.name}`);
    return syncBody({});
  };
  app.put<{ Params: { name: string } }>(`${ALIASES}/:name`, (req) => edit(req, true));
  app.patch<{ Params: { name: string } }>(`${ALIASES}/:name`, (req) => edit(req, false));

  app.post<{ Params: { name: string } }>(`${ALIASES}/:name`, async (req, reply) => {
    const a = changeable(d, req.params.name);
    const to = checkedName(bodyOf(req, ["name"]).name);
    if (aliasesOf(d).some((x) => x.name === to))
      throw new ApiError(409, `Alias "${to}" already exists`);
    await renameAlias(d.ctx, a.name, to);
    d.events.lifecycle("image-alias-renamed", `${ALIASES}/${to}`, { old_name: a.name });
    return reply.code(201).header("Location", `${ALIASES}/${to}`).send(syncBody({}));
  });

  app.delete<{ Params: { name: string } }>(`${ALIASES}/:name`, async (req) => {
    const a = changeable(d, req.params.name);
    await deleteAlias(d.ctx, a.name);
    d.events.lifecycle("image-alias-deleted", `${ALIASES}/${a.name}`);
    return syncBody({});
  });
}
