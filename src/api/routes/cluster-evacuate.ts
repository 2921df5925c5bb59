/**
 * `POST /1.0/cluster/members/NAME/state` (`{action: "evacuate"|"restore"}`,
 * what `lxc cluster evacuate/restore NAME` sends) and lxt's own `POST
 * /1.0/cluster/moves` (`{name, member, mode}`: send a local instance to a
 * member; what a restore asks of the members holding its instances). A
 * state change for another member is forwarded to it (cluster-forward.ts).
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { evacuate, moveTo, planEvacuation, planRestore, restore } from "../cluster-evacuate.js";
import type { Daemon } from "../daemon.js";
import { ApiError, asyncBody, badRequest } from "../envelope.js";
import { evacuateMode } from "../lxd-config.js";
import { parseBody } from "../schemas.js";
import { clusterOf } from "./cluster.js";
import { INSTANCES, instanceOperation, instancePaths } from "./instances.js";

/** LXD's api.ClusterMemberStatePost (`mode` came later in LXD; only its default is served). */
const memberStatePost = z.strictObject({
  action: z.string(),
  mode: z.string().optional(),
});

const clusterMovePost = z.strictObject({
  name: z.string(),
  member: z.string(),
  mode: z.string().optional(),
});

export function registerClusterEvacuateRoutes(app: FastifyInstance, d: Daemon): void {
  app.post<{ Params: { name: string } }>("/1.0/cluster/members/:name/state", async (req, reply) => {
    const cluster = clusterOf(d);
    const body = parseBody(memberStatePost, req.body);
    if (req.params.name !== cluster.member) {
      // Forwarded to the member when it exists (cluster-forward.ts): here it does not.
      throw new ApiError(404, "Cluster member not found");
    }
    if (body.mode) throw badRequest(`Unknown evacuation mode "${body.mode}"`);
    const resources = { cluster: [`/1.0/cluster/members/${cluster.member}`] };
    let run: () => Promise<void>;
    let description: string;
    if (body.action === "evacuate") {
      const plan = await planEvacuation(d);
      run = () => evacuate(d, plan);
      description = "Evacuating cluster member";
    } else if (body.action === "restore") {
      const records = await planRestore(d);
      run = () => restore(d, records);
      description = "Restoring cluster member";
    } else {
      throw badRequest(`Unknown action "${body.action}"`);
    }
    const op = d.operations.start({ description, resources, run });
    return reply.code(202).header("Location", op.url).send(asyncBody(op.url, op.json()));
  });

  app.post("/1.0/cluster/moves", async (req, reply) => {
    const cluster = clusterOf(d);
    const body = parseBody(clusterMovePost, req.body);
    const paths = instancePaths(d, body.name);
    const mode = evacuateMode(body.mode);
    const to = (await cluster.members()).find((m) => m.name === body.member);
    if (!to) throw new ApiError(404, `Cluster member "${body.member}" not found`);
    if (to.name === cluster.member) throw badRequest(`Instance "${body.name}" is on ${to.name}`);
    if (!to.online) throw new ApiError(503, `Cluster member ${to.name} is offline`);
    return instanceOperation(
      d,
      reply,
      paths.name,
      `Moving instance to cluster member ${to.name}`,
      async () => {
        await moveTo(d, paths.name, to, mode);
        d.events.lifecycle("instance-deleted", `${INSTANCES}/${paths.name}`);
      },
    );
  });
}
