/**
 * Addresses on a managed network held for a container's NICs: one
 * reservation per container and NIC, `dhcp-hosts/NAME.N` (`MAC,IP,NAME`:
 * dnsmasq serves IP to that MAC only, and never leases it to another) with
 * its DNS record `dns-hosts/NAME.N`. A start makes it under the network's
 * lock before the monitor sets the address on the NIC, so the address is
 * there before the init runs and a DHCP client inside is given the same.
 * It stays across restarts, goes when the container is destroyed, and
 * follows a rename. The network knows no container: NAME is only a key.
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { writeFileAtomic } from "../host/atomic.js";
import { parseDhcpHost, pickAddress } from "./forward.js";
import { contains, ipToInt } from "./ipv4.js";
import { withNetworkLock } from "./lock.js";
import { listNetworkDefs, networkRunPaths } from "./manage.js";
import {
  type Lease,
  type NetworkDef,
  type NetworkRunPaths,
  parseLeases,
  subnetOf,
} from "./render.js";

/** dnsmasq's current leases of a network (none when it has no lease file yet). */
export function readLeases(run: NetworkRunPaths): Lease[] {
  try {
    return parseLeases(readFileSync(run.leases, "utf8"));
  } catch {
    return [];
  }
}

/** The keys (`NAME.N`) registered on a network, sorted. */
function hostKeys(run: NetworkRunPaths): string[] {
  try {
    return readdirSync(run.dhcpHosts).sort();
  } catch {
    return [];
  }
}

/** Addresses reserved on a network for other keys than `except`. */
export function reservedAddresses(run: NetworkRunPaths, except: string): string[] {
  return hostKeys(run)
    .filter((f) => f !== except)
    .flatMap((f) => {
      try {
        const e = parseDhcpHost(readFileSync(join(run.dhcpHosts, f), "utf8"));
        return e.ipv4 ? [e.ipv4] : [];
      } catch {
        return [];
      }
    });
}

/**
 * The address to reserve for `key` (`NAME.N`) with MAC `hwaddr`: the one it
 * already holds in the subnet, else the MAC's current lease, else the
 * first free address of the DHCP range. Reads, writes nothing. Call with the
 * network's lock held, and write the reservation before letting it go, so
 * that two starts never pick one address. Throws `state` when the range is
 * full.
 */
export function chooseAddress(
  run: NetworkRunPaths,
  def: NetworkDef,
  key: string,
  hwaddr: string,
): string {
  let held: string | undefined;
  try {
    // Kept when the MAC changed too (a rename changes a generated one, a
    // templated `hwaddr` changes at each start): the address is the NIC's.
    const old = parseDhcpHost(readFileSync(join(run.dhcpHosts, key), "utf8"));
    if (old.ipv4 && contains(subnetOf(def), ipToInt(old.ipv4))) held = old.ipv4;
  } catch {}
  return pickAddress(def, hwaddr, held, readLeases(run), reservedAddresses(run, key));
}

/**
 * Pins `container`'s NIC `index` on `def` (registered by its start) and
 * returns its address: the one reserved, else one chosen now. Call with the
 * network's lock held.
 */
export function pinAddress(
  run: NetworkRunPaths,
  def: NetworkDef,
  container: string,
  index: number,
): string {
  const key = `${container}.${index}`;
  let entry: ReturnType<typeof parseDhcpHost>;
  try {
    entry = parseDhcpHost(readFileSync(join(run.dhcpHosts, key), "utf8"));
  } catch {
    throw new LxtError(
      "state",
      `network ${def.name}: ${container} has no NIC ${index} registered (start it first)`,
    );
  }
  const ip = chooseAddress(run, def, key, entry.hwaddr);
  if (ip !== entry.ipv4)
    writeFileAtomic(
      join(run.dhcpHosts, key),
      `${entry.hwaddr},${ip},${entry.hostname}\n`,
      0o644,
      false,
    );
  return ip;
}

/** Keys of `container` among a network's registrations (`NAME.N`). */
function keysOf(run: NetworkRunPaths, container: string): string[] {
  return hostKeys(run).filter(
    (f) => f.startsWith(`${container}.`) && /^\d+$/.test(f.slice(container.length + 1)),
  );
}

/**
 * Releases every reservation and DNS record of `container` on every managed
 * network of the state root, each network under its lock: its addresses go
 * back to the DHCP range (a destroyed container's).
 */
export async function releaseHosts(ctx: Context, container: string): Promise<void> {
  for (const def of listNetworkDefs(ctx)) {
    const run = networkRunPaths(ctx, def.name);
    if (keysOf(run, container).length === 0) continue;
    await withNetworkLock(ctx, def.name, async () => {
      for (const key of keysOf(run, container)) {
        rmSync(join(run.dhcpHosts, key), { force: true });
        rmSync(join(run.dnsHosts, key), { force: true });
      }
    });
  }
}

/**
 * Moves `from`'s reservations to `to` (a rename): the same addresses, with
 * the new name as the DHCP and DNS host name. Each network under its lock.
 */
export async function renameHosts(ctx: Context, from: string, to: string): Promise<void> {
  for (const def of listNetworkDefs(ctx)) {
    const run = networkRunPaths(ctx, def.name);
    if (keysOf(run, from).length === 0) continue;
    await withNetworkLock(ctx, def.name, async () => {
      for (const key of keysOf(run, from)) {
        const index = key.slice(from.length + 1);
        const e = parseDhcpHost(readFileSync(join(run.dhcpHosts, key), "utf8"));
        const next = `${to}.${index}`;
        const ip = e.ipv4 ? `${e.ipv4},` : "";
        writeFileAtomic(join(run.dhcpHosts, next), `${e.hwaddr},${ip}${to}\n`, 0o644, false);
        rmSync(join(run.dhcpHosts, key), { force: true });
        rmSync(join(run.dnsHosts, key), { force: true });
        if (e.ipv4) {
          const dns = `${e.ipv4} ${to}.${def.domain} ${to}\n`;
          writeFileAtomic(join(run.dnsHosts, next), dns, 0o644, false);
        }
      }
    });
  }
}

/**
 * Why NIC `key` (`NAME.N`) cannot keep address `cidr` (`A.B.C.D/N`, what
 * it had when checkpointed) on network `network` here: outside the
 * subnet of the managed network of that name, or reserved there for
 * another NIC. Undefined when it can, or when `network` is no managed
 * network of this state root (a host bridge: its addresses are not lxt's).
 */
export function keptAddressProblem(
  ctx: Context,
  network: string,
  key: string,
  cidr: string,
): string | undefined {
  const def = listNetworkDefs(ctx).find((d) => d.name === network);
  if (!def) return undefined;
  const ip = cidr.split("/")[0] ?? "";
  if (!contains(subnetOf(def), ipToInt(ip)))
    return `its address ${cidr} is outside network ${network}'s subnet here (${def.ipv4}): a container moved with its network namespace keeps its address, so the network must have the same subnet on both hosts (docs/migrate.md)`;
  if (reservedAddresses(networkRunPaths(ctx, network), key).includes(ip))
    return `its address ${ip} is reserved on network ${network} here for another container`;
  return undefined;
}
