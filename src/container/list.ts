import { existsSync, readFileSync } from "node:fs";
import { allDirs, type ContainerCgroupDirs } from "../cgroups/container.js";
import type { CgroupLayout } from "../cgroups/layout.js";
import { type CgroupStats, readCgroupStats } from "../cgroups/stats.js";
import type { Context } from "../core/context.js";
import { phase } from "../core/phase.js";
import { type ExitRecord, parseExitLine } from "../host/helper-protocol.js";
import { lxcfsTargetsOf } from "../host/lxcfs.js";
import {
  type Addresses,
  type NicBytes,
  readAddresses,
  readLiveNics,
  readNetBytes,
} from "../host/netinfo.js";
import type { NicSummary } from "../network/nic-resolve.js";
import { hostLayout } from "./host-layout.js";
import { type ContainerPaths, containerPaths, listNames } from "./paths.js";

export { listNames };

import { repairStale, runtimeCgroups, withLock } from "./runtime.js";
import { readRuntimePlan, runtimeAppArmor, sharedRuntimeCgroups } from "./runtime-cgroups.js";
import { type ContainerState, observe } from "./state.js";
import { type UsernsInfo, usernsInfo } from "./userns-info.js";

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
export async function containerNics(
  ctx: Context,
  paths: ContainerPaths,
  pid?: number,
): Promise<NicInfo[]> {
  const file = `${paths.runtimeDir}/nics`; // runtimeDir is normalized: no join per list entry
  // No thrown error (its stack) for a container without NICs: a list pays it per container.
  if (!pid || !existsSync(file)) return [];
  let made: NicSummary[];
  try {
    made = JSON.parse(readFileSync(file, "utf8")) as NicSummary[];
  } catch {
    return [];
  }
  const live = await readLiveNics(ctx.host.run, pid);
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
 * `layout`: the host's cgroup layout, when the caller has read it;
 * `addresses: false` leaves `ipv4`/`ipv6` empty (no /proc net file read);
 * `dirs`: the container's cgroup dirs when the caller reads them too (its plan looked at once).
 */
export async function summarize(
  ctx: Context,
  paths: ContainerPaths,
  o: { layout?: CgroupLayout; addresses?: boolean; dirs?: () => ContainerCgroupDirs } = {},
): Promise<ContainerSummary> {
  let seen = observe(ctx, paths, o.layout, o.dirs);
  if (seen.stale) seen = await withLock(ctx, paths, () => repairStale(ctx, paths));
  const addrs: Addresses =
    seen.init && o.addresses !== false ? readAddresses(seen.init.pid) : { ipv4: [], ipv6: [] };
  return { name: paths.name, state: seen.state, pid: seen.init?.pid, ...addrs };
}

/**
 * Every container under a state root, as it is: a stopped ephemeral one is
 * listed until its monitor's exit hook (or `stop`) has destroyed it.
 */
export function listContainers(ctx: Context): Promise<ContainerSummary[]> {
  return Promise.all(listNames(ctx.lxcpath).map((n) => summarize(ctx, containerPaths(ctx, n))));
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
  ctx: Context,
  opts: { liveAddresses?: boolean } = {},
): Promise<ContainerInfo[]> {
  const layout = hostLayout(ctx);
  const names = listNames(ctx.lxcpath);
  const apparmorHost = ctx.host.facts.apparmor();
  return Promise.all(
    names.map((n) =>
      containerInfo(ctx, containerPaths(ctx, n), {
        layout,
        apparmorHost,
        liveAddresses: opts.liveAddresses ?? true,
      }),
    ),
  );
}

/** How much `containerInfo` reads, and what a caller of many has read once for all. */
export interface InfoOptions {
  /** The host's cgroup layout (read here when not given). */
  layout?: CgroupLayout;
  /** `ctx.host.facts.apparmor()` (read here when not given). */
  apparmorHost?: ReturnType<Context["host"]["facts"]["apparmor"]>;
  /** The NICs' live addresses (default true; false: no /proc net file of theirs is read). */
  liveAddresses?: boolean;
  /** The summary's addresses of the whole namespace (default true). */
  addresses?: boolean;
  /** lxcfs's mounts in the init (default true; false: `lxcfs` empty, no mountinfo read). */
  mounts?: boolean;
  /** Only these usage figures (default all: a list need not read I/O or OOM files). */
  usage?: readonly (keyof CgroupStats)[];
  /** `nics`: the byte counters only when `nics` lists some (default `all`). */
  net?: "all" | "nics";
  /** The last exit's record (default true). */
  lastExit?: boolean;
}

/** State, pid, addresses and resource use from the container's cgroup (see `InfoOptions`). */
export async function containerInfo(
  ctx: Context,
  paths: ContainerPaths,
  o: InfoOptions = {},
): Promise<ContainerInfo> {
  const summary = await summarize(ctx, paths, { layout: o.layout, addresses: o.addresses });
  phase("state read");
  const dirs = summary.state === "STOPPED" ? { v1: [] } : runtimeCgroups(ctx, paths);
  const cgroups = allDirs(dirs);
  const nics = await containerNics(ctx, paths, o.liveAddresses !== false ? summary.pid : undefined);
  const net = summary.pid && (o.net !== "nics" || nics.length > 0) ? readNetBytes(summary.pid) : [];
  const aaHost = o.apparmorHost ?? ctx.host.facts.apparmor();
  const apparmor = !aaHost.enabled
    ? `none: ${aaHost.why}`
    : summary.state === "STOPPED"
      ? "-"
      : (runtimeAppArmor(ctx, paths) ?? "unconfined");
  const lxcfs = summary.pid && o.mounts !== false ? lxcfsTargetsOf(summary.pid) : [];
  const info: ContainerInfo = {
    ...summary,
    cgroups,
    net,
    lastExit: o.lastExit === false ? undefined : readExit(paths),
    userns: usernsInfo(
      paths,
      summary.state === "STOPPED" ? undefined : readRuntimePlan(ctx, paths),
    ),
    apparmor,
    nics,
    lxcfs,
  };
  if (cgroups.length > 0) {
    return {
      ...info,
      ...usageOf(readCgroupStats(dirs, o.layout ?? hostLayout(ctx), ctx.host.cgroupFs, o.usage)),
    };
  }
  return info;
}

/** What an instance's live state shows of a container (`liveState`); `ContainerInfo` has it all. */
export type LiveState = Pick<ContainerInfo, "name" | "state" | "pid" | "nics" | "net"> &
  ContainerUsage;

/**
 * The state, NICs (with their byte counters) and `usage` figures of one
 * container, and nothing more: what a daemon's list of many reads for each.
 * The plan is looked at once for both the freezer and the figures; no user
 * namespace, AppArmor, lxcfs, exit record or namespace-wide addresses.
 */
export async function liveState(
  ctx: Context,
  paths: ContainerPaths,
  o: { layout?: CgroupLayout; usage?: readonly (keyof CgroupStats)[] } = {},
): Promise<LiveState> {
  let dirs: ContainerCgroupDirs | undefined;
  const dirsOnce = () => {
    dirs ??= sharedRuntimeCgroups(ctx, paths);
    return dirs;
  };
  const summary = await summarize(ctx, paths, {
    layout: o.layout,
    addresses: false,
    dirs: dirsOnce,
  });
  phase("state read");
  const nics = await containerNics(ctx, paths, summary.pid);
  const net = summary.pid && nics.length > 0 ? readNetBytes(summary.pid) : [];
  const live: LiveState = { name: paths.name, state: summary.state, pid: summary.pid, nics, net };
  if (summary.state === "STOPPED") return live;
  const own = dirsOnce();
  if (own.v2 === undefined && own.v1.length === 0) return live;
  const layout = o.layout ?? hostLayout(ctx);
  return { ...live, ...usageOf(readCgroupStats(own, layout, ctx.host.cgroupFs, o.usage)) };
}
