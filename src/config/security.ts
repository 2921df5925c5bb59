/**
 * Capabilities, no_new_privs and the seccomp profile key: value checks for
 * the registry, the typed `SecurityConfig` the model resolves them into, and
 * the resolution of `lxc.cap.drop` / `lxc.cap.keep` into the one set the
 * helper applies (bounding = permitted = effective; docs/security.md).
 */

import { configError } from "../core/errors.js";
import { type IdmapLine, parseIdmapLine, parseIdmapText } from "./idmap.js";
import { ValueError } from "./values.js";

/** capabilities(7) names by number, as LXC spells them (lowercase, no `CAP_`). */
export const CAPABILITIES = [
  "chown",
  "dac_override",
  "dac_read_search",
  "fowner",
  "fsetid",
  "kill",
  "setgid",
  "setuid",
  "setpcap",
  "linux_immutable",
  "net_bind_service",
  "net_broadcast",
  "net_admin",
  "net_raw",
  "ipc_lock",
  "ipc_owner",
  "sys_module",
  "sys_rawio",
  "sys_chroot",
  "sys_ptrace",
  "sys_pacct",
  "sys_admin",
  "sys_boot",
  "sys_nice",
  "sys_resource",
  "sys_time",
  "sys_tty_config",
  "mknod",
  "lease",
  "audit_write",
  "audit_control",
  "setfcap",
  "mac_override",
  "mac_admin",
  "syslog",
  "wake_alarm",
  "block_suspend",
  "audit_read",
  "perfmon",
  "bpf",
  "checkpoint_restore",
] as const;

/** LXC's `common.conf` drops (lxc.container.conf(5) examples, config/common.conf.in). */
export const LXC_COMMON_DROP = ["mac_admin", "mac_override", "sys_time", "sys_module", "sys_rawio"];

/**
 * What a privileged container loses unless its config says otherwise:
 * LXC's set plus host-global powers a system container has no use for.
 * Each is explained in docs/security.md.
 */
export const DEFAULT_CAP_DROP: readonly string[] = [
  ...LXC_COMMON_DROP,
  "dac_read_search",
  "sys_pacct",
  "syslog",
  "audit_control",
  "audit_read",
  "wake_alarm",
  "block_suspend",
  "perfmon",
  "bpf",
  "checkpoint_restore",
];

/**
 * A capability as `lxc.cap.*` takes it: a capabilities(7) name with or
 * without `CAP_`, in any case, or a number (a capability newer than lxt).
 */
export function parseCapability(token: string): number {
  if (/^\d+$/.test(token)) {
    const n = Number(token);
    if (n <= 63) return n;
  }
  const name = token.toLowerCase().replace(/^cap_/, "");
  const n = (CAPABILITIES as readonly string[]).indexOf(name);
  if (n < 0)
    throw new ValueError(
      `unknown capability "${token}": expected a name from capabilities(7) such as sys_admin or CAP_NET_RAW, or a number`,
    );
  return n;
}

/** Checks a `lxc.cap.drop` / `lxc.cap.keep` value (space-separated capabilities). */
export function checkCapList(value: string, key: string): void {
  for (const t of value.split(/\s+/)) {
    if (t === "none" && key === "lxc.cap.keep") continue;
    parseCapability(t);
  }
}

interface At {
  file: string;
  line: number;
}

/** The security keys of a config, as written (resolution happens at start). */
export interface SecurityConfig {
  /** `lxc.cap.drop` capabilities in order; `dropCleared`: an empty value removed lxt's defaults too. */
  capDrop: string[];
  dropCleared: boolean;
  dropAt?: At;
  /** `lxc.cap.keep`: undefined when unset; `[]` after `none`. */
  capKeep?: string[];
  keepAt?: At;
  noNewPrivs: boolean;
  /** `lxc.seccomp.profile` as written and where (relative paths are relative to that file). */
  seccompProfile?: { path: string } & At;
  /** `lxc.idmap` lines; `idmapAt`: where the first one is. */
  idmap: IdmapLine[];
  idmapAt?: At;
  /** `lxt.privileged`; undefined when the config does not say (an LXC config: privileged unless lxc.idmap). */
  privileged?: boolean;
  privilegedAt?: At;
  /** `lxt.volatile.idmap.base`: the slice lxt allocated to this container. */
  idmapBase?: number;
  /** `lxt.volatile.rootfs.shift`: the map the rootfs's ownership is shifted to on disk (absent: unshifted). */
  rootfsShift?: IdmapLine[];
}

export function defaultSecurity(): SecurityConfig {
  return { capDrop: [], dropCleared: false, noNewPrivs: false, idmap: [] };
}

/**
 * Applies one security key to `sec`; false if the key is not one of them.
 * Values were checked by the registry. As LXC: an empty value clears the
 * list (for `lxc.cap.drop` that includes lxt's default drops, which stand
 * in for LXC's included `common.conf`).
 */
export function applySecurityEntry(
  sec: SecurityConfig,
  key: string,
  value: string,
  at: At,
): boolean {
  const words = value === "" ? [] : value.split(/\s+/);
  switch (key) {
    case "lxc.cap.drop":
      if (value === "") {
        sec.capDrop = [];
        sec.dropCleared = true;
        sec.dropAt = undefined;
      } else {
        sec.capDrop.push(...words);
        sec.dropAt ??= at;
      }
      return true;
    case "lxc.cap.keep":
      if (value === "") {
        sec.capKeep = undefined;
        sec.keepAt = undefined;
        return true;
      }
      sec.keepAt ??= at;
      for (const w of words) {
        if (w === "none") sec.capKeep = [];
        else sec.capKeep = [...(sec.capKeep ?? []), w];
      }
      return true;
    case "lxc.no_new_privs":
      sec.noNewPrivs = value === "1";
      return true;
    case "lxc.seccomp.profile":
      sec.seccompProfile = value === "" ? undefined : { path: value, ...at };
      return true;
    case "lxc.idmap":
      if (value === "") {
        sec.idmap = [];
        sec.idmapAt = undefined;
      } else {
        sec.idmap.push(parseIdmapLine(value));
        sec.idmapAt ??= at;
      }
      return true;
    case "lxt.privileged":
      sec.privileged = value === "" ? undefined : parsePrivileged(value);
      sec.privilegedAt = value === "" ? undefined : at;
      return true;
    case "lxt.volatile.idmap.base":
      sec.idmapBase = value === "" ? undefined : Number(value);
      return true;
    case "lxt.volatile.rootfs.shift":
      sec.rootfsShift = value === "" ? undefined : parseIdmapText(value);
      return true;
    default:
      return false;
  }
}

/**
 * The capabilities the container keeps, ascending: with `lxc.cap.keep`
 * exactly those; otherwise every capability lxt knows minus lxt's default
 * drops (unless cleared) and `lxc.cap.drop`. Capabilities newer than lxt
 * (numbers past `checkpoint_restore`) are dropped unless kept by number:
 * nobody has reviewed what they grant.
 */
export function resolveCapabilities(sec: SecurityConfig): number[] {
  if (sec.capKeep !== undefined) {
    if (sec.capDrop.length > 0 && sec.dropAt) {
      throw configError(
        sec.dropAt.file,
        sec.dropAt.line,
        "lxc.cap.drop and lxc.cap.keep are both set: use one of them (as LXC)",
      );
    }
    return [...new Set(sec.capKeep.map(parseCapability))].sort((a, b) => a - b);
  }
  const drop = new Set(
    [...(sec.dropCleared ? [] : DEFAULT_CAP_DROP), ...sec.capDrop].map(parseCapability),
  );
  return CAPABILITIES.map((_, i) => i).filter((i) => !drop.has(i));
}

/** Names for a set (numbers for capabilities lxt has no name for), for messages and docs. */
export function capabilityNames(caps: readonly number[]): string[] {
  return caps.map((c) => CAPABILITIES[c] ?? String(c));
}

/** `lxt.privileged`: 1/0 as LXC's booleans, or true/false. */
export function parsePrivileged(value: string): boolean {
  if (value === "1" || value === "true") return true;
  if (value === "0" || value === "false") return false;
  throw new ValueError(`invalid value "${value}": expected 0, 1, true or false`);
}
