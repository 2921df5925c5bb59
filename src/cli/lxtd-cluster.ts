/**
 * lxtd's cluster flags (`--cluster URLS --member NAME --address URL
 * [--cluster-ttl S]`), checked before anything listens, and the join once
 * the HTTPS listener has given the member its certificate.
 */
import { createRequire } from "node:module";
import { Cluster } from "../api/cluster.js";
import { ClusterNet } from "../api/cluster-net.js";
import { checkNotRemoved } from "../api/cluster-remove.js";
import { admit } from "../api/cluster-tokens.js";
import type { Daemon } from "../api/daemon.js";
import { DEFAULT_CLUSTER_TTL } from "./lxtd-program.js";

export interface ClusterFlags {
  endpoints: string[];
  member: string;
  address: string;
  /** HOST:PORT of the address: what --https defaults to. */
  listen: string;
  ttlSeconds: number;
  /** `--cluster-token`: the join token this member's certificate is admitted by. */
  token?: string;
}

/** The cluster flags checked together; undefined when none is given. Throws naming the bad flag. */
export function clusterFlags(o: {
  cluster?: string;
  member?: string;
  address?: string;
  clusterTtl?: string;
  clusterToken?: string;
}): ClusterFlags | undefined {
  if (o.cluster === undefined) {
    for (const [flag, v] of [
      ["--member", o.member],
      ["--address", o.address],
      ["--cluster-ttl", o.clusterTtl],
      ["--cluster-token", o.clusterToken],
    ] as const) {
      if (v !== undefined) throw new Error(`${flag} needs --cluster`);
    }
    return undefined;
  }
  if (!o.member) throw new Error("--cluster needs --member NAME");
  if (!o.address) throw new Error("--cluster needs --address https://HOST:PORT");
  const endpoints = o.cluster.split(",").filter((u) => u !== "");
  for (const u of endpoints) {
    if (!/^https?:\/\/[^/\s]+:\d{1,5}\/?$/.test(u)) {
      throw new Error(`--cluster ${u}: expected an etcd endpoint http(s)://HOST:PORT`);
    }
  }
  if (endpoints.length === 0) throw new Error("--cluster: no etcd endpoint given");
  if (!/^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/.test(o.member)) {
    throw new Error(
      `--member ${o.member}: expected letters, digits and dashes (1 to 63, not starting with a dash)`,
    );
  }
  const m = /^https:\/\/(\[[0-9a-fA-F:.]+\]|[0-9A-Za-z.-]+):(\d{1,5})\/?$/.exec(o.address);
  if (!m) throw new Error(`--address ${o.address}: expected https://HOST:PORT`);
  const ttl = o.clusterTtl === undefined ? DEFAULT_CLUSTER_TTL : Number(o.clusterTtl);
  // etcd refuses leases shorter than its election timeout allows (about 1.5 s by default).
  if (!/^\d+$/.test(o.clusterTtl ?? "1") || ttl < 2 || ttl > 3600) {
    throw new Error(`--cluster-ttl ${o.clusterTtl}: expected whole seconds from 2 to 3600`);
  }
  return {
    endpoints,
    member: o.member,
    address: o.address.replace(/\/$/, ""),
    listen: `${m[1]}:${m[2]}`,
    ttlSeconds: ttl,
    ...(o.clusterToken !== undefined ? { token: o.clusterToken } : {}),
  };
}

/**
 * Connects to etcd and registers this member; the daemon answers as a
 * member from then on. `bundle` is lxtd's own file (dist/lxtd.cjs): etcd's
 * client is its own bundle beside it, dist/cluster/etcd.cjs, loaded only by
 * members (npm etcd3 reads its .proto files at `../proto` from its module,
 * which is dist/proto there).
 */
export async function joinCluster(
  d: Daemon,
  f: ClusterFlags,
  arch: string,
  bundle: string,
): Promise<Cluster> {
  const { etcdStore } = createRequire(bundle)(
    "./cluster/etcd.cjs",
  ) as typeof import("../api/cluster-etcd.js");
  const store = etcdStore(f.endpoints);
  const cluster = new Cluster(d, {
    member: f.member,
    address: f.address,
    architecture: arch,
    ttlSeconds: f.ttlSeconds,
    store,
    // LXD's removed member goes back to standalone: so does lxtd, serving its own containers.
    onRemoved: async () => {
      d.log.warn(
        { member: f.member },
        "cluster: this member was removed from the cluster (lxc cluster remove); it is no member from now on and serves its own containers alone",
      );
      await d.clusterNet?.stop();
      d.clusterNet = undefined;
      d.cluster = undefined;
    },
  });
  try {
    const removal = await checkNotRemoved(store, f.member, f.token !== undefined);
    const { trusted } = await admit(
      cluster.store,
      f.member,
      d.fingerprint(),
      f.token,
      d.ctx.host.clock.now(),
    ).catch((err: unknown) => {
      throw new Error(`--cluster-token: ${(err as Error).message}`);
    });
    await removal.readmitted();
    if (!trusted) {
      d.log.warn(
        "cluster: this member's certificate is not trusted by the others (join with --cluster-token from `lxt cluster add`): they refuse its forwarded requests",
      );
    }
    await cluster.join();
  } catch (err) {
    await cluster.leave().catch(() => {});
    throw new Error(`--cluster ${f.endpoints.join(",")}: ${(err as Error).message}`);
  }
  d.cluster = cluster;
  d.clusterNet = new ClusterNet(d, {
    member: f.member,
    address: f.address,
    store,
    periodMs: (f.ttlSeconds * 1000) / 3,
  });
  await d.clusterNet.start();
  return cluster;
}
