/**
 * A managed network's port forwards seen from the network (LXD's view):
 * every container forward that applies on it, with the container's address
 * there, and which container an address of the network belongs to. The
 * forwards themselves stay each container's own (container/forward.ts).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Context } from "../core/context.js";
import { parseDhcpHost } from "../network/forward.js";
import { networkRunPaths } from "../network/manage.js";
import { parseLeases } from "../network/render.js";
import { forwardNetwork, type PortForward, readForwards } from "./forward.js";
import { listNames } from "./list.js";
import { containerPaths } from "./paths.js";

/** A container's address on a network: pinned (a reservation) or leased. */
export interface NetworkHost {
  container: string;
  address: string;
  pinned: boolean;
}

/** The containers registered on network `name` with their addresses there (pinned first). */
export function networkHosts(ctx: Context, name: string): NetworkHost[] {
  const run = networkRunPaths(ctx, name);
  const out: NetworkHost[] = [];
  const macs = new Map<string, string>();
  let files: string[] = [];
  try {
    files = readdirSync(run.dhcpHosts).sort();
  } catch {}
  for (const f of files) {
    try {
      const e = parseDhcpHost(readFileSync(join(run.dhcpHosts, f), "utf8"));
      const container = f.replace(/\.\d+$/, "");
      macs.set(e.hwaddr.toLowerCase(), container);
      if (e.ipv4) out.push({ container, address: e.ipv4, pinned: true });
    } catch {}
  }
  let leases: ReturnType<typeof parseLeases> = [];
  try {
    leases = parseLeases(readFileSync(run.leases, "utf8"));
  } catch {}
  for (const l of leases) {
    const container = macs.get(l.hwaddr.toLowerCase());
    if (container && !out.some((h) => h.container === container && h.address === l.ipv4))
      out.push({ container, address: l.ipv4, pinned: false });
  }
  return out;
}

/** A container's forward on a network, with the container's address there when it has one. */
export interface NetworkForwardRow extends PortForward {
  container: string;
  address?: string;
}

/** Every container forward that applies on network `name`. */
export function forwardsOnNetwork(ctx: Context, name: string): NetworkForwardRow[] {
  const hosts = networkHosts(ctx, name);
  return listNames(ctx.lxcpath).flatMap((container) => {
    const paths = containerPaths(ctx, container);
    let list: PortForward[];
    try {
      list = readForwards(paths);
    } catch {
      return [];
    }
    if (list.length === 0 || forwardNetwork(ctx, container)?.def.name !== name) return [];
    const address = hosts.find((h) => h.container === container)?.address;
    return list.map((f) => ({ container, ...f, ...(address ? { address } : {}) }));
  });
}
