/** What `lxt network list/show` report: a network's definition with its live state. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Context } from "../core/context.js";
import type { CommandRunner } from "../host/runner.js";
import { forwardPolicyWarnings } from "./firewall.js";
import { parseDhcpHost } from "./forward.js";
import { bridgePorts, linkKind } from "./links.js";
import { dnsmasqPid, networkRunPaths } from "./manage.js";
import { type Lease, type NetworkDef, parseLeases } from "./render.js";

/** A network as `network show` reports it. */
export interface NetworkStatus extends NetworkDef {
  bridgeUp: boolean;
  dnsmasqPid?: number;
  /** Host-side interfaces plugged into the bridge. */
  ports: string[];
  leases: Array<Lease & { container?: string }>;
  /** Addresses held for containers' NICs (set on the NIC before its init runs), leased or not. */
  reservations: Array<{ container: string; nic: number; hwaddr: string; ipv4: string }>;
  /** Other tables' forward hooks that would drop this network's traffic. */
  forwardWarnings: string[];
}

/** Status of one network (no side effects). */
export async function networkStatus(
  ctx: Context,
  def: NetworkDef,
  runner: CommandRunner,
): Promise<NetworkStatus> {
  const run = networkRunPaths(ctx, def.name);
  let leases: Lease[] = [];
  try {
    leases = parseLeases(readFileSync(run.leases, "utf8"));
  } catch {}
  // Container names by MAC, from the containers' dhcp-hosts files (`NAME.N`).
  const owners = new Map<string, string>();
  const reservations: NetworkStatus["reservations"] = [];
  for (const f of existsSync(run.dhcpHosts) ? readdirSync(run.dhcpHosts).sort() : []) {
    try {
      const e = parseDhcpHost(readFileSync(join(run.dhcpHosts, f), "utf8"));
      const container = f.replace(/\.\d+$/, "");
      owners.set(e.hwaddr.toLowerCase(), container);
      if (e.ipv4) {
        const nic = Number(f.slice(container.length + 1));
        reservations.push({ container, nic, hwaddr: e.hwaddr, ipv4: e.ipv4 });
      }
    } catch {}
  }
  return {
    ...def,
    bridgeUp: (await linkKind(def.name, runner)) === "bridge",
    dnsmasqPid: dnsmasqPid(run),
    ports: await bridgePorts(def.name, runner),
    leases: leases.map((l) => {
      const container = owners.get(l.hwaddr.toLowerCase());
      return container ? { ...l, container } : l;
    }),
    reservations,
    forwardWarnings: await forwardPolicyWarnings(def, runner),
  };
}
