/**
 * Registry entries for confinement and lifecycle extras: cgroups (raw
 * writes, devices, placement), capabilities, namespaces, LSMs, seccomp, id
 * maps, hooks, autostart, monitor options and lxt's own keys (`lxt.limits.*`,
 * see limits.ts).
 */

import { checkDeviceKey } from "../cgroups/devices.js";
import { parseIdmapLine, parseIdmapText } from "./idmap.js";
import {
  bool01,
  familyRoot,
  type HostInfo,
  impl,
  type KeySpec,
  nothing,
  subkeyAfter,
  uint,
  type Verdict,
} from "./key-spec.js";
import { HOOK_TYPES } from "./lifecycle.js";
import { LIMIT_KEYS } from "./limits.js";
import {
  checkProcFile,
  parseMonitorUnshare,
  parseNamespaceList,
  parseProxyAddress,
  parseTimeOffset,
  shareNamespace,
} from "./process.js";
import { checkCapList, DEFAULT_CAP_DROP, parsePrivileged } from "./security.js";
import { parseInteger, parseSignal, ValueError } from "./values.js";

const CGROUP_V1 = "lxc.cgroup.[controller].[file]";
const CGROUP_V2 = "lxc.cgroup2.[controller].[file]";

/**
 * Host-dependent verdicts of `lxc.cgroup.*` and `lxc.cgroup2.*`, as LXC
 * decides them: v1 keys are ignored on a host without v1 hierarchies, and
 * LXC's `cgfsng_setup_limits` ignores every v2 key unless the layout is
 * pure cgroup2 ("Ignoring cgroup2 limits on legacy cgroup system"), hybrid
 * hosts included.
 */
function checkCgroup(version: 1 | 2) {
  return (_v: string, _key: string, host: HostInfo): Verdict | undefined => {
    if (version === 1 && host.cgroupLayout === "v2") {
      return {
        status: "ignored",
        reason: "the host has no cgroup v1 hierarchy (LXC ignores lxc.cgroup.* there)",
        warn: true,
      };
    }
    if (version === 2 && host.cgroupLayout === "v1") {
      return {
        status: "ignored",
        reason: "the host has no cgroup v2 hierarchy (LXC ignores lxc.cgroup2.* there)",
        warn: true,
      };
    }
    if (version === 2 && host.cgroupLayout === "hybrid") {
      return {
        status: "ignored",
        reason:
          "the host is not cgroup2-only (LXC ignores lxc.cgroup2.* on hybrid hosts; use lxc.cgroup.* or lxt.limits.*)",
        warn: true,
      };
    }
    return undefined;
  };
}

function checkRelCgroupDir(v: string, key: string): void {
  if (v.startsWith("/"))
    throw new ValueError(`invalid value "${v}": ${key} paths may not be absolute`);
  if (v.split("/").includes(".."))
    throw new ValueError(`invalid value "${v}": ${key} paths may not walk upwards via ".."`);
}

/** Exact keys about confinement and lifecycle extras. */
export const CONFINEMENT_KEYS: KeySpec[] = [
  familyRoot("lxc.cgroup", CGROUP_V1, "with an empty value, clears every lxc.cgroup.* setting"),
  familyRoot("lxc.cgroup2", CGROUP_V2, "with an empty value, clears every lxc.cgroup2.* setting"),
  impl(
    "lxc.cgroup.dir",
    "a path beneath the starting process's cgroup in which the container's (lxt.payload.NAME) and its monitor's cgroups are made; missing directories are made and left in place",
    checkRelCgroupDir,
  ),
  impl(
    "lxc.cgroup.dir.container",
    "the container's cgroup itself, beneath the starting process's (with lxc.cgroup.dir.monitor); limits are written there",
    checkRelCgroupDir,
  ),
  impl(
    "lxc.cgroup.dir.monitor",
    "the monitor's cgroup, beneath the starting process's (with lxc.cgroup.dir.container); the monitor moves there first",
    checkRelCgroupDir,
  ),
  impl(
    "lxc.cgroup.dir.monitor.pivot",
    "a cgroup beneath the starting process's the monitor moves to as it ends, so that its own can be removed",
    checkRelCgroupDir,
  ),
  impl(
    "lxc.cgroup.dir.container.inner",
    "one directory below lxc.cgroup.dir.container for the init: its cgroup namespace's root, while limits stay out of its reach",
    (v, k) => {
      checkRelCgroupDir(v, k);
      if (v.includes("/") || v === ".")
        throw new ValueError(`invalid value "${v}": expected a single directory name`);
    },
  ),
  impl(
    "lxc.cgroup.relative",
    "1: the container's cgroups stay beneath the starting process's own, with no systemd scope of their own (lxt never escapes to the root cgroup either way)",
    bool01,
    { default: "0" },
  ),
  impl(
    "lxc.cap.drop",
    "capabilities to drop (space-separated capabilities(7) names, with or without CAP_), on top of lxt's default drops; an empty value clears the list and the defaults (docs/security.md)",
    checkCapList,
    { list: true, default: DEFAULT_CAP_DROP.join(" ") },
  ),
  impl(
    "lxc.cap.keep",
    "capabilities to keep, dropping every other; `none` drops all; not together with lxc.cap.drop",
    checkCapList,
    { list: true },
  ),
  impl(
    "lxc.namespace.clone",
    "namespaces to make (space-separated: cgroup ipc mnt net pid time user uts); every other is the starter's; not with lxc.namespace.keep",
    (v) => void parseNamespaceList(v),
    { default: "cgroup ipc mnt net pid uts, user with an id map, time with an offset" },
  ),
  impl(
    "lxc.namespace.keep",
    "namespaces kept from the starter (space-separated); every other is made; not with lxc.namespace.clone",
    (v) => void parseNamespaceList(v),
  ),
  impl(
    "lxc.time.offset.boot",
    "boottime clock offset of a new time namespace (integer with h, m, s, ms, us or ns)",
    (v) => void parseTimeOffset(v),
    { default: "0 (no time namespace)" },
  ),
  impl(
    "lxc.time.offset.monotonic",
    "monotonic clock offset of a new time namespace (integer with h, m, s, ms, us or ns)",
    (v) => void parseTimeOffset(v),
    { default: "0 (no time namespace)" },
  ),
  familyRoot("lxc.proc", "lxc.proc.[file]", "with an empty value, clears every lxc.proc.* setting"),
  impl(
    "lxc.apparmor.profile",
    "AppArmor profile: generated (lxt writes and loads lxt-NAME_HASH), unconfined, unchanged, or the name of a loaded profile; applied to the init and attached commands where the host has AppArmor (docs/security.md)",
    (v) => {
      if (/\s/.test(v)) throw new ValueError(`invalid profile name "${v}": no blanks`);
    },
    { default: "generated" },
  ),
  impl(
    "lxc.apparmor.allow_incomplete",
    "1: start even if the kernel does not mediate mounts, or (named profile) the host has no AppArmor (0 or 1)",
    bool01,
    { default: "0" },
  ),
  impl(
    "lxc.apparmor.allow_nesting",
    "1: the generated profile allows nested containers (mounts, pivot_root, change_profile to lxt-*) (0 or 1)",
    bool01,
    { default: "0" },
  ),
  impl("lxc.apparmor.raw", "raw lines appended to the generated profile", nothing, {
    list: true,
  }),
  impl(
    "lxc.selinux.context",
    "SELinux context of the init; unconfined_t runs it unconfined; any other refuses the start where the host has no SELinux",
    nothing,
  ),
  impl(
    "lxc.selinux.context.keyring",
    "SELinux context of the session keyring; refuses the start where the host has no SELinux",
    nothing,
  ),
  impl(
    "lxc.keyring.session",
    "1 gives the init a new session keyring, 0 leaves it the caller's",
    bool01,
    { default: "1" },
  ),
  impl(
    "lxc.seccomp.profile",
    "seccomp policy file in LXC's format (versions 1 and 2); relative to the config file's directory; unset: lxt's default profile (docs/security.md)",
    nothing,
    { default: "lxt's default profile" },
  ),
  impl(
    "lxc.seccomp.allow_nesting",
    "1: load the filter even when the starter is already seccomp-confined (stacked); lxt always stacks, so 0 is stricter than LXC's, which then loads none (0 or 1)",
    bool01,
    { default: "0" },
  ),
  impl(
    "lxc.seccomp.notify.proxy",
    "unix:/PATH or unix:@NAME: the SOCK_SEQPACKET socket the monitor forwards the profile's notify syscalls to, in LXC's format (docs/security.md)",
    (v) => void parseProxyAddress(v),
  ),
  impl(
    "lxc.seccomp.notify.cookie",
    "string sent with each forwarded seccomp notification",
    nothing,
  ),
  impl(
    "lxc.no_new_privs",
    "set PR_SET_NO_NEW_PRIVS for the init and attached commands (0 or 1): setuid binaries and file capabilities stop granting anything",
    bool01,
    { default: "0" },
  ),
  impl(
    "lxc.idmap",
    "user namespace id map line u|g NSID HOSTID RANGE (several lines; an empty value clears them); any line makes the container unprivileged with exactly this map",
    (v) => void parseIdmapLine(v),
    { list: true, default: "a 65536-id slice of root's /etc/subuid range (see docs/security.md)" },
  ),
  familyRoot("lxc.hook", "lxc.hook.[type]", "with an empty value, clears every hook"),
  impl(
    "lxc.hook.version",
    "0 passes hook arguments (NAME SECTION TYPE) as arguments, 1 as LXC_HOOK_* environment variables (docs/lifecycle.md)",
    (v) => void parseInteger(v, 0, 1),
    { default: "0" },
  ),
  ...HOOK_TYPES.map((h) =>
    impl(`lxc.hook.${h}`, `${h} hook: a command run through sh (docs/lifecycle.md)`, nothing, {
      list: true,
      family: "lxc.hook.[type]",
    }),
  ),
  impl("lxc.start.auto", "start the container with lxt autostart (0 or 1)", bool01, {
    default: "0",
  }),
  impl("lxc.start.delay", "seconds lxt autostart waits after starting this container", uint, {
    default: "0",
  }),
  impl(
    "lxc.start.order",
    "autostart order (lower first; stops in reverse)",
    (v) => void parseInteger(v, -0x80000000, 0x7fffffff),
    { default: "0" },
  ),
  impl("lxc.group", "autostart groups (blank-separated; several lines add up)", nothing, {
    list: true,
  }),
  impl(
    "lxc.monitor.unshare",
    "not 0: the monitor runs in a mount namespace of its own (slave of the host's), so mounts its hooks make stay out of the host's",
    (v) => void parseMonitorUnshare(v),
    { default: "0" },
  ),
  impl(
    "lxc.monitor.signal.pdeath",
    "signal sent to the init when its monitor dies; 0 (the init outlives its monitor) is refused at start: a container belongs to its monitor",
    (v) => void parseSignal(v, true),
    { default: "SIGKILL" },
  ),
  ...LIMIT_KEYS.map((k) =>
    impl(k.key, k.summary, (v) => k.check(v), { list: k.list ?? false, default: "unlimited" }),
  ),
  impl(
    "lxt.privileged",
    "lxt: run the container privileged, without a user namespace (0/1, true/false); lxt create writes 0. A config without this key and without lxc.idmap (an LXC config) runs privileged, as in LXC",
    (v) => void parsePrivileged(v),
    { default: "unset" },
  ),
  impl(
    "lxt.volatile.idmap.base",
    "lxt (managed): first host id of the 65536-id slice allocated to this container; cleared on copy",
    uint,
  ),
  impl(
    "lxt.volatile.rootfs.shift",
    "lxt (managed): the id map the rootfs ownership is shifted to on disk (u:NSID:HOSTID:RANGE,...); unset: host-neutral ownership",
    (v) => void parseIdmapText(v),
  ),
];

/** Confinement key families with a variable part; `prefix` precedes it. */
export const CONFINEMENT_PATTERNS: { prefix: string; spec: KeySpec }[] = [
  {
    prefix: "lxc.cgroup2.devices.",
    spec: impl(
      "lxc.cgroup2.devices.[file]",
      "cgroup v2 device rule for devices.allow / devices.deny (`c 1:3 rwm`, `b *:* m`, `a`), after lxt's default allowlist; compiled into an eBPF device program; only on cgroup2-only hosts, as in LXC (docs/security.md)",
      checkDeviceKey,
      { list: true, family: CGROUP_V2, check: checkCgroup(2), default: "LXC's default allowlist" },
    ),
  },
  {
    prefix: "lxc.cgroup2.",
    spec: impl(
      CGROUP_V2,
      "cgroup v2 file to write in the container's cgroup before init runs, e.g. lxc.cgroup2.memory.max; only on cgroup2-only hosts, as in LXC",
      subkeyAfter("lxc.cgroup2.", "cgroup file"),
      { list: true, check: checkCgroup(2) },
    ),
  },
  {
    prefix: "lxc.cgroup.devices.",
    spec: impl(
      "lxc.cgroup.devices.[file]",
      "cgroup v1 devices.allow / devices.deny rule (`c 1:3 rwm`, `b *:* m`, `a`), written in order after lxt's default allowlist (docs/security.md)",
      checkDeviceKey,
      { list: true, family: CGROUP_V1, check: checkCgroup(1), default: "LXC's default allowlist" },
    ),
  },
  {
    prefix: "lxc.cgroup.",
    spec: impl(
      CGROUP_V1,
      "cgroup v1 file to write in the container's cgroup before init runs, e.g. lxc.cgroup.memory.limit_in_bytes (memory.limit_in_bytes is written before memory.memsw.limit_in_bytes, as LXC sorts them)",
      subkeyAfter("lxc.cgroup.", "cgroup file"),
      { list: true, check: checkCgroup(1) },
    ),
  },
  {
    prefix: "lxc.proc.",
    spec: impl(
      "lxc.proc.[file]",
      "value the monitor writes to /proc/PID/<file> of the init before it runs (e.g. oom_score_adj)",
      (_v, key) => void checkProcFile(key),
      { list: true },
    ),
  },
  {
    prefix: "lxc.namespace.share.",
    spec: impl(
      "lxc.namespace.share.[ns]",
      "join namespace ns of a pid, a running container (a name in this state root, or its directory) or a namespace file",
      (_v, key) => void shareNamespace(key),
    ),
  },
];
