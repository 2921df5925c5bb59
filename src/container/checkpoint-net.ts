/**
 * The NICs of a checkpoint (docs/checkpoint.md): which a dump and a restore
 * take, and what CRIU is told about them. CRIU dumps the container's network
 * namespace whole (links with their MACs, addresses, routes, nftables
 * ruleset, TCP connections in repair mode) and at restore makes each veth
 * again, its host end named as the new start's plan names it, in the
 * restorer's (the monitor's) namespace and enslaved to the bridge
 * (`--external veth[NAME]:HOST@BRIDGE`). So only veths on a bridge with
 * nothing on the host side but that port are taken: anything else the
 * start's records would set up around them (VLANs on the port, host routes,
 * proxy entries, `script.up`) a restore would not. The IPv4 addresses come
 * back with the namespace: the restore reserves the same ones on the
 * managed networks there. Pure.
 */

import type { NicPlan } from "../network/nic-resolve.js";

/** A veth of a checkpointed container, as its `net veth` record made it. */
export interface CheckpointVeth {
  /** The container's end (`eth0`). */
  name: string;
  /** The bridge its host end was on. */
  bridge: string;
  /** The container's end's MAC as planned (`-`: the kernel's). */
  mac: string;
  /**
   * Its IPv4 addresses as the start set them (`A.B.C.D/N`: static or
   * reserved on a managed network), which the restore reserves again
   * there. Absent in checkpoints made before lxt recorded them.
   */
  ipv4?: string[];
}

/** `net` record verbs whose effect lives inside the container's namespace (CRIU dumps it). */
const INSIDE = new Set(["up", "addr", "route"]);

/**
 * Why a running container's NICs cannot be checkpointed, from its plan's
 * `net` and `host-hook` records; undefined when they can (none, or veths
 * on bridges only).
 */
export function refuseNetRecords(
  nets: readonly (readonly string[])[],
  hostHooks: readonly (readonly string[])[],
): string | undefined {
  for (const f of nets) {
    const [verb = "", host = "", , , , master = "-", rxq = "0", txq = "0"] = f;
    if (INSIDE.has(verb)) continue;
    if (verb !== "veth")
      return `network devices other than veths on a bridge are not checkpointed (this one has a \`${verb}\` step: ${f.slice(1).join(" ")}); see docs/checkpoint.md`;
    if (master === "-")
      return `a veth without a bridge (lxc.net.N.link) is not checkpointed (${host}): see docs/checkpoint.md`;
    if (rxq !== "0" || txq !== "0")
      return `veth queue counts (lxc.net.N.veth.n_rxqueues/n_txqueues) are not checkpointed (${host})`;
  }
  if (nets.length > 0 && hostHooks.length > 0)
    return "NICs with host-side hooks (lxc.net.N.script.up, proxy_ndp) are not checkpointed: a restore would not run them";
  return undefined;
}

/** The veths a plan's `net` records make, with their IPv4 addresses (`addr` records), for the manifest. */
export function vethsOf(nets: readonly (readonly string[])[]): CheckpointVeth[] {
  return nets
    .filter((f) => f[0] === "veth")
    .map((f) => {
      const name = f[2] ?? "";
      const ipv4 = nets
        .filter((a) => a[0] === "addr" && a[1] === name && /^\d+\.\d+\.\d+\.\d+\//.test(a[2] ?? ""))
        .map((a) => a[2] ?? "");
      return { name, bridge: f[5] ?? "-", mac: f[4] ?? "-", ...(ipv4.length > 0 ? { ipv4 } : {}) };
    });
}

/**
 * The restore's NICs with the IPv4 addresses their veths had when dumped
 * (CRIU brings the addresses back with the namespace): a NIC whose address
 * a managed network reserved at start has it reserved again there as if
 * static, not a new one from the range. Pure.
 */
function withDumpedAddresses(
  nics: readonly NicPlan[],
  veths: readonly CheckpointVeth[],
): NicPlan[] {
  return nics.map((n) => {
    const v = veths.find((x) => x.name === n.name);
    return v?.ipv4 && n.ipv4.length === 0 ? { ...n, ipv4: v.ipv4 } : n;
  });
}

/** Why a restore's NICs (the new start's plan) cannot take the checkpoint's veths; undefined when they can. */
export function refuseRestoreNics(
  nics: readonly NicPlan[],
  veths: readonly CheckpointVeth[],
): string | undefined {
  for (const n of nics) {
    if (n.type !== "veth")
      return `containers with ${n.type} NICs are not restored (only veths on a bridge): see docs/checkpoint.md`;
    if (n.mode !== "bridge" || !n.link)
      return `${n.name}: a veth without a bridge (lxc.net.N.link, router mode) is not restored`;
    if (
      n.vlanId !== undefined ||
      n.vlanTagged.length > 0 ||
      n.routes4.length > 0 ||
      n.routes6.length > 0
    )
      return `${n.name}: a veth with VLANs or host routes (veth.vlan.*, veth.ipv4/6.route) is not restored`;
    if (n.l2proxy || n.scriptUp || n.scriptDown)
      return `${n.name}: a veth with l2proxy or script.up/down is not restored: a restore runs no host-side NIC setup`;
    if (n.rxQueues !== 0 || n.txQueues !== 0)
      return `${n.name}: veth queue counts are not restored`;
  }
  const now = nics.map((n) => `${n.name}@${n.link ?? "-"}`).sort();
  const then = veths.map((v) => `${v.name}@${v.bridge}`).sort();
  if (now.join(" ") !== then.join(" "))
    return `its NICs changed since the checkpoint (checkpoint: ${then.join(", ") || "none"}; config: ${now.join(", ") || "none"})`;
  return undefined;
}

/** CRIU's arguments that make each veth again on its bridge, its host end named as the plan names it. */
export function vethRestoreArgs(nics: readonly NicPlan[]): string[] {
  return nics.flatMap((n) =>
    n.type === "veth" && n.link ? ["--external", `veth[${n.name}]:${n.hostName}@${n.link}`] : [],
  );
}

/**
 * The restore's NICs with the addresses dumped with them
 * (`withDumpedAddresses`), or why one cannot keep its address there:
 * `problem(network, key, cidr)` says it for each kept address (the
 * network's subnet and reservations: network/reserve.ts).
 */
export function keptAddresses(
  name: string,
  nics: readonly NicPlan[],
  veths: readonly CheckpointVeth[],
  problem: (network: string, key: string, cidr: string) => string | undefined,
): NicPlan[] | string {
  const kept = withDumpedAddresses(nics, veths);
  for (const n of kept) {
    if (!n.link || n.ipv4 === nics.find((o) => o.index === n.index)?.ipv4) continue;
    for (const a of n.ipv4) {
      const why = problem(n.link, `${name}.${n.index}`, a);
      if (why) return `${n.name}: ${why}`;
    }
  }
  return kept;
}
