/**
 * What a metrics scrape needs of each running container: its cgroup
 * figures (CPU by mode, memory breakdown and limit, block I/O per device,
 * tasks, OOM kills) and its network counters, read once per container with
 * the cgroup layout read once per scrape.
 */

import type { ContainerCgroupDirs } from "../cgroups/container.js";
import { type CgroupMetrics, readCgroupMetrics } from "../cgroups/metrics.js";
import type { Context } from "../core/context.js";
import { blockDeviceName } from "../host/machine.js";
import { type NicBytes, readNetBytes } from "../host/netinfo.js";
import { hostLayout } from "./host-layout.js";
import { listNames } from "./list.js";
import { collectSamples, renderMetrics } from "./metrics-text.js";
import { containerPaths, requireExists } from "./paths.js";
import { repairStale, runtimeCgroups, withLock } from "./runtime.js";
import { observe } from "./state.js";

export interface ContainerMetrics extends CgroupMetrics {
  name: string;
  /** RUNNING or FROZEN (only those have figures). */
  state: string;
  /** The memory the container may use: its own limit, else the host's RAM (as LXD reports it). */
  memoryTotalBytes: number;
  /** Counters per network interface of the container (loopback excluded). */
  net: NicBytes[];
  /** Block devices' kernel names, by `MAJ:MIN` of `io`. */
  deviceNames: Record<string, string>;
}

/** A scrape: the figures of running containers, and the state of every container it covers. */
export interface MetricsScrape {
  running: ContainerMetrics[];
  states: { name: string; state: string }[];
  /** Containers under the state root, running or not. */
  instances: number;
}

/**
 * The metrics of the running (or frozen) containers under the state root,
 * or of the named ones (each must exist: `not-found` otherwise; a stopped
 * one has a state and no figures). A container that stops while it is
 * read is left out of `running` rather than failing the scrape. The
 * cgroup layout is read once; each container costs its state files, its
 * cgroup files and its `/proc/PID/net/dev`, no subprocess.
 */
export async function scrapeMetrics(
  ctx: Context,
  names?: readonly string[],
): Promise<MetricsScrape> {
  const all = listNames(ctx.lxcpath);
  const wanted = names && names.length > 0 ? [...new Set(names)] : all;
  const states: MetricsScrape["states"] = [];
  if (wanted.length === 0) return { running: [], states, instances: all.length };
  const named = !!names && names.length > 0;
  // Every named container exists, or nothing is read.
  if (named) for (const name of wanted) requireExists(containerPaths(ctx, name), "metrics");
  const layout = hostLayout(ctx);
  // Devices' names once per scrape: every container that did I/O names the same few.
  const devices = new Map<string, string>();
  const deviceName = (majMin: string) => {
    let name = devices.get(majMin);
    if (name === undefined) {
      name = blockDeviceName(majMin);
      devices.set(majMin, name);
    }
    return name;
  };
  const out = await Promise.all(
    wanted.map(async (name): Promise<ContainerMetrics | undefined> => {
      const paths = containerPaths(ctx, name);
      // The plan's cgroup dirs serve the freezer's look and the figures alike: one look at the plan.
      let dirs: ContainerCgroupDirs | undefined;
      const cgroups = () => {
        dirs ??= runtimeCgroups(ctx, paths);
        return dirs;
      };
      let seen = observe(ctx, paths, layout, cgroups);
      if (seen.stale) seen = await withLock(ctx, paths, () => repairStale(ctx, paths));
      const pid = seen.init?.pid;
      const live = !!pid && (seen.state === "RUNNING" || seen.state === "FROZEN");
      // Unnamed, a scrape covers the running ones only (as lxtd's).
      if (named || live) states.push({ name, state: seen.state });
      if (!pid || !live) return undefined;
      let cg: CgroupMetrics;
      try {
        cg = readCgroupMetrics(cgroups(), layout, ctx.host.cgroupFs);
      } catch {
        return undefined; // stopped meanwhile: its cgroups are gone
      }
      const limit = cg.memoryLimitBytes;
      const hostMem = ctx.host.limits.memTotal;
      const deviceNames: Record<string, string> = {};
      for (const io of cg.io) deviceNames[io.device] = deviceName(io.device);
      return {
        ...cg,
        name,
        state: seen.state,
        memoryTotalBytes: limit !== undefined && limit < hostMem ? limit : hostMem,
        net: readNetBytes(pid),
        deviceNames,
      };
    }),
  );
  states.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { running: out.filter((m) => m !== undefined), states, instances: all.length };
}

/**
 * `lxt metrics`: the Prometheus text of `scrapeMetrics` (the running
 * containers, or the named ones with the state of each), as lxtd's
 * `/1.0/metrics` renders it, without the daemon's own figures.
 */
export async function scrapeText(ctx: Context, names?: readonly string[]): Promise<string> {
  const scrape = await scrapeMetrics(ctx, names);
  return renderMetrics(
    collectSamples(scrape.running, { instances: scrape.instances, states: scrape.states }),
  );
}
