/**
 * Pure renderers for a managed network: its nftables ruleset (one table lxt
 * owns, applied with one `nft -f`), its dnsmasq configuration, and the
 * parser of dnsmasq's lease file.
 */
import { type Cidr, formatCidr, intToIp, parseCidr } from "./ipv4.js";

/** A managed network as stored (`<lxcpath>/.networks/NAME.json`). */
export interface NetworkDef {
  /** The network's and its bridge's name. */
  name: string;
  /** The bridge's (gateway's) address with the subnet prefix, e.g. `10.0.3.1/24`. */
  ipv4: string;
  /** Masquerade traffic from the subnet leaving through other links. */
  nat: boolean;
  dhcpRange: [string, string];
  /** DNS domain of the containers: `NAME.<domain>`. */
  domain: string;
  /** Forward other DNS queries to the host's resolvers (off: dnsmasq answers only for its domain). */
  dnsUpstream: boolean;
}

/** Where a network's runtime files live (pid file, leases, host files). */
export interface NetworkRunPaths {
  dir: string;
  conf: string;
  pidFile: string;
  leases: string;
  /** `dhcp-hostsdir`: one file per container (`MAC,NAME`), read by dnsmasq on change. */
  dhcpHosts: string;
  /** `hostsdir`: one file per container with a static address (`IP NAME`). */
  dnsHosts: string;
  ruleset: string;
}

/** The nft table a network owns. */
export function nftTable(def: NetworkDef): string {
  return `lxt-${def.name}`;
}

export function subnetOf(def: NetworkDef): Cidr {
  return parseCidr(def.ipv4);
}

/**
 * The network's whole table, replaced atomically: the leading `table` +
 * `delete table` pair makes one `nft -f` transaction that works whether or
 * not the table exists. Accept rules here cannot override another table's
 * drop (each base chain votes), they only document what the network needs.
 */
export function renderNftRuleset(def: NetworkDef): string {
  const t = `ip ${nftTable(def)}`;
  const br = JSON.stringify(def.name);
  const subnet = formatCidr(subnetOf(def), "network");
  const lines = [
    `table ${t}`,
    `delete table ${t}`,
    `table ${t} {`,
    "\tchain input {",
    "\t\ttype filter hook input priority filter - 1; policy accept;",
    `\t\tiifname ${br} udp dport { 53, 67 } accept`,
    `\t\tiifname ${br} tcp dport 53 accept`,
    "\t}",
  ];
  if (def.nat) {
    lines.push(
      "\tchain forward {",
      "\t\ttype filter hook forward priority filter - 1; policy accept;",
      `\t\tiifname ${br} accept`,
      `\t\toifname ${br} ct state established,related accept`,
      "\t}",
      "\tchain postrouting {",
      "\t\ttype nat hook postrouting priority srcnat; policy accept;",
      `\t\tip saddr ${subnet} ip daddr != ${subnet} masquerade`,
      "\t}",
    );
  }
  lines.push("}");
  return `${lines.join("\n")}\n`;
}

/** dnsmasq's configuration for one network: bound to its bridge only, no upstream unless asked. */
export function renderDnsmasqConf(def: NetworkDef, run: NetworkRunPaths): string {
  const gw = intToIp(subnetOf(def).address);
  const lines = [
    `# lxt network ${def.name}; generated, rewritten on every start`,
    `interface=${def.name}`,
    "bind-interfaces",
    "except-interface=lo",
    `listen-address=${gw}`,
    "no-hosts",
    ...(def.dnsUpstream ? [] : ["no-resolv"]),
    `pid-file=${run.pidFile}`,
    `dhcp-leasefile=${run.leases}`,
    `dhcp-hostsdir=${run.dhcpHosts}`,
    `hostsdir=${run.dnsHosts}`,
    `dhcp-range=${def.dhcpRange[0]},${def.dhcpRange[1]},1h`,
    "dhcp-authoritative",
    "dhcp-no-override",
    `domain=${def.domain}`,
    `local=/${def.domain}/`,
    "expand-hosts",
    // Its host files live under /run/lxt, which is 0700: dnsmasq keeps root
    // rather than dropping to nobody (see docs/networking.md).
    "user=root",
  ];
  return `${lines.join("\n")}\n`;
}

/** One DHCP lease from dnsmasq's lease file. */
export interface Lease {
  expires: number;
  hwaddr: string;
  ipv4: string;
  hostname: string;
}

/** Parses dnsmasq's lease file (`EXPIRY MAC IP HOSTNAME CLIENTID` per line). */
export function parseLeases(text: string): Lease[] {
  const out: Lease[] = [];
  for (const line of text.split("\n")) {
    const [exp, mac, ip, host] = line.trim().split(/\s+/);
    if (!exp || !mac || !ip || !/^\d+$/.test(exp)) continue;
    out.push({
      expires: Number(exp),
      hwaddr: mac,
      ipv4: ip,
      hostname: host === "*" ? "" : (host ?? ""),
    });
  }
  return out;
}
