/**
 * LXD's instance config and devices, and lxt's LXC-format config: the map
 * both ways. LXD keys with a meaning here become LXC/lxt keys; the LXC keys
 * no LXD key stands for are shown (and taken back) as `raw.lxc`, so nothing
 * of the container's config is hidden or lost. LXD keys with no meaning
 * here are refused with LXD's words, never dropped.
 */
import { badRequest } from "./envelope.js";
import type { Devices } from "./profiles.js";

export interface LxdConfig {
  config: Record<string, string>;
  devices: Devices;
}

/** LXD config keys that are one lxt key each, with the same value syntax. */
const DIRECT: Readonly<Record<string, string>> = {
  "limits.memory": "lxt.limits.memory",
  "limits.cpu": "lxt.limits.cpu",
  "limits.processes": "lxt.limits.processes",
};
const REVERSE: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(DIRECT).map(([a, b]) => [b, a]),
);

/** LXC keys a NIC is made of, `lxc.net.N.*`. */
const NET_KEY = /^lxc\.net\.(\d+)\.(.+)$/;

/** The LXD view of a container's config entries (lxd.yaml's `user.*` and the like come on top). */
export function lxdView(entries: readonly { key: string; value: string }[]): LxdConfig {
  const config: Record<string, string> = {};
  const devices: Devices = { root: { path: "/", pool: "default", type: "disk" } };
  const raw: string[] = [];
  const nets = new Map<number, Record<string, string>>();
  for (const { key, value } of entries) {
    const lxd = REVERSE[key];
    if (lxd) {
      config[lxd] = value;
      continue;
    }
    const m = NET_KEY.exec(key);
    if (m) {
      const n = Number(m[1]);
      const nic = nets.get(n) ?? {};
      nic[m[2] ?? ""] = value;
      nets.set(n, nic);
      continue;
    }
    raw.push(`${key} = ${value}`);
  }
  for (const [n, nic] of [...nets.entries()].sort((a, b) => a[0] - b[0])) {
    const name = nic.name ?? `eth${n}`;
    const dev: Record<string, string> = { type: "nic", name };
    if (nic.type === "veth") {
      dev.nictype = "bridged";
      if (nic.link) dev.parent = nic.link;
    } else if (nic.type === "macvlan") {
      dev.nictype = "macvlan";
      if (nic.link) dev.parent = nic.link;
    } else if (nic.type === "phys") {
      dev.nictype = "physical";
      if (nic.link) dev.parent = nic.link;
    } else if (nic.type) {
      dev.nictype = nic.type;
    }
    if (nic.hwaddr) dev.hwaddr = nic.hwaddr;
    if (nic.mtu) dev.mtu = nic.mtu;
    devices[name] = dev;
  }
  if (raw.length > 0) config["raw.lxc"] = `${raw.join("\n")}\n`;
  return { config, devices };
}

/** What a create needs of an LXD config: the network of its first NIC, and the lxt entries. */
export interface CreatePlan {
  /** `empty` when no NIC is asked for. */
  network: string;
  entries: { key: string; value: string }[];
}

export function createPlan(view: LxdConfig): CreatePlan {
  const entries: { key: string; value: string }[] = [];
  for (const [k, v] of Object.entries(view.config)) {
    if (k.startsWith("user.") || k.startsWith("volatile.") || k.startsWith("image.")) continue;
    const lxt = DIRECT[k];
    if (lxt) {
      entries.push({ key: lxt, value: v });
      continue;
    }
    throw badRequest(`Invalid config: Unknown configuration key: ${k}`);
  }
  const nics = Object.entries(view.devices).filter(([, d]) => d.type === "nic");
  if (nics.length > 1) throw badRequest("Invalid devices: only one nic device is supported yet");
  let network = "empty";
  for (const [name, dev] of nics) {
    if (dev.network) network = dev.network;
    else if (dev.nictype === "bridged" && dev.parent) network = dev.parent;
    else
      throw badRequest(`Invalid devices: Device validation failed for "${name}": unsupported nic`);
  }
  for (const [name, dev] of Object.entries(view.devices)) {
    if (dev.type === "nic") continue;
    if (dev.type === "disk" && dev.path === "/") continue;
    throw badRequest(
      `Invalid devices: Device validation failed for "${name}": unsupported device type "${dev.type}"`,
    );
  }
  return { network, entries };
}
