/**
 * `lxt network ...` through the core: the managed-network driver's verbs
 * with the context's doors, and what a network change means for the
 * containers on it (their port forwards follow their pinned addresses).
 */

import { ValueError } from "../config/values.js";
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import {
  createNetwork as createNet,
  deleteNetwork as deleteNet,
  downNetwork as downNet,
  listNetworkDefs,
  loadNetwork,
  type NetworkOptions,
} from "../network/manage.js";
import type { NetworkDef } from "../network/render.js";
import { NETWORK_KEYS, optionsWithAll, setNetworkKey, setNetworkKeys } from "../network/set.js";
import { type NetworkStatus, networkStatus } from "../network/status.js";
import { resyncNetworkForwards } from "./forward.js";

export type { NetworkDef, NetworkOptions, NetworkStatus };
export { NETWORK_KEYS };

/** Creates a network and brings it up; returns its status (with warnings about other firewalls). */
export async function createNetwork(
  ctx: Context,
  name: string,
  opts: NetworkOptions,
): Promise<NetworkStatus> {
  const def = await createNet(ctx, name, opts, ctx.host.run);
  return networkStatus(ctx, def, ctx.host.run);
}

/** Every network with its live state. */
export function listNetworks(ctx: Context): Promise<NetworkStatus[]> {
  return Promise.all(listNetworkDefs(ctx).map((d) => networkStatus(ctx, d, ctx.host.run)));
}

/** One network with its live state and leases. */
export async function showNetwork(ctx: Context, name: string): Promise<NetworkStatus> {
  const def = loadNetwork(ctx, name);
  if (!def) throw new LxtError("not-found", `network show ${name}: no such network`);
  return networkStatus(ctx, def, ctx.host.run);
}

/** Sets a key (`value` undefined: back to its default), applied live, forwards included. */
export async function setNetwork(
  ctx: Context,
  name: string,
  key: string,
  value: string | undefined,
): Promise<NetworkDef> {
  const next = await setNetworkKey(ctx, name, key, value, ctx.host.run);
  await resyncNetworkForwards(ctx, name);
  return next;
}

/** Deletes a network (refused while containers use it). */
export function deleteNetwork(ctx: Context, name: string): Promise<void> {
  return deleteNet(ctx, name, ctx.host.run);
}

/** Takes a network down, keeping its definition (refused while containers use it). */
export function takeNetworkDown(ctx: Context, name: string): Promise<void> {
  return downNet(ctx, name, ctx.host.run);
}

/** Sets several keys at once (undefined: back to the default), applied live in one step, forwards included. */
export async function setNetworkConfig(
  ctx: Context,
  name: string,
  changes: Record<string, string | undefined>,
): Promise<NetworkDef> {
  const next = await setNetworkKeys(ctx, name, changes, ctx.host.run);
  await resyncNetworkForwards(ctx, name);
  return next;
}

/** The create options LXD-style keys (`ipv4.address`, ...) ask for; a usage error names a bad one. */
export function networkOptions(config: Record<string, string>): NetworkOptions {
  try {
    return optionsWithAll(undefined, config);
  } catch (err) {
    if (err instanceof ValueError) throw new LxtError("usage", `network: ${err.message}`);
    throw err;
  }
}

/** A link of the caller's network namespace, as LXD's network views show one. */
export interface LinkView {
  name: string;
  /** `ip`'s kind (`bridge`, `veth`, ...), `loopback`, or `physical` for a link with no kind. */
  kind: string;
  mtu: number;
  hwaddr: string;
  up: boolean;
  addresses: { family: "inet" | "inet6"; address: string; prefixlen: number; scope: string }[];
  counters: { rxBytes: number; rxPackets: number; txBytes: number; txPackets: number };
  /** The bridge it is a port of. */
  master?: string;
}

interface IpLink {
  ifname?: string;
  mtu?: number;
  address?: string;
  operstate?: string;
  flags?: string[];
  link_type?: string;
  master?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { family?: string; local?: string; prefixlen?: number; scope?: string }[];
  stats64?: {
    rx?: { bytes?: number; packets?: number };
    tx?: { bytes?: number; packets?: number };
  };
}

/** Every link of the caller's network namespace (one `ip -j -s -d addr show`). */
export async function hostLinks(ctx: Context): Promise<LinkView[]> {
  const out = await ctx.host.run.run("ip", ["-j", "-s", "-d", "addr", "show"]);
  return (JSON.parse(out || "[]") as IpLink[]).flatMap((l) => {
    if (!l.ifname) return [];
    const kind = l.link_type === "loopback" ? "loopback" : (l.linkinfo?.info_kind ?? "physical");
    return [
      {
        name: l.ifname,
        kind,
        mtu: l.mtu ?? 0,
        hwaddr: l.address ?? "",
        up: (l.flags ?? []).includes("UP"),
        addresses: (l.addr_info ?? []).flatMap((a) =>
          (a.family === "inet" || a.family === "inet6") && a.local
            ? [
                {
                  family: a.family,
                  address: a.local,
                  prefixlen: a.prefixlen ?? 0,
                  scope: a.scope ?? "global",
                },
              ]
            : [],
        ),
        counters: {
          rxBytes: l.stats64?.rx?.bytes ?? 0,
          rxPackets: l.stats64?.rx?.packets ?? 0,
          txBytes: l.stats64?.tx?.bytes ?? 0,
          txPackets: l.stats64?.tx?.packets ?? 0,
        },
        ...(l.master ? { master: l.master } : {}),
      },
    ];
  });
}
