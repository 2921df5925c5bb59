/**
 * LXD's instance config and devices, and lxt's LXC-format config: the map
 * both ways. LXD keys with a meaning here become LXC/lxt keys; the LXC keys
 * no LXD key stands for are shown (and taken back) as `raw.lxc`, so nothing
 * of the container's config is hidden or lost. LXD keys with no meaning
 * here are refused with LXD's words, never dropped.
 *
 * `lxdView` reads a config's entries (and its port forwards) as LXD shows
 * them; `renderLxc` is its inverse: `lxdView(renderLxc(v))` shows `v` again
 * (the round trip the unit tests check). Values LXD writes in more than one
 * way (`64MB` and `64000000`) come back as last written when the sidecar's
 * `hints` (the LXD form lxtd wrote last) still render to what the file has.
 */
import { type KeyValue, parseConfigText } from "../container/config-replace.js";
import type { PortForward } from "../container/forward.js";
import { badRequest } from "./envelope.js";
import { devicesView, renderDevices } from "./lxd-devices.js";
import type { Devices } from "./profiles.js";

export interface LxdConfig {
  config: Record<string, string>;
  devices: Devices;
}

/** Checks one LXC entry as lxt's config loader would (throws naming the key). */
export type EntryCheck = (key: string, value: string) => void;

/** LXC keys the view never shows and a render keeps from the current file. */
export function isPreservedKey(key: string): boolean {
  return key === "lxc.rootfs.path" || key.startsWith("lxt.volatile.");
}

/** Config keys lxtd keeps in its sidecar only: they mean nothing to the container. */
export function isStoredKey(key: string): boolean {
  return key.startsWith("user.") || key.startsWith("image.") || key === "cluster.evacuate";
}

/** `cluster.evacuate`'s values, as LXD's: what an evacuation does with the instance (cluster-evacuate.ts). */
export const EVACUATE_MODES = ["auto", "migrate", "live-migrate", "stop"] as const;
export type EvacuateMode = (typeof EVACUATE_MODES)[number];

/** `v` as a `cluster.evacuate` value; 400 with LXD's words otherwise. */
export function evacuateMode(v: string | undefined): EvacuateMode {
  if (v === undefined || v === "") return "auto";
  if ((EVACUATE_MODES as readonly string[]).includes(v)) return v as EvacuateMode;
  throw badRequest(
    `Invalid config: Invalid value for config key "cluster.evacuate": Invalid value "${v}" (not one of [${EVACUATE_MODES.join(" ")}])`,
  );
}

/** LXC list keys whose raw lines may stand beside those a device or key renders. */
const LIST_KEYS: ReadonlySet<string> = new Set(["lxc.mount.entry", "lxc.environment"]);

const VOLATILE: Readonly<Record<string, string>> = {
  "lxt.volatile.idmap.base": "volatile.idmap.base",
  "lxt.volatile.rootfs.shift": "volatile.rootfs.shift",
};

const DECIMAL: Readonly<Record<string, number>> = { kB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, PB: 1e15 };

/** LXD's byte sizes: lxt reads `KiB`/`MiB`/bytes/`N%` itself; decimal units become bytes. */
function memoryValue(v: string): string {
  const m = /^(\d+)(kB|MB|GB|TB|PB)$/.exec(v);
  if (m) return String(Number(m[1]) * (DECIMAL[m[2] as string] as number));
  return v.replace(/^(\d+)B$/, "$1");
}

const truth = (k: string, v: string): boolean => {
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0" || v === "") return false;
  throw badRequest(`Invalid config: Invalid value for ${k}: "${v}" is not a boolean`);
};

function cpuFraction(n: number): string {
  return String(Math.round(n * 10000) / 10000);
}

/**
 * The LXC entries of one LXD config key (none for a value that is lxt's
 * default). Throws LXD's error for a key with no meaning here.
 */
export function renderKey(
  k: string,
  v: string,
  all: Record<string, string> = { [k]: v },
): KeyValue[] {
  const e = (key: string, value: string) => [{ key, value }];
  switch (k) {
    case "limits.memory":
      return e("lxt.limits.memory", memoryValue(v));
    case "limits.memory.swap":
      return truth(k, v) ? [] : e("lxt.limits.memory.swap", "0");
    case "limits.processes":
      return e("lxt.limits.processes", v);
    case "limits.cpu":
      if (/^\d+$/.test(v)) return e("lxt.limits.cpu", v);
      return e("lxt.limits.cpu.set", v);
    case "limits.cpu.allowance": {
      const m = /^(\d+)ms\/(\d+)ms$/.exec(v);
      if (!m || Number(m[2]) === 0)
        throw badRequest(
          `Invalid config: limits.cpu.allowance: "${v}": only a hard quota TIMEms/PERIODms (e.g. 50ms/100ms) is supported here`,
        );
      if (/^\d+$/.test(all["limits.cpu"] ?? ""))
        throw badRequest(
          "Invalid config: limits.cpu (a number of CPUs) and limits.cpu.allowance both set lxt's CPU quota: give one",
        );
      return e("lxt.limits.cpu", cpuFraction(Number(m[1]) / Number(m[2])));
    }
    case "security.privileged":
      return e("lxt.privileged", truth(k, v) ? "1" : "0");
    case "security.nesting":
      return truth(k, v) ? e("lxc.apparmor.allow_nesting", "1") : [];
    case "security.idmap.isolated":
      if (!truth(k, v))
        throw badRequest(
          "Invalid config: security.idmap.isolated=false is not supported: lxt gives every unprivileged container its own id range",
        );
      return [];
    case "security.idmap.base": {
      const size = all["security.idmap.size"] ?? "65536";
      return [
        { key: "lxc.idmap", value: `u 0 ${v} ${size}` },
        { key: "lxc.idmap", value: `g 0 ${v} ${size}` },
      ];
    }
    case "security.idmap.size":
      if (all["security.idmap.base"] === undefined)
        throw badRequest("Invalid config: security.idmap.size needs security.idmap.base here");
      return [];
    case "boot.autostart":
      return truth(k, v) ? e("lxc.start.auto", "1") : [];
    case "boot.autostart.delay":
      return e("lxc.start.delay", v);
    case "boot.autostart.priority":
      // LXD starts the highest priority first, LXC the lowest order first.
      if (!/^-?\d+$/.test(v))
        throw badRequest(`Invalid config: boot.autostart.priority: "${v}" is not an integer`);
      return e("lxc.start.order", String(-Number(v)));
  }
  if (k.startsWith("environment.") && k.length > 12) {
    return e("lxc.environment", `${k.slice(12)}=${v}`);
  }
  throw badRequest(`Invalid config: Unknown configuration key: ${k}`);
}

/** What the config of a container becomes in LXC terms. */
export interface Rendered {
  /** The container's config entries, the preserved ones of `current` included. */
  entries: KeyValue[];
  forwards: PortForward[];
  /** `user.*`/`image.*` keys, for the sidecar. */
  stored: Record<string, string>;
}

/**
 * The LXC entries and forwards for an LXD config (expanded: profiles
 * applied). `current` is the container's config now: its preserved keys
 * (rootfs, lxt's volatile ones, a hostname other than its name) are kept,
 * and its NICs keep their indexes. `volatile.*` keys are read-only: they are
 * ignored here (the caller refuses changed ones). `check` validates each
 * LXC entry as lxt's loader would; its error is reported under the LXD key.
 *
 * @throws ApiError 400 with LXD's words for a key or device with no
 *   meaning here, or a value lxt refuses.
 */
export function renderLxc(
  view: LxdConfig,
  current: readonly KeyValue[] = [],
  check?: EntryCheck,
): Rendered {
  const entries: KeyValue[] = current.filter(
    (e) => isPreservedKey(e.key) || e.key === "lxc.uts.name",
  );
  const stored: Record<string, string> = {};
  const mapped: KeyValue[] = [];
  const verify = (label: string, list: KeyValue[]) => {
    for (const x of list) {
      try {
        check?.(x.key, x.value);
      } catch (err) {
        throw badRequest(`Invalid config: ${label}: ${(err as Error).message}`);
      }
    }
  };
  const privileged = view.config["security.privileged"];
  if (privileged === undefined) mapped.push({ key: "lxt.privileged", value: "0" });
  for (const [k, v] of Object.entries(view.config).sort(([a], [b]) => a.localeCompare(b))) {
    if (isStoredKey(k)) {
      if (k === "cluster.evacuate") evacuateMode(v);
      stored[k] = v;
      continue;
    }
    if (k.startsWith("volatile.") || k === "raw.lxc") continue;
    const out = renderKey(k, v, view.config);
    verify(k, out);
    mapped.push(...out);
  }
  const devices = renderDevices(view.devices, current);
  verify("devices", devices.entries);
  mapped.push(...devices.entries);
  const raw = parseRaw(view.config["raw.lxc"] ?? "");
  // Lists add up (a raw mount entry beside a disk device); a single key has one owner.
  const owned = new Set(mapped.map((e) => e.key).filter((k) => !LIST_KEYS.has(k)));
  for (const r of raw) {
    if (owned.has(r.key) || isPreservedKey(r.key))
      throw badRequest(
        `Invalid config: raw.lxc: ${r.key} is managed by lxtd here (through an LXD key or device)`,
      );
    if (r.key === "lxc.uts.name") {
      const i = entries.findIndex((e) => e.key === "lxc.uts.name");
      if (i >= 0) entries.splice(i, 1);
    }
  }
  verify("raw.lxc", raw);
  entries.push(...mapped, ...raw);
  return { entries, forwards: devices.forwards, stored };
}

/** Parses `raw.lxc` into entries; a malformed line is LXD's 400 naming the line. */
function parseRaw(text: string): KeyValue[] {
  try {
    return parseConfigText(text, "raw.lxc");
  } catch (err) {
    throw badRequest(`Invalid config: ${(err as Error).message}`);
  }
}

const CPU_COUNT = /^\d+$/;

/**
 * The LXD view of a container's config entries and forwards. `name` is the
 * container's (a hostname equal to it is implied, as in LXD); `hints` is
 * the LXD form lxtd wrote last.
 */
export function lxdView(
  entries: readonly KeyValue[],
  forwards: readonly PortForward[] = [],
  opts: { name?: string; hints?: LxdConfig } = {},
): LxdConfig {
  const config: Record<string, string> = {};
  const last = new Map<string, string>();
  for (const e of entries) last.set(e.key, e.value);
  const consumed = new Set<KeyValue>();
  const take = (key: string) => {
    for (const e of entries) if (e.key === key) consumed.add(e);
    return last.get(key);
  };
  const mem = take("lxt.limits.memory");
  if (mem) config["limits.memory"] = mem;
  if (last.get("lxt.limits.memory.swap") === "0") {
    take("lxt.limits.memory.swap");
    config["limits.memory.swap"] = "false";
  }
  const procs = take("lxt.limits.processes");
  if (procs) config["limits.processes"] = procs;
  const set = take("lxt.limits.cpu.set");
  const quota = take("lxt.limits.cpu");
  if (set) config["limits.cpu"] = /^\d+$/.test(set) ? `${set}-${set}` : set;
  if (quota) {
    if (!set && CPU_COUNT.test(quota)) config["limits.cpu"] = quota;
    else config["limits.cpu.allowance"] = `${Math.round(Number(quota) * 100)}ms/100ms`;
  }
  const idmaps = entries.filter((e) => e.key === "lxc.idmap");
  const priv = take("lxt.privileged");
  if (priv === "1" || priv === "true" || (priv === undefined && idmaps.length === 0))
    config["security.privileged"] = "true";
  if (last.get("lxc.apparmor.allow_nesting") === "1") {
    take("lxc.apparmor.allow_nesting");
    config["security.nesting"] = "true";
  }
  const [u, g] = idmaps.map((e) => /^u 0 (\d+) (\d+)$|^g 0 (\d+) (\d+)$/.exec(e.value));
  if (idmaps.length === 2 && u?.[1] && g?.[3] && u[1] === g[3] && u[2] === g[4]) {
    take("lxc.idmap");
    config["security.idmap.base"] = u[1];
    if (u[2] !== "65536") config["security.idmap.size"] = u[2] as string;
  }
  if (last.get("lxc.start.auto") === "1") {
    take("lxc.start.auto");
    config["boot.autostart"] = "true";
  }
  const delay = take("lxc.start.delay");
  if (delay) config["boot.autostart.delay"] = delay;
  const order = take("lxc.start.order");
  if (order) config["boot.autostart.priority"] = String(-Number(order) || 0);
  for (const e of entries) {
    if (e.key === "lxc.environment" && e.value.includes("=")) {
      const i = e.value.indexOf("=");
      config[`environment.${e.value.slice(0, i)}`] = e.value.slice(i + 1);
      consumed.add(e);
    }
    const vol = VOLATILE[e.key];
    if (vol) config[vol] = e.value;
  }
  const devices = devicesView(entries, forwards, consumed, opts.hints?.devices);
  const raw = entries.filter(
    (e) =>
      !consumed.has(e) &&
      !isPreservedKey(e.key) &&
      !(e.key === "lxc.uts.name" && e.value === opts.name),
  );
  if (raw.length > 0) config["raw.lxc"] = `${raw.map((e) => `${e.key} = ${e.value}`).join("\n")}\n`;
  for (const [k, v] of Object.entries(opts.hints?.config ?? {})) {
    if (k === "raw.lxc" || k.startsWith("volatile.") || isStoredKey(k)) continue;
    if (sameRender(k, v, config[k], opts.hints?.config ?? {})) config[k] = v;
  }
  return { config, devices };
}

/** Whether LXD value `hint` of `k` stands for what `shown` (or its absence) does. */
function sameRender(
  k: string,
  hint: string,
  shown: string | undefined,
  all: Record<string, string>,
): boolean {
  try {
    const a = renderKey(k, hint, all);
    const b = shown === undefined ? [] : renderKey(k, shown, { ...all, [k]: shown });
    return (
      a.length === b.length && a.every((e, i) => e.key === b[i]?.key && e.value === b[i]?.value)
    );
  } catch {
    return false;
  }
}
