/**
 * The store's side of networks spanning cluster members (docs/cluster.md,
 * "Networks across members"): the records and keys, and the small
 * helpers `cluster-net.ts` reconciles with.
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
/** The config key that makes a network span the cluster: `true` (a VNI is picked) or a VNI. */
export const CLUSTER_KEY = "cluster.vxlan";

/** A spanning network as the store holds it: what every member makes. */
export interface ClusterNetRecord {
  name: string;
  vni: number;
  port: number;
  /** The gateway's address with the prefix (every member's bridge has it). */
  ipv4: string;
  dhcpRange: [string, string];
  nat: boolean;
  domain: string;
  dnsUpstream: boolean;
  /** The member that created it. */
  member: string;
}

/** Who holds an address: the NIC (`CONTAINER.N`), its member and MAC. */
export interface AddressClaim {
  key: string;
  member: string;
  hwaddr: string;
}

export const NET_KEYS = {
  network: (name: string) => `/lxt/networks/${name}`,
  networks: "/lxt/networks/",
  vni: (vni: number) => `/lxt/vnis/${vni}`,
  vnis: "/lxt/vnis/",
  address: (net: string, ip: string) => `/lxt/netips/${net}/${ip}`,
  addresses: "/lxt/netips/",
};

/** The container a NIC key (`NAME.N`) belongs to. */
export function containerOf(key: string): string {
  return key.slice(0, key.lastIndexOf("."));
}

export function parse<T>(value: string | undefined): T | undefined {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value) as T;
  } catch {
    return undefined;
  }
}

/** The host part of `https://HOST:PORT`, as an address (a name is resolved). */
export async function underlayOf(address: string): Promise<string> {
  const host = /^https?:\/\/(\[[^\]]+\]|[^:/]+)/.exec(address)?.[1]?.replace(/^\[|\]$/g, "") ?? "";
  if (isIP(host)) return host;
  return (await lookup(host)).address;
}

/** A record's network options as LXD keys (what `createNetwork` takes). */
export function optionsOf(rec: ClusterNetRecord): Record<string, string> {
  return {
    "ipv4.address": rec.ipv4,
    "ipv4.nat": String(rec.nat),
    "ipv4.dhcp.ranges": rec.dhcpRange.join("-"),
    "ipv6.address": "none",
    "dns.domain": rec.domain,
    "dns.upstream": String(rec.dnsUpstream),
  };
}
