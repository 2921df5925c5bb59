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
 * proxy entries, `script.up`) a restore would not. Pure.
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

/** The veths a plan's `net` records make, for the manifest. */
export function vethsOf(nets: readonly (readonly string[])[]): CheckpointVeth[] {
  return nets
    .filter((f) => f[0] === "veth")
    .map((f) => ({ name: f[2] ?? "", bridge: f[5] ?? "-", mac: f[4] ?? "-" }));
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
