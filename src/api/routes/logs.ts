/**
 * `/1.0/instances/NAME/logs`: the instance's log files (`lxc.log`,
 * `lxc.conf`, exec outputs; see instance-logs.ts), each served whole;
 * exec outputs may be deleted.
 */
import { createReadStream, rmSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import type { Daemon } from "../daemon.js";
import { badRequest, syncBody } from "../envelope.js";
import { instanceLog, instanceLogs } from "../instance-logs.js";
import { INSTANCES, instancePaths } from "./instances.js";

export function registerLogRoutes(app: FastifyInstance, d: Daemon): void {
  app.get<{ Params: { name: string } }>(`${INSTANCES}/:name/logs`, async (req) => {
    const paths = instancePaths(d, req.params.name);
    return syncBody(
      [...instanceLogs(d, paths).keys()].map((f) => `${INSTANCES}/${paths.name}/logs/${f}`),
    );
  });

  app.get<{ Params: { name: string; file: string } }>(
    `${INSTANCES}/:name/logs/:file`,
    async (req, reply) => {
      const paths = instancePaths(d, req.params.name);
      const path = instanceLog(d, paths, req.params.file);
      d.events.lifecycle(
        "instance-log-retrieved",
        `${INSTANCES}/${paths.name}/logs/${req.params.file}`,
      );
      return reply.header("content-type", "application/octet-stream").send(createReadStream(path));
    },
  );

  app.delete<{ Params: { name: string; file: string } }>(
    `${INSTANCES}/:name/logs/:file`,
    async (req) => {
      const paths = instancePaths(d, req.params.name);
      const file = req.params.file;
      const path = instanceLog(d, paths, file);
      if (file === "lxc.log" || file === "lxc.conf")
        throw badRequest("lxc.log and lxc.conf may not be deleted");
      rmSync(path, { force: true });
      d.events.lifecycle("instance-log-deleted", `${INSTANCES}/${paths.name}/logs/${file}`);
      return syncBody({});
    },
  );
}
