/**
 * The host side of a container's NICs: managed networks brought up, what
 * `auto` gateways and phys restores need, DHCP registration, the errors of
 * the monitor's `net` records, and the repair of what a killed monitor left.
 */
import { readFileSync } from "node:fs";
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { Reverter } from "../core/reverter.js";
import type { HelperFailure } from "../host/helper-protocol.js";
import { describeFailure } from "../host/monitor-client.js";
import type { CommandRunner } from "../host/runner.js";
import { intToIp, parseCidr } from "./ipv4.js";
import { type HostLink, kindIn, type LinkKind, linkPresent, listLinks } from "./links.js";
import { withNetworkLock } from "./lock.js";
import {
  DEFAULT_NETWORK,
  ensureNetwork,
  loadNetwork,
  networkRunPaths,
  registerHost,
} from "./manage.js";
import type { NicPlan } from "./nic-resolve.js";
import { type NetworkDef, subnetOf } from "./render.js";
import { chooseAddress } from "./reserve.js";

const EEXIST = 17;
const EOPNOTSUPP = 95;

/** The drivers the `net` verbs of these types need, as a missing one is named. */
const KERNEL_KINDS: Readonly<Record<string, string>> = {
  vlan: "802.1Q VLAN support (CONFIG_VLAN_8021Q, module 8021q)",
  ipvlan: "ipvlan driver (CONFIG_IPVLAN, module ipvlan)",
  macvlan: "macvlan driver (CONFIG_MACVLAN, module macvlan)",
};

/** What a start learns about the host before writing the plan. */
export interface PreparedNics {
  /** Managed networks by NIC index. */
  managed: Map<number, NetworkDef>;
  /** `auto` gateways: the link's primary addresses, by NIC index. */
  autoGateways: Map<number, { ipv4?: string; ipv6?: string }>;
  /** MTU and MAC of each phys link, by NIC index. */
  physOriginal: Map<number, { mtu: number; address: string }>;
  /**
   * Addresses lxt gives NICs on a managed network that have no static one
   * (`A.B.C.D/N`, reserved for their MAC), with the network's gateway and
   * DNS domain, by NIC index.
   */
  assigned: Map<number, AssignedAddress>;
}

/** An address a managed network gives a NIC before its init runs. */
export interface AssignedAddress {
  /** `A.B.C.D/N`. */
  ipv4: string;
  /** The bridge's address: default route and DNS server. */
  gateway: string;
  domain: string;
  network: string;
}

function primary(link: HostLink | undefined, family: "inet" | "inet6"): string | undefined {
  return link?.addr_info?.find((a) => a.family === family && a.scope === "global")?.local;
}

/** A sysctl of this process's network namespace, or undefined when it is not there. */
function netSysctl(path: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/net/${path}`, "utf8").trim();
  } catch {
    return undefined;
  }
}

/**
 * LXC's checks before `l2proxy` entries (lxc_setup_l2proxy): the link must
 * forward (and answer NDP by proxy, for IPv6 addresses) or the entries do
 * nothing. A missing link is left to the monitor, which names it.
 */
function checkL2proxy(nic: NicPlan): void {
  if (!nic.l2proxy || !nic.link) return;
  const need: [string, string][] = [];
  if (nic.ipv4.length > 0) need.push(["ipv4", "forwarding"]);
  if (nic.ipv6.length > 0) need.push(["ipv6", "proxy_ndp"], ["ipv6", "forwarding"]);
  for (const [fam, knob] of need) {
    const v = netSysctl(`${fam}/conf/${nic.link}/${knob}`);
    if (v !== undefined && v !== "1") {
      // The host's settings, as lxc.container.conf(5) asks for them with l2proxy.
      throw new LxtError(
        "config",
        `lxc.net.${nic.index}.l2proxy: requires sysctl net.${fam}.conf.${nic.link}.${knob}=1 (it is ${v})`,
      );
    }
  }
}

/** Whether a NIC needs the host's link listing here (the monitor checks the rest by rtnetlink). */
function needsListing(nic: NicPlan): boolean {
  return nic.type === "phys" || nic.gateway4 === "auto" || nic.gateway6 === "auto";
}

/** Whether a veth's link is a managed network (or the default one, made on first use). */
function managedLink(ctx: Context, nic: NicPlan): boolean {
  return (
    nic.type === "veth" &&
    !!nic.link &&
    (nic.link === DEFAULT_NETWORK || loadNetwork(ctx, nic.link) !== undefined)
  );
}

/**
 * Brings up the managed networks the NICs name (the default one is created
 * on first use; networks outlive a failed start) and registers the NICs
 * with their dnsmasq, each network under its lock (two starts on one new
 * network make it once); reads what `auto` gateways and phys restores
 * need. The host's links are listed (one `ip` run) only for those two; a
 * managed network's bridge is looked up in /proc/self/net/dev. Everything
 * else about a link (it exists, a veth's is a bridge, a host-side name is
 * free) the monitor checks by rtnetlink, and its failure names the key (see
 * `netFailure`).
 */
export async function prepareNics(
  ctx: Context,
  container: string,
  nics: readonly NicPlan[],
  runner: CommandRunner,
): Promise<PreparedNics> {
  const out: PreparedNics = {
    managed: new Map(),
    autoGateways: new Map(),
    physOriginal: new Map(),
    assigned: new Map(),
  };
  for (const nic of nics) checkL2proxy(nic);
  let links = nics.some(needsListing) ? await listLinks(runner) : undefined;
  for (const nic of nics) {
    if (!nic.link) continue;
    const where = `lxc.net.${nic.index}.link`;
    let def: NetworkDef | undefined;
    if (managedLink(ctx, nic)) {
      const link = nic.link;
      const listed = links;
      let made = false;
      def = await withNetworkLock(ctx, link, async () => {
        // Looked at under the lock: another start may have made the bridge
        // since the listing. Present is taken for a bridge here; the monitor
        // refuses a non-bridge.
        const seen: LinkKind = listed ? kindIn(listed, link) : "missing";
        const known = seen !== "missing" ? seen : linkPresent(link) ? "bridge" : "missing";
        const d = await ensureNetwork(ctx, link, runner, new Reverter(), known);
        made = known === "missing";
        // The monitor makes the devices (`net` records); dnsmasq learns their MACs first.
        if (d) {
          const got = registerNics(ctx, container, [nic], new Map([[nic.index, d]]));
          for (const [i, a] of got) out.assigned.set(i, a);
        }
        return d;
      });
      // A network brought up just now: its bridge is not in the listing yet.
      if (def && links && made) links = await listLinks(runner);
    }
    if (def) out.managed.set(nic.index, def);
    if (!links || !needsListing(nic)) continue;
    const kind = kindIn(links, nic.link);
    if (kind === "missing") {
      const hint = nic.type === "veth" ? " (create it with `lxt network create`)" : "";
      throw new LxtError("config", `${where}: ${nic.link} does not exist${hint}`);
    }
    if (nic.type === "veth" && kind !== "bridge") {
      throw new LxtError("config", `${where}: ${nic.link} is not a bridge`);
    }
    if (nic.type === "phys" && kind === "bridge") {
      throw new LxtError("config", `${where}: ${nic.link} is a bridge; phys moves a device in`);
    }
    const link = links.find((l) => l.ifname === nic.link);
    if (nic.gateway4 === "auto" || nic.gateway6 === "auto") {
      const v4 = def ? undefined : primary(link, "inet");
      out.autoGateways.set(nic.index, {
        ...(def ? { ipv4: intToIp(subnetOf(def).address) } : {}),
        ...(v4 ? { ipv4: v4 } : {}),
        ...(primary(link, "inet6") ? { ipv6: primary(link, "inet6") } : {}),
      });
    }
    if (nic.type === "phys" && link?.mtu && link.address) {
      out.physOriginal.set(nic.index, { mtu: link.mtu, address: link.address });
    }
  }
  return out;
}

/**
 * Registers each NIC on a managed network with its dnsmasq: a DHCP host
 * entry by MAC with the NIC's address, and its DNS record. A static address
 * in the subnet is that address; a NIC with no static address gets one
 * reserved (`network/reserve.ts`), returned by NIC index for the monitor to
 * set before the init runs; a NIC with only addresses elsewhere is entered
 * by name. The devices themselves are made by the monitor (`net` records).
 * Call with the networks' locks held. Throws `state` when a range is full,
 * having written nothing for that NIC.
 */
export function registerNics(
  ctx: Context,
  container: string,
  nics: readonly NicPlan[],
  managed: ReadonlyMap<number, NetworkDef>,
): Map<number, AssignedAddress> {
  const assigned = new Map<number, AssignedAddress>();
  for (const nic of nics) {
    const def = managed.get(nic.index);
    if (!def || !nic.hwaddr) continue;
    const subnet = subnetOf(def);
    const key = `${container}.${nic.index}`;
    const inSubnet = nic.ipv4.find((a) => parseCidr(a).network === subnet.network);
    let ipv4 = inSubnet?.split("/")[0];
    if (nic.ipv4.length === 0) {
      ipv4 = chooseAddress(networkRunPaths(ctx, def.name), def, key, nic.hwaddr);
      assigned.set(nic.index, {
        ipv4: `${ipv4}/${subnet.prefix}`,
        gateway: intToIp(subnet.address),
        domain: def.domain,
        network: def.name,
      });
    }
    registerHost(ctx, def, {
      key,
      hwaddr: nic.hwaddr,
      hostname: container,
      ...(ipv4 ? { ipv4 } : {}),
    });
  }
  return assigned;
}

/**
 * The NICs with the addresses their managed networks assigned: each such
 * NIC gets its address and, unless its config names a gateway, a default
 * route through the network's gateway. Pure.
 */
export function withAssigned(
  nics: readonly NicPlan[],
  assigned: ReadonlyMap<number, AssignedAddress>,
): NicPlan[] {
  return nics.map((n) => {
    const a = assigned.get(n.index);
    if (!a) return n;
    return { ...n, ipv4: [a.ipv4], ...(n.gateway4 ? {} : { gateway4: a.gateway }) };
  });
}

/**
 * The error for a monitor's failed `net` record (`error net OP NAME ERRNO`),
 * naming the NIC's key: a link that does not exist or is not a bridge, a
 * host-side name already taken. Undefined for other failures.
 */
export function netFailure(f: HelperFailure, nics: readonly NicPlan[]): LxtError | undefined {
  if (f.stage !== "net") return undefined;
  const byLink = nics.find((n) => n.link === f.path);
  if (f.op === "no-link" && byLink) {
    const hint = byLink.type === "veth" ? " (create it with `lxt network create`)" : "";
    return new LxtError(
      "config",
      `lxc.net.${byLink.index}.link: ${f.path} does not exist${hint}`,
      f,
    );
  }
  if (f.op === "vlan-filtering" && byLink) {
    // LXC's setup_veth_native_bridge_vlan refuses the same way.
    const where = `lxc.net.${byLink.index}.veth.vlan.id`;
    if (f.errno === EOPNOTSUPP) {
      const why = "the kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)";
      return new LxtError("host", `${where}: ${why}`, f);
    }
    return new LxtError("config", `${where}: vlan_filtering is not enabled on "${f.path}"`, f);
  }
  const kind = KERNEL_KINDS[f.op];
  if (kind && f.errno === EOPNOTSUPP) {
    // rtnetlink's answer for a link kind the kernel has no driver for.
    const nic = nics.find((n) => n.type === f.op && n.name === f.path);
    return new LxtError(
      "host",
      `lxc.net.${nic?.index ?? "?"}.type = ${f.op}: the kernel has no ${kind}`,
      f,
    );
  }
  if (f.op === "not-bridge" && byLink) {
    return new LxtError("config", `lxc.net.${byLink.index}.link: ${f.path} is not a bridge`, f);
  }
  const veth = nics.find((n) => n.type === "veth" && n.hostName === f.path);
  if (f.op === "veth" && veth && f.errno === EEXIST) {
    return new LxtError(
      "exists",
      `lxc.net.${veth.index}.veth.pair: a link named ${f.path} already exists`,
      f,
    );
  }
  // Else the NIC the record names by device, link or address.
  const nic =
    veth ??
    nics.find(
      (n) =>
        n.name === f.path ||
        n.link === f.path ||
        n.ipv4.includes(f.path) ||
        n.ipv6.includes(f.path),
    );
  return new LxtError(
    "start",
    `${nic ? `lxc.net.${nic.index}` : "network"}: ${describeFailure(f)}`,
    f,
  );
}

/** Removes host-side devices a killed monitor left (normally they go with the container's network namespace). */
export async function removeHostEnds(
  names: readonly string[],
  runner: CommandRunner,
): Promise<void> {
  const links = names.length > 0 ? await listLinks(runner) : [];
  for (const n of names) {
    if (kindIn(links, n) !== "missing") await runner.run("ip", ["link", "del", n]).catch(() => {});
  }
}

/**
 * Runs the stop-hooks a killed monitor did not run (phys devices back out of
 * the pinned namespace, `script.down`), with process `self` (this one)
 * standing in for the monitor. Best effort, as the monitor runs them.
 */
export async function runStopHooks(
  hooks: readonly (readonly string[])[],
  runner: CommandRunner,
  self: number,
): Promise<void> {
  for (const h of hooks) {
    const [cmd, ...args] = h.map((f) => (f === "{monitor}" ? String(self) : f));
    if (cmd) await runner.run(cmd, args).catch(() => {});
  }
}
