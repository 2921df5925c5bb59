/**
 * The monitor's records for a container's NICs (pure): `netdev` names for
 * repair, `net` records the monitor carries out by rtnetlink after clone
 * while the child waits (make or move each device in, configure it, host
 * routes), `host-hook`s after them (`script.up`), and `stop-hook`s run once
 * the init has ended (`script.down`, phys devices back out).
 */
import type { NetStep } from "../host/helper-protocol.js";
import type { NicPlan } from "./nic-resolve.js";

/** Absolute paths of the host tools the hooks run (no PATH search in the monitor). */
export interface NicTools {
  ip: string;
  nsenter: string;
  umount: string;
  sysctl: string;
  env: string;
  sh: string;
}

/** What hook generation needs besides the NICs. */
export interface NicHookContext {
  container: string;
  configFile: string;
  rootfs: string;
  /** Runtime-dir file the container's network namespace is bind-mounted on (phys only). */
  netnsPin: string;
  /** Gateways resolved from `auto`, by NIC index. */
  autoGateways: ReadonlyMap<number, { ipv4?: string; ipv6?: string }>;
  /** The original MTU and MAC of each phys link, by NIC index (restored on the way out). */
  physOriginal: ReadonlyMap<number, { mtu: number; address: string }>;
  /** `lxc.hook.version`: 1 passes a script's arguments only in its LXC_* variables (default 0). */
  hookVersion?: 0 | 1;
}

export interface NicRecords {
  /** Host-side interfaces (veth host ends), for the repair of a killed monitor. */
  netdevs: string[];
  /** `net` records (verb first), run by the monitor by rtnetlink before the hooks. */
  nets: NetStep[];
  hooks: string[][];
  stopHooks: string[][];
}

/** LXC's script arguments after `NAME net up|down`: the type and the host-side names. */
function scriptArgs(nic: NicPlan): string[] {
  if (nic.type === "veth") return ["veth", nic.link ?? "", nic.hostName];
  return [nic.type, nic.link];
}

/** LXC's hook environment for a NIC script. */
function scriptEnv(nic: NicPlan, ctx: NicHookContext, hook: "up" | "down"): string[] {
  return [
    `LXC_NAME=${ctx.container}`,
    `LXC_CONFIG_FILE=${ctx.configFile}`,
    `LXC_ROOTFS_PATH=${ctx.rootfs}`,
    `LXC_ROOTFS_MOUNT=${ctx.rootfs}`,
    `LXC_HOOK_VERSION=${ctx.hookVersion ?? 0}`,
    `LXC_HOOK_TYPE=${hook}`,
    "LXC_HOOK_SECTION=net",
    `LXC_NET_TYPE=${nic.type}`,
    ...(nic.link ? [`LXC_NET_PARENT=${nic.link}`] : []),
    ...(nic.type === "veth" ? [`LXC_NET_PEER=${nic.hostName}`] : []),
  ];
}

function scriptHook(nic: NicPlan, ctx: NicHookContext, t: NicTools, hook: "up" | "down") {
  const script = hook === "up" ? nic.scriptUp : nic.scriptDown;
  if (!script) return [];
  return [
    [
      t.env,
      "-i",
      "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
      ...scriptEnv(nic, ctx, hook),
      script,
      // Version 1: the variables above only (lxc.container.conf(5), lxc.net.[i].script.up).
      ...(ctx.hookVersion === 1 ? [] : [ctx.container, "net", hook, ...scriptArgs(nic)]),
    ],
  ];
}

/** Resolves a gateway value for one family; throws naming the key when `auto` has nothing. */
function gatewayOf(nic: NicPlan, ctx: NicHookContext, fam: 4 | 6): string | undefined {
  const value = fam === 4 ? nic.gateway4 : nic.gateway6;
  if (value !== "auto") return value;
  const auto = ctx.autoGateways.get(nic.index)?.[fam === 4 ? "ipv4" : "ipv6"];
  if (!auto) {
    throw new Error(
      `lxc.net.${nic.index}.ipv${fam}.gateway = auto: ${nic.link ? `${nic.link} has no global IPv${fam} address` : `lxc.net.${nic.index}.link is not set`}`,
    );
  }
  return auto;
}

/** A `net` record's MTU and MAC fields: `0` and `-` for none. */
const mtuField = (nic: NicPlan) => String(nic.mtu ?? 0);
const macField = (nic: NicPlan) => nic.hwaddr ?? "-";

/**
 * The records for these NICs. The monitor makes and configures them by
 * rtnetlink, no exec (`net` records, in this order): the namespace pin
 * (phys), then per NIC its device (a veth pair whose peer is made in the
 * container's namespace under its final name, a macvlan made there, or a
 * phys device moved in and renamed), `up`, addresses, gateways; then the
 * host-side routes and proxy entries of all NICs. `host-hook`s follow: the
 * proxy_ndp sysctl, then `script.up`s. A failing record fails the start.
 * Throws Error (naming the key) for a gateway `auto` that resolved to
 * nothing.
 */
export function nicRecords(nics: readonly NicPlan[], t: NicTools, ctx: NicHookContext): NicRecords {
  const hooks: string[][] = [];
  const stopHooks: string[][] = [];
  const netdevs: string[] = [];
  const nets: NetStep[] = [];
  const host: NetStep[] = [];
  const scripts: string[][] = [];
  const phys = nics.filter((n) => n.type === "phys");
  // Pins the namespace, so phys devices can still be taken back after the
  // init died (also when the monitor was killed: repairStale runs the
  // stop-hooks). Without it the kernel destroys virtual devices and sends
  // real ones to the initial namespace under whatever name is free.
  if (phys.length > 0) nets.push(["pin", ctx.netnsPin]);
  if (nics.length > 0) nets.push(["up", "lo"]);
  for (const nic of nics) {
    if (nic.type === "veth") {
      netdevs.push(nic.hostName);
      const master = nic.link ?? "-";
      const queues = [String(nic.rxQueues), String(nic.txQueues)];
      nets.push(["veth", nic.hostName, nic.name, mtuField(nic), macField(nic), master, ...queues]);
      if (nic.link && (nic.vlanId !== undefined || nic.vlanTagged.length > 0)) {
        const pvid =
          nic.vlanId === undefined ? "-" : nic.vlanId === 0 ? "none" : String(nic.vlanId);
        const tagged = nic.vlanTagged.length > 0 ? nic.vlanTagged.join(",") : "-";
        nets.push(["bridge-vlan", nic.hostName, nic.link, pvid, tagged]);
      }
      vethHostRecords(nic, ctx, host, hooks, t);
    } else if (nic.type === "macvlan") {
      nets.push(["macvlan", nic.link, nic.name, nic.mode, mtuField(nic), macField(nic)]);
    } else if (nic.type === "vlan") {
      nets.push(["vlan", nic.link, nic.name, String(nic.vlanId), mtuField(nic), macField(nic)]);
    } else if (nic.type === "ipvlan") {
      nets.push(["ipvlan", nic.link, nic.name, nic.mode, nic.isolation, mtuField(nic)]);
    } else {
      nets.push(["move", nic.link]);
      const rename = nic.name === nic.link ? "-" : nic.name;
      nets.push(["link", nic.link, rename, mtuField(nic), macField(nic)]);
    }
    if (nic.up) nets.push(["up", nic.name]);
    for (const a of nic.ipv4) nets.push(["addr", nic.name, a]);
    for (const a of nic.ipv6) nets.push(["addr", nic.name, a]);
    for (const fam of [4, 6] as const) {
      const gw = gatewayOf(nic, ctx, fam);
      if (!gw) continue;
      // `dev`: on the link; an address: on-link (a routed container's
      // gateway is outside its own /32 or /128).
      nets.push(["route", fam === 6 ? "::/0" : "0.0.0.0/0", gw === "dev" ? "-" : gw, nic.name]);
    }
    l2proxyRecords(nic, t, host, stopHooks);
    scripts.push(...scriptHook(nic, ctx, t, "up"));
    stopHooks.push(...scriptHook(nic, ctx, t, "down"));
  }
  nets.push(...host);
  hooks.push(...scripts);
  for (const nic of phys) stopHooks.push(physReturnHook(nic, t, ctx));
  if (phys.length > 0) stopHooks.push([t.umount, ctx.netnsPin]);
  return { netdevs, nets, hooks, stopHooks };
}

/**
 * `l2proxy = 1` (LXC's lxc_setup_l2proxy): a proxy ARP/NDP entry on the
 * link for each of the container's addresses, and for an ipvlan a host route
 * of each to `lo` (so the host takes the packets the proxy answered for).
 * They live on host devices that outlive the container, so stop-hooks
 * delete them (after a killed monitor too, from repair); a NIC without a
 * link gets none, as in LXC.
 */
function l2proxyRecords(nic: NicPlan, t: NicTools, out: NetStep[], stopHooks: string[][]): void {
  if (!nic.l2proxy || !nic.link) return;
  for (const cidr of [...nic.ipv4, ...nic.ipv6]) {
    const addr = cidr.split("/")[0] ?? "";
    const full = `${addr}/${addr.includes(":") ? 128 : 32}`;
    out.push(["host-proxy", addr, nic.link]);
    stopHooks.push([t.ip, "neigh", "del", "proxy", addr, "dev", nic.link]);
    if (nic.type === "ipvlan") {
      out.push(["host-route", full, "lo"]);
      stopHooks.push([t.ip, "route", "del", full, "dev", "lo"]);
    }
  }
}

/** `default` (either family) as a destination `net` records take. */
function routeDst(r: string, fam: 4 | 6): string {
  if (r === "default") return fam === 6 ? "::/0" : "0.0.0.0/0";
  return r;
}

/**
 * Host-side records of a veth (router mode: a route to each address, plus
 * proxy ARP/NDP for the gateways; extra routes), and the proxy_ndp sysctl
 * hook that lets the host answer for the IPv6 gateway.
 */
function vethHostRecords(
  nic: NicPlan & { type: "veth" },
  ctx: NicHookContext,
  out: NetStep[],
  hooks: string[][],
  t: NicTools,
): void {
  const host = nic.hostName;
  if (nic.mode === "router") {
    for (const a of nic.ipv4) out.push(["host-route", `${a.split("/")[0]}/32`, host]);
    for (const a of nic.ipv6) out.push(["host-route", `${a.split("/")[0]}/128`, host]);
    const gw4 = gatewayOf(nic, ctx, 4);
    if (gw4 && gw4 !== "dev") out.push(["host-proxy", gw4, host]);
    const gw6 = gatewayOf(nic, ctx, 6);
    if (gw6 && gw6 !== "dev") {
      hooks.push([t.sysctl, "-q", "-w", `net.ipv6.conf.${host}.proxy_ndp=1`]);
      out.push(["host-proxy", gw6, host]);
    }
  }
  for (const r of nic.routes4) out.push(["host-route", routeDst(r, 4), host]);
  for (const r of nic.routes6) out.push(["host-route", routeDst(r, 6), host]);
}

/**
 * Takes a phys device back into the monitor's namespace under its original
 * name, MTU and MAC. One shell run, best effort at each step, because a
 * failed start may have left the device under its host name, its container
 * name, or not moved at all (then the first moves fail and nothing changes).
 */
function physReturnHook(nic: NicPlan & { type: "phys" }, t: NicTools, ctx: NicHookContext) {
  const orig = ctx.physOriginal.get(nic.index);
  const script = [
    'ns() { "$NSENTER" --net="$PIN" "$IP" "$@"; }',
    'ns link set dev "$INSIDE" down 2>/dev/null',
    'ns link set dev "$INSIDE" name "$TMP" 2>/dev/null || ns link set dev "$ORIG" name "$TMP" 2>/dev/null || exit 0',
    'ns link set dev "$TMP" netns "$1" || exit 1',
    'if [ -n "$MTU" ]; then "$IP" link set dev "$TMP" mtu "$MTU"; fi',
    'if [ -n "$MAC" ]; then "$IP" link set dev "$TMP" address "$MAC"; fi',
    'exec "$IP" link set dev "$TMP" name "$ORIG"',
  ].join("\n");
  return [
    t.env,
    `NSENTER=${t.nsenter}`,
    `IP=${t.ip}`,
    `PIN=${ctx.netnsPin}`,
    `INSIDE=${nic.name}`,
    `ORIG=${nic.link}`,
    `TMP=${nic.returnName}`,
    ...(orig && nic.mtu ? [`MTU=${orig.mtu}`] : []),
    ...(orig && nic.hwaddr ? [`MAC=${orig.address}`] : []),
    t.sh,
    "-c",
    script,
    "sh",
    "{monitor}",
  ];
}
