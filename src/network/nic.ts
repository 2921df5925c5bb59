/**
 * A container's veth NICs: resolved from `lxc.net.N.*` (pure), rendered as
 * plan records (`netdev` + `host-hook`s the monitor runs while the child
 * waits), and created on the host before the monitor spawns.
 */
import { existsSync } from "node:fs";
import type { NetConfig } from "../config/model.js";
import { LxtError } from "../core/errors.js";
import { Reverter } from "../core/reverter.js";
import type { CommandRunner } from "../storage/runner.js";
import { formatCidr, intToIp, parseCidr, stableHwaddr, templateHwaddr } from "./ipv4.js";
import { ensureNetwork, linkKind, registerHost } from "./manage.js";
import { type NetworkDef, subnetOf } from "./render.js";

/** One veth NIC, fully resolved. */
export interface NicPlan {
  index: number;
  /** Host-side end (`veth.pair`, or `lxtv` + random hex). */
  hostName: string;
  /** The container end's name while it is still on the host (`lxtp` + random hex). */
  peerName: string;
  /** Name inside the container (`name`, default `ethN`). */
  name: string;
  hwaddr: string;
  mtu?: number;
  /** Bridge the host end joins. */
  link?: string;
  up: boolean;
  /** `A.B.C.D/N` addresses inside the container. */
  ipv4: string[];
  /** `auto` (the managed network's gateway), `dev`, or an address. */
  gateway?: string;
}

const one = (n: NetConfig, k: string) => n.keys[k]?.[0];

/**
 * Random bytes from Web Crypto's global, which loads the crypto module only
 * when called: importing node:crypto would cost every start ~5 ms, NICs or not.
 */
function randomBuffer(n: number): Buffer {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(n)));
}

/**
 * Resolves the veth NICs of a config. `random` yields bytes for generated
 * names and `xx` MAC digits (injectable for tests).
 */
export function resolveNics(
  container: string,
  nets: readonly NetConfig[],
  random: (n: number) => Buffer = randomBuffer,
): NicPlan[] {
  return nets
    .filter((n) => n.type === "veth")
    .map((n) => {
      const tag = random(4).toString("hex");
      const hw = one(n, "hwaddr");
      const nibbles = random(12);
      let i = 0;
      const mtu = one(n, "mtu");
      return {
        index: n.index,
        hostName: one(n, "veth.pair") ?? `lxtv${tag}`,
        peerName: `lxtp${tag}`,
        name: one(n, "name") ?? `eth${n.index}`,
        hwaddr: hw
          ? templateHwaddr(hw, () => (nibbles[i++ % 12] ?? 0) % 16)
          : stableHwaddr(`${container}/${n.index}`),
        ...(mtu ? { mtu: Number(mtu) } : {}),
        ...(one(n, "link") ? { link: one(n, "link") } : {}),
        up: n.up,
        ipv4: (n.keys["ipv4.address"] ?? []).map((a) =>
          formatCidr(parseCidr(a.split(/\s+/)[0] ?? "", 24)),
        ),
        ...(one(n, "ipv4.gateway") ? { gateway: one(n, "ipv4.gateway") } : {}),
      };
    });
}

/** Absolute path of a host tool (the monitor execs hooks without a PATH search). */
export function hostTool(name: string): string {
  for (const d of ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]) {
    if (existsSync(`${d}/${name}`)) return `${d}/${name}`;
  }
  throw new LxtError("host", `${name}: not installed (needed for networking)`);
}

/**
 * The monitor's records for these NICs: `netdev HOST` (for repair after a
 * killed monitor) and the hooks that move each container end into the
 * child's network namespace and configure it there, before the init runs.
 * `gateways` maps a NIC index to its managed network's gateway (for `auto`).
 */
export function nicHooks(
  nics: readonly NicPlan[],
  tools: { ip: string; nsenter: string },
  gateways: ReadonlyMap<number, string> = new Map(),
): { netdevs: string[]; hooks: string[][] } {
  const inNs = (...args: string[]) => [tools.nsenter, "-t", "{pid}", "-n", tools.ip, ...args];
  const hooks: string[][] = [];
  if (nics.length > 0) hooks.push(inNs("link", "set", "dev", "lo", "up"));
  for (const nic of nics) {
    hooks.push([tools.ip, "link", "set", "dev", nic.peerName, "netns", "{pid}"]);
    const set = ["link", "set", "dev", nic.peerName, "name", nic.name];
    if (nic.up) set.push("up");
    hooks.push(inNs(...set));
    for (const a of nic.ipv4) hooks.push(inNs("addr", "add", a, "broadcast", "+", "dev", nic.name));
    const gw = nic.gateway === "auto" ? gateways.get(nic.index) : nic.gateway;
    if (nic.gateway === "auto" && !gw) {
      throw new LxtError(
        "config",
        `lxc.net.${nic.index}.ipv4.gateway = auto needs lxc.net.${nic.index}.link to be a managed network`,
      );
    }
    if (gw === "dev") hooks.push(inNs("route", "add", "default", "dev", nic.name));
    else if (gw) hooks.push(inNs("route", "add", "default", "via", gw, "dev", nic.name));
  }
  return { netdevs: nics.map((n) => n.hostName), hooks };
}

/**
 * Brings up the managed networks the NICs name (the default one is created
 * on first use; networks outlive a failed start) and checks every other
 * link is an existing bridge. Returns the managed networks by NIC index.
 */
export async function prepareNetworks(
  lxcpath: string,
  nics: readonly NicPlan[],
  runner: CommandRunner,
): Promise<Map<number, NetworkDef>> {
  const managed = new Map<number, NetworkDef>();
  for (const nic of nics) {
    if (!nic.link) continue;
    const def = await ensureNetwork(lxcpath, nic.link, runner, new Reverter());
    const kind = await linkKind(nic.link, runner);
    if (kind !== "bridge") {
      throw new LxtError(
        "config",
        `lxc.net.${nic.index}.link: ${nic.link} ${kind === "missing" ? "does not exist (create it with `lxt network create`)" : "is not a bridge"}`,
      );
    }
    if (def) managed.set(nic.index, def);
  }
  return managed;
}

/** Gateways of the managed networks, by NIC index (for `ipv4.gateway = auto`). */
export function managedGateways(managed: ReadonlyMap<number, NetworkDef>): Map<number, string> {
  return new Map([...managed].map(([i, d]) => [i, intToIp(subnetOf(d).address)]));
}

/**
 * Creates each NIC's veth pair (host end up on its bridge, container end
 * with its MAC, waiting for the monitor's hook) and registers the container
 * with its managed network's dnsmasq. Each pair's removal goes on `revert`.
 */
export async function createVeths(
  lxcpath: string,
  container: string,
  nics: readonly NicPlan[],
  managed: ReadonlyMap<number, NetworkDef>,
  runner: CommandRunner,
  revert: Reverter,
): Promise<void> {
  for (const nic of nics) {
    if ((await linkKind(nic.hostName, runner)) !== "missing") {
      throw new LxtError(
        "exists",
        `lxc.net.${nic.index}.veth.pair: a link named ${nic.hostName} already exists`,
      );
    }
    const mtu = nic.mtu ? ["mtu", String(nic.mtu)] : [];
    const master = nic.link ? ["master", nic.link] : [];
    await runner.run("ip", [
      ...["link", "add", "name", nic.hostName, ...mtu, ...master, "up", "type", "veth"],
      ...["peer", "name", nic.peerName, ...mtu, "address", nic.hwaddr],
    ]);
    revert.add(`veth ${nic.hostName}`, () =>
      runner.run("ip", ["link", "del", nic.hostName]).then(() => {}),
    );
    const def = managed.get(nic.index);
    if (def) {
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

/** Removes host ends a killed monitor left (normally they go with the container's network namespace). */
export async function removeHostEnds(
  names: readonly string[],
  runner: CommandRunner,
): Promise<void> {
  for (const n of names) {
    if ((await linkKind(n, runner)) !== "missing")
      await runner.run("ip", ["link", "del", n]).catch(() => {});
  }
}
