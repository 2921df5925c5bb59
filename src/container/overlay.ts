/**
 * A managed network spread over hosts (network/overlay.ts) through the
 * core: its vxlan device and flood list, the other hosts' reservations
 * mirrored into this host's dnsmasq, and which NICs of a container are on
 * which network. lxtd's cluster (src/api/cluster-net.ts) decides what; this
 * does it with the context's doors.
 */
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { Reverter } from "../core/reverter.js";
import { pickAddress } from "../network/forward.js";
import { contains, ipToInt, stableHwaddr } from "../network/ipv4.js";
import { withNetworkLock } from "../network/lock.js";
import { loadNetwork, upNetwork } from "../network/manage.js";
import {
  attachOverlay,
  detachOverlay,
  type HostEntry,
  hostEntries,
  mirrorHosts,
  type OverlaySpec,
  overlayPeers,
  reserveHost,
  setOverlayPeers,
  VXLAN_PORT,
  vxlanName,
} from "../network/overlay.js";
import { type NetworkDef, subnetOf } from "../network/render.js";
import type { ContainerPaths } from "./paths.js";
import { configFileEntries } from "./resources.js";

export type { HostEntry, OverlaySpec };
export { hostEntries, stableHwaddr, VXLAN_PORT, vxlanName };

/** Network `name`'s definition, or undefined when this host has none. */
export function localNetwork(ctx: Context, name: string): NetworkDef | undefined {
  return loadNetwork(ctx, name);
}

/** Whether `ip` is in network `name`'s subnet. */
export function inSubnet(ctx: Context, name: string, ip: string): boolean {
  try {
    return contains(subnetOf(defOf(ctx, name)), ipToInt(ip));
  } catch {
    return false;
  }
}

/** The first address of network `name`'s DHCP range not in `taken`; `state` error when none is left. */
export function freeAddress(ctx: Context, name: string, taken: readonly string[]): string {
  return pickAddress(defOf(ctx, name), "", undefined, [], taken);
}

function defOf(ctx: Context, name: string) {
  const def = loadNetwork(ctx, name);
  if (!def) throw new LxtError("not-found", `network ${name}: no such network`);
  return def;
}

/**
 * Puts network `name` on the overlay `spec`: the network brought up first
 * (after a reboot its bridge, nft table and dnsmasq are gone), then its
 * vxlan device on the bridge and the bridge table.
 */
export async function joinOverlay(ctx: Context, name: string, spec: OverlaySpec): Promise<void> {
  const def = defOf(ctx, name);
  await withNetworkLock(ctx, name, () => upNetwork(ctx, def, ctx.host.run, new Reverter()));
  await attachOverlay(ctx, def, spec, ctx.host.run);
}

/** Takes network `name` off its overlay (device and table gone; the network stays). */
export function leaveOverlay(ctx: Context, name: string, vni: number): Promise<void> {
  return detachOverlay(ctx, name, vni, ctx.host.run);
}

/** The peers VNI `vni` floods to now. */
export function floodPeers(ctx: Context, vni: number): Promise<string[]> {
  return overlayPeers(vni, ctx.host.run);
}

/** Makes VNI `vni`'s flood list `peers` (underlay addresses). */
export function setFloodPeers(ctx: Context, vni: number, peers: readonly string[]) {
  return setOverlayPeers(vni, peers, ctx.host.run);
}

/** Network `name`'s reservations not `mine` become exactly `entries` (DHCP and DNS). */
export function mirrorNetworkHosts(
  ctx: Context,
  name: string,
  entries: readonly HostEntry[],
  mine: (key: string) => boolean,
): Promise<void> {
  return mirrorHosts(ctx, defOf(ctx, name), entries, mine);
}

/** Reserves an address for a NIC before its start (the start keeps it). */
export function reserveNic(ctx: Context, name: string, e: HostEntry): Promise<void> {
  return reserveHost(ctx, defOf(ctx, name), e);
}

/** A container's NICs by index: the link each names and its static IPv4 addresses. */
export function nicLinks(paths: ContainerPaths): { index: number; link: string; ipv4: string[] }[] {
  const nics = new Map<number, { index: number; link: string; ipv4: string[] }>();
  for (const { key, value } of configFileEntries(paths)) {
    const m = /^lxc\.net\.(\d+)\.(link|ipv4\.address)$/.exec(key);
    if (!m) continue;
    const index = Number(m[1]);
    const nic = nics.get(index) ?? { index, link: "", ipv4: [] };
    if (m[2] === "link") nic.link = value;
    else nic.ipv4.push(value.split(/\s+/)[0]?.split("/")[0] ?? "");
    nics.set(index, nic);
  }
  return [...nics.values()].filter((n) => n.link !== "");
}
