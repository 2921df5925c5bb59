import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { allDirs } from "../cgroups/container.js";
import { nodeCgroupFs } from "../cgroups/fs.js";
import { type CgroupLayout, readCgroupLayout } from "../cgroups/layout.js";
import { type CgroupStats, readCgroupStats } from "../cgroups/stats.js";
import { phase } from "../core/phase.js";
import { readAppArmorHost } from "../host/apparmor.js";
import { lxcfsTargetsOf } from "../host/lxcfs.js";
import {
  type Addresses,
  type NicBytes,
  readAddresses,
  readLiveNics,
  readNetBytes,
} from "../host/netinfo.js";
import type { NicSummary } from "../network/nic-resolve.js";
import { reapIfEphemeral } from "./ephemeral.js";
import { type ContainerPaths, containerPaths, ephemeralMarker } from "./paths.js";
import { repairStale, runtimeCgroups, withLock } from "./runtime.js";
import { readRuntimePlan, runtimeAppArmor } from "./runtime-cgroups.js";
import { type ContainerState, observe } from "./state.js";
import { type ExitRecord, parseExitLine } from "./stop.js";
import { type UsernsInfo, usernsInfo } from "./userns-info.js";

/** Names of the containers under a state root (directories holding a `config`). */
export function listNames(lxcpath: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(lxcpath);
  } catch {
    return [];
  }
  return entries.filter((n) => existsSync(join(lxcpath, n, "config"))).sort();
}

/**
 * Names of the containers under a state root, after destroying stopped
 * ephemeral ones (the only ones with a marker file, so this stays cheap).
 */
export async function listLiveNames(lxcpath: string): Promise<string[]> {
  const names = listNames(lxcpath);
  const out: string[] = [];
  for (const n of names) {
    const paths = containerPaths(lxcpath, n);
    if (existsSync(ephemeralMarker(paths)) && (await reapIfEphemeral(paths))) continue;
    out.push(n);
  }
  return out;
}

/** One container as `ls -f` and `info` show it. */
export interface ContainerSummary {
  name: string;
  state: ContainerState;
  pid?: number;
  ipv4: string[];
  ipv6: string[];
}

/** Cgroup usage as `info` shows it: CPU in seconds rather than nanoseconds. */
export type ContainerUsage = Omit<CgroupStats, "cpuUsageNs"> & { cpuSeconds?: number };

/** A running container's NIC: its summary from the start and its live addresses. */
export interface NicInfo extends NicSummary {
  ipv4: string[];
  ipv6: string[];
}

/**
 * The NICs of a running container (those lxt made; none for `empty` or
 * `none`), with the addresses its network namespace has now.
 */
export async function containerNics(paths: ContainerPaths, pid?: number): Promise<NicInfo[]> {
  if (!pid) return [];
  let made: NicSummary[];
  try {
    made = JSON.parse(readFileSync(join(paths.runtimeDir, "nics"), "utf8")) as NicSummary[];
  } catch {
    return [];
  }
  const live = await readLiveNics(pid);
  return made.map((n) => {
    const l = live.find((x) => x.name === n.name);
    return { ...n, hwaddr: l?.hwaddr ?? n.hwaddr, ipv4: l?.ipv4 ?? [], ipv6: l?.ipv6 ?? [] };
  });
}

export interface ContainerInfo extends ContainerSummary, ContainerUsage {
  /** The NICs lxt made, with their addresses. */
  nics: NicInfo[];
  /** Bytes per network interface of the container (loopback excluded). */
  net: NicBytes[];
  lastExit?: ExitRecord;
  cgroups: string[];
  /** The user namespace's id map (or `privileged`) and how the rootfs ownership fits it. */
  userns: UsernsInfo;
  /**
   * The AppArmor profile a running container's init execs into (from its
   * plan), `unconfined` when none; when the host has no AppArmor, why.
   */
  apparmor: string;
  /** In-container paths the init has lxcfs mounted on (empty without lxcfs, or stopped). */
  lxcfs: string[];
}

/**
 * The truthful state of one container. Stale runtime files (a monitor killed
 * with SIGKILL) are repaired on the way, under the container's lock.
 */
export async function summarize(paths: ContainerPaths): Promise<ContainerSummary> {
  let seen = observe(paths);
  if (seen.stale) seen = await withLock(paths, () => repairStale(paths));
  const addrs: Addresses = seen.init ? readAddresses(seen.init.pid) : { ipv4: [], ipv6: [] };
  return { name: paths.name, state: seen.state, pid: seen.init?.pid, ...addrs };
}

/** Every container under a state root; stopped ephemeral ones are destroyed, not listed. */
export async function listContainers(lxcpath: string): Promise<ContainerSummary[]> {
  const all = await Promise.all(
    listNames(lxcpath).map(async (n) => {
      const paths = containerPaths(lxcpath, n);
      const summary = await summarize(paths);
      return (await reapIfEphemeral(paths)) ? undefined : summary;
    }),
  );
  return all.filter((s): s is ContainerSummary => s !== undefined);
}

function readExit(paths: ContainerPaths): ExitRecord | undefined {
  try {
    return parseExitLine(readFileSync(paths.exitFile, "utf8"));
  } catch {
    return undefined;
  }
}

function usageOf({ cpuUsageNs, ...rest }: CgroupStats): ContainerUsage {
  return cpuUsageNs === undefined ? rest : { ...rest, cpuSeconds: Number(cpuUsageNs) / 1e9 };
}

/**
 * Every container's info (stopped ones included), reading the cgroup layout
 * once. `liveAddresses: false` (lxt top) leaves the NICs' addresses out:
 * reading them costs one `nsenter` per running container.
 */
export async function allContainerInfo(
  lxcpath: string,
  opts: { liveAddresses?: boolean } = {},
): Promise<ContainerInfo[]> {
  const layout = readCgroupLayout(nodeCgroupFs);
  const names = await listLiveNames(lxcpath);
  return Promise.all(
    names.map((n) => containerInfo(containerPaths(lxcpath, n), layout, opts.liveAddresses ?? true)),
  );
}

/** State, pid, addresses and resource use from the container's cgroup. */
export async function containerInfo(
  paths: ContainerPaths,
  layout?: CgroupLayout,
  liveAddresses = true,
): Promise<ContainerInfo> {
  const summary = await summarize(paths);
  phase("state read");
  const dirs = summary.state === "STOPPED" ? { v1: [] } : runtimeCgroups(paths);
  const cgroups = allDirs(dirs);
  const net = summary.pid ? readNetBytes(summary.pid) : [];
  const nics = await containerNics(paths, liveAddresses ? summary.pid : undefined);
  const aaHost = readAppArmorHost();
  const apparmor = !aaHost.enabled
    ? `none: ${aaHost.why}`
    : summary.state === "STOPPED"
      ? "-"
      : (runtimeAppArmor(paths) ?? "unconfined");
  const lxcfs = summary.pid ? lxcfsTargetsOf(summary.pid) : [];
  const info: ContainerInfo = {
    ...summary,
    cgroups,
    net,
    lastExit: readExit(paths),
    userns: usernsInfo(paths, summary.state === "STOPPED" ? undefined : readRuntimePlan(paths)),
    apparmor,
    nics,
    lxcfs,
  };
  if (cgroups.length > 0) {
    return {
      ...info,
      ...usageOf(readCgroupStats(dirs, layout ?? readCgroupLayout(nodeCgroupFs), nodeCgroupFs)),
    };
  }
  return info;
}
