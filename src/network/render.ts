/**
 * Pure renderers for a managed network: its nftables ruleset (one table lxt
 * owns, applied with one `nft -f`), its dnsmasq configuration, and the
 * parser of dnsmasq's lease file.
 */
import { createHash } from "node:crypto";
import { isIPv4 } from "node:net";
import type { ActiveForward } from "./forward.js";
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
  /** The bridge's IPv6 address with its /64 (`fd..::1/64`); absent: no IPv6. */
  ipv6?: string;
  /** Masquerade IPv6 traffic from the /64 leaving through other links (NAT66). */
  nat6?: boolean;
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

/** The nft table a network owns (family inet: its IPv4 and IPv6 rules in one table). */
export function nftTable(def: NetworkDef): string {
  return `lxt-${def.name}`;
}

/**
 * The MAC address a network's bridge is made with: locally administered,
 * unicast, from the network's name. A bridge left to pick its own takes the
 * lowest of its ports' and changes it as containers come and go, and every
 * container's ARP entry for the gateway then points nowhere until it ages
 * out (~35 s without DNS or a route); LXC's lxc-net sets one for that
 * reason. From the name, so that every member of a cluster network has the
 * same gateway MAC and a container moved between them keeps a valid entry.
 */
export function bridgeMac(name: string): string {
  const h = createHash("sha256").update(`lxt bridge ${name}`).digest();
  const bytes = [0x02, h[0], h[1], h[2], h[3], h[4]] as number[];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

export function subnetOf(def: NetworkDef): Cidr {
  return parseCidr(def.ipv4);
}

/** The /64 of an IPv6 `ADDR/64` (textual, as nft and dnsmasq take it). */
export function ipv6Prefix(cidr: string): string {
  const [addr = ""] = cidr.split("/");
  const groups = expandIpv6(addr).slice(0, 4);
  return `${groups.map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

/** The 8 groups of an IPv6 address, each 4 hex digits. */
export function expandIpv6(addr: string): string[] {
  const [head = "", tail] = addr.toLowerCase().split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const fill = tail === undefined ? [] : Array(8 - h.length - t.length).fill("0");
  return [...h, ...fill, ...t].map((g) => g.padStart(4, "0"));
}

/** Rules of one forward for a nat hook chain (prerouting or output). */
function dnatRule(f: ActiveForward): string {
  const dst = f.listen ? `ip daddr ${f.listen}` : "meta nfproto ipv4 fib daddr type local";
  return `\t\t${dst} ${f.proto} dport ${f.port} dnat ip to ${f.address}:${f.targetPort}`;
}

/**
 * The network's whole table, replaced atomically: the leading `table` +
 * `delete table` pair makes one `nft -f` transaction that works whether or
 * not the table exists. Accept rules here cannot override another table's
 * drop (each base chain votes), they only document what the network needs.
 * `forwards` are the port forwards of its running containers: DNAT from
 * prerouting (other hosts) and output (the host itself), a masquerade only
 * for loopback clients (127.0.0.1 cannot leave through the bridge) and for
 * hairpin clients on the same bridge; every other client keeps its address.
 */
export function renderNftRuleset(def: NetworkDef, forwards: readonly ActiveForward[] = []): string {
  const t = `inet ${nftTable(def)}`;
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
  ];
  if (def.ipv6)
    lines.push(
      `\t\tiifname ${br} udp dport 547 accept`,
      `\t\tiifname ${br} icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept`,
    );
  lines.push("\t}");
  if (def.nat || def.nat6 || forwards.length > 0) {
    lines.push(
      "\tchain forward {",
      "\t\ttype filter hook forward priority filter - 1; policy accept;",
      `\t\tiifname ${br} accept`,
      `\t\toifname ${br} ct state established,related accept`,
      ...(forwards.length > 0 ? [`\t\toifname ${br} ct status dnat accept`] : []),
      "\t}",
    );
  }
  const post: string[] = [];
  if (def.nat) post.push(`\t\tip saddr ${subnet} ip daddr != ${subnet} masquerade`);
  if (def.ipv6 && def.nat6) {
    const p6 = ipv6Prefix(def.ipv6);
    post.push(`\t\tip6 saddr ${p6} ip6 daddr != ${p6} masquerade`);
  }
  if (forwards.length > 0) {
    post.push(
      `\t\toifname ${br} ip saddr 127.0.0.0/8 ct status dnat masquerade`,
      `\t\toifname ${br} ip saddr ${subnet} ip daddr ${subnet} ct status dnat masquerade`,
    );
  }
  if (post.length > 0) {
    lines.push(
      "\tchain postrouting {",
      "\t\ttype nat hook postrouting priority srcnat; policy accept;",
      ...post,
      "\t}",
    );
  }
  if (forwards.length > 0) {
    lines.push(
      "\tchain prerouting {",
      "\t\ttype nat hook prerouting priority dstnat; policy accept;",
      ...forwards.map(dnatRule),
      "\t}",
      "\tchain output {",
      "\t\ttype nat hook output priority -100; policy accept;",
      ...forwards.map(dnatRule),
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
    // IPv6: router advertisements with SLAAC (every kernel configures itself,
    // no DHCPv6 client needed), stateless DHCPv6 for DNS, names from DHCPv4.
    ...(def.ipv6
      ? [
          "enable-ra",
          `listen-address=${def.ipv6.split("/")[0]}`,
          `dhcp-range=::,constructor:${def.name},ra-stateless,ra-names,64,1h`,
        ]
      : []),
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
    // IPv6 lines (IAID, address, DUID) and the `duid` line are skipped.
    if (!exp || !mac || !ip || !/^\d+$/.test(exp) || !isIPv4(ip)) continue;
    out.push({
      expires: Number(exp),
      hwaddr: mac,
      ipv4: ip,
      hostname: host === "*" ? "" : (host ?? ""),
    });
  }
  return out;
}
