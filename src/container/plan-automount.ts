/**
 * The kernel filesystems of `lxc.mount.auto` (proc, sys, cgroup) as the
 * mounts LXC makes for each mode, with the paths it masks; renderPlan
 * (plan.ts) places them among the plan's records.
 */
import { hostBind, MS, type PlanMount } from "../config/mounts.js";
import type { CgroupAuto, ProcMode, SysMode, VisibleHierarchy } from "./plan.js";

/** The flags of proc, sys and the other kernel filesystems LXC mounts. */
export const PROC_FLAGS = MS.NOSUID | MS.NODEV | MS.NOEXEC;

function bindInRoot(path: string, remountFlags: number): PlanMount {
  return {
    source: path,
    target: path,
    fstype: "",
    flags: MS.BIND,
    data: "",
    remountFlags,
    sourceInRoot: true,
  };
}

/** Mounts for `lxc.mount.auto = proc:...`, as LXC does them. */
export function procMounts(mode: ProcMode): PlanMount[] {
  const out: PlanMount[] = [
    {
      source: "proc",
      target: "/proc",
      fstype: "proc",
      flags: PROC_FLAGS,
      data: "",
      remountFlags: 0,
      createDir: true,
    },
  ];
  if (mode === "mixed") {
    // /proc/sys read-only but its net part (per network namespace) writable:
    // park /proc/sys/net on /proc/tty (a real directory; /proc/net is a symlink), make /proc/sys a read-only bind, move it back.
    out.push({ ...bindInRoot("/proc/sys/net", 0), target: "/proc/tty" });
    out.push(bindInRoot("/proc/sys", MS.RDONLY | PROC_FLAGS));
    out.push({
      source: "/proc/tty",
      target: "/proc/sys/net",
      fstype: "",
      flags: MS.MOVE,
      data: "",
      remountFlags: 0,
      sourceInRoot: true,
    });
    // Optional: kernels without CONFIG_MAGIC_SYSRQ have no such file.
    out.push({ ...bindInRoot("/proc/sysrq-trigger", MS.RDONLY | PROC_FLAGS), optional: true });
    // Host-wide knobs outside /proc/sys, read-only as runc's readonlyPaths.
    for (const p of READONLY_PROC)
      out.push({ ...bindInRoot(p, MS.RDONLY | PROC_FLAGS), optional: true });
    out.push(...maskedPaths(MASKED_PROC_FILES, MASKED_PROC_DIRS));
  }
  return out;
}

/**
 * Host kernel state /proc and /sys show to any namespace, hidden as LXC's
 * generated AppArmor profile and runc's default maskedPaths do: kernel
 * memory, every keyring's description, timer and scheduler internals,
 * ACPI and SCSI controls, firmware tables (EFI variables).
 */
const MASKED_PROC_FILES = ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"];
const MASKED_PROC_DIRS = ["/proc/acpi", "/proc/scsi"];
const MASKED_SYS_DIRS = ["/sys/firmware"];
/** IRQ affinity, bus (PCI config space) and filesystem tunables of the host. */
const READONLY_PROC = ["/proc/irq", "/proc/bus", "/proc/fs"];

/** /dev/null over files, an empty read-only tmpfs over directories; optional, since kernels differ in what they have. */
function maskedPaths(files: readonly string[], dirs: readonly string[]): PlanMount[] {
  return [
    ...files.map((target) => hostBind("/dev/null", target, { optional: true })),
    ...dirs.map((target) => ({
      source: "tmpfs",
      target,
      fstype: "tmpfs",
      flags: MS.RDONLY | PROC_FLAGS,
      data: "mode=555",
      remountFlags: 0,
      optional: true,
    })),
  ];
}

/**
 * Mounts for `lxc.mount.auto = sys:...`. A new sysfs needs the network
 * namespace to belong to the container's user namespace; an unprivileged
 * container sharing its starter's network (`none`) gets the starter's /sys
 * bound instead (recursively: its submounts are locked to it), read-only
 * unless `sys:rw`.
 */
export function sysMounts(mode: SysMode, hostSys: boolean): PlanMount[] {
  const ro = mode === "rw" ? 0 : MS.RDONLY;
  const out: PlanMount[] = [
    hostSys
      ? {
          source: "/sys",
          target: "/sys",
          fstype: "",
          flags: MS.BIND | MS.REC,
          data: "",
          remountFlags: PROC_FLAGS | ro,
          createDir: true,
        }
      : {
          source: "sysfs",
          target: "/sys",
          fstype: "sysfs",
          flags: PROC_FLAGS | ro,
          data: "",
          remountFlags: 0,
          createDir: true,
        },
  ];
  if (mode === "mixed") {
    // As LXC: the container's own network devices stay writable.
    out.push({ ...bindInRoot("/sys/devices/virtual/net", 0), optional: true });
  }
  if (mode !== "rw") out.push(...maskedPaths([], MASKED_SYS_DIRS));
  return out;
}

/** Mounts for `lxc.mount.auto = cgroup...`: with a cgroup namespace, only when forced (as LXC). */
export function cgroupMounts(
  auto: CgroupAuto,
  namespaces: readonly string[],
  hierarchies: readonly VisibleHierarchy[],
): PlanMount[] {
  if (!auto.force && namespaces.includes("cgroup")) return [];
  const ro = auto.mode === "ro" ? MS.RDONLY : 0;
  const flags = PROC_FLAGS | ro;
  const out: PlanMount[] = [];
  const onlyV2 = hierarchies.length === 1 && hierarchies[0]?.version === 2;
  if (onlyV2) {
    out.push({
      source: "cgroup2",
      target: "/sys/fs/cgroup",
      fstype: "cgroup2",
      flags,
      data: "",
      remountFlags: 0,
      createDir: true,
    });
    return out;
  }
  out.push({
    source: "tmpfs",
    target: "/sys/fs/cgroup",
    fstype: "tmpfs",
    flags: PROC_FLAGS,
    data: "mode=755,size=64k",
    remountFlags: 0,
    createDir: true,
  });
  for (const h of hierarchies) {
    const target = `/sys/fs/cgroup/${h.dirName}`;
    out.push(
      h.version === 2
        ? {
            source: "cgroup2",
            target,
            fstype: "cgroup2",
            flags,
            data: "",
            remountFlags: 0,
            createDir: true,
          }
        : {
            source: "cgroup",
            target,
            fstype: "cgroup",
            flags,
            data: h.data,
            remountFlags: 0,
            createDir: true,
          },
    );
  }
  // Freeze the tmpfs itself once the hierarchies are in place.
  out.push(bindInRoot("/sys/fs/cgroup", MS.RDONLY | PROC_FLAGS));
  return out;
}
