/**
 * The data behind `lxt top`: one row per running container, CPU use as a
 * percentage of one CPU between two samples, sorted by a chosen column.
 */

import type { Context } from "../core/context.js";
import { allContainerInfo, type ContainerInfo } from "./list.js";

/** One container in `lxt top`. */
export interface TopRow {
  name: string;
  state: string;
  pid?: number;
  /** Percent of one CPU since the previous sample (undefined on the first). */
  cpuPercent?: number;
  cpuSeconds?: number;
  memoryBytes?: number;
  memoryPeakBytes?: number;
  memorySwapBytes?: number;
  pids?: number;
  ioReadBytes?: number;
  ioWriteBytes?: number;
  netRxBytes: number;
  netTxBytes: number;
}

/** Columns `--sort` accepts, and the row field each sorts by. */
export const TOP_SORT = {
  name: "name",
  cpu: "cpuPercent",
  time: "cpuSeconds",
  mem: "memoryBytes",
  peak: "memoryPeakBytes",
  swap: "memorySwapBytes",
  pids: "pids",
  read: "ioReadBytes",
  write: "ioWriteBytes",
  rx: "netRxBytes",
  tx: "netTxBytes",
} as const satisfies Record<string, keyof TopRow>;
export type TopSort = keyof typeof TOP_SORT;

/** A sample: CPU seconds per container and when they were read. */
export interface TopSample {
  at: number;
  cpu: Map<string, number>;
}

/** Builds rows from infos; `prev` (an earlier sample) gives CPU percentages. */
export function topRows(infos: ContainerInfo[], now: number, prev?: TopSample): TopRow[] {
  return infos
    .filter((i) => i.state !== "STOPPED")
    .map((i) => {
      const before = prev?.cpu.get(i.name);
      const secs = (now - (prev?.at ?? now)) / 1000;
      const cpuPercent =
        before !== undefined && i.cpuSeconds !== undefined && secs > 0
          ? (100 * (i.cpuSeconds - before)) / secs
          : undefined;
      return {
        name: i.name,
        state: i.state,
        pid: i.pid,
        cpuPercent,
        cpuSeconds: i.cpuSeconds,
        memoryBytes: i.memoryBytes,
        memoryPeakBytes: i.memoryPeakBytes,
        memorySwapBytes: i.memorySwapBytes,
        pids: i.pids,
        ioReadBytes: i.ioReadBytes,
        ioWriteBytes: i.ioWriteBytes,
        netRxBytes: i.net.reduce((a, n) => a + n.rxBytes, 0),
        netTxBytes: i.net.reduce((a, n) => a + n.txBytes, 0),
      };
    });
}

/** Sorts rows by a column: names ascending, figures descending (biggest first). */
export function sortTopRows(rows: TopRow[], by: TopSort): TopRow[] {
  const field = TOP_SORT[by];
  return [...rows].sort((a, b) => {
    if (field === "name") return a.name.localeCompare(b.name);
    const d = ((b[field] as number | undefined) ?? -1) - ((a[field] as number | undefined) ?? -1);
    return d !== 0 ? d : a.name.localeCompare(b.name);
  });
}

/** Reads every container once; returns its rows and the sample for the next round. */
export async function sampleTop(
  ctx: Context,
  prev?: TopSample,
): Promise<{ rows: TopRow[]; sample: TopSample }> {
  // top shows no addresses: skip the per-container nsenter that reads them.
  const infos = await allContainerInfo(ctx, { liveAddresses: false });
  const now = ctx.host.clock.now();
  const cpu = new Map<string, number>();
  for (const i of infos) if (i.cpuSeconds !== undefined) cpu.set(i.name, i.cpuSeconds);
  return { rows: topRows(infos, now, prev), sample: { at: now, cpu } };
}
