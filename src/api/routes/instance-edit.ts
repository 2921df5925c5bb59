/**
 * Changing an instance: `PUT` (the whole writable object, as `lxc config
 * set/unset/edit` and `config device add` send it) and `PATCH` (merged into
 * it) of `/1.0/instances/NAME`, with the ETag checked against `If-Match`;
 * `POST /1.0/instances/NAME {name}` renames (`lxc move c1 c2`). The change
 * is made before the answer, so a refusal is the request's own 400 naming
 * the key; the operation answered then only reports it done.
 */
import { existsSync } from "node:fs";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { summarize } from "../../container/list.js";
import { containerPaths } from "../../container/paths.js";
import { renameContainer } from "../../container/rename.js";
import { checkName } from "../../core/names.js";
import type { Daemon } from "../daemon.js";
import { ApiError, badRequest } from "../envelope.js";
import { checkIfMatch, etagOf } from "../etag.js";
import { applyChange, deviceMap, requireObject, stringMap } from "../instance-config.js";
import { LXD_MIGRATION_REFUSED } from "../instance-sources.js";
import { editable, instanceJson } from "../instance-view.js";
import { type Devices, ProfileStore } from "../profiles.js";
import { INSTANCES, instanceOperation, instancePaths } from "./instances.js";
import { restoreRequest } from "./snapshots.js";

interface EditBody {
  config?: Record<string, string> | null;
  devices?: Devices | null;
  profiles?: string[] | null;
  description?: string | null;
  ephemeral?: boolean;
  architecture?: string;
  restore?: string;
}

async function edit(d: Daemon, req: FastifyRequest<{ Params: { name: string } }>, merge: boolean) {
  const paths = instancePaths(d, req.params.name);
  const body = requireObject(req.body) as EditBody;
  const store = new ProfileStore(d.profilesDir);
  const now = await instanceJson(d.ctx, paths, undefined, store);
  checkIfMatch(req, etagOf(editable(now)));
  if (body.architecture && body.architecture !== now.architecture)
    throw badRequest(
      `Invalid architecture "${body.architecture}": this host runs ${now.architecture}`,
    );
  if (typeof body.ephemeral === "boolean" && body.ephemeral !== now.ephemeral)
    throw badRequest("Changing ephemeral is not supported here (lxc.ephemeral in raw.lxc)");
  const config = stringMap(body.config, "config");
  const devices = deviceMap(body.devices);
  let profiles = now.profiles;
  if (Array.isArray(body.profiles)) profiles = body.profiles;
  else if (body.profiles !== undefined && body.profiles !== null)
    throw badRequest("Invalid profiles: expected a list");
  const local = merge
    ? { config: { ...now.config, ...config }, devices: { ...now.devices, ...devices } }
    : { config, devices };
  const warnings = await applyChange(d.ctx, d.caller, store, paths, {
    profiles,
    local,
    ...(typeof body.description === "string" ? { description: body.description } : {}),
  });
  for (const w of warnings) d.events.log("warning", `${paths.name}: ${w}`);
  return paths;
}

export function registerInstanceEditRoutes(app: FastifyInstance, d: Daemon): void {
  for (const merge of [false, true]) {
    const method = merge ? app.patch.bind(app) : app.put.bind(app);
    method<{ Params: { name: string } }>(`${INSTANCES}/:name`, async (req, reply) => {
      // A PUT with `restore` restores a snapshot (an operation of its own).
      if (!merge) {
        const answered = restoreRequest(d, instancePaths(d, req.params.name), req.body, reply);
        if (answered) return answered;
      }
      const paths = await edit(d, req, merge);
      return instanceOperation(d, reply, paths.name, "Updating instance", async () => {
        d.events.lifecycle("instance-updated", `${INSTANCES}/${paths.name}`);
      });
    });
  }

  app.post<{ Params: { name: string } }>(`${INSTANCES}/:name`, async (req, reply) => {
    const src = instancePaths(d, req.params.name);
    const body = requireObject(req.body) as { name?: unknown; migration?: boolean };
    if (body.migration) throw new ApiError(501, LXD_MIGRATION_REFUSED);
    if (typeof body.name !== "string" || body.name === "") throw badRequest("No name provided");
    try {
      checkName(body.name);
    } catch (err) {
      throw badRequest(`Invalid instance name: ${(err as Error).message}`);
    }
    const dst = containerPaths(d.ctx, body.name);
    if ((await summarize(d.ctx, src)).state !== "STOPPED")
      throw badRequest("Renaming of running container not allowed");
    if (existsSync(dst.config)) throw new ApiError(409, `Name "${body.name}" already in use`);
    const cluster = d.cluster;
    await cluster?.claim(dst.name, `Name "${body.name}" already in use`);
    return instanceOperation(d, reply, src.name, "Renaming instance", async () => {
      const rename = () => renameContainer(d.ctx, src, dst);
      await (cluster ? cluster.holding(dst.name, rename) : rename());
      await cluster?.release(src.name);
      d.events.lifecycle("instance-renamed", `${INSTANCES}/${dst.name}`, {
        old_name: src.name,
      });
    });
  });
}
