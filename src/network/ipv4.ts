/**
 * IPv4 arithmetic for managed networks and NICs: CIDRs, overlap, picking an
 * unused subnet, DHCP ranges, and LXC's MAC address templating. Pure.
 */
import { isIPv4 } from "node:net";
import { ValueError } from "../config/values.js";

/** A parsed `A.B.C.D/N`: `address` is the host's address, `network` the masked one. */
export interface Cidr {
  address: number;
  prefix: number;
  network: number;
}

export function ipToInt(ip: string): number {
  return ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : 2 ** 32 - 2 ** (32 - prefix);
}

function networkOf(address: number, prefix: number): number {
  return address - (address % 2 ** (32 - prefix));
}

/** Parses `A.B.C.D/N` (N defaults to `defaultPrefix`); throws ValueError naming the value. */
export function parseCidr(text: string, defaultPrefix?: number): Cidr {
  const [addr = "", prefixText, ...more] = text.split("/");
  const prefix = prefixText === undefined ? defaultPrefix : Number(prefixText);
  if (
    !isIPv4(addr) ||
    more.length > 0 ||
    prefix === undefined ||
    (prefixText !== undefined && !/^(0|[1-9]\d?)$/.test(prefixText)) ||
    prefix > 32
  ) {
    throw new ValueError(`invalid IPv4 CIDR "${text}": expected an address such as 10.0.3.1/24`);
  }
  const address = ipToInt(addr);
  return { address, prefix, network: networkOf(address, prefix) };
}

export function formatCidr(c: Cidr, which: "address" | "network" = "address"): string {
  return `${intToIp(which === "address" ? c.address : c.network)}/${c.prefix}`;
}

/** Whether two CIDRs share any address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return networkOf(a.network, p) === networkOf(b.network, p);
}

/** Whether `ip` lies inside `c`. */
export function contains(c: Cidr, ip: number): boolean {
  return networkOf(ip, c.prefix) === c.network;
}

/** Broadcast address of `c`. */
export function broadcastOf(c: Cidr): number {
  return c.network + 2 ** (32 - c.prefix) - 1;
}

/** The netmask as dotted quad. */
export function netmaskOf(c: Cidr): string {
  return intToIp(maskOf(c.prefix));
}

/**
 * The first `10.A.B.0/24` (B from 3, as lxc-net's 10.0.3.0/24, then onwards)
 * that overlaps none of `used`; its gateway is `.1`. Undefined when 10/8 is full.
 */
export function pickSubnet(used: readonly Cidr[]): Cidr | undefined {
  for (let i = 3; i < 65536; i++) {
    const network = ipToInt("10.0.0.0") + i * 256;
    const c = { address: network + 1, prefix: 24, network };
    if (!used.some((u) => overlaps(u, c))) return c;
  }
  return undefined;
}

/** Default DHCP range of a subnet: from .2 (past the gateway) to the last host address, capped at 250 hosts. */
export function defaultDhcpRange(c: Cidr): [string, string] {
  const last = broadcastOf(c) - 1;
  const first = c.network + 2;
  if (last < first)
    throw new ValueError(`subnet ${formatCidr(c, "network")} is too small for DHCP`);
  return [intToIp(first), intToIp(Math.min(last, first + 249))];
}

/** Parses `FIRST-LAST` (or `FIRST,LAST`) inside `c`. */
export function parseDhcpRange(text: string, c: Cidr): [string, string] {
  const [a = "", b = "", ...more] = text.split(/[-,]/);
  if (!isIPv4(a) || !isIPv4(b) || more.length > 0) {
    throw new ValueError(
      `invalid DHCP range "${text}": expected FIRST-LAST such as 10.0.3.2-10.0.3.254`,
    );
  }
  const [x, y] = [ipToInt(a), ipToInt(b)];
  if (!contains(c, x) || !contains(c, y) || x > y || x === c.address || y === c.address) {
    throw new ValueError(
      `DHCP range ${text} must lie inside ${formatCidr(c, "network")}, in order, and exclude the gateway`,
    );
  }
  return [a, b];
}

/**
 * LXC's `hwaddr` templating: every `x` digit is replaced by a random hex
 * digit; the first byte is then made unicast and locally administered only
 * when it was templated. `random` returns a value in [0, 16).
 */
export function templateHwaddr(template: string, random: () => number): string {
  const firstTemplated = /x/i.test(template.slice(0, 2));
  let out = template.toLowerCase().replace(/x/g, () => Math.floor(random()).toString(16));
  if (firstTemplated) {
    const first = (Number.parseInt(out.slice(0, 2), 16) & 0xfe) | 0x02;
    out = first.toString(16).padStart(2, "0") + out.slice(2);
  }
  return out;
}

/** A stable MAC for a NIC without `hwaddr` (so DHCP leases survive restarts): `00:16:3e` (LXC's OUI) + a hash. */
export function stableHwaddr(key: string): string {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(key, "utf8")) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  const b = [h >>> 16, h >>> 8, h].map((v) => (v & 0xff).toString(16).padStart(2, "0"));
  return `00:16:3e:${b.join(":")}`;
}
