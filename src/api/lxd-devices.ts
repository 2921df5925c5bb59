/**
 * LXD devices ⇄ LXC entries: `nic` ⇄ `lxc.net.N.*`, a `disk` bind mount ⇄
 * `lxc.mount.entry`, the root `disk` ⇄ the rootfs (kept as it is), and
 * `proxy` ⇄ lxt's port forwards. Each device renders to one "fragment"
 * (its entries without the NIC index, or its forward); a device lxtd
 * wrote keeps its name and form in the view while its fragment is still in
 * the config, so `lxc config device add c d1 ...` shows `d1` back.
 */
import { statSync } from "node:fs";
import type { KeyValue } from "../container/config-replace.js";
import { type PortForward, parseForwardArgs } from "../container/forward.js";
import { badRequest } from "./envelope.js";
import type { Devices } from "./profiles.js";

type Device = Record<string, string>;

const invalid = (name: string, why: string) =>
  badRequest(`Invalid devices: Device validation failed for "${name}": ${why}`);

const NET = /^lxc\.net\.(\d+)\.(.+)$/;
const NICTYPE: Readonly<Record<string, string>> = {
  veth: "bridged",
  macvlan: "macvlan",
  phys: "physical",
};
const LXC_NET_TYPE: Readonly<Record<string, string>> = {
  bridged: "veth",
  macvlan: "macvlan",
  physical: "phys",
};
/** NIC properties that are one `lxc.net.N.<sub>` each. */
const NIC_SUBS = ["name", "hwaddr", "mtu", "ipv4.address", "ipv6.address"] as const;

/** One device as the config has it: where it came from, and its fragment. */
interface Slot {
  fragment: string;
  name: string;
  device: Device;
  /** For a NIC: its index. */
  index?: number;
}

function nicFragment(subs: readonly KeyValue[]): string {
  return `nic ${subs
    .map((s) => `${s.key}=${s.value}`)
    .sort()
    .join(" ")}`;
}

function forwardFragment(f: PortForward): string {
  return `proxy ${f.proto} ${f.listen ?? ""}:${f.port} ${f.targetPort}`;
}

/** The NIC sub-keys (without `lxc.net.N.`) of one nic device. */
function nicSubs(name: string, dev: Device): KeyValue[] {
  for (const k of Object.keys(dev)) {
    if (!["type", "nictype", "network", "parent", ...NIC_SUBS].includes(k))
      throw invalid(name, `Invalid device option "${k}"`);
  }
  if (dev.network && dev.parent) throw invalid(name, 'Cannot use "network" and "parent" together');
  if (dev.network && dev.nictype && dev.nictype !== "bridged")
    throw invalid(name, `Cannot use "network" with nictype "${dev.nictype}"`);
  const type = dev.network ? "veth" : LXC_NET_TYPE[dev.nictype ?? ""];
  if (!type) {
    throw invalid(
      name,
      dev.nictype ? `Unsupported nictype "${dev.nictype}"` : 'Missing "network" or "nictype"',
    );
  }
  const link = dev.network ?? dev.parent;
  if (!link) throw invalid(name, `Missing "parent" for nictype "${dev.nictype}"`);
  const subs: KeyValue[] = [
    { key: "type", value: type },
    { key: "link", value: link },
    { key: "flags", value: "up" },
    { key: "name", value: dev.name ?? name },
  ];
  if (type === "macvlan") subs.push({ key: "macvlan.mode", value: "bridge" });
  for (const k of NIC_SUBS) if (k !== "name" && dev[k]) subs.push({ key: k, value: dev[k] });
  return subs;
}

const BLANK = /[\s\\]/;

/** The `lxc.mount.entry` value of a bind-mount disk. */
function mountValue(name: string, dev: Device): string {
  for (const k of Object.keys(dev)) {
    if (!["type", "source", "path", "readonly", "recursive", "required"].includes(k))
      throw invalid(name, `Invalid device option "${k}"`);
  }
  const { source, path } = dev;
  if (!source) throw invalid(name, 'Disk source path is required (the "source" option)');
  if (!path) throw invalid(name, 'Disk entry is missing the required "path" property');
  if (!source.startsWith("/"))
    throw invalid(name, `Disk source "${source}" must be an absolute path`);
  if (!path.startsWith("/")) throw invalid(name, `Disk path "${path}" must be absolute`);
  if (BLANK.test(source) || BLANK.test(path))
    throw invalid(name, "Paths with blanks or backslashes are not supported here");
  const file = statSync(source, { throwIfNoEntry: false })?.isFile() ?? false;
  const opts = [dev.recursive === "true" ? "rbind" : "bind", file ? "create=file" : "create=dir"];
  if (dev.readonly === "true") opts.push("ro");
  if (dev.required === "false") opts.push("optional");
  return `${source} ${path.replace(/^\/+/, "")} none ${opts.join(",")} 0 0`;
}

/** The disk device of one `lxc.mount.entry` value, when it is a bind mount LXD can show. */
function diskOf(value: string): Device | undefined {
  const f = value.trim().split(/\s+/);
  if (f.length < 4 || f.length > 6 || !f[0]?.startsWith("/") || f[2] !== "none") return undefined;
  const opts = (f[3] as string).split(",");
  const dev: Device = {
    type: "disk",
    source: f[0],
    path: `/${(f[1] as string).replace(/^\/+/, "")}`,
  };
  for (const o of opts) {
    if (o === "bind" || o === "create=dir" || o === "create=file" || o === "rw") continue;
    if (o === "rbind") dev.recursive = "true";
    else if (o === "ro") dev.readonly = "true";
    else if (o === "optional") dev.required = "false";
    else return undefined;
  }
  if (!opts.includes("bind") && !opts.includes("rbind")) return undefined;
  return dev;
}

const LISTEN = /^(tcp|udp):([0-9.]+):(\d+)$/;
const CONNECT = /^(tcp|udp):(127\.0\.0\.1|0\.0\.0\.0|localhost)?:(\d+)$/;

function forwardOf(name: string, dev: Device): PortForward {
  for (const k of Object.keys(dev)) {
    if (!["type", "listen", "connect", "bind", "nat"].includes(k))
      throw invalid(name, `Invalid device option "${k}"`);
  }
  if (dev.bind && dev.bind !== "host")
    throw invalid(name, `Only bind=host is supported here (lxt's forwards are on the host)`);
  const l = LISTEN.exec(dev.listen ?? "");
  if (!l)
    throw invalid(name, `Invalid listen address "${dev.listen ?? ""}": expected tcp:ADDR:PORT`);
  const c = CONNECT.exec(dev.connect ?? "");
  if (!c || c[1] !== l[1])
    throw invalid(
      name,
      `Invalid connect address "${dev.connect ?? ""}": expected ${l[1]}:127.0.0.1:PORT (lxt forwards to the instance's own address)`,
    );
  const host = l[2] === "0.0.0.0" ? (l[3] as string) : `${l[2]}:${l[3]}`;
  try {
    return parseForwardArgs(l[1] as string, host, c[3] as string);
  } catch (err) {
    throw invalid(name, (err as Error).message);
  }
}

/** The entries and forwards of LXD devices; `current` gives the NICs' present indexes. */
export function renderDevices(
  devices: Devices,
  current: readonly KeyValue[],
): { entries: KeyValue[]; forwards: PortForward[] } {
  const entries: KeyValue[] = [];
  const forwards: PortForward[] = [];
  const nics: { name: string; subs: KeyValue[] }[] = [];
  for (const [name, dev] of Object.entries(devices).sort(([a], [b]) => a.localeCompare(b))) {
    if (!dev || typeof dev !== "object") throw invalid(name, "Invalid device");
    switch (dev.type) {
      case "nic":
        nics.push({ name, subs: nicSubs(name, dev) });
        break;
      case "disk":
        if (dev.path === "/") {
          for (const k of Object.keys(dev))
            if (!["type", "path", "pool"].includes(k))
              throw invalid(name, `Invalid device option "${k}"`);
          break;
        }
        entries.push({ key: "lxc.mount.entry", value: mountValue(name, dev) });
        break;
      case "proxy":
        forwards.push(forwardOf(name, dev));
        break;
      case undefined:
      case "":
        throw invalid(name, "Missing device type in config");
      default:
        throw invalid(name, "Unsupported device type");
    }
  }
  // A NIC the config has already keeps its index; a new one takes the first free.
  const have = netSlots(current);
  const used = new Set<number>();
  const placed = nics.map((n) => {
    const fragment = nicFragment(n.subs);
    const same = have.find((s) => s.fragment === fragment && !used.has(s.index));
    const byName = have.find(
      (s) =>
        s.subs.find((x) => x.key === "name")?.value ===
          n.subs.find((x) => x.key === "name")?.value && !used.has(s.index),
    );
    const index = (same ?? byName)?.index;
    if (index !== undefined) used.add(index);
    return { ...n, index };
  });
  let next = 0;
  for (const n of placed) {
    if (n.index === undefined) {
      while (used.has(next)) next++;
      n.index = next;
      used.add(next);
    }
  }
  placed.sort((a, b) => (a.index as number) - (b.index as number));
  for (const n of placed)
    for (const s of n.subs) entries.push({ key: `lxc.net.${n.index}.${s.key}`, value: s.value });
  if (nics.length === 0) entries.push({ key: "lxc.net.0.type", value: "empty" });
  return { entries, forwards };
}

/** The NICs of a config: each index's sub-keys that a nic device stands for. */
function netSlots(
  entries: readonly KeyValue[],
): { index: number; subs: KeyValue[]; fragment: string; all: KeyValue[] }[] {
  const by = new Map<number, KeyValue[]>();
  for (const e of entries) {
    const m = NET.exec(e.key);
    if (!m) continue;
    const n = Number(m[1]);
    by.set(n, [...(by.get(n) ?? []), e]);
  }
  return [...by.entries()]
    .sort((a, b) => a[0] - b[0])
    .flatMap(([index, all]) => {
      const last = new Map(all.map((e) => [e.key.replace(NET, "$2"), e.value]));
      const type = last.get("type") ?? "";
      if (!NICTYPE[type] || !last.get("link")) return [];
      const subs: KeyValue[] = [];
      for (const [k, v] of last) {
        if (k === "type" || k === "link" || (NIC_SUBS as readonly string[]).includes(k))
          subs.push({ key: k, value: v });
        else if (
          (k === "flags" && v === "up") ||
          (k === "macvlan.mode" && v === "bridge" && type === "macvlan")
        )
          subs.push({ key: k, value: v });
      }
      return [{ index, subs, fragment: nicFragment(subs), all }];
    });
}

/**
 * The devices of a config's entries and forwards: the root disk, NICs,
 * bind mounts and proxies. Entries a device stands for are added to
 * `consumed` (the rest is `raw.lxc`). `hints`: the devices lxtd wrote last.
 */
export function devicesView(
  entries: readonly KeyValue[],
  forwards: readonly PortForward[],
  consumed: Set<KeyValue>,
  hints: Devices = {},
): Devices {
  const slots: Slot[] = [];
  for (const s of netSlots(entries)) {
    const keys = new Set(s.subs.map((x) => `lxc.net.${s.index}.${x.key}`));
    for (const e of s.all) if (keys.has(e.key)) consumed.add(e);
    const v = new Map(s.subs.map((x) => [x.key, x.value]));
    const type = v.get("type") as string;
    const name = v.get("name") ?? `eth${s.index}`;
    const dev: Device = {
      type: "nic",
      nictype: NICTYPE[type] as string,
      parent: v.get("link") as string,
      name,
    };
    for (const k of NIC_SUBS) if (k !== "name" && v.get(k)) dev[k] = v.get(k) as string;
    slots.push({ fragment: s.fragment, name, device: dev, index: s.index });
  }
  // With no NIC, the only net entry is the `empty` one a render writes.
  const nets = entries.filter((e) => NET.test(e.key));
  if (slots.length === 0 && nets.length === 1 && nets[0]?.value === "empty") consumed.add(nets[0]);
  for (const e of entries) {
    if (e.key !== "lxc.mount.entry") continue;
    const dev = diskOf(e.value);
    if (!dev) continue;
    consumed.add(e);
    const name = (dev.path as string).slice(1).replace(/[^A-Za-z0-9_.-]+/g, "-") || "disk";
    slots.push({ fragment: `disk ${e.value.trim().replace(/\s+/g, " ")}`, name, device: dev });
  }
  for (const f of forwards) {
    slots.push({
      fragment: forwardFragment(f),
      name: `proxy-${f.proto}-${f.port}`,
      device: {
        type: "proxy",
        listen: `${f.proto}:${f.listen ?? "0.0.0.0"}:${f.port}`,
        connect: `${f.proto}:127.0.0.1:${f.targetPort}`,
      },
    });
  }
  // The devices lxtd wrote, by fragment.
  const known = new Map<string, [string, Device][]>();
  for (const [name, dev] of Object.entries(hints)) {
    const f = hintFragment(name, dev);
    if (f) known.set(f, [...(known.get(f) ?? []), [name, dev]]);
  }
  const rootHint = Object.entries(hints).find(([, d]) => d.type === "disk" && d.path === "/");
  const out: Devices = {};
  out[rootHint?.[0] ?? "root"] = rootHint?.[1] ?? { path: "/", pool: "default", type: "disk" };
  for (const s of slots) {
    const hint = known.get(s.fragment)?.shift();
    let [name, dev] = hint ?? [s.name, s.device];
    for (let i = 1; out[name] !== undefined; i++) name = `${hint?.[0] ?? s.name}-${i}`;
    out[name] = dev;
  }
  return out;
}

/** The fragment an LXD device renders to, or undefined when it renders to none or is invalid. */
function hintFragment(name: string, dev: Device): string | undefined {
  try {
    if (dev.type === "nic") return nicFragment(nicSubs(name, dev));
    if (dev.type === "disk" && dev.path !== "/") return `disk ${mountValue(name, dev)}`;
    if (dev.type === "proxy") return forwardFragment(forwardOf(name, dev));
  } catch {
    // a hint that no longer renders matches nothing
  }
  return undefined;
}
