/**
 * `/1.0/projects`: lxt has one project, `default`, shown so that clients
 * that look for projects (`lxc remote add` once trusted) find it; nothing
 * here creates another.
 */
import type { FastifyInstance } from "fastify";
import type { Daemon } from "../daemon.js";
import { ApiError, syncBody } from "../envelope.js";
import { recursion } from "./params.js";

function defaultProject() {
  return {
    name: "default",
    description: "Default lxt project",
    config: {
      "features.images": "true",
      "features.networks": "true",
      "features.profiles": "true",
      "features.storage.volumes": "true",
    },
    used_by: [],
  };
}

export function registerProjectRoutes(app: FastifyInstance, _d: Daemon): void {
  app.get("/1.0/projects", async (req) =>
    syncBody(recursion(req) > 0 ? [defaultProject()] : ["/1.0/projects/default"]),
  );
  app.get<{ Params: { name: string } }>("/1.0/projects/:name", async (req) => {
    if (req.params.name !== "default") throw new ApiError(404, "Project not found");
    return syncBody(defaultProject());
  });
}
