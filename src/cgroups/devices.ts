/**
 * The device allowlist: LXC's `lxc.cgroup.devices.*` (cgroup v1 `devices`
 * controller) and `lxc.cgroup2.devices.*` (cgroup v2, an eBPF program the
 * helper encodes and attaches: `lxt-shim devices`, docs/helper-protocol.md).
 * Pure: rule parsing, the default set, the rules a config yields, and the
 * v1 semantics (cgroup-v1/devices.rst) that the v2 program reproduces.
 */

import type { ConfigEntry } from "../config/parse.js";
import { ValueError } from "../config/values.js";
import type { CgroupLayout } from "./layout.js";

/** One rule as LXC writes it: `c 1:3 rwm`, `b *:* m`, `a`. */
export interface DeviceRule {
  allow: boolean;
  /** `a` is every device (only as the whole-list rule `a` / `a *:* rwm`). */
  type: "a" | "c" | "b";
  /** `-1` stands for `*`. */
  major: number;
  minor: number;
  /** A non-empty subset of `rwm`, in that order. */
  access: string;
}

/** Where a rule came from: a config line, or lxt's default set. */
export interface DeviceRuleAt extends DeviceRule {
  key: string;
  file?: string;
  line?: number;
}

const ANY = -1;
/** Kernel limits: 12-bit majors, 20-bit minors (include/linux/kdev_t.h). */
const MAX_MAJOR = 4095;
const MAX_MINOR = (1 << 20) - 1;

function parseNumber(s: string, max: number, what: string, value: string): number {
  if (s === "*") return ANY;
  if (!/^(0|[1-9][0-9]*)$/.test(s) || Number(s) > max)
    throw new ValueError(`invalid device rule "${value}": ${what} "${s}" is not * or 0..${max}`);
  return Number(s);
}

function normaliseAccess(s: string, value: string): string {
  if (!/^[rwm]+$/.test(s) || new Set(s).size !== s.length)
    throw new ValueError(
      `invalid device rule "${value}": access "${s}" is not a combination of r, w and m`,
    );
  return ["r", "w", "m"].filter((c) => s.includes(c)).join("");
}

/**
 * Parses LXC's rule syntax (`TYPE MAJOR:MINOR ACCESS`, or `a` for every
 * device), as the kernel's devices.allow takes it.
 *
 * @throws ValueError for anything else.
 */
export function parseDeviceRule(value: string, allow: boolean): DeviceRule {
  const words = value.trim().split(/\s+/);
  const [type, numbers, access] = words;
  if (type === "a") {
    if (words.length === 1) return { allow, type: "a", major: ANY, minor: ANY, access: "rwm" };
    if (numbers === "*:*" && words.length <= 3) {
      return {
        allow,
        type: "a",
        major: ANY,
        minor: ANY,
        access: access === undefined ? "rwm" : normaliseAccess(access, value),
      };
    }
    throw new ValueError(
      `invalid device rule "${value}": type a (all devices) takes no numbers but *:*`,
    );
  }
  if (type !== "c" && type !== "b")
    throw new ValueError(
      `invalid device rule "${value}": expected TYPE MAJOR:MINOR ACCESS with TYPE a, b or c (e.g. "c 1:3 rwm")`,
    );
  if (words.length !== 3 || numbers === undefined || access === undefined)
    throw new ValueError(
      `invalid device rule "${value}": expected TYPE MAJOR:MINOR ACCESS (e.g. "c 1:3 rwm")`,
    );
  const parts = numbers.split(":");
  if (parts.length !== 2)
    throw new ValueError(`invalid device rule "${value}": expected MAJOR:MINOR, got "${numbers}"`);
  return {
    allow,
    type,
    major: parseNumber(parts[0] as string, MAX_MAJOR, "major", value),
    minor: parseNumber(parts[1] as string, MAX_MINOR, "minor", value),
    access: normaliseAccess(access, value),
  };
}

/** The rule as the kernel's devices.allow/deny file takes it. */
export function formatDeviceRule(r: DeviceRule): string {
  if (r.type === "a") return "a";
  const n = (x: number) => (x === ANY ? "*" : String(x));
  return `${r.type} ${n(r.major)}:${n(r.minor)} ${r.access}`;
}

/** Config file and key suffixes: `devices.allow` / `devices.deny`. */
export const DEVICE_FILES = ["devices.allow", "devices.deny"] as const;

/** Checks a device key's name and value (the registry's validator). */
export function checkDeviceKey(value: string, key: string): void {
  const file = key.replace(/^lxc\.cgroup2?\./, "");
  if (!(DEVICE_FILES as readonly string[]).includes(file))
    throw new ValueError(
      `unknown device key ${key}: expected ${key.replace(/devices\..*$/, "")}devices.allow or .deny`,
    );
  parseDeviceRule(value, file === "devices.allow");
}

/**
 * LXC's default device set (its `common.conf`): nothing but mknod of any
 * node, the memory devices, ttys, the console and ptys, fuse and tun.
 */
export const DEFAULT_DEVICE_LINES: readonly [
  file: "devices.allow" | "devices.deny",
  rule: string,
][] = [
  ["devices.deny", "a"],
  ["devices.allow", "c *:* m"],
  ["devices.allow", "b *:* m"],
  ["devices.allow", "c 1:3 rwm"], // null
  ["devices.allow", "c 1:5 rwm"], // zero
  ["devices.allow", "c 1:7 rwm"], // full
  ["devices.allow", "c 5:0 rwm"], // tty
  ["devices.allow", "c 5:1 rwm"], // console
  ["devices.allow", "c 5:2 rwm"], // ptmx
  ["devices.allow", "c 1:8 rwm"], // random
  ["devices.allow", "c 1:9 rwm"], // urandom
  ["devices.allow", "c 136:* rwm"], // pts
  ["devices.allow", "c 10:229 rwm"], // fuse
  ["devices.allow", "c 10:200 rwm"], // net/tun
];

/**
 * The rules of one cgroup version in order: lxt's defaults (standing in for
 * LXC's included `common.conf`, so an empty value clears them too), then the
 * config's lines. As LXC: `lxc.cgroup =` (or `lxc.cgroup2 =`) clears every
 * line of the family, `lxc.cgroup.devices.allow =` those of that key.
 */
export function deviceRules(entries: readonly ConfigEntry[], version: 1 | 2): DeviceRuleAt[] {
  const prefix = version === 1 ? "lxc.cgroup." : "lxc.cgroup2.";
  const root = prefix.slice(0, -1);
  let rules: DeviceRuleAt[] = DEFAULT_DEVICE_LINES.map(([file, rule]) => ({
    ...parseDeviceRule(rule, file === "devices.allow"),
    key: `${prefix}${file}`,
  }));
  for (const e of entries) {
    if (e.key === root && e.value === "") rules = [];
    if (!e.key.startsWith(`${prefix}devices.`)) continue;
    if (e.value === "") {
      rules = rules.filter((r) => r.key !== e.key);
      continue;
    }
    const allow = e.key === `${prefix}devices.allow`;
    rules.push({ ...parseDeviceRule(e.value, allow), key: e.key, file: e.file, line: e.line });
  }
  return rules;
}

/** The v1 controller's state after a list of writes: a default and its exceptions. */
export interface DeviceList {
  defaultAllow: boolean;
  /** Devices whose verdict is the opposite of the default. */
  exceptions: DeviceRule[];
}

const sameDevice = (a: DeviceRule, b: DeviceRule) =>
  a.type === b.type && a.major === b.major && a.minor === b.minor;

function mergeAccess(a: string, b: string): string {
  return ["r", "w", "m"].filter((c) => a.includes(c) || b.includes(c)).join("");
}

/**
 * Replays rules as the v1 controller does (Documentation/admin-guide/
 * cgroup-v1/devices.rst, `devcgroup_update_access`): `a` sets the default
 * and empties the list; a rule against the default adds an exception (its
 * access merged into one for the same device); a rule with the default
 * takes its access away from the same device's exception.
 */
export function replayDeviceRules(rules: readonly DeviceRule[]): DeviceList {
  let list: DeviceList = { defaultAllow: true, exceptions: [] };
  for (const r of rules) {
    if (r.type === "a") {
      list = { defaultAllow: r.allow, exceptions: [] };
      continue;
    }
    const i = list.exceptions.findIndex((x) => sameDevice(x, r));
    const found = list.exceptions[i];
    if (r.allow !== list.defaultAllow) {
      if (found) list.exceptions[i] = { ...found, access: mergeAccess(found.access, r.access) };
      else list.exceptions.push({ ...r, allow: !list.defaultAllow });
    } else if (found) {
      const left = ["r", "w", "m"].filter((c) => found.access.includes(c) && !r.access.includes(c));
      if (left.length === 0) list.exceptions.splice(i, 1);
      else list.exceptions[i] = { ...found, access: left.join("") };
    }
  }
  return list;
}

/**
 * What the kernel decides for one access under `list`, as the program from
 * `lxt-shim devices` does: under a deny default an exception must cover
 * every requested bit; under an allow default any bit it names denies.
 */
export function deviceAllowed(
  list: DeviceList,
  type: "c" | "b",
  major: number,
  minor: number,
  access: string,
): boolean {
  for (const x of list.exceptions) {
    if (x.type !== type) continue;
    if (x.major !== ANY && x.major !== major) continue;
    if (x.minor !== ANY && x.minor !== minor) continue;
    const bits = [...access];
    const hit = list.defaultAllow
      ? bits.some((c) => x.access.includes(c))
      : bits.every((c) => x.access.includes(c));
    if (hit) return !list.defaultAllow;
  }
  return list.defaultAllow;
}

/** The arguments of `lxt-shim devices attach DIR ...` for a list: DEFAULT RULE... */
export function deviceProgramArgs(list: DeviceList): string[] {
  const n = (x: number) => (x === ANY ? "*" : String(x));
  return [
    list.defaultAllow ? "allow" : "deny",
    ...list.exceptions.map((x) => `${x.type}:${n(x.major)}:${n(x.minor)}:${x.access}`),
  ];
}

/** How a container's devices are controlled on this host. */
export type DevicePlan =
  | { kind: "v1"; writes: { file: string; value: string; origin: DeviceRuleAt }[] }
  | { kind: "v2"; args: string[] }
  | { kind: "none"; reason: string };

/**
 * Chooses the mechanism as LXC does: the v1 `devices` controller when the
 * host mounts one (v1 and hybrid hosts, `lxc.cgroup.devices.*`), an eBPF
 * program on a cgroup2-only host (`lxc.cgroup2.devices.*`). With every rule
 * cleared the container's devices are not restricted (as LXC).
 */
export function planDevices(entries: readonly ConfigEntry[], layout: CgroupLayout): DevicePlan {
  const v1 = layout.hierarchies.some((h) => h.version === 1 && h.controllers.includes("devices"));
  if (v1) {
    const rules = deviceRules(entries, 1);
    return {
      kind: "v1",
      writes: rules.map((r) => ({
        file: r.allow ? "devices.allow" : "devices.deny",
        value: formatDeviceRule(r),
        origin: r,
      })),
    };
  }
  if (layout.kind === "v2") {
    const rules = deviceRules(entries, 2);
    if (rules.length === 0) return { kind: "none", reason: "every device rule was cleared" };
    return { kind: "v2", args: deviceProgramArgs(replayDeviceRules(rules)) };
  }
  return { kind: "none", reason: "the host has no device cgroup controller" };
}
