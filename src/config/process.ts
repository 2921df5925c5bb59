/**
 * The process and namespace keys of lxc.container.conf(5): which namespaces
 * are made, kept or joined (`lxc.namespace.*`), the time namespace's offsets
 * (`lxc.time.offset.*`), `/proc/PID` files of the init (`lxc.proc.*`), its
 * supplementary groups, session keyring, core scheduling, the parent-death
 * signal and the monitor's mount namespace. Value checks for the registry and
 * the typed `ProcessConfig` the model resolves them into; what the host
 * offers and what other containers are is decided at start
 * (container/process-opts.ts).
 */

import { configError } from "../core/errors.js";
import type { ConfigEntry } from "./parse.js";
import { parseBool01, parseId, parseSignal, ValueError } from "./values.js";

/** Namespace names as `/proc/PID/ns` shows them (LXC accepts `mount` for `mnt`). */
export const NAMESPACE_NAMES = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];

/** A value with the entry it came from, for errors at start. */
export interface Setting<T> {
  value: T;
  key: string;
  file: string;
  line: number;
}

/** A clock offset, normalised as time_namespaces(7) takes it: nanoseconds in [0, 1e9). */
export interface ClockOffset {
  sec: bigint;
  nsec: number;
}

export interface ProcessConfig {
  /** `lxc.namespace.clone`: exactly these namespaces are made. */
  nsClone?: Setting<string[]>;
  /** `lxc.namespace.keep`: these are the starter's; every other is made. */
  nsKeep?: Setting<string[]>;
  /** `lxc.namespace.share.NS`: a pid, a container name (or its directory), or a namespace file. */
  nsShare: Record<string, Setting<string>>;
  timeOffset: { boot?: Setting<ClockOffset>; monotonic?: Setting<ClockOffset> };
  /** `lxc.proc.FILE`, in file order (a later value for a file replaces it in place). */
  proc: Setting<{ file: string; value: string }>[];
  /** `lxc.init.groups`. */
  initGroups?: Setting<number[]>;
  /** `lxc.keyring.session`: a new session keyring (LXC's default) or the caller's. */
  keyringSession: boolean;
  /** `lxc.sched.core = 1`. */
  schedCore?: Setting<true>;
  /** `lxc.monitor.signal.pdeath`; unset: SIGKILL. */
  pdeath?: Setting<number>;
  /** `lxc.monitor.unshare` not 0. */
  monitorUnshare?: Setting<true>;
  /** `lxc.seccomp.notify.proxy` (the address after `unix:`) and `.cookie`. */
  seccompProxy?: Setting<string>;
  seccompCookie?: string;
}

export function defaultProcess(): ProcessConfig {
  return { nsShare: {}, timeOffset: {}, proc: [], keyringSession: true };
}

/** `mount` is LXC's other spelling of `mnt`. */
function nsName(v: string): string {
  return v === "mount" ? "mnt" : v;
}

/** A space-separated namespace list, each known, none twice. */
export function parseNamespaceList(v: string): string[] {
  const out: string[] = [];
  for (const raw of v.split(/[ \t]+/).filter(Boolean)) {
    const ns = nsName(raw);
    if (!NAMESPACE_NAMES.includes(ns))
      throw new ValueError(
        `unknown namespace "${raw}": expected names from ${NAMESPACE_NAMES.join(", ")}`,
      );
    if (!out.includes(ns)) out.push(ns);
  }
  return out;
}

/** The namespace of an `lxc.namespace.share.NS` key. */
export function shareNamespace(key: string): string {
  const raw = key.slice("lxc.namespace.share.".length);
  const ns = nsName(raw);
  if (!NAMESPACE_NAMES.includes(ns))
    throw new ValueError(
      `unknown namespace "${raw}": expected one of ${NAMESPACE_NAMES.join(", ")}`,
    );
  return ns;
}

const UNIT_NS: Record<string, bigint> = {
  h: 3_600_000_000_000n,
  m: 60_000_000_000n,
  s: 1_000_000_000n,
  ms: 1_000_000n,
  us: 1_000n,
  ns: 1n,
};
/** Beyond this the kernel refuses an offset anyway (KTIME_SEC_MAX / 2 is about 146 years). */
const MAX_OFFSET_SEC = 1n << 40n;

/** `lxc.time.offset.*`: an integer and a unit (h, m, s, ms, us, ns), as LXC reads it. */
export function parseTimeOffset(v: string): ClockOffset {
  const m = /^([+-]?\d+)\s*(h|m|s|ms|us|ns)$/.exec(v);
  if (!m)
    throw new ValueError(
      `invalid value "${v}": expected an offset such as 10s, -5m, 200ms (units h, m, s, ms, us, ns)`,
    );
  const total = BigInt(m[1] as string) * (UNIT_NS[m[2] as string] as bigint);
  let sec = total / 1_000_000_000n;
  let nsec = total % 1_000_000_000n;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += 1_000_000_000n;
  }
  if (sec > MAX_OFFSET_SEC || sec < -MAX_OFFSET_SEC)
    throw new ValueError(`invalid value "${v}": an offset of at most 2^40 seconds either way`);
  return { sec, nsec: Number(nsec) };
}

/** `lxc.init.groups`: comma-separated gids (blanks around them allowed). */
export function parseGroups(v: string): number[] {
  const gids = v.split(",").map((g) => parseId(g.trim()));
  if (gids.length > 64) throw new ValueError(`invalid value "${v}": at most 64 groups`);
  return gids;
}

/** `lxc.proc.FILE`: FILE a name (or path of names) under /proc/PID, no way up. */
export function checkProcFile(key: string): string {
  const file = key.slice("lxc.proc.".length);
  if (file.split("/").some((c) => c === "" || c === "." || c === ".."))
    throw new ValueError(`malformed proc file "${file}" in ${key}`);
  return file;
}

/** `lxc.seccomp.notify.proxy`: `unix:/path` or `unix:@abstract`; the address after `unix:`. */
export function parseProxyAddress(v: string): string {
  const m = /^unix:((\/|@).+)$/.exec(v);
  if (!m || Buffer.byteLength(m[1] as string) > 107)
    throw new ValueError(
      `invalid value "${v}": expected unix:/path or unix:@name (at most 107 bytes)`,
    );
  return m[1] as string;
}

/** `lxc.monitor.unshare`: LXC reads any non-negative integer; not 0 means unshare. */
export function parseMonitorUnshare(v: string): boolean {
  if (!/^\d+$/.test(v)) throw new ValueError(`invalid value "${v}": expected 0 or 1`);
  return Number(v) !== 0;
}

/**
 * Applies one entry to `p` if it is a process key; false otherwise. An
 * empty value resets the key (clears the list).
 */
export function applyProcessEntry(p: ProcessConfig, e: ConfigEntry): boolean {
  const { key, value: v } = e;
  const at = <T>(value: T): Setting<T> => ({ value, key, file: e.file, line: e.line });
  switch (key) {
    case "lxc.namespace.clone":
    case "lxc.namespace.keep": {
      const list = v === "" ? undefined : at(parseNamespaceList(v));
      const other = key === "lxc.namespace.clone" ? p.nsKeep : p.nsClone;
      // LXC's set_config_namespace_clone/keep: "Cannot set both".
      if (list && other)
        throw configError(
          e.file,
          e.line,
          `${key}: cannot be set together with ${other.key} (${other.file}:${other.line})`,
        );
      if (key === "lxc.namespace.clone") p.nsClone = list;
      else p.nsKeep = list;
      return true;
    }
    case "lxc.time.offset.boot":
    case "lxc.time.offset.monotonic": {
      const which = key === "lxc.time.offset.boot" ? "boot" : "monotonic";
      p.timeOffset[which] = v === "" ? undefined : at(parseTimeOffset(v));
      return true;
    }
    case "lxc.proc":
      p.proc = [];
      return true;
    case "lxc.init.groups":
      p.initGroups = v === "" ? undefined : at(parseGroups(v));
      return true;
    case "lxc.keyring.session":
      p.keyringSession = v === "" ? true : parseBool01(v);
      return true;
    case "lxc.sched.core":
      p.schedCore = v !== "" && parseBool01(v) ? at(true) : undefined;
      return true;
    case "lxc.monitor.signal.pdeath":
      p.pdeath = v === "" ? undefined : at(parseSignal(v, true));
      return true;
    case "lxc.seccomp.notify.proxy":
      p.seccompProxy = v === "" ? undefined : at(parseProxyAddress(v));
      return true;
    case "lxc.seccomp.notify.cookie":
      p.seccompCookie = v === "" ? undefined : v;
      return true;
    case "lxc.monitor.unshare":
      p.monitorUnshare = v !== "" && parseMonitorUnshare(v) ? at(true) : undefined;
      return true;
  }
  if (key.startsWith("lxc.namespace.share.")) {
    const ns = shareNamespace(key);
    if (v === "") delete p.nsShare[ns];
    else p.nsShare[ns] = at(v);
    return true;
  }
  if (key.startsWith("lxc.proc.")) {
    const file = checkProcFile(key);
    const kept = p.proc.filter((s) => s.value.file !== file);
    p.proc = v === "" ? kept : [...kept, at({ file, value: v })];
    return true;
  }
  return false;
}
