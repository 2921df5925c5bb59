/**
 * `/1.0/cluster`, `/1.0/cluster/members[/NAME]` as LXD serves them (what
 * `lxc cluster list/show` read), and lxt's own `/1.0/cluster/heartbeats`
 * (each member's load and last heartbeat: `lxt cluster list`).
 */
import type { FastifyInstance } from "fastify";
import type { Cluster } from "../cluster.js";
import type { Daemon } from "../daemon.js";
import { ApiError, syncBody } from "../envelope.js";
import type { ClusterJson, ClusterMemberJson, MemberView } from "../types.js";
import { recursion } from "./params.js";

const MEMBERS = "/1.0/cluster/members";

/** A member as LXD shows one; `now` (ms) dates an offline member's silence. */
export function memberJson(m: MemberView, now: number): ClusterMemberJson {
  const silent = Math.max(0, Math.round((now - Date.parse(m.heartbeat)) / 1000));
  return {
    server_name: m.name,
    url: m.address,
    // The database is etcd, which no member is.
    database: false,
    status: !m.online ? "Offline" : m.evacuated ? "Evacuated" : "Online",
    message: !m.online
      ? `No heartbeat for ${silent}s (${m.heartbeat})`
      : m.evacuated
        ? "Unavailable due to maintenance"
        : "Fully operational",
    roles: [],
    architecture: m.architecture,
    failure_domain: "default",
    description: "",
    config: {},
    groups: ["default"],
  };
}

/** The cluster this daemon is a member of; LXD's 400 when it is none. */
export function clusterOf(d: Daemon): Cluster {
  if (!d.cluster) throw new ApiError(400, "Server isn't part of a cluster");
  return d.cluster;
}

export function registerClusterRoutes(app: FastifyInstance, d: Daemon): void {
  app.get("/1.0/cluster", async () =>
    syncBody<ClusterJson>({
      server_name: d.cluster?.member ?? "",
      enabled: d.cluster !== undefined,
      member_config: [],
    }),
  );

  app.get(MEMBERS, async (req) => {
    const members = await clusterOf(d).members();
    if (recursion(req) === 0) {
      return syncBody(members.map((m) => `${MEMBERS}/${encodeURIComponent(m.name)}`));
    }
    const now = d.ctx.host.clock.now();
    return syncBody(members.map((m) => memberJson(m, now)));
  });

  app.get<{ Params: { name: string } }>(`${MEMBERS}/:name`, async (req) => {
    const m = (await clusterOf(d).members()).find((x) => x.name === req.params.name);
    if (!m) throw new ApiError(404, "Cluster member not found");
    return syncBody(memberJson(m, d.ctx.host.clock.now()));
  });

  app.get("/1.0/cluster/heartbeats", async () => syncBody(await clusterOf(d).members()));
}
