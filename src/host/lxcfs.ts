/**
 * lxcfs (a FUSE filesystem, usually at /var/lib/lxcfs) serves /proc files and
 * /sys/devices/system/cpu as seen from the reading process's cgroup: memory
 * limited by memory.max, CPUs by cpuset and quota, uptime since the
 * container's init started. This finds a running lxcfs through its mount and
 * says which of its files a container can have bound over its own, as LXC's
 * `/usr/share/lxcfs/lxc.mount.hook` does.
 */

import { existsSync, readFileSync } from "node:fs";

/** The /proc files lxt binds when lxcfs serves them. */
export const LXCFS_PROC_FILES = [
  "cpuinfo",
  "diskstats",
  "loadavg",
  "meminfo",
  "stat",
  "swaps",
  "uptime",
] as const;

/** What a running lxcfs offers. */
export interface LxcfsView {
  /** Its mount point. */
  dir: string;
  /** Names of `LXCFS_PROC_FILES` present under `dir/proc`. */
  procFiles: string[];
  /** Whether `dir/sys/devices/system/cpu` exists (lxcfs 4.0+). */
  sysCpu: boolean;
}

function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Mount points of type `fuse.lxcfs` in a mountinfo text, in order. */
export function lxcfsMountPoints(mountinfo: string): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split("\n")) {
    const f = line.split(" ");
    const sep = f.indexOf("-", 6);
    if (sep > 0 && f[sep + 1] === "fuse.lxcfs" && f[4]) out.push(unescapeMountinfo(f[4]));
  }
  return out;
}

/**
 * The running lxcfs as this process sees it: `/var/lib/lxcfs` when mounted
 * there, else the first fuse.lxcfs mount; undefined when there is none.
 */
export function detectLxcfs(mountinfo = "/proc/self/mountinfo"): LxcfsView | undefined {
  let points: string[];
  try {
    points = lxcfsMountPoints(readFileSync(mountinfo, "utf8"));
  } catch {
    return undefined;
  }
  const dir = points.includes("/var/lib/lxcfs") ? "/var/lib/lxcfs" : points[0];
  if (dir === undefined) return undefined;
  return {
    dir,
    procFiles: LXCFS_PROC_FILES.filter((f) => existsSync(`${dir}/proc/${f}`)),
    sysCpu: existsSync(`${dir}/sys/devices/system/cpu`),
  };
}

/** In-container paths that a running container's init has lxcfs mounted on (none if unknown). */
export function lxcfsTargetsOf(pid: number): string[] {
  try {
    return lxcfsMountPoints(readFileSync(`/proc/${pid}/mountinfo`, "utf8"));
  } catch {
    return [];
  }
}
