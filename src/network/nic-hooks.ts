/**
 * The monitor's records for a container's NICs (pure): `netdev` names for
 * repair, `host-hook`s run after clone while the child waits (move each
 * device in, configure it, host routes, `script.up`), and `stop-hook`s run
 * once the init has ended (`script.down`, phys devices back out).
 */
import type { NicPlan } from "./nic-resolve.js";

/** Absolute paths of the host tools the hooks run (no PATH search in the monitor). */
export interface NicTools {
  ip: string;
  nsenter: string;
  mount: string;
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
  /** Runtime-dir file of the container-side `ip -batch` commands (see `NicRecords.files`). */
  batchFile: string;
  /** Runtime-dir file of the host-side `ip -batch` commands (routed veths, extra routes). */
  hostBatchFile: string;
  /** Gateways resolved from `auto`, by NIC index. */
  autoGateways: ReadonlyMap<number, { ipv4?: string; ipv6?: string }>;
  /** The original MTU and MAC of each phys link, by NIC index (restored on the way out). */
  physOriginal: ReadonlyMap<number, { mtu: number; address: string }>;
}

export interface NicRecords {
  netdevs: string[];
  hooks: string[][];
  stopHooks: string[][];
  /** Files the hooks read (`ip -batch` input), to be written before the monitor starts. */
  files: { path: string; text: string }[];
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
    "LXC_HOOK_VERSION=0",
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
      ctx.container,
      "net",
      hook,
      ...scriptArgs(nic),
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

/**
 * The records for these NICs. The configuration runs in few execs: one
 * `ip link set … netns {pid}` per NIC from the host, then every command
 * inside the container's namespace as one `nsenter … ip -batch FILE` (lo up,
 * names, MACs, MTUs, flags, addresses, gateways, in NIC order), then the
 * host-side routes of all NICs as one `ip -batch FILE`, then `script.up`s.
 * `ip -batch` stops at the first failing line and exits 1, failing the
 * start. Throws Error (naming the key) for a gateway `auto` that resolved
 * to nothing.
 */
export function nicRecords(nics: readonly NicPlan[], t: NicTools, ctx: NicHookContext): NicRecords {
  const hooks: string[][] = [];
  const stopHooks: string[][] = [];
  const netdevs: string[] = [];
  const files: NicRecords["files"] = [];
  const inside: string[] = [];
  const host: string[] = [];
  const sysctls: string[][] = [];
  const scripts: string[][] = [];
  const phys = nics.filter((n) => n.type === "phys");
  if (nics.length > 0) inside.push("link set dev lo up");
  if (phys.length > 0) {
    // Pins the namespace, so phys devices can still be taken back after the
    // init died (also when the monitor was killed: repairStale runs the
    // stop-hooks). Without it the kernel destroys virtual devices and sends
    // real ones to the initial namespace under whatever name is free.
    const bind = [t.mount, "--bind", "/proc/self/ns/net", ctx.netnsPin];
    hooks.push([t.nsenter, "-t", "{pid}", "-n", ...bind]);
  }
  for (const nic of nics) {
    if (nic.type === "veth") netdevs.push(nic.hostName);
    if (nic.type === "macvlan") netdevs.push(nic.peerName);
    hooks.push([t.ip, "link", "set", "dev", nic.peerName, "netns", "{pid}"]);
    const set = ["link", "set", "dev", nic.peerName, "name", nic.name];
    if (nic.type === "phys" && nic.hwaddr) set.push("address", nic.hwaddr);
    if (nic.type === "phys" && nic.mtu) set.push("mtu", String(nic.mtu));
    inside.push(set.join(" "));
    if (nic.up) inside.push(`link set dev ${nic.name} up`);
    for (const a of nic.ipv4) inside.push(`addr add ${a} broadcast + dev ${nic.name}`);
    // nodad: a static address is usable at once, not after ~2 s of DAD.
    // (A batch line takes no `-6`: the family follows from the address.)
    for (const a of nic.ipv6) inside.push(`addr add ${a} dev ${nic.name} nodad`);
    for (const fam of [4, 6] as const) {
      const gw = gatewayOf(nic, ctx, fam);
      if (!gw) continue;
      const dst = fam === 6 ? "::/0" : "default";
      if (gw === "dev") inside.push(`route add ${dst} dev ${nic.name}`);
      // onlink: a routed container's gateway is outside its own /32 or /128.
      else inside.push(`route add ${dst} via ${gw} dev ${nic.name} onlink`);
    }
    if (nic.type === "veth") vethHostLines(nic, t, ctx, host, sysctls);
    scripts.push(...scriptHook(nic, ctx, t, "up"));
    stopHooks.push(...scriptHook(nic, ctx, t, "down"));
  }
  if (inside.length > 0) {
    files.push({ path: ctx.batchFile, text: `${inside.join("\n")}\n` });
    hooks.push([t.nsenter, "-t", "{pid}", "-n", t.ip, "-batch", ctx.batchFile]);
  }
  hooks.push(...sysctls);
  if (host.length > 0) {
    files.push({ path: ctx.hostBatchFile, text: `${host.join("\n")}\n` });
    hooks.push([t.ip, "-batch", ctx.hostBatchFile]);
  }
  hooks.push(...scripts);
  for (const nic of phys) stopHooks.push(physReturnHook(nic, t, ctx));
  if (phys.length > 0) stopHooks.push([t.umount, ctx.netnsPin]);
  return { netdevs, hooks, stopHooks, files };
}

/**
 * Host-side `ip -batch` lines of a veth (router mode: a route to each
 * address, plus proxy ARP/NDP for the gateways; extra routes), and the
 * proxy_ndp sysctl that has to run before them.
 */
function vethHostLines(
  nic: NicPlan & { type: "veth" },
  t: NicTools,
  ctx: NicHookContext,
  out: string[],
  sysctls: string[][],
): void {
  const host = nic.hostName;
  if (nic.mode === "router") {
    for (const a of nic.ipv4) out.push(`route add ${a.split("/")[0]}/32 dev ${host}`);
    for (const a of nic.ipv6) out.push(`route add ${a.split("/")[0]}/128 dev ${host}`);
    const gw4 = gatewayOf(nic, ctx, 4);
    if (gw4 && gw4 !== "dev") out.push(`neigh add proxy ${gw4} dev ${host}`);
    const gw6 = gatewayOf(nic, ctx, 6);
    if (gw6 && gw6 !== "dev") {
      sysctls.push([t.sysctl, "-q", "-w", `net.ipv6.conf.${host}.proxy_ndp=1`]);
      out.push(`neigh add proxy ${gw6} dev ${host}`);
    }
  }
  for (const r of nic.routes4) out.push(`route add ${r} dev ${host}`);
  // An IPv6 route given as `default` names no family of its own.
  for (const r of nic.routes6) out.push(`route add ${r === "default" ? "::/0" : r} dev ${host}`);
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
