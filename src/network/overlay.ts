/**
 * A managed network's bridge extended over other hosts: a Linux vxlan
 * device (one VNI per network, unicast: no multicast group, no learning of
 * remote endpoints) enslaved to the bridge, with one all-zeros FDB entry
 * per peer host (head-end replication: broadcast and unknown unicast go to
 * every peer), and an nft `bridge` table that keeps the host's own side of
 * the bridge local: nothing from the tunnel reaches this host's stack
 * (its gateway address, DHCP and DNS), nothing of its stack leaves through
 * the tunnel. Every host of the overlay runs the same network (same
 * subnet, same gateway address) with its own gateway and dnsmasq; the
 * containers of all hosts share one layer 2. The driver knows no cluster
 * and no container: the peers and the hosts entries are handed to it.
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { writeFileAtomic } from "../host/atomic.js";
import type { CommandRunner } from "../host/runner.js";
import { parseDhcpHost } from "./forward.js";
import { withNetworkLock } from "./lock.js";
import { networkRunPaths, registerHost } from "./manage.js";
import type { NetworkDef } from "./render.js";

/** The UDP port of the overlays: IANA's VXLAN port. */
export const VXLAN_PORT = 4789;
/** The all-zeros MAC: an FDB entry for it floods to its destination. */
const FLOOD = "00:00:00:00:00:00";
/** VXLAN's header and the outer IPv4/UDP/Ethernet headers: the overlay's MTU is the wire's less this. */
export const VXLAN_OVERHEAD = 50;

export interface OverlaySpec {
  /** The VXLAN network identifier (1 to 16777215). */
  vni: number;
  /** This host's underlay address (the tunnel's source). */
  local: string;
  port: number;
}

/** The vxlan device of VNI `vni`. */
export function vxlanName(vni: number): string {
  return `lxtvx${vni}`;
}

/** The nft table (family bridge) that keeps network `name`'s host side off the tunnel. */
export function overlayTable(name: string): string {
  return `lxt-vx-${name}`;
}

/** The `bridge` table's text: replaced whole in one `nft -f` transaction. */
export function renderOverlayTable(name: string, vni: number): string {
  const t = overlayTable(name);
  const dev = vxlanName(vni);
  return [
    `table bridge ${t}`,
    `delete table bridge ${t}`,
    `table bridge ${t} {`,
    "  chain input {",
    "    type filter hook input priority 0; policy accept;",
    `    iifname "${dev}" drop`,
    "  }",
    "  chain output {",
    "    type filter hook output priority 0; policy accept;",
    `    oifname "${dev}" drop`,
    "  }",
    "}",
    "",
  ].join("\n");
}

/**
 * Puts the vxlan device on network `def`'s bridge (made when missing, up),
 * and its `bridge` table. The bridge must exist (the network is up).
 * Idempotent: what is there already is kept.
 */
export async function attachOverlay(
  ctx: Context,
  def: NetworkDef,
  spec: OverlaySpec,
  runner: CommandRunner,
): Promise<void> {
  if (!Number.isInteger(spec.vni) || spec.vni < 1 || spec.vni > 0xffffff)
    throw new LxtError("usage", `network ${def.name}: VNI ${spec.vni} is not in 1-16777215`);
  const dev = vxlanName(spec.vni);
  const links = JSON.parse((await runner.run("ip", ["-j", "link", "show"])) || "[]") as {
    ifname: string;
  }[];
  if (!links.some((l) => l.ifname === dev)) {
    await runner.run("ip", [
      "link",
      "add",
      dev,
      "type",
      "vxlan",
      "id",
      String(spec.vni),
      "local",
      spec.local,
      "dstport",
      String(spec.port),
      "nolearning",
    ]);
  }
  await runner.run("ip", ["link", "set", dev, "master", def.name, "up"]);
  const file = join(networkRunPaths(ctx, def.name).dir, "overlay.nft");
  writeFileAtomic(file, renderOverlayTable(def.name, spec.vni), 0o600, false);
  await runner.run("nft", ["-f", file]);
}

/** The peers `vni`'s device floods to (the destinations of its all-zeros FDB entries). */
export async function overlayPeers(vni: number, runner: CommandRunner): Promise<string[]> {
  const out = await runner.run("bridge", ["-j", "fdb", "show", "dev", vxlanName(vni)]);
  const rows = JSON.parse(out || "[]") as { mac?: string; dst?: string }[];
  return rows
    .filter((r) => r.mac === FLOOD && r.dst)
    .map((r) => r.dst as string)
    .sort();
}

/** Makes `vni`'s flood list exactly `peers`: entries added and removed one by one. */
export async function setOverlayPeers(
  vni: number,
  peers: readonly string[],
  runner: CommandRunner,
): Promise<{ added: string[]; removed: string[] }> {
  const dev = vxlanName(vni);
  const now = await overlayPeers(vni, runner);
  const added = peers.filter((p) => !now.includes(p));
  const removed = now.filter((p) => !peers.includes(p));
  for (const p of added) await runner.run("bridge", ["fdb", "append", FLOOD, "dev", dev, "dst", p]);
  for (const p of removed) await runner.run("bridge", ["fdb", "del", FLOOD, "dev", dev, "dst", p]);
  return { added, removed };
}

/** Removes the vxlan device and the `bridge` table (each only if there). */
export async function detachOverlay(
  ctx: Context,
  name: string,
  vni: number,
  runner: CommandRunner,
): Promise<void> {
  const links = JSON.parse((await runner.run("ip", ["-j", "link", "show"])) || "[]") as {
    ifname: string;
  }[];
  if (links.some((l) => l.ifname === vxlanName(vni)))
    await runner.run("ip", ["link", "del", vxlanName(vni)]);
  const tables = JSON.parse(
    (await runner.run("nft", ["-j", "list", "tables", "bridge"])) || "{}",
  ) as { nftables?: { table?: { name: string } }[] };
  if ((tables.nftables ?? []).some((t) => t.table?.name === overlayTable(name)))
    await runner.run("nft", ["delete", "table", "bridge", overlayTable(name)]);
  rmSync(join(networkRunPaths(ctx, name).dir, "overlay.nft"), { force: true });
}

/** A reservation on a network: dnsmasq's host entry `MAC,IP,NAME` under key `NAME.N`. */
export interface HostEntry {
  key: string;
  hwaddr: string;
  ipv4: string;
  hostname: string;
}

/** The reservations with an address registered on network `name` (its `dhcp-hosts`). */
export function hostEntries(ctx: Context, name: string): HostEntry[] {
  const dir = networkRunPaths(ctx, name).dhcpHosts;
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return [];
  }
  return files.flatMap((key) => {
    try {
      const e = parseDhcpHost(readFileSync(join(dir, key), "utf8"));
      return e.ipv4 ? [{ key, hwaddr: e.hwaddr, ipv4: e.ipv4, hostname: e.hostname }] : [];
    } catch {
      return [];
    }
  });
}

/**
 * Makes the entries of network `def` that `mine(key)` does not claim
 * exactly `entries` (written as a start registers a static address: the
 * DHCP reservation and the DNS record), under the network's lock: so this
 * host's dnsmasq answers for the other hosts' containers and never hands
 * out their addresses. Entries `mine` claims are left alone.
 */
export async function mirrorHosts(
  ctx: Context,
  def: NetworkDef,
  entries: readonly HostEntry[],
  mine: (key: string) => boolean,
): Promise<void> {
  const run = networkRunPaths(ctx, def.name);
  await withNetworkLock(ctx, def.name, async () => {
    const want = new Map(entries.filter((e) => !mine(e.key)).map((e) => [e.key, e]));
    for (const old of hostEntries(ctx, def.name)) {
      if (mine(old.key)) continue;
      const e = want.get(old.key);
      if (e && e.ipv4 === old.ipv4 && e.hwaddr === old.hwaddr && e.hostname === old.hostname) {
        want.delete(old.key);
        continue;
      }
      if (!e) {
        rmSync(join(run.dhcpHosts, old.key), { force: true });
        rmSync(join(run.dnsHosts, old.key), { force: true });
      }
    }
    for (const e of want.values()) registerHost(ctx, def, e);
  });
}

/**
 * Reserves `ipv4` for `key` on network `def` before a start registers it
 * (the start keeps an address its key holds, whatever the MAC).
 */
export async function reserveHost(ctx: Context, def: NetworkDef, e: HostEntry): Promise<void> {
  await withNetworkLock(ctx, def.name, async () => registerHost(ctx, def, e));
}
