/**
 * AppArmor for containers, in the spirit of LXC's generated profile
 * (lxc.container.conf(5), "APPARMOR PROFILE"): which profile a container
 * runs under, and the text of the per-container profile lxt generates.
 * Pure: the host's AppArmor state comes in as data (host/apparmor.ts reads
 * it and runs apparmor_parser).
 */

import type { ConfigEntry } from "../config/parse.js";
import { configError, LxtError } from "../core/errors.js";

/** The `lxc.apparmor.*` keys of a config, as written. */
export interface AppArmorConfig {
  /** `lxc.apparmor.profile`; undefined when unset (lxt then generates one). */
  profile?: string;
  profileAt?: { file: string; line: number };
  allowNesting: boolean;
  allowIncomplete: boolean;
  /** `lxc.apparmor.raw` lines, appended to a generated profile. */
  raw: string[];
}

/** The keys this module resolves (the config model leaves them to it). */
export const APPARMOR_KEYS = [
  "lxc.apparmor.profile",
  "lxc.apparmor.allow_nesting",
  "lxc.apparmor.allow_incomplete",
  "lxc.apparmor.raw",
];

/** Reads the `lxc.apparmor.*` entries in order; an empty value resets a key (clears the raw list). */
export function appArmorConfig(entries: readonly ConfigEntry[]): AppArmorConfig {
  const cfg: AppArmorConfig = { allowNesting: false, allowIncomplete: false, raw: [] };
  for (const e of entries) {
    switch (e.key) {
      case "lxc.apparmor.profile":
        cfg.profile = e.value === "" ? undefined : e.value;
        cfg.profileAt = e.value === "" ? undefined : { file: e.file, line: e.line };
        break;
      case "lxc.apparmor.allow_nesting":
        cfg.allowNesting = e.value === "1";
        break;
      case "lxc.apparmor.allow_incomplete":
        cfg.allowIncomplete = e.value === "1";
        break;
      case "lxc.apparmor.raw":
        if (e.value === "") cfg.raw = [];
        else cfg.raw.push(e.value);
        break;
    }
  }
  return cfg;
}

/** What the host offers (host/apparmor.ts). */
export interface AppArmorHost {
  /** The module is enabled and securityfs shows its interface. */
  enabled: boolean;
  /** The kernel mediates mounts (`features/mount`): without it mount rules are not enforced. */
  mountFeature: boolean;
}

/** The decision for one start. */
export type AppArmorPlan =
  /** Nothing applied: AppArmor is off, or `unconfined` / `unchanged` was asked for. */
  | { mode: "none"; reason: string }
  /** An existing profile, by name. */
  | { mode: "named"; label: string }
  /** lxt's generated profile, loaded before the start. */
  | { mode: "generated"; label: string; text: string };

/**
 * The generated profile's name: `lxt-NAME_HASH`, HASH naming the state root
 * (the runtime directory's id), so two state roots' `c1` never share one.
 */
export function appArmorProfileName(name: string, rootId: string): string {
  return `lxt-${name}_${rootId}`;
}

/**
 * Decides the profile as LXC does: `unconfined` and `unchanged` apply
 * nothing; `generated` (and unset) generate one; any other value names a
 * loaded profile. On a host without AppArmor a generated profile is skipped
 * (the container starts, unconfined); a named one is an error unless
 * `lxc.apparmor.allow_incomplete = 1`. Without mount mediation in the kernel
 * a profile is incomplete, and refused unless allowed.
 *
 * @throws LxtError("config") naming the key's file and line, or ("host").
 */
export function planAppArmor(
  cfg: AppArmorConfig,
  host: AppArmorHost,
  name: string,
  rootId: string,
  warnings: string[],
): AppArmorPlan {
  const asked = cfg.profile ?? "generated";
  const where = cfg.profileAt ? `${cfg.profileAt.file}:${cfg.profileAt.line}: ` : "";
  if (asked === "unconfined" || asked === "unchanged")
    return { mode: "none", reason: `lxc.apparmor.profile = ${asked}` };
  if (asked !== "generated" && cfg.raw.length > 0)
    warnings.push(`${where}lxc.apparmor.raw is ignored: it applies to generated profiles only`);
  if (!host.enabled) {
    if (asked === "generated")
      return { mode: "none", reason: "AppArmor is not enabled on this host" };
    if (cfg.allowIncomplete) {
      warnings.push(
        `${where}lxc.apparmor.profile = ${asked}: AppArmor is not enabled on this host; starting without it (lxc.apparmor.allow_incomplete = 1)`,
      );
      return { mode: "none", reason: "AppArmor is not enabled on this host" };
    }
    const msg = `lxc.apparmor.profile = ${asked}: AppArmor is not enabled on this host (set lxc.apparmor.allow_incomplete = 1 to start without it)`;
    if (cfg.profileAt) throw configError(cfg.profileAt.file, cfg.profileAt.line, msg);
    throw new LxtError("host", msg);
  }
  if (!host.mountFeature && !cfg.allowIncomplete) {
    throw new LxtError(
      "host",
      `${where}AppArmor here does not mediate mounts, so the profile would be incomplete (set lxc.apparmor.allow_incomplete = 1 to start anyway)`,
    );
  }
  if (asked !== "generated") return { mode: "named", label: asked };
  const label = appArmorProfileName(name, rootId);
  return {
    mode: "generated",
    label,
    text: renderAppArmorProfile({ label, name, allowNesting: cfg.allowNesting, raw: cfg.raw }),
  };
}

/**
 * `deny` rules for writes beneath `dir` to everything but `allowed` (paths
 * relative to `dir`; a component ending in `*` allows every name with that
 * prefix; an allowed path allows all beneath it). AppArmor has no "allow
 * except": deny always wins, so the complement is spelled out as character
 * classes over a trie of the allowed names, as LXC's profile does by hand.
 */
export function denyWritesExcept(dir: string, allowed: readonly string[]): string[] {
  interface Node {
    exact: boolean;
    prefix: boolean;
    below: string[];
  }
  const byName = new Map<string, Node>();
  for (const path of allowed) {
    const [first, ...rest] = path.split("/");
    if (!first) continue;
    const prefix = first.endsWith("*");
    const key = prefix ? first.slice(0, -1) : first;
    const node = byName.get(`${prefix ? "*" : "="}${key}`) ?? { exact: !prefix, prefix, below: [] };
    if (rest.length > 0 && !prefix) node.below.push(rest.join("/"));
    byName.set(`${prefix ? "*" : "="}${key}`, node);
  }
  const names = [...byName.entries()].map(([k, n]) => ({ name: k.slice(1), ...n }));
  const out: string[] = [];
  const rule = (pattern: string) => out.push(`deny ${dir}/${pattern}{,/**} wklx,`);
  const walk = (p: string) => {
    const here = names.filter((n) => n.name.startsWith(p));
    if (here.some((n) => n.prefix && n.name === p)) return;
    const next = [
      ...new Set(
        here.filter((n) => n.name.length > p.length).map((n) => n.name[p.length] as string),
      ),
    ].sort();
    const terminal = here.some((n) => n.exact && n.name === p);
    if (next.length === 0) {
      if (terminal) rule(`${p}?*`);
      return;
    }
    // `-` and `]` last / escaped so the class stays a class.
    const cls = next.map((c) => (c === "]" || c === "\\" || c === "^" ? `\\${c}` : c)).join("");
    rule(`${p}[^${cls}]*`);
    if (!terminal && p !== "") rule(p);
    for (const c of next) walk(p + c);
  };
  walk("");
  for (const n of names) {
    if (n.exact && n.below.length > 0) out.push(...denyWritesExcept(`${dir}/${n.name}`, n.below));
  }
  return out;
}

/**
 * /proc/sys entries a container may write: those of its own namespaces (UTS:
 * hostname, domainname; IPC: shm*, msg*, sem*; net: everything).
 */
const PROC_SYS_WRITABLE = [
  "kernel/hostname",
  "kernel/domainname",
  "kernel/shm*",
  "kernel/msg*",
  "kernel/sem*",
  "net",
];
/** /sys beneath which writes stay possible: its cgroups and its own network devices. */
const SYS_WRITABLE = ["fs/cgroup", "devices/virtual/net"];

export interface ProfileInput {
  label: string;
  /** The container's name, for the header. */
  name: string;
  allowNesting: boolean;
  raw: readonly string[];
}

/** The generated profile's text. Pure, golden-tested. */
export function renderAppArmorProfile(input: ProfileInput): string {
  const l = input.label;
  const body: string[] = [
    "# What a system container does: any file, network and capability within its",
    "# namespaces (the kernel's checks and lxt's seccomp filter still apply).",
    "capability,",
    "dbus,",
    "file,",
    "network,",
    "umount,",
    "",
    "# Signals: from anyone; to itself only. ptrace within the container.",
    "signal (receive),",
    `signal peer=${l},`,
    "ptrace (readby, tracedby),",
    `ptrace peer=${l},`,
    "",
    "# Mounts: only these filesystem types, only where a system's boot puts them.",
    "mount fstype=tmpfs,",
    "mount fstype=mqueue,",
    "mount fstype=hugetlbfs,",
    "mount fstype=devpts,",
    "mount fstype=fuse,",
    "mount fstype=fuse.*,",
    "mount fstype=proc -> /proc/,",
    "mount fstype=sysfs -> /sys/,",
    "mount fstype=binfmt_misc -> /proc/sys/fs/binfmt_misc/,",
    "mount fstype=fusectl -> /sys/fs/fuse/connections/,",
    "mount fstype=efivarfs -> /sys/firmware/efi/efivars/,",
    "mount fstype=cgroup -> /sys/fs/cgroup/**,",
    "mount fstype=cgroup2 -> /sys/fs/cgroup/{,**},",
    // No `rw` in an options list: AppArmor 3.0's parser (Debian 12) turns a
    // rule listing it beside another option into one that allows any new
    // mount (a ramfs, proc anywhere, a block device). Without it the list is
    // exact and MS_RDONLY absent, which is what `rw` means.
    "mount options=(nosuid, nodev, noexec, remount) -> /sys/,",
    "mount options=(ro, nosuid, nodev, noexec, remount, strictatime) -> /sys/fs/cgroup/,",
    "# Propagation changes and binds of what the container already sees.",
    ...[
      "slave",
      "rslave",
      "shared",
      "rshared",
      "private",
      "rprivate",
      "unbindable",
      "runbindable",
    ].map((p) => `mount options=(make-${p}) -> **,`),
    "mount options=(bind),",
    "mount options=(rbind),",
    "mount options=(ro, remount, bind),",
    "mount options=(ro, nosuid, nodev, noexec, remount, bind),",
    "remount,",
    "# A read-only remount of / would be the host's own view: silently refused.",
    "deny mount options=(ro, remount) -> /,",
    "deny mount options=(ro, remount, silent) -> /,",
    "deny mount fstype=debugfs,",
    "",
    "# Host kernel state under /proc: memory, sysrq, ACPI, buses.",
    "deny /proc/kcore rwklx,",
    "deny /proc/kmem rwklx,",
    "deny /proc/mem rwklx,",
    "deny /proc/sysrq-trigger rwklx,",
    "deny /proc/acpi/** rwklx,",
    "deny /proc/bus/** wklx,",
    "deny /proc/irq/** wklx,",
    "# /proc/sys: writes only to what the container's namespaces own.",
    ...denyWritesExcept("/proc/sys", PROC_SYS_WRITABLE),
    "",
    "# /sys: writes only to its cgroups and its network devices; no firmware variables, debugfs.",
    ...denyWritesExcept("/sys", SYS_WRITABLE),
    "deny /sys/firmware/efi/efivars/** rwklx,",
    "deny /sys/kernel/debug/{,**} rwklx,",
  ];
  if (input.allowNesting) {
    body.push(
      "",
      "# lxc.apparmor.allow_nesting: containers inside this one, under their own generated profiles.",
      "pivot_root,",
      "mount,",
      "change_profile -> lxt-*,",
      "change_profile -> unconfined,",
      "ptrace,",
      "signal,",
    );
  } else {
    body.push("deny mount fstype=securityfs,", "deny /sys/kernel/security/** rwklx,");
  }
  if (input.raw.length > 0) body.push("", "# lxc.apparmor.raw", ...input.raw);
  const lines = [
    `# lxt's generated AppArmor profile for container ${input.name}.`,
    "# Rewritten and reloaded at every start; edits here are lost.",
    "",
    `profile ${l} flags=(attach_disconnected, mediate_deleted) {`,
    ...body.map((b) => (b === "" ? "" : `  ${b}`)),
    "}",
  ];
  return `${lines.join("\n")}\n`;
}
