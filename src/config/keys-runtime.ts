/**
 * Registry entries for what runs in the container and how: identity, init,
 * environment, terminals, mounts, rootfs, signals, limits, sysctls, logging.
 * Mostly implemented now.
 */

import { parseRootfsSpec, RootfsSpecError } from "../storage/rootfs-spec.js";
import {
  bool01,
  familyRoot,
  type HostInfo,
  IMPLEMENTED,
  ignored,
  impl,
  type KeySpec,
  nothing,
  oneOf,
  signal,
  uint,
  type Verdict,
} from "./key-spec.js";
import { applyMountAuto, parseMountEntry } from "./mounts.js";
import { parseGroups } from "./process.js";
import { parseRootfsOptions } from "./rootfs.js";
import {
  checkSysctlName,
  parseAbsPath,
  parseByteSize,
  parseEnvironment,
  parseId,
  parseLogLevel,
  parseRlimit,
  RLIMITS,
  SYSLOG_FACILITIES,
  splitCommand,
  ValueError,
} from "./values.js";

const ARCH_64 = [
  "x86_64",
  "amd64",
  "linux64",
  "aarch64",
  "arm64",
  "mips64",
  "mips64el",
  "ppc64",
  "ppc64el",
  "ppc64le",
  "powerpc64",
  "s390x",
];
/** Names LXC runs with the 32-bit personality. */
export const ARCH_32 = [
  "arm",
  "armel",
  "armhf",
  "armv7l",
  "athlon",
  "i386",
  "i486",
  "i586",
  "i686",
  "linux32",
  "mips",
  "mipsel",
  "ppc",
  "powerpc",
  "x86",
];
const ARCH_ALIASES: Record<string, string[]> = {
  x86_64: ["x86_64", "amd64", "linux64"],
  aarch64: ["aarch64", "arm64", "linux64"],
};

function checkArch(v: string, _k: string, host: HostInfo): Verdict {
  if (!ARCH_64.includes(v) && !ARCH_32.includes(v)) {
    throw new ValueError(
      `invalid value "${v}": expected one of ${[...ARCH_64, ...ARCH_32].join(", ")}`,
    );
  }
  if ((ARCH_ALIASES[host.arch] ?? [host.arch]).includes(v)) {
    return { status: "ignored", reason: "matches the host", warn: false };
  }
  // A 32-bit name runs the init under PER_LINUX32 (uname -m says i686), as LXC.
  if (ARCH_32.includes(v)) return IMPLEMENTED;
  return {
    status: "ignored",
    reason: `does not match the host (${host.arch}); LXC ignores it too`,
    warn: true,
  };
}

function checkRootfsPath(v: string): void {
  try {
    parseRootfsSpec(v);
  } catch (err) {
    if (err instanceof RootfsSpecError) throw new ValueError(err.message);
    throw err;
  }
}

/** Exact keys about the container's runtime. */
export const RUNTIME_KEYS: KeySpec[] = [
  impl(
    "lxc.include",
    "include a file, or every *.conf in a directory (sorted); relative to the including file",
    nothing,
    { list: true },
  ),
  impl(
    "lxc.arch",
    "container architecture: the host's is accepted; a 32-bit one (i686, armhf, ...) runs the init with the 32-bit personality (PER_LINUX32); another 64-bit one is ignored with a warning",
    nothing,
    { check: checkArch },
  ),
  impl(
    "lxc.uts.name",
    "hostname of the container",
    (v) => {
      if (v.length > 64)
        throw new ValueError(`invalid value "${v}": expected a hostname of at most 64 characters`);
    },
    { default: "unset: the host's hostname stays" },
  ),
  impl(
    "lxc.signal.halt",
    "signal sent to init to halt (name like SIGPWR, PWR, SIGRTMIN+3, or number)",
    signal,
    { default: "SIGPWR (30)" },
  ),
  impl("lxc.signal.reboot", "signal sent to init to reboot", signal, { default: "SIGINT (2)" }),
  impl(
    "lxt.lxcfs",
    "lxt: bind lxcfs's /proc files (meminfo, cpuinfo, stat, uptime, loadavg, diskstats, swaps) and /sys/devices/system/cpu over the container's, so free, uptime and top see its limits: auto (when lxcfs is mounted), on (refuse to start without it) or off",
    (v) => {
      if (!["auto", "on", "off"].includes(v))
        throw new ValueError(`invalid value "${v}": expected auto, on or off`);
    },
    { default: "auto" },
  ),
  impl("lxc.signal.stop", "signal sent to init to stop forcibly", signal, {
    default: "SIGKILL (9)",
  }),
  impl(
    "lxc.init.cmd",
    "init command (split into words like a shell, no expansion)",
    (v) => void splitCommand(v),
    { default: "/sbin/init" },
  ),
  impl(
    "lxc.execute.cmd",
    "command for `execute` (split into words like a shell)",
    (v) => void splitCommand(v),
  ),
  impl(
    "lxc.init.cwd",
    "working directory of init (absolute path inside the container)",
    (v) => void parseAbsPath(v),
    { default: "/" },
  ),
  impl("lxc.init.uid", "uid of init", (v) => void parseId(v), { default: "0" }),
  impl("lxc.init.gid", "gid of init", (v) => void parseId(v), { default: "0" }),
  impl("lxc.init.groups", "comma-separated supplementary gids of init", (v) => void parseGroups(v)),
  impl(
    "lxc.sched.core",
    "1: the container gets a core-scheduling domain of its own (needs a new pid namespace; refused where the kernel has no core scheduling)",
    bool01,
    { default: "0" },
  ),
  impl("lxc.ephemeral", "destroy the container when it stops (0 or 1)", bool01, { default: "0" }),
  impl(
    "lxc.environment",
    "environment variable for init: NAME=value, or NAME to pass the caller's value",
    (v) => void parseEnvironment(v),
    { list: true },
  ),
  impl(
    "lxc.environment.runtime",
    "like lxc.environment, for the container only (LXC 6)",
    (v) => void parseEnvironment(v),
    { list: true },
  ),
  impl(
    "lxc.environment.hooks",
    "like lxc.environment, for hooks only (LXC 6)",
    (v) => void parseEnvironment(v),
    { list: true },
  ),
  familyRoot(
    "lxc.net",
    "every lxc.net.[i].* key",
    "with an empty value, removes every network defined so far",
  ),
  familyRoot(
    "lxc.prlimit",
    "lxc.prlimit.[name]",
    "with an empty value, clears every lxc.prlimit.* setting",
  ),
  familyRoot(
    "lxc.sysctl",
    "lxc.sysctl.[name]",
    "with an empty value, clears every lxc.sysctl.* setting",
  ),
  impl("lxc.pty.max", "maximum ptys of the container's own devpts instance", uint, {
    default: "0",
  }),
  impl("lxc.tty.max", "number of ttys (/dev/ttyN) to create", uint, { default: "0" }),
  impl("lxc.tty.dir", "directory under /dev for the console and tty devices", (v) => {
    if (v.includes("/") || v === "." || v === ".." || v.length > 255)
      throw new ValueError(`invalid value "${v}": expected a directory name under /dev`);
  }),
  impl(
    "lxc.console.path",
    "a host terminal device (e.g. /dev/ttyS0, /dev/pts/3) the container's console is relayed to and from; `none`: no console",
    (v) => {
      if (v !== "none" && !v.startsWith("/"))
        throw new ValueError(`invalid value "${v}": expected none or an absolute device path`);
    },
  ),
  impl("lxc.console.logfile", "file the console output is copied to", nothing),
  impl(
    "lxc.console.buffer.size",
    "in-memory ring buffer of the console's last output, read by `lxt console --log` (KB/MB/GB, auto = 128KB; less than a page is a page; 0: none)",
    (v) => void parseByteSize(v),
    { default: "0" },
  ),
  impl(
    "lxc.console.size",
    "size limit of the console log file (KB/MB/GB, auto = 128KB; less than a page is a page; 0: lxt's 1MB), truncated or rotated when passed",
    (v) => void parseByteSize(v),
    { default: "0" },
  ),
  impl(
    "lxc.console.rotate",
    "1: at its size limit the console log file moves to FILE.1 (one kept) instead of being truncated (0 or 1)",
    bool01,
    { default: "0" },
  ),
  impl(
    "lxc.autodev",
    "mount a tmpfs on /dev and create a minimal set of devices (0 or 1)",
    bool01,
    { default: "1" },
  ),
  impl("lxc.autodev.tmpfs.size", "size of the /dev tmpfs in bytes", uint, { default: "500000" }),
  impl(
    "lxc.mount.fstab",
    "fstab-format file of mount entries (relative to the config file)",
    nothing,
  ),
  impl(
    "lxc.mount.entry",
    "fstab-format mount line; target relative to the rootfs; extra options create=dir|file, optional, relative, idmap=container|PATH (an idmapped bind)",
    (v) => void parseMountEntry(v),
    { list: true },
  ),
  impl(
    "lxc.mount.auto",
    "kernel filesystems to mount: proc[:mixed|:rw], sys[:mixed|:ro|:rw], cgroup[:mixed|:ro|:rw][:force], cgroup-full[...]; shmounts:HOST[:CONTAINER] binds HOST (a shared mount) at CONTAINER (default /dev/.lxc-mounts) so mounts made under HOST later show inside",
    (v) => void applyMountAuto({}, v),
    { list: true },
  ),
  impl(
    "lxc.rootfs.path",
    "root filesystem: a directory (PATH or dir:PATH), btrfs:PATH, overlayfs:LOWER:UPPER (or overlay:), zfs:POOL/DATASET; loop:IMAGE (attached to a loop device at start, released when the container ends), lvm:DEVICE; nbd:FILE[:PARTITION] (qemu-nbd -c) and rbd:POOL/IMAGE (rbd map), released when the container ends",
    checkRootfsPath,
    { default: "the host's root (shared)" },
  ),
  ignored(
    "lxc.rootfs.mount",
    "where LXC binds the rootfs before pivot_root",
    "lxt chooses its own staging mount",
    false,
  ),
  impl(
    "lxc.rootfs.options",
    "mount options for the rootfs: per-mount flags (ro, nosuid, nodev, noexec, noatime, ...) on any rootfs; idmap=container (idmapped, never shifted on disk); filesystem options (data=..., discard, sync, ...) on a block-device rootfs only",
    (v) => void parseRootfsOptions(v),
  ),
  impl(
    "lxc.rootfs.managed",
    "0: the rootfs's storage is not lxt's: destroy keeps it, snapshot and copy -s refuse, its ownership is never shifted on disk (an idmapped mount or nothing)",
    bool01,
    { default: "1" },
  ),
  impl("lxc.log.file", "log file of the container", nothing),
  impl(
    "lxc.log.level",
    "log level: trace, debug, info, notice, warn, error, crit, alert, fatal or 0-8",
    (v) => void parseLogLevel(v),
    { default: "error (5)" },
  ),
  ignored(
    "lxc.log.syslog",
    "send the log to syslog with this facility",
    "lxt does not log to syslog",
    true,
    {
      check: (v) => {
        oneOf(SYSLOG_FACILITIES)(v);
        return undefined;
      },
    },
  ),
];

/** Runtime key families with a variable part; `prefix` precedes it. */
export const RUNTIME_PATTERNS: { prefix: string; spec: KeySpec }[] = [
  {
    prefix: "lxc.prlimit.",
    spec: impl(
      "lxc.prlimit.[name]",
      "resource limit soft[:hard] or unlimited; name as RLIMIT_* in lower case (nofile, nproc, ...)",
      (v, key) => {
        const name = key.slice("lxc.prlimit.".length);
        if (!(name in RLIMITS))
          throw new ValueError(
            `unknown resource "${name}": expected one of ${Object.keys(RLIMITS).join(", ")}`,
          );
        parseRlimit(v);
      },
      { list: true, default: "inherited" },
    ),
  },
  {
    prefix: "lxc.sysctl.",
    spec: impl(
      "lxc.sysctl.[name]",
      "namespaced sysctl to set (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, kernel.hostname, kernel.domainname)",
      (_v, key) => {
        checkSysctlName(key.slice("lxc.sysctl.".length));
      },
      { list: true },
    ),
  },
];
