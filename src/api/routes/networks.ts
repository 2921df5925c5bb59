/**
 * `/1.0/networks`: lxt's managed networks (bridges with their nft table and
 * dnsmasq) as LXD's managed bridges, and the other links of the daemon's
 * network namespace as unmanaged networks, as LXD lists the host's
 * interfaces. LXD's config keys map onto lxt's network keys (docs/api.md);
 * other keys are refused with LXD's words. Renaming is refused: a
 * network's name is its bridge's.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { listNames } from "../../container/list.js";
import {
  createNetwork,
  deleteNetwork,
  hostLinks,
  type LinkView,
  listNetworks,
  NETWORK_KEYS,
  type NetworkStatus,
  networkOptions,
  setNetworkConfig,
  showNetwork,
} from "../../container/network.js";
import { networkHosts } from "../../container/network-forwards.js";
import { containerPaths } from "../../container/paths.js";
import { configFileEntries } from "../../container/resources.js";
import { LxtError } from "../../core/errors.js";
import { CLUSTER_KEY } from "../cluster-net-model.js";
import type { Daemon } from "../daemon.js";
import { ApiError, badRequest, syncBody } from "../envelope.js";
import { checkIfMatch, etagOf, sendWithEtag } from "../etag.js";
import { readNetworkMeta, removeNetworkMeta, writeNetworkMeta } from "../network-meta.js";
import { ProfileStore } from "../profiles.js";
import type { LeaseJson, NetworkJson } from "../types.js";
import { recursion } from "./params.js";

export const NETWORKS = "/1.0/networks";

/** A managed network's config as LXD keys. */
export function configOf(n: NetworkStatus): Record<string, string> {
  const c: Record<string, string> = {
    "ipv4.address": n.ipv4,
    "ipv4.nat": String(n.nat),
    "ipv4.dhcp.ranges": n.dhcpRange.join("-"),
    "ipv6.address": n.ipv6 ?? "none",
    "dns.domain": n.domain,
    "dns.upstream": String(n.dnsUpstream),
  };
  if (n.ipv6) c["ipv6.nat"] = String(n.nat6 ?? true);
  return c;
}

/** Instances and profiles whose NIC is on network `name`. */
function usedBy(d: Daemon, name: string): string[] {
  const out: string[] = [];
  for (const c of listNames(d.ctx.lxcpath)) {
    try {
      const entries = configFileEntries(containerPaths(d.ctx, c));
      if (entries.some((e) => /^lxc\.net\.\d+\.link$/.test(e.key) && e.value === name))
        out.push(`/1.0/instances/${c}`);
    } catch {}
  }
  const profiles = new ProfileStore(d.profilesDir);
  for (const p of profiles.names()) {
    const devs = Object.values(profiles.find(p)?.devices ?? {});
    if (devs.some((v) => v.type === "nic" && (v.network === name || v.parent === name)))
      out.push(`/1.0/profiles/${p}`);
  }
  return out;
}

function managedJson(d: Daemon, n: NetworkStatus): NetworkJson {
  return {
    name: n.name,
    description: readNetworkMeta(d.stateDir, n.name).description,
    type: "bridge",
    managed: true,
    status: n.bridgeUp ? "Created" : "Unavailable",
    config: { ...configOf(n), ...d.clusterNet?.configOf(n.name) },
    used_by: usedBy(d, n.name),
    locations: ["none"],
  };
}

/** LXD's type of an unmanaged link. */
function linkType(l: LinkView): string {
  if (["loopback", "bridge", "bond", "vlan", "physical"].includes(l.kind)) return l.kind;
  return "unknown";
}

function unmanagedJson(l: LinkView): NetworkJson {
  return {
    name: l.name,
    description: "",
    type: linkType(l),
    managed: false,
    status: "",
    config: {},
    used_by: [],
    locations: [],
  };
}

/** The managed network a path names; 404 when there is none (400 for a host interface). */
export async function managed(d: Daemon, name: string, what: string): Promise<NetworkStatus> {
  try {
    return await showNetwork(d.ctx, name);
  } catch (err) {
    if (!(err instanceof LxtError) || err.category !== "not-found") throw err;
  }
  const links = await hostLinks(d.ctx);
  if (links.some((l) => l.name === name)) throw badRequest(`Only managed networks can be ${what}`);
  throw new ApiError(404, "Network not found");
}

/** Whether a create's config asks for a network spanning the cluster (`cluster.vxlan`). */
function isSpanning(config: unknown): boolean {
  return typeof config === "object" && config !== null && CLUSTER_KEY in config;
}

/** Refuses keys lxt gives no meaning, with LXD's words. */
function checkConfig(name: string, config: unknown): Record<string, string> {
  if (config === undefined || config === null) return {};
  if (typeof config !== "object" || Array.isArray(config))
    throw badRequest("Invalid network config");
  for (const [k, v] of Object.entries(config)) {
    if (!(k in NETWORK_KEYS))
      throw badRequest(`Invalid option for network "${name}" option "${k}"`);
    if (typeof v !== "string")
      throw badRequest(`Invalid value for network "${name}" option "${k}"`);
  }
  return config as Record<string, string>;
}

function bodyOf(req: FastifyRequest, known: readonly string[]): Record<string, unknown> {
  const b = req.body;
  if (!b || typeof b !== "object" || Array.isArray(b)) throw badRequest("Invalid request body");
  for (const k of Object.keys(b)) {
    if (!known.includes(k)) throw badRequest(`Unknown network field "${k}"`);
  }
  const desc = (b as Record<string, unknown>).description;
  if (desc !== undefined && typeof desc !== "string") throw badRequest(`Invalid "description"`);
  return b as Record<string, unknown>;
}

/** The network's editable form, its ETag's source. */
function editable(j: NetworkJson) {
  return { config: j.config, description: j.description };
}

export function registerNetworkRoutes(app: FastifyInstance, d: Daemon): void {
  app.get(NETWORKS, async (req) => {
    const nets = (await listNetworks(d.ctx)).map((n) => managedJson(d, n));
    const names = new Set(nets.map((n) => n.name));
    const others = (await hostLinks(d.ctx)).filter((l) => !names.has(l.name)).map(unmanagedJson);
    const all = [...nets, ...others].sort((a, b) => a.name.localeCompare(b.name));
    return syncBody(recursion(req) > 0 ? all : all.map((n) => `${NETWORKS}/${n.name}`));
  });

  app.post(NETWORKS, async (req, reply) => {
    const b = bodyOf(req, ["name", "description", "type", "config"]);
    const name = b.name;
    if (typeof name !== "string" || !name) throw badRequest("No name provided");
    if (b.type !== undefined && b.type !== "" && b.type !== "bridge")
      throw badRequest(`Network type "${String(b.type)}" is not supported (lxt makes bridges)`);
    if (d.clusterNet && isSpanning(b.config)) {
      await d.clusterNet.create(name, b.config as Record<string, string>);
      if (b.description)
        writeNetworkMeta(d.stateDir, name, { description: b.description as string, forwards: {} });
      d.events.lifecycle("network-created", `${NETWORKS}/${name}`);
      return reply.code(201).header("Location", `${NETWORKS}/${name}`).send(syncBody({}));
    }
    const config = checkConfig(name, b.config);
    if (
      (await hostLinks(d.ctx)).some((l) => l.name === name) ||
      listHas(await listNetworks(d.ctx), name)
    )
      throw new ApiError(409, `Network "${name}" already exists`);
    const opts = networkOptions(config);
    if (b.description)
      writeNetworkMeta(d.stateDir, name, { description: b.description as string, forwards: {} });
    try {
      const made = await createNetwork(d.ctx, name, opts);
      for (const w of made.forwardWarnings) d.events.log("warning", `network ${name}: ${w}`);
    } catch (err) {
      removeNetworkMeta(d.stateDir, name);
      throw err;
    }
    d.events.lifecycle("network-created", `${NETWORKS}/${name}`);
    return reply.code(201).header("Location", `${NETWORKS}/${name}`).send(syncBody({}));
  });

  app.get<{ Params: { name: string } }>(`${NETWORKS}/:name`, async (req, reply) => {
    const j = await networkJson(d, req.params.name);
    return sendWithEtag(reply, syncBody(j), etagOf(editable(j)));
  });

  const edit = async (req: FastifyRequest<{ Params: { name: string } }>, whole: boolean) => {
    const n = await managed(d, req.params.name, "modified");
    const cur = managedJson(d, n);
    checkIfMatch(req, etagOf(editable(cur)));
    const b = bodyOf(req, [
      "config",
      "description",
      "name",
      "type",
      "managed",
      "status",
      "used_by",
      "locations",
    ]);
    const config = checkConfig(n.name, b.config);
    const changes: Record<string, string | undefined> = {};
    const keys = whole ? Object.keys(NETWORK_KEYS) : Object.keys(config);
    for (const k of keys) {
      const want = config[k] === "" ? undefined : config[k];
      const now = cur.config[k];
      const def = NETWORK_KEYS[k as keyof typeof NETWORK_KEYS];
      if ((want ?? def) !== (now ?? def)) changes[k] = want;
    }
    if (Object.keys(changes).length > 0) await setNetworkConfig(d.ctx, n.name, changes);
    if (typeof b.description === "string" || whole) {
      const meta = readNetworkMeta(d.stateDir, n.name);
      writeNetworkMeta(d.stateDir, n.name, {
        ...meta,
        description: (b.description as string) ?? "",
      });
    }
    d.events.lifecycle("network-updated", `${NETWORKS}/${n.name}`);
    return syncBody({});
  };
  app.put<{ Params: { name: string } }>(`${NETWORKS}/:name`, (req) => edit(req, true));
  app.patch<{ Params: { name: string } }>(`${NETWORKS}/:name`, (req) => edit(req, false));

  app.post<{ Params: { name: string } }>(`${NETWORKS}/:name`, async (req) => {
    await managed(d, req.params.name, "renamed");
    throw badRequest("Renaming a network is not supported: its name is its bridge's");
  });

  app.delete<{ Params: { name: string } }>(`${NETWORKS}/:name`, async (req) => {
    const n = await managed(d, req.params.name, "removed");
    if (usedBy(d, n.name).length > 0) throw badRequest("The network is currently in use");
    if (!(await d.clusterNet?.remove(n.name))) await deleteNetwork(d.ctx, n.name);
    removeNetworkMeta(d.stateDir, n.name);
    d.events.lifecycle("network-deleted", `${NETWORKS}/${n.name}`);
    return syncBody({});
  });

  app.get<{ Params: { name: string } }>(`${NETWORKS}/:name/leases`, async (req) => {
    const n = await managed(d, req.params.name, "queried for leases");
    const leases: LeaseJson[] = n.leases.map((l) => ({
      hostname: l.container ?? l.hostname,
      hwaddr: l.hwaddr,
      address: l.ipv4,
      type: "dynamic" as const,
      location: "none",
    }));
    for (const h of networkHosts(d.ctx, n.name)) {
      if (h.pinned && !leases.some((l) => l.address === h.address))
        leases.push({
          hostname: h.container,
          hwaddr: "",
          address: h.address,
          type: "static",
          location: "none",
        });
    }
    return syncBody(leases);
  });

  app.get<{ Params: { name: string } }>(`${NETWORKS}/:name/state`, async (req) => {
    const links = await hostLinks(d.ctx);
    const link = links.find((l) => l.name === req.params.name);
    if (!link) throw new ApiError(404, "Network not found");
    return syncBody(stateOf(link, links));
  });
}

function listHas(nets: NetworkStatus[], name: string): boolean {
  return nets.some((n) => n.name === name);
}

async function networkJson(d: Daemon, name: string): Promise<NetworkJson> {
  try {
    return managedJson(d, await showNetwork(d.ctx, name));
  } catch (err) {
    if (!(err instanceof LxtError) || err.category !== "not-found") throw err;
  }
  const link = (await hostLinks(d.ctx)).find((l) => l.name === name);
  if (!link) throw new ApiError(404, "Network not found");
  return unmanagedJson(link);
}

/** LXD's NetworkState of a link. */
function stateOf(l: LinkView, all: readonly LinkView[]) {
  return {
    addresses: l.addresses.map((a) => ({
      family: a.family,
      address: a.address,
      netmask: String(a.prefixlen),
      scope: a.scope === "host" ? "local" : a.scope,
    })),
    counters: {
      bytes_received: l.counters.rxBytes,
      bytes_sent: l.counters.txBytes,
      packets_received: l.counters.rxPackets,
      packets_sent: l.counters.txPackets,
    },
    hwaddr: l.hwaddr,
    mtu: l.mtu,
    state: l.up ? "up" : "down",
    type: l.kind === "loopback" ? "loopback" : "broadcast",
    bond: null,
    bridge:
      l.kind === "bridge"
        ? {
            id: "",
            stp: false,
            forward_delay: 0,
            vlan_default: 0,
            vlan_filtering: false,
            upper_devices: all.filter((x) => x.master === l.name).map((x) => x.name),
          }
        : null,
    vlan: null,
  };
}
