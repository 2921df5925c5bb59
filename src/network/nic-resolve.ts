/**
 * A container's NICs resolved from `lxc.net.N.*` (pure): one `NicPlan` per
 * `veth`, `macvlan`, `vlan`, `ipvlan` or `phys` network, with LXC's
 * defaults, and the checks that need more than one key (a link for
 * macvlan/vlan/ipvlan/phys, `none` alone, LXC's veth VLAN and l2proxy rules).
 */
import type { NetConfig } from "../config/model.js";
import { kernelRandom } from "../host/random.js";
import { formatCidr, parseCidr, stableHwaddr, templateHwaddr } from "./ipv4.js";

/** What every NIC type shares. */
interface NicCommon {
  index: number;
  /** Name inside the container (`name`, default `ethN`). */
  name: string;
  /** The device's name on the host before it is moved in (veth/macvlan: `lxtp` + hex; phys: `link`). */
  peerName: string;
  /** Undefined: keep the device's own MAC (phys, vlan, ipvlan without `hwaddr`). */
  hwaddr?: string;
  mtu?: number;
  /** Bridge (veth), parent (macvlan) or the host device itself (phys). */
  link?: string;
  up: boolean;
  /** `A.B.C.D/N` addresses inside the container. */
  ipv4: string[];
  /** `X::Y/N` addresses inside the container. */
  ipv6: string[];
  /** `auto` (the link's primary address), `dev`, or an address. */
  gateway4?: string;
  gateway6?: string;
  scriptUp?: string;
  scriptDown?: string;
  /** `l2proxy = 1`: proxy ARP/NDP entries on `link` for the container's addresses. */
  l2proxy: boolean;
}

export interface VethNic extends NicCommon {
  type: "veth";
  /** Host-side end (`veth.pair`, or `lxtv` + random hex). */
  hostName: string;
  mode: "bridge" | "router";
  /** `veth.ipv4.route` / `veth.ipv6.route`: host routes through the host end. */
  routes4: string[];
  routes6: string[];
  /** `veth.vlan.id`: the port's untagged VLAN on the bridge (0: `none`). */
  vlanId?: number;
  /** `veth.vlan.tagged.id`: tagged VLANs on the bridge port. */
  vlanTagged: number[];
  /** `veth.n_rxqueues` / `veth.n_txqueues` of the container's end (0: the kernel's default). */
  rxQueues: number;
  txQueues: number;
}

export interface MacvlanNic extends NicCommon {
  type: "macvlan";
  link: string;
  mode: "private" | "vepa" | "bridge" | "passthru";
}

export interface VlanNic extends NicCommon {
  type: "vlan";
  link: string;
  /** `vlan.id`: the 802.1Q id. */
  vlanId: number;
}

export interface IpvlanNic extends NicCommon {
  type: "ipvlan";
  link: string;
  /** `ipvlan.mode`, default l3 (LXC's). */
  mode: "l2" | "l3" | "l3s";
  /** `ipvlan.isolation`, default bridge. */
  isolation: "bridge" | "private" | "vepa";
}

export interface PhysNic extends NicCommon {
  type: "phys";
  link: string;
  /** Name the device has while it travels back out (`lxtq` + hex). */
  returnName: string;
}

/** One NIC, fully resolved. */
export type NicPlan = VethNic | MacvlanNic | VlanNic | IpvlanNic | PhysNic;

/** Network types that put a device of their own into the container. */
const DEVICE_TYPES = new Set(["veth", "macvlan", "vlan", "ipvlan", "phys"]);

/** Types whose device keeps its own (or its parent's) MAC without `hwaddr`, as in LXC. */
const KEEPS_MAC = new Set(["phys", "vlan", "ipvlan"]);

const one = (n: NetConfig, k: string) => n.keys[k]?.[0];

/** Normalises `X::Y[/N]` to `X::Y/N` (prefix default /64, as LXC). */
export function ipv6Cidr(text: string): string {
  const [addr = "", prefix] = text.trim().split("/");
  return `${addr.toLowerCase()}/${prefix ?? "64"}`;
}

/** True when the config shares the starting process's network namespace (`type = none`). */
export function sharesHostNet(nets: readonly NetConfig[]): boolean {
  return nets.some((n) => n.type === "none");
}

/**
 * Resolves the device NICs of a config; throws Error naming the key for a
 * combination no single key check can see. `random` yields bytes for
 * generated names and `xx` MAC digits (injectable for tests).
 */
export function resolveNics(
  container: string,
  nets: readonly NetConfig[],
  random: (n: number) => Buffer = kernelRandom,
): NicPlan[] {
  const none = nets.find((n) => n.type === "none");
  if (none && nets.length > 1) {
    throw new Error(
      `lxc.net.${none.index}.type = none shares the host's network namespace and cannot be combined with other networks`,
    );
  }
  const names = new Map<string, number>();
  const links = new Map<string, number>();
  return nets
    .filter((n) => DEVICE_TYPES.has(n.type))
    .map((n) => {
      const where = `lxc.net.${n.index}`;
      const tag = random(4).toString("hex");
      const hw = one(n, "hwaddr");
      const nibbles = random(12);
      let i = 0;
      const mtu = one(n, "mtu");
      const link = one(n, "link");
      const name = one(n, "name") ?? `eth${n.index}`;
      const prev = names.get(name);
      if (prev !== undefined) {
        throw new Error(`${where}.name: ${name} is also the name of lxc.net.${prev}`);
      }
      names.set(name, n.index);
      const common: NicCommon = {
        index: n.index,
        name,
        peerName: `lxtp${tag}`,
        ...(hw
          ? { hwaddr: templateHwaddr(hw, () => (nibbles[i++ % 12] ?? 0) % 16) }
          : KEEPS_MAC.has(n.type)
            ? {}
            : { hwaddr: stableHwaddr(`${container}/${n.index}`) }),
        ...(mtu ? { mtu: Number(mtu) } : {}),
        ...(link ? { link } : {}),
        up: n.up,
        ipv4: (n.keys["ipv4.address"] ?? []).map((a) =>
          formatCidr(parseCidr(a.split(/\s+/)[0] ?? "", 24)),
        ),
        ipv6: (n.keys["ipv6.address"] ?? []).map(ipv6Cidr),
        ...(one(n, "ipv4.gateway") ? { gateway4: one(n, "ipv4.gateway") } : {}),
        ...(one(n, "ipv6.gateway") ? { gateway6: one(n, "ipv6.gateway") } : {}),
        ...(one(n, "script.up") ? { scriptUp: one(n, "script.up") } : {}),
        ...(one(n, "script.down") ? { scriptDown: one(n, "script.down") } : {}),
        l2proxy: one(n, "l2proxy") === "1",
      };
      for (const s of ["up", "down"] as const) {
        const script = one(n, `script.${s}`);
        if (script && !script.startsWith("/")) {
          throw new Error(`${where}.script.${s}: ${script} is not an absolute path`);
        }
      }
      if (n.type === "veth") {
        const mode = one(n, "veth.mode") === "router" ? "router" : "bridge";
        if (mode === "router" && link) {
          throw new Error(
            `${where}.link: a veth in router mode is not attached to a bridge (remove link or set veth.mode = bridge)`,
          );
        }
        return {
          ...common,
          type: "veth",
          hostName: one(n, "veth.pair") ?? `lxtv${tag}`,
          mode,
          routes4: n.keys["veth.ipv4.route"] ?? [],
          routes6: n.keys["veth.ipv6.route"] ?? [],
          ...vethVlans(n, mode, link),
          rxQueues: Number(one(n, "veth.n_rxqueues") ?? 0),
          txQueues: Number(one(n, "veth.n_txqueues") ?? 0),
        };
      }
      if (!link) throw new Error(`${where}.link: a ${n.type} network needs its host device`);
      const prevLink = links.get(link);
      if (n.type === "phys" && prevLink !== undefined) {
        throw new Error(`${where}.link: ${link} is already moved in by lxc.net.${prevLink}`);
      }
      links.set(link, n.index);
      if (n.type === "macvlan") {
        const m = one(n, "macvlan.mode");
        const mode = m === "bridge" || m === "vepa" || m === "passthru" ? m : "private";
        return { ...common, type: "macvlan", link, mode };
      }
      if (n.type === "vlan") {
        const id = one(n, "vlan.id");
        if (id === undefined) throw new Error(`${where}.vlan.id: a vlan network needs its VLAN id`);
        return { ...common, type: "vlan", link, vlanId: Number(id) };
      }
      if (n.type === "ipvlan") {
        const m = one(n, "ipvlan.mode");
        const i = one(n, "ipvlan.isolation");
        const mode = m === "l2" || m === "l3s" ? m : "l3";
        const isolation = i === "private" || i === "vepa" ? i : "bridge";
        // An ipvlan shares its parent's MAC; the kernel refuses another (as LXC, which sets none).
        if (hw) throw new Error(`${where}.hwaddr: an ipvlan has its parent's MAC address`);
        if (common.l2proxy && mode !== "l3s") {
          // LXC's lxc_setup_l2proxy: other modes do not answer for the proxied addresses.
          throw new Error(
            `${where}.l2proxy: requires ipvlan mode on dev "${link}" be l3s when used with l2proxy`,
          );
        }
        return { ...common, type: "ipvlan", link, mode, isolation };
      }
      return { ...common, type: "phys", link, peerName: link, returnName: `lxtq${tag}` };
    });
}

/**
 * `veth.vlan.id` / `veth.vlan.tagged.id`, with LXC's checks (validate_veth):
 * only on a bridge port, and the untagged id not also tagged.
 */
function vethVlans(
  n: NetConfig,
  mode: "bridge" | "router",
  link: string | undefined,
): { vlanId?: number; vlanTagged: number[] } {
  const where = `lxc.net.${n.index}`;
  const id = one(n, "veth.vlan.id");
  const tagged = (n.keys["veth.vlan.tagged.id"] ?? []).map(Number);
  if ((id !== undefined || tagged.length > 0) && (mode !== "bridge" || !link)) {
    const sub = id !== undefined ? "veth.vlan.id" : "veth.vlan.tagged.id";
    throw new Error(
      `${where}.${sub}: cannot use veth vlan.id when not in bridge mode or no bridge link specified`,
    );
  }
  const vlanId = id === undefined ? undefined : id === "none" ? 0 : Number(id);
  if (vlanId !== undefined && vlanId > 0 && tagged.includes(vlanId)) {
    throw new Error(
      `${where}.veth.vlan.tagged.id: cannot use same veth vlan.id "${vlanId}" in vlan.tagged.id`,
    );
  }
  return { ...(vlanId === undefined ? {} : { vlanId }), vlanTagged: [...new Set(tagged)] };
}

/** What `info` and `ls --format json` show of a NIC besides its live addresses. */
export interface NicSummary {
  index: number;
  type: NicPlan["type"];
  name: string;
  link: string | null;
  hwaddr: string | null;
  /** Host end of a veth. */
  hostName: string | null;
  /** veth: bridge or router; macvlan, ipvlan: its mode; vlan: its id. */
  mode: string | null;
}

/** The summaries of resolved NICs (written to the runtime directory at start). */
export function summarizeNics(nics: readonly NicPlan[]): NicSummary[] {
  return nics.map((n) => ({
    index: n.index,
    type: n.type,
    name: n.name,
    link: n.link ?? null,
    hwaddr: n.hwaddr ?? null,
    hostName: n.type === "veth" ? n.hostName : null,
    mode: n.type === "phys" ? null : n.type === "vlan" ? String(n.vlanId) : n.mode,
  }));
}
