/**
 * `/1.0/networks/NAME/forwards`: LXD's network forwards over lxt's port
 * forwards. An LXD forward is a listen address on the network with ports,
 * each to a target address; in lxt a forward belongs to the container that
 * has the target address on the network (pinned or leased), so each port
 * becomes one forward of that container (`lxt forward list` shows it) and
 * the LXD view is put back together from the containers' forwards. A
 * listen address of `0.0.0.0` is lxt's "every local address". What lxt's
 * forwards have no place for (descriptions, `user.*` config) is kept in the
 * network's sidecar (network-meta.ts).
 */
import { isIPv4 } from "node:net";
import type { FastifyInstance, FastifyRequest } from "fastify";
import {
  addForward,
  type PortForward,
  parseForwardArgs,
  removeForward,
} from "../../container/forward.js";
import {
  forwardsOnNetwork,
  type NetworkForwardRow,
  networkHosts,
} from "../../container/network-forwards.js";
import { containerPaths } from "../../container/paths.js";
import type { Daemon } from "../daemon.js";
import { ApiError, badRequest, syncBody } from "../envelope.js";
import { checkIfMatch, etagOf, sendWithEtag } from "../etag.js";
import { type ForwardMeta, readNetworkMeta, writeNetworkMeta } from "../network-meta.js";
import type { ForwardJson } from "../types.js";
import { managed, NETWORKS } from "./networks.js";
import { recursion } from "./params.js";

const ANY = "0.0.0.0";
/** Most forwards one LXD forward may expand to. */
const MAX_PORTS = 256;

/** One lxt forward of one container. */
interface Wanted {
  container: string;
  forward: PortForward;
  description: string;
}

const listenOf = (f: PortForward) => f.listen ?? ANY;
const portKey = (proto: string, port: number | string) => `${proto}/${port}`;

function forwardJson(addr: string, meta: ForwardMeta, rows: NetworkForwardRow[]): ForwardJson {
  return {
    listen_address: addr,
    description: meta.description,
    config: meta.config,
    ports: rows.map((r) => ({
      description: meta.ports?.[portKey(r.proto, r.port)] ?? "",
      protocol: r.proto,
      listen_port: String(r.port),
      target_address: r.address ?? "",
      target_port: String(r.targetPort),
    })),
    location: "none",
  };
}

/** Every forward of a network: those with a record, and those the containers' forwards make. */
function allForwards(d: Daemon, net: string): ForwardJson[] {
  const meta = readNetworkMeta(d.stateDir, net);
  const rows = forwardsOnNetwork(d.ctx, net);
  const addrs = new Set([...Object.keys(meta.forwards), ...rows.map(listenOf)]);
  return [...addrs].sort().map((a) =>
    forwardJson(
      a,
      meta.forwards[a] ?? { description: "", config: {} },
      rows.filter((r) => listenOf(r) === a),
    ),
  );
}

/** `80`, `80-82,90`: the ports of a list. */
function expandPorts(spec: string, what: string): number[] {
  const out: number[] = [];
  for (const part of spec.split(",").map((s) => s.trim())) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
    const lo = Number(m?.[1]);
    const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
    if (!m || lo < 1 || hi > 65535 || hi < lo) throw badRequest(`Invalid ${what} "${spec}"`);
    for (let p = lo; p <= hi; p++) out.push(p);
    if (out.length > MAX_PORTS) throw badRequest(`Too many ports in ${what} "${spec}"`);
  }
  return out;
}

function checkListen(addr: unknown): string {
  if (typeof addr !== "string" || !isIPv4(addr))
    throw badRequest(
      `Invalid listen address "${String(addr)}": an IPv4 address (0.0.0.0: every local address)`,
    );
  return addr;
}

function checkForwardConfig(config: unknown): Record<string, string> {
  if (config === undefined || config === null) return {};
  if (typeof config !== "object" || Array.isArray(config))
    throw badRequest("Invalid forward config");
  for (const [k, v] of Object.entries(config)) {
    if (k !== "target_address" && !k.startsWith("user."))
      throw badRequest(`Invalid network forward option "${k}"`);
    if (typeof v !== "string") throw badRequest(`Invalid value for network forward option "${k}"`);
  }
  return config as Record<string, string>;
}

/** The lxt forwards an LXD forward's ports ask for, each with the container of its target. */
function wantedOf(
  d: Daemon,
  net: string,
  listen: string,
  config: Record<string, string>,
  ports: unknown,
): Wanted[] {
  if (ports === undefined || ports === null) return [];
  if (!Array.isArray(ports)) throw badRequest("Invalid forward ports");
  const hosts = networkHosts(d.ctx, net);
  const out: Wanted[] = [];
  for (const raw of ports as Record<string, unknown>[]) {
    const proto = String(raw?.protocol ?? "");
    const target = String(raw?.target_address ?? "") || config.target_address || "";
    const host = hosts.find((h) => h.address === target);
    if (!host)
      throw badRequest(
        `Target address "${target}" is not the address of an instance on network "${net}"`,
      );
    const from = expandPorts(String(raw?.listen_port ?? ""), "listen port");
    const tp = String(raw?.target_port ?? "");
    const to = tp ? expandPorts(tp, "target port") : from;
    if (to.length !== 1 && to.length !== from.length)
      throw badRequest("Target ports must be one port or as many as the listen ports");
    for (const [i, p] of from.entries()) {
      const hostSpec = listen === ANY ? String(p) : `${listen}:${p}`;
      const forward = parseForwardArgs(proto, hostSpec, String(to.length === 1 ? to[0] : to[i]));
      out.push({ container: host.container, forward, description: String(raw?.description ?? "") });
    }
    if (out.length > MAX_PORTS) throw badRequest(`Too many ports (at most ${MAX_PORTS})`);
  }
  return out;
}

const same = (a: { container: string; forward: PortForward }, b: NetworkForwardRow) =>
  a.container === b.container &&
  a.forward.proto === b.proto &&
  a.forward.port === b.port &&
  listenOf(a.forward) === listenOf(b) &&
  a.forward.targetPort === b.targetPort;

const hostOf = (f: PortForward) => (f.listen ? `${f.listen}:${f.port}` : String(f.port));

/** Makes the containers' forwards on `listen` what `want` says; undoes its part on a failure. */
async function applyPorts(d: Daemon, net: string, listen: string, want: Wanted[]): Promise<void> {
  const cur = forwardsOnNetwork(d.ctx, net).filter((r) => listenOf(r) === listen);
  const gone = cur.filter((r) => !want.some((w) => same(w, r)));
  const fresh = want.filter((w) => !cur.some((r) => same(w, r)));
  const removed: NetworkForwardRow[] = [];
  const added: Wanted[] = [];
  try {
    for (const r of gone) {
      await removeForward(d.ctx, containerPaths(d.ctx, r.container), {
        proto: r.proto,
        host: hostOf(r),
      });
      removed.push(r);
    }
    for (const w of fresh) {
      await addForward(d.ctx, containerPaths(d.ctx, w.container), w.forward);
      added.push(w);
    }
  } catch (err) {
    for (const w of added.reverse()) {
      await removeForward(d.ctx, containerPaths(d.ctx, w.container), {
        proto: w.forward.proto,
        host: hostOf(w.forward),
      }).catch(() => {});
    }
    for (const r of removed.reverse()) {
      await addForward(d.ctx, containerPaths(d.ctx, r.container), r).catch(() => {});
    }
    throw err;
  }
}

function portDescriptions(want: Wanted[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const w of want)
    if (w.description) out[portKey(w.forward.proto, w.forward.port)] = w.description;
  return out;
}

function bodyOf(req: FastifyRequest, known: readonly string[]): Record<string, unknown> {
  const b = req.body;
  if (!b || typeof b !== "object" || Array.isArray(b)) throw badRequest("Invalid request body");
  for (const k of Object.keys(b)) {
    if (!known.includes(k)) throw badRequest(`Unknown network forward field "${k}"`);
  }
  return b as Record<string, unknown>;
}

export function registerForwardRoutes(app: FastifyInstance, d: Daemon): void {
  const base = `${NETWORKS}/:name/forwards`;

  app.get<{ Params: { name: string } }>(base, async (req) => {
    const n = await managed(d, req.params.name, "given forwards");
    const all = allForwards(d, n.name);
    return syncBody(
      recursion(req) > 0
        ? all
        : all.map((f) => `${NETWORKS}/${n.name}/forwards/${f.listen_address}`),
    );
  });

  app.post<{ Params: { name: string } }>(base, async (req, reply) => {
    const n = await managed(d, req.params.name, "given forwards");
    const b = bodyOf(req, ["listen_address", "description", "config", "ports"]);
    const listen = checkListen(b.listen_address);
    if (allForwards(d, n.name).some((f) => f.listen_address === listen))
      throw new ApiError(409, "A forward for that listen address already exists");
    const config = checkForwardConfig(b.config);
    const want = wantedOf(d, n.name, listen, config, b.ports);
    await applyPorts(d, n.name, listen, want);
    const meta = readNetworkMeta(d.stateDir, n.name);
    meta.forwards[listen] = {
      description: typeof b.description === "string" ? b.description : "",
      config,
      ports: portDescriptions(want),
    };
    writeNetworkMeta(d.stateDir, n.name, meta);
    const url = `${NETWORKS}/${n.name}/forwards/${listen}`;
    d.events.lifecycle("network-forward-created", url);
    return reply.code(201).header("Location", url).send(syncBody({}));
  });

  const one = (name: string, addr: string): ForwardJson => {
    const f = allForwards(d, name).find((x) => x.listen_address === addr);
    if (!f) throw new ApiError(404, "Network forward not found");
    return f;
  };
  const editable = (f: ForwardJson) => ({
    description: f.description,
    config: f.config,
    ports: f.ports,
  });

  app.get<{ Params: { name: string; addr: string } }>(`${base}/:addr`, async (req, reply) => {
    const n = await managed(d, req.params.name, "given forwards");
    const f = one(n.name, req.params.addr);
    return sendWithEtag(reply, syncBody(f), etagOf(editable(f)));
  });

  const edit = async (
    req: FastifyRequest<{ Params: { name: string; addr: string } }>,
    whole: boolean,
  ) => {
    const n = await managed(d, req.params.name, "given forwards");
    const cur = one(n.name, req.params.addr);
    checkIfMatch(req, etagOf(editable(cur)));
    const b = bodyOf(req, ["listen_address", "description", "config", "ports", "location"]);
    const config = b.config !== undefined || whole ? checkForwardConfig(b.config) : cur.config;
    const ports = b.ports !== undefined || whole ? b.ports : cur.ports;
    const want = wantedOf(d, n.name, cur.listen_address, config, ports);
    await applyPorts(d, n.name, cur.listen_address, want);
    const meta = readNetworkMeta(d.stateDir, n.name);
    meta.forwards[cur.listen_address] = {
      description: typeof b.description === "string" ? b.description : whole ? "" : cur.description,
      config,
      ports: portDescriptions(want),
    };
    writeNetworkMeta(d.stateDir, n.name, meta);
    d.events.lifecycle(
      "network-forward-updated",
      `${NETWORKS}/${n.name}/forwards/${cur.listen_address}`,
    );
    return syncBody({});
  };
  app.put<{ Params: { name: string; addr: string } }>(`${base}/:addr`, (req) => edit(req, true));
  app.patch<{ Params: { name: string; addr: string } }>(`${base}/:addr`, (req) => edit(req, false));

  app.delete<{ Params: { name: string; addr: string } }>(`${base}/:addr`, async (req) => {
    const n = await managed(d, req.params.name, "given forwards");
    const cur = one(n.name, req.params.addr);
    await applyPorts(d, n.name, cur.listen_address, []);
    const meta = readNetworkMeta(d.stateDir, n.name);
    delete meta.forwards[cur.listen_address];
    writeNetworkMeta(d.stateDir, n.name, meta);
    d.events.lifecycle(
      "network-forward-deleted",
      `${NETWORKS}/${n.name}/forwards/${cur.listen_address}`,
    );
    return syncBody({});
  });
}
