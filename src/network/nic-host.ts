/**
 * The host side of a container's NICs: checking the links they name,
 * creating veth pairs and macvlans before the monitor spawns (each undone by
 * the start's Reverter), and the repair of what a killed monitor left.
 */
import { LxtError } from "../core/errors.js";
import { Reverter } from "../core/reverter.js";
import type { CommandRunner } from "../storage/runner.js";
import { intToIp, parseCidr } from "./ipv4.js";
import { ensureNetwork, type HostLink, kindIn, listLinks, registerHost } from "./manage.js";
import type { NicPlan } from "./nic-resolve.js";
import { type NetworkDef, subnetOf } from "./render.js";

/** What a start learns about the host before writing the plan. */
export interface PreparedNics {
  /** Managed networks by NIC index. */
  managed: Map<number, NetworkDef>;
  /** `auto` gateways: the link's primary addresses, by NIC index. */
  autoGateways: Map<number, { ipv4?: string; ipv6?: string }>;
  /** MTU and MAC of each phys link, by NIC index. */
  physOriginal: Map<number, { mtu: number; address: string }>;
  /** The host's links after the managed networks were brought up (one listing per start). */
  links: HostLink[];
}

function primary(link: HostLink | undefined, family: "inet" | "inet6"): string | undefined {
  return link?.addr_info?.find((a) => a.family === family && a.scope === "global")?.local;
}

/**
 * Brings up the managed networks the NICs name (the default one is created
 * on first use; networks outlive a failed start), checks every link, reads
 * what `auto` gateways and phys restores need.
 */
export async function prepareNics(
  lxcpath: string,
  nics: readonly NicPlan[],
  runner: CommandRunner,
): Promise<PreparedNics> {
  const out: PreparedNics = {
    managed: new Map(),
    autoGateways: new Map(),
    physOriginal: new Map(),
    links: nics.length > 0 ? await listLinks(runner) : [],
  };
  for (const nic of nics) {
    if (!nic.link) continue;
    const where = `lxc.net.${nic.index}.link`;
    const def =
      nic.type === "veth"
        ? await ensureNetwork(lxcpath, nic.link, runner, new Reverter(), out.links)
        : undefined;
    // A network brought up just now: its bridge is not in the listing yet.
    if (def && kindIn(out.links, nic.link) === "missing") out.links = await listLinks(runner);
    const kind = kindIn(out.links, nic.link);
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
    if (def) out.managed.set(nic.index, def);
    const link = out.links.find((l) => l.ifname === nic.link);
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
 * Creates each veth pair (host end up, on its bridge unless routed;
 * container end with its MAC) and macvlan (on its parent, with its MAC),
 * each waiting for the monitor's hook, and registers the container with its
 * managed network's dnsmasq. Each removal goes on `revert`.
 */
export async function createDevices(
  lxcpath: string,
  container: string,
  nics: readonly NicPlan[],
  managed: ReadonlyMap<number, NetworkDef>,
  links: readonly HostLink[],
  runner: CommandRunner,
  revert: Reverter,
): Promise<void> {
  for (const nic of nics) {
    if (nic.type === "phys") continue;
    const own = nic.type === "veth" ? nic.hostName : nic.peerName;
    // `links` is the start's own listing, taken under the container's lock.
    if (kindIn(links, own) !== "missing") {
      throw new LxtError(
        "exists",
        `lxc.net.${nic.index}.${nic.type === "veth" ? "veth.pair" : "name"}: a link named ${own} already exists`,
      );
    }
    const mtu = nic.mtu ? ["mtu", String(nic.mtu)] : [];
    const mac = nic.hwaddr ? ["address", nic.hwaddr] : [];
    if (nic.type === "veth") {
      const master = nic.link ? ["master", nic.link] : [];
      await runner.run("ip", [
        ...["link", "add", "name", nic.hostName, ...mtu, ...master, "up", "type", "veth"],
        ...["peer", "name", nic.peerName, ...mtu, ...mac],
      ]);
    } else {
      await runner.run("ip", [
        ...["link", "add", "link", nic.link, "name", nic.peerName, ...mtu, ...mac],
        ...["type", "macvlan", "mode", nic.mode],
      ]);
    }
    revert.add(`${nic.type} ${own}`, () => removeHostEnds([own], runner));
    const def = managed.get(nic.index);
    if (def && nic.hwaddr) {
      const subnet = subnetOf(def);
      const inSubnet = nic.ipv4.find((a) => parseCidr(a).network === subnet.network);
      registerHost(lxcpath, def, {
        key: `${container}.${nic.index}`,
        hwaddr: nic.hwaddr,
        hostname: container,
        ...(inSubnet ? { ipv4: inSubnet.split("/")[0] } : {}),
      });
    }
  }
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
 * the pinned namespace, `script.down`), with this process standing in for
 * the monitor. Best effort, as the monitor runs them.
 */
export async function runStopHooks(
  hooks: readonly (readonly string[])[],
  runner: CommandRunner,
): Promise<void> {
  for (const h of hooks) {
    const [cmd, ...args] = h.map((f) => (f === "{monitor}" ? String(process.pid) : f));
    if (cmd) await runner.run(cmd, args).catch(() => {});
  }
}
