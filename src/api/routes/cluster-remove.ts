/**
 * `DELETE /1.0/cluster/members/NAME[?force=1]`: what `lxc cluster remove
 * NAME [--force]` sends (cluster-remove.ts does it). Any member serves it:
 * the removal is the store's, so it is never forwarded.
 */
import type { FastifyInstance } from "fastify";
import { removeMember } from "../cluster-remove.js";
import type { Daemon } from "../daemon.js";
import { syncBody } from "../envelope.js";
import { clusterOf } from "./cluster.js";

/** LXD's reading of a boolean query value (shared.IsTrue). */
const isTrue = (v: unknown) => typeof v === "string" && /^(1|true|yes|on)$/i.test(v);

export function registerClusterRemoveRoutes(app: FastifyInstance, d: Daemon): void {
  app.delete<{ Params: { name: string }; Querystring: { force?: string } }>(
    "/1.0/cluster/members/:name",
    async (req) => {
      await removeMember(d, clusterOf(d), req.params.name, isTrue(req.query.force));
      return syncBody({});
    },
  );
}
