/**
 * The `lxc.net.[i].*` sub-keys of lxc.container.conf(5) NETWORK, with their
 * value checks (the NICs they make: src/network/nic-resolve.ts).
 */

import { isIPv4, isIPv6 } from "node:net";
import { parseBool01, parseIfName, parseInteger, ValueError } from "./values.js";

/** Network types LXC knows. */
export const NET_TYPES = ["empty", "none", "veth", "vlan", "macvlan", "ipvlan", "phys"] as const;
export type NetType = (typeof NET_TYPES)[number];

/** One `lxc.net.[i].<sub>` key. */
export interface NetKeySpec {
  sub: string;
  summary: string;
  /** Repeatable (e.g. several addresses). */
  list: boolean;
  /** Only valid after `lxc.net.[i].type` is set to this (as LXC checks). */
  requiresType?: NetType;
  /** Throws ValueError for a malformed (non-empty) value. */
  check(value: string): void;
}

function oneOf(value: string, allowed: readonly string[]): void {
  if (!allowed.includes(value)) {
    throw new ValueError(`invalid value "${value}": expected one of ${allowed.join(", ")}`);
  }
}

function checkAddress(value: string, v6: boolean): void {
  const fam = v6 ? "ipv6" : "ipv4";
  const [cidr = "", bcast, ...rest] = value.split(/\s+/);
  const [addr = "", prefix, ...more] = cidr.split("/");
  const okAddr = v6 ? isIPv6(addr) : isIPv4(addr);
  const max = v6 ? 128 : 32;
  const okPrefix = prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= max);
  const okBcast = bcast === undefined || (!v6 && isIPv4(bcast));
  if (!okAddr || !okPrefix || !okBcast || rest.length > 0 || more.length > 0) {
    const example = v6 ? "2001:db8::1/64" : "192.168.1.123/24 [broadcast]";
    throw new ValueError(`invalid value "${value}": expected an ${fam} address such as ${example}`);
  }
}

function checkGateway(value: string, v6: boolean): void {
  if (value === "auto" || value === "dev") return;
  if (!(v6 ? isIPv6(value) : isIPv4(value))) {
    throw new ValueError(
      `invalid value "${value}": expected auto, dev or an ${v6 ? "ipv6" : "ipv4"} address`,
    );
  }
}

function checkRoute(value: string, v6: boolean): void {
  const [addr = "", prefix, ...more] = value.split("/");
  const max = v6 ? 128 : 32;
  if (
    !(v6 ? isIPv6(addr) : isIPv4(addr)) ||
    prefix === undefined ||
    !/^\d+$/.test(prefix) ||
    Number(prefix) > max ||
    more.length
  ) {
    throw new ValueError(
      `invalid value "${value}": expected a route such as ${v6 ? "2001:db8::/64" : "192.168.1.0/24"}`,
    );
  }
}

/** A VLAN id; a bridge port's (veth.vlan.*) is 1-4094, a vlan device's may be 0 (priority tags). */
function checkVlanId(value: string, allowNone: boolean, min = 1): void {
  if (allowNone && value === "none") return;
  parseInteger(value, min, 4094);
}

const key = (
  sub: string,
  summary: string,
  check: (v: string) => void,
  opts: { list?: boolean; requiresType?: NetType } = {},
): NetKeySpec => ({
  sub,
  summary,
  list: opts.list ?? false,
  check,
  ...(opts.requiresType ? { requiresType: opts.requiresType } : {}),
});

/** All `lxc.net.[i].<sub>` keys, by sub-key. */
export const NET_KEYS: ReadonlyMap<string, NetKeySpec> = new Map(
  [
    key(
      "type",
      "network type: empty (loopback only), none, veth, vlan, macvlan, ipvlan, phys",
      (v) => oneOf(v, NET_TYPES),
    ),
    key("flags", "interface flags; `up` brings the interface up", (v) => oneOf(v, ["up"])),
    key("link", "host interface (bridge for veth, parent for vlan/macvlan/ipvlan/phys)", (v) => {
      parseIfName(v.endsWith("+") ? v.slice(0, -1) || "x" : v);
    }),
    key(
      "l2proxy",
      "add layer-2 proxy entries on the link for the container's addresses",
      (v) => void parseBool01(v),
    ),
    key("mtu", "interface MTU", (v) => void parseInteger(v, 68, 65535)),
    key("name", "interface name inside the container", (v) => void parseIfName(v)),
    key("hwaddr", "MAC address; x digits are randomised", (v) => {
      if (!/^([0-9a-fA-FxX]{2}:){5}[0-9a-fA-FxX]{2}$/.test(v)) {
        throw new ValueError(
          `invalid value "${v}": expected a MAC address such as 4a:49:43:49:79:xx`,
        );
      }
    }),
    key("ipv4.address", "IPv4 address/prefix [broadcast]", (v) => checkAddress(v, false), {
      list: true,
    }),
    key("ipv4.gateway", "IPv4 gateway: address, auto or dev", (v) => checkGateway(v, false)),
    key("ipv6.address", "IPv6 address/prefix", (v) => checkAddress(v, true), { list: true }),
    key("ipv6.gateway", "IPv6 gateway: address, auto or dev", (v) => checkGateway(v, true)),
    key("script.up", "host-side script run after the interface is set up", () => {}),
    key("script.down", "host-side script run before the interface is destroyed", () => {}),
    key("veth.mode", "veth mode: bridge or router", (v) => oneOf(v, ["bridge", "router"]), {
      requiresType: "veth",
    }),
    key("veth.pair", "host-side veth name", (v) => void parseIfName(v), { requiresType: "veth" }),
    key("veth.ipv4.route", "host route to the container (IPv4)", (v) => checkRoute(v, false), {
      list: true,
      requiresType: "veth",
    }),
    key("veth.ipv6.route", "host route to the container (IPv6)", (v) => checkRoute(v, true), {
      list: true,
      requiresType: "veth",
    }),
    key("veth.vlan.id", "untagged VLAN on the bridge port, or none", (v) => checkVlanId(v, true), {
      requiresType: "veth",
    }),
    key("veth.vlan.tagged.id", "tagged VLAN on the bridge port", (v) => checkVlanId(v, false), {
      list: true,
      requiresType: "veth",
    }),
    key(
      "veth.n_rxqueues",
      "number of veth RX queues (LXC 6)",
      (v) => void parseInteger(v, 1, 1024),
      { requiresType: "veth" },
    ),
    key(
      "veth.n_txqueues",
      "number of veth TX queues (LXC 6)",
      (v) => void parseInteger(v, 1, 1024),
      { requiresType: "veth" },
    ),
    key("vlan.id", "VLAN id", (v) => checkVlanId(v, false, 0), { requiresType: "vlan" }),
    key(
      "macvlan.mode",
      "macvlan mode",
      (v) => oneOf(v, ["private", "vepa", "bridge", "passthru"]),
      { requiresType: "macvlan" },
    ),
    key("ipvlan.mode", "ipvlan mode", (v) => oneOf(v, ["l3", "l3s", "l2"]), {
      requiresType: "ipvlan",
    }),
    key("ipvlan.isolation", "ipvlan isolation", (v) => oneOf(v, ["bridge", "private", "vepa"]), {
      requiresType: "ipvlan",
    }),
  ].map((k) => [k.sub, k]),
);

/** A parsed `lxc.net.<index>.<sub>` key. */
export interface NetKeyRef {
  index: number;
  sub: string;
  spec: NetKeySpec;
}

/**
 * Splits `lxc.net.<index>.<sub>`; throws ValueError for a bad index or an
 * unknown sub-key. Returns undefined for keys outside `lxc.net.`.
 */
export function parseNetKey(fullKey: string): NetKeyRef | undefined {
  if (!fullKey.startsWith("lxc.net.")) return undefined;
  const rest = fullKey.slice("lxc.net.".length);
  const dot = rest.indexOf(".");
  const idx = dot < 0 ? rest : rest.slice(0, dot);
  if (!/^\d{1,4}$/.test(idx)) {
    throw new ValueError(
      `bad network index "${idx}" in ${fullKey}: expected a number from 0 to 9999 (lxc.net.0.type)`,
    );
  }
  const sub = dot < 0 ? "" : rest.slice(dot + 1);
  if (sub === "")
    throw new ValueError(`${fullKey}: missing sub-key (such as lxc.net.${Number(idx)}.type)`);
  const spec = NET_KEYS.get(sub);
  if (!spec) throw new ValueError(`unknown key ${fullKey}`);
  return { index: Number(idx), sub, spec };
}
