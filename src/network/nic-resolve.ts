/**
 * A container's NICs resolved from `lxc.net.N.*` (pure): one `NicPlan` per
 * `veth`, `macvlan` or `phys` network, with LXC's defaults, and the checks
 * that need more than one key (a link for macvlan/phys, `none` alone).
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
  /** Undefined: keep the device's own MAC (phys without `hwaddr`). */
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
}

export interface VethNic extends NicCommon {
  type: "veth";
  /** Host-side end (`veth.pair`, or `lxtv` + random hex). */
  hostName: string;
  mode: "bridge" | "router";
  /** `veth.ipv4.route` / `veth.ipv6.route`: host routes through the host end. */
  routes4: string[];
  routes6: string[];
}

export interface MacvlanNic extends NicCommon {
  type: "macvlan";
  link: string;
  mode: "private" | "vepa" | "bridge" | "passthru";
}

export interface PhysNic extends NicCommon {
  type: "phys";
  link: string;
  /** Name the device has while it travels back out (`lxtq` + hex). */
  returnName: string;
}

/** One NIC, fully resolved. */
export type NicPlan = VethNic | MacvlanNic | PhysNic;

/** Network types that put a device of their own into the container. */
const DEVICE_TYPES = new Set(["veth", "macvlan", "phys"]);

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
          : n.type === "phys"
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
      return { ...common, type: "phys", link, peerName: link, returnName: `lxtq${tag}` };
    });
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
  /** veth: bridge or router; macvlan: its mode. */
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
    mode: n.type === "phys" ? null : n.mode,
  }));
}
