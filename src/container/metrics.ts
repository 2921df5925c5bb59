/**
 * What a metrics scrape needs of each running container: its cgroup
 * figures (CPU by mode, memory breakdown and limit, block I/O per device,
 * tasks, OOM kills) and its network counters, read once per container with
 * the cgroup layout read once per scrape.
 */

import { type CgroupMetrics, readCgroupMetrics } from "../cgroups/metrics.js";
import type { Context } from "../core/context.js";
import { blockDeviceName } from "../host/machine.js";
import { type NicBytes, readNetBytes } from "../host/netinfo.js";
import { hostLayout } from "./host-layout.js";
import { listNames, summarize } from "./list.js";
import { containerPaths } from "./paths.js";
import { runtimeCgroups } from "./runtime.js";

export interface ContainerMetrics extends CgroupMetrics {
  name: string;
  /** The memory the container may use: its own limit, else the host's RAM (as LXD reports it). */
  memoryTotalBytes: number;
  /** Counters per network interface of the container (loopback excluded). */
  net: NicBytes[];
  /** Block devices' kernel names, by `MAJ:MIN` of `io`. */
  deviceNames: Record<string, string>;
}

/**
 * The metrics of every running (or frozen) container under the state root;
 * stopped ones have none. A container that stops while it is read is left
 * out rather than failing the scrape.
 */
export async function runningContainerMetrics(ctx: Context): Promise<ContainerMetrics[]> {
  const names = listNames(ctx.lxcpath);
  if (names.length === 0) return [];
  const layout = hostLayout(ctx);
  const out = await Promise.all(
    names.map(async (name): Promise<ContainerMetrics | undefined> => {
      const paths = containerPaths(ctx, name);
      const seen = await summarize(ctx, paths).catch(() => undefined);
      if (!seen?.pid || (seen.state !== "RUNNING" && seen.state !== "FROZEN")) return undefined;
      let cg: CgroupMetrics;
      try {
        cg = readCgroupMetrics(runtimeCgroups(ctx, paths), layout, ctx.host.cgroupFs);
      } catch {
        return undefined; // stopped meanwhile: its cgroups are gone
      }
      const limit = cg.memoryLimitBytes;
      const hostMem = ctx.host.limits.memTotal;
      const deviceNames: Record<string, string> = {};
      for (const io of cg.io) deviceNames[io.device] = blockDeviceName(io.device);
      return {
        ...cg,
        name,
        memoryTotalBytes: limit !== undefined && limit < hostMem ? limit : hostMem,
        net: readNetBytes(seen.pid),
        deviceNames,
      };
    }),
  );
  return out.filter((m) => m !== undefined);
}
