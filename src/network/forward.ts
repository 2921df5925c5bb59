/**
 * Port forwards on a managed network: parsed and formatted (a container
 * stores its own, see src/container/forward.ts), applied as DNAT rules in
 * the network's nft table while their container runs. The container's
 * address on that network is pinned (a dnsmasq reservation by MAC) so that
 * the rules know it before the container asks for a lease, and it stays the
 * same across restarts. The network knows no container: each set of active
 * forwards names an owner path, and lives only as long as that path exists.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { isIPv4 } from "node:net";
import { join } from "node:path";
import { ValueError } from "../config/values.js";
import { LxtError } from "../core/errors.js";
import { writeFileAtomic } from "../host/atomic.js";
import { contains, intToIp, ipToInt, parseCidr } from "./ipv4.js";
import type { Lease, NetworkDef, NetworkRunPaths } from "./render.js";
import { subnetOf } from "./render.js";

/** One port forward as the user gave it. */
export interface PortForward {
  proto: "tcp" | "udp";
  /** Host address the forward listens on; undefined: every local address (loopback included). */
  listen?: string;
  port: number;
  targetPort: number;
}

/** A forward in effect: where it goes. */
export interface ActiveForward extends PortForward {
  container: string;
  address: string;
}

function parsePort(text: string, what: string): number {
  const n = Number(text);
  if (!/^\d{1,5}$/.test(text) || n < 1 || n > 65535)
    throw new ValueError(`invalid ${what} "${text}": expected 1-65535`);
  return n;
}

/** Parses `tcp|udp [ADDR:]PORT CONTAINER_PORT`; throws ValueError naming the bad part. */
export function parseForward(proto: string, host: string, target: string): PortForward {
  if (proto !== "tcp" && proto !== "udp")
    throw new ValueError(`invalid protocol "${proto}": expected tcp or udp`);
  const colon = host.lastIndexOf(":");
  const listen = colon >= 0 ? host.slice(0, colon) : undefined;
  if (listen !== undefined && !isIPv4(listen))
    throw new ValueError(`invalid host address "${listen}": expected an IPv4 address`);
  return {
    proto,
    ...(listen !== undefined ? { listen } : {}),
    port: parsePort(host.slice(colon + 1), "host port"),
    targetPort: parsePort(target, "container port"),
  };
}

export function formatForward(f: PortForward): string {
  return `${f.proto} ${f.listen ? `${f.listen}:` : ""}${f.port} ${f.targetPort}`;
}

/** Whether two forwards claim the same host address and port. */
export function clashes(a: PortForward, b: PortForward): boolean {
  return (
    a.proto === b.proto && a.port === b.port && (!a.listen || !b.listen || a.listen === b.listen)
  );
}

/** A host port claimed by a container's forward: in its stored list, or applied on `network`. */
export interface PortClaim {
  container: string;
  forward: PortForward;
  /** The network it is applied on (undefined: stored, the container is not running). */
  network?: string;
}

/** The first claim of another container than `container` that `f` clashes with. Pure. */
export function findClash(
  f: PortForward,
  container: string,
  claims: readonly PortClaim[],
): PortClaim | undefined {
  return claims.find((c) => c.container !== container && clashes(c.forward, f));
}

/** `clashes with C's forward tcp 8080 80 (on network N)` */
export function describeClash(c: PortClaim): string {
  const where = c.network ? ` (on network ${c.network})` : "";
  return `clashes with ${c.container}'s forward ${formatForward(c.forward)}${where}`;
}

/** `<network run dir>/forwards/CONTAINER.json`: the forwards applied for a running container. */
function activeDir(run: NetworkRunPaths): string {
  return join(run.dir, "forwards");
}

/**
 * Records `container`'s forwards as applied on a network (none: removes the
 * record). `owner` is a path that exists exactly while they apply (the
 * container's runtime directory): once it is gone, `activeForwards` drops
 * them, whoever forgot to.
 */
export function writeActive(
  run: NetworkRunPaths,
  container: string,
  list: ActiveForward[],
  owner: string,
): void {
  const file = join(activeDir(run), `${container}.json`);
  if (list.length === 0) {
    rmSync(file, { force: true });
    return;
  }
  mkdirSync(activeDir(run), { recursive: true, mode: 0o755 });
  writeFileAtomic(file, `${JSON.stringify({ owner, forwards: list })}\n`, 0o644, false);
}

/** Whether `container` has forwards recorded as applied on this network (running or not). */
export function hasActive(run: NetworkRunPaths, container: string): boolean {
  return existsSync(join(activeDir(run), `${container}.json`));
}

/**
 * The forwards in effect on a network: those whose owner path exists (a
 * container started or starting); entries of stopped ones are dropped.
 */
export function activeForwards(run: NetworkRunPaths): ActiveForward[] {
  let files: string[];
  try {
    files = readdirSync(activeDir(run)).filter((f) => f.endsWith(".json"));
  } catch {
    return [];
  }
  return files.sort().flatMap((f) => {
    const file = join(activeDir(run), f);
    let entry: { owner: string; forwards: ActiveForward[] };
    try {
      entry = JSON.parse(readFileSync(file, "utf8"));
    } catch {
      return [];
    }
    if (!existsSync(entry.owner)) {
      rmSync(file, { force: true });
      return [];
    }
    return entry.forwards;
  });
}

/** `MAC[,IP],NAME` of a dhcp-hosts file. */
export function parseDhcpHost(text: string): { hwaddr: string; ipv4?: string; hostname: string } {
  const parts = text.trim().split(",");
  const hwaddr = parts[0] ?? "";
  if (parts.length >= 3) return { hwaddr, ipv4: parts[1] ?? "", hostname: parts[2] ?? "" };
  return { hwaddr, hostname: parts[1] ?? "" };
}

/**
 * The address to pin for `hwaddr`: the one already reserved, else its
 * current lease, else the first address of the DHCP range that no lease or
 * reservation holds. Pure: `reserved` are other hosts' pinned addresses.
 */
export function pickAddress(
  def: NetworkDef,
  hwaddr: string,
  current: string | undefined,
  leases: readonly Lease[],
  reserved: readonly string[],
): string {
  if (current) return current;
  const own = leases.find((l) => l.hwaddr.toLowerCase() === hwaddr.toLowerCase());
  if (own && !reserved.includes(own.ipv4)) return own.ipv4;
  const taken = new Set([
    ...reserved,
    ...leases.filter((l) => l.hwaddr.toLowerCase() !== hwaddr.toLowerCase()).map((l) => l.ipv4),
  ]);
  const [first, last] = def.dhcpRange.map(ipToInt) as [number, number];
  const subnet = subnetOf(def);
  for (let a = first; a <= last; a++) {
    const ip = intToIp(a);
    if (a !== subnet.address && contains(subnet, a) && !taken.has(ip)) return ip;
  }
  throw new LxtError(
    "state",
    `network ${def.name}: no free address left in its DHCP range ${def.dhcpRange[0]}-${def.dhcpRange[1]}`,
  );
}

/** The NIC index of `container` registered on `def` (its first), if any. */
export function registeredNic(run: NetworkRunPaths, container: string): number | undefined {
  let files: string[];
  try {
    files = readdirSync(run.dhcpHosts);
  } catch {
    return undefined;
  }
  const idx = files
    .filter((f) => f.startsWith(`${container}.`) && /^\d+$/.test(f.slice(container.length + 1)))
    .map((f) => Number(f.slice(container.length + 1)))
    .sort((a, b) => a - b);
  return idx[0];
}

/** Whether an address is in 127.0.0.0/8. */
export function isLoopback(ip: string): boolean {
  return contains(parseCidr("127.0.0.0/8"), ipToInt(ip));
}
