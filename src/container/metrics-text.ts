/**
 * The text of a metrics scrape, one implementation for `lxt metrics` and
 * lxtd's `GET /1.0/metrics`: Prometheus text as LXD writes it (OpenMetrics
 * flavoured: `# HELP`, `# TYPE`, samples, `# EOF`), LXD's metric names in
 * LXD's order, then lxt's own (`lxt_*`) for what LXD has no name for
 * (memory in use and its peak, the state); every instance sample labelled
 * `name`, `project` and `type`, labels sorted by name. Pure: the figures
 * come from `metrics.ts`.
 */
import type { ContainerMetrics } from "./metrics.js";

/** One metric: LXD's name and help text; gauges go up and down, counters only up. */
export interface MetricDef {
  name: string;
  help: string;
  type: "counter" | "gauge";
}

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

function def(name: string, help: string): MetricDef {
  // LXD: the byte figures and the process count are gauges, the rest counters.
  const gauge =
    name.endsWith("_bytes") ||
    name === "lxd_procs_total" ||
    name === "lxd_instances" ||
    name === "lxt_instance_state";
  return { name, help, type: gauge ? "gauge" : "counter" };
}

/** LXD's memory metrics (`lxd_memory_<Name>_bytes`) in its order; OOM kills sit after MemTotal. */
const MEMORY: [string, string][] = [
  ["Active_anon", "The amount of anonymous memory on active LRU list."],
  ["Active", "The amount of memory on active LRU list."],
  ["Active_file", "The amount of file-backed memory on active LRU list."],
  ["Cached", "The amount of cached memory."],
  ["Dirty", "The amount of memory waiting to get written back to the disk."],
  ["Inactive_anon", "The amount of anonymous memory on inactive LRU list."],
  ["Inactive", "The amount of memory on inactive LRU list."],
  ["Inactive_file", "The amount of file-backed memory on inactive LRU list."],
  ["Mapped", "The amount of mapped memory."],
  ["MemAvailable", "The amount of available memory."],
  ["MemFree", "The amount of free memory."],
  ["MemTotal", "The total amount of memory or configured memory limit."],
  ["RSS", "The amount of anonymous and swap cache memory."],
  ["Shmem", "The amount of cached filesystem data that is swap-backed."],
  ["SReclaimable", "The amount of reclaimable slab memory."],
  ["Swap", "The amount of used swap memory."],
  ["Unevictable", "The amount of unevictable memory."],
  ["Writeback", "The amount of memory queued for syncing to disk."],
];

const NET: [string, string, keyof ContainerMetrics["net"][number]][] = [
  ["receive_bytes", "received bytes", "rxBytes"],
  ["receive_drop", "received dropped bytes", "rxDrop"],
  ["receive_errs", "received errors", "rxErrs"],
  ["receive_packets", "received packets", "rxPackets"],
  ["transmit_bytes", "transmitted bytes", "txBytes"],
  ["transmit_drop", "transmitted dropped bytes", "txDrop"],
  ["transmit_errs", "transmitted errors", "txErrs"],
  ["transmit_packets", "transmitted packets", "txPackets"],
];

/** The metrics served, in LXD's order (its MetricType enumeration). */
export const METRICS: readonly MetricDef[] = [
  def("lxd_cpu_seconds_total", "The total number of CPU time used in seconds."),
  def("lxd_disk_read_bytes_total", "The total number of bytes read."),
  def("lxd_disk_reads_completed_total", "The total number of completed reads."),
  def("lxd_disk_written_bytes_total", "The total number of bytes written."),
  def("lxd_disk_writes_completed_total", "The total number of completed writes."),
  def("lxd_instances", "The number of instances."),
  ...MEMORY.flatMap(([k, help]) => [
    def(`lxd_memory_${k}_bytes`, help),
    ...(k === "MemTotal"
      ? [def("lxd_memory_OOM_kills_total", "The number of out of memory kills.")]
      : []),
  ]),
  ...NET.map(([n, what]) =>
    def(`lxd_network_${n}_total`, `The amount of ${what} on a given interface.`),
  ),
  def("lxd_operations_total", "The number of running operations"),
  def("lxd_procs_total", "The number of running processes."),
  def("lxd_uptime_seconds", "The daemon uptime in seconds."),
  // lxt's own, where LXD has no metric.
  def("lxt_memory_usage_bytes", "The memory charged to the instance now (cgroup memory.current)."),
  def("lxt_memory_peak_bytes", "The most memory charged to the instance since it started."),
  def("lxt_instance_state", "1 for the instance's state (RUNNING, FROZEN, STOPPED, ...)."),
];

/** A label value as the text format quotes it: backslash, double quote and newline escaped. */
export function escapeLabel(value: string): string {
  if (!/[\\"\n]/.test(value)) return value; // most are names and numbers: nothing to escape
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A HELP text as the text format takes it: backslash and newline escaped. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(v);
}

/**
 * The text of a scrape: each metric with samples, in `METRICS` order, with
 * its HELP and TYPE lines; metrics without samples are left out; `# EOF`
 * ends it, as LXD's does.
 */
export function renderMetrics(samples: ReadonlyMap<string, readonly Sample[]>): string {
  const out: string[] = [];
  // An instance's samples mostly share one labels object: each is rendered once.
  const rendered = new Map<Readonly<Record<string, string>>, string>();
  const labelsText = (labels: Readonly<Record<string, string>>) => {
    let text = rendered.get(labels);
    if (text === undefined) {
      const inner = Object.keys(labels)
        .sort()
        .map((k) => `${k}="${escapeLabel(labels[k] ?? "")}"`)
        .join(",");
      text = inner ? `{${inner}}` : "";
      rendered.set(labels, text);
    }
    return text;
  };
  for (const m of METRICS) {
    const list = samples.get(m.name);
    if (!list || list.length === 0) continue;
    out.push(`# HELP ${m.name} ${escapeHelp(m.help)}`, `# TYPE ${m.name} ${m.type}`);
    for (const s of list) out.push(`${m.name}${labelsText(s.labels)} ${formatValue(s.value)}`);
  }
  out.push("# EOF");
  return `${out.join("\n")}\n`;
}

/** What a scrape shows beside the running instances' figures. */
export interface DaemonFigures {
  /** Instances under the state root, running or not. */
  instances: number;
  /** Operations not yet finished (a daemon's; the CLI has none). */
  operations?: number;
  /** A daemon's uptime. */
  uptimeSeconds?: number;
  /** The state of each instance covered (default: the running ones'). */
  states?: readonly { name: string; state: string }[];
}

/** The samples of a scrape: every running instance's, then the daemon's own. */
export function collectSamples(
  instances: readonly ContainerMetrics[],
  daemon: DaemonFigures,
  project = "default",
): Map<string, Sample[]> {
  const samples = new Map<string, Sample[]>();
  const add = (name: string, labels: Record<string, string>, value: number | undefined) => {
    if (value === undefined) return;
    const list = samples.get(name) ?? [];
    samples.set(name, list);
    list.push({ labels, value });
  };
  for (const m of instances) {
    const base = { name: m.name, project, type: "container" };
    for (const c of m.cpu) {
      const cpu = String(c.cpu);
      add("lxd_cpu_seconds_total", { ...base, cpu, mode: "system" }, Number(c.systemNs) / 1e9);
      add("lxd_cpu_seconds_total", { ...base, cpu, mode: "user" }, Number(c.userNs) / 1e9);
    }
    for (const io of m.io) {
      const labels = { ...base, device: m.deviceNames[io.device] ?? io.device };
      add("lxd_disk_read_bytes_total", labels, io.readBytes);
      add("lxd_disk_reads_completed_total", labels, io.reads);
      add("lxd_disk_written_bytes_total", labels, io.writtenBytes);
      add("lxd_disk_writes_completed_total", labels, io.writes);
    }
    for (const [k, v] of Object.entries(m.memoryStat)) add(`lxd_memory_${k}_bytes`, base, v);
    const usage = m.memoryBytes;
    add("lxd_memory_MemTotal_bytes", base, m.memoryTotalBytes);
    if (usage !== undefined) {
      // As LXD: free is the limit less the usage; available adds what can be reclaimed.
      const free = m.memoryTotalBytes - usage;
      const reclaimable = (m.memoryStat.Cached ?? 0) + (m.memoryStat.SReclaimable ?? 0);
      add("lxd_memory_MemFree_bytes", base, free);
      add("lxd_memory_MemAvailable_bytes", base, free + reclaimable);
    }
    add("lxd_memory_Swap_bytes", base, m.memorySwapBytes);
    add("lxd_memory_OOM_kills_total", base, m.oomKills ?? 0);
    for (const nic of m.net) {
      for (const [n, , field] of NET) {
        add(`lxd_network_${n}_total`, { ...base, device: nic.name }, nic[field] as number);
      }
    }
    add("lxd_procs_total", base, m.pids);
    add("lxt_memory_usage_bytes", base, m.memoryBytes);
    add("lxt_memory_peak_bytes", base, m.memoryPeakBytes);
  }
  for (const { name, state } of daemon.states ?? instances) {
    add("lxt_instance_state", { name, project, type: "container", state }, 1);
  }
  add("lxd_instances", { project, type: "container" }, daemon.instances);
  add("lxd_instances", { project, type: "virtual-machine" }, 0);
  add("lxd_operations_total", {}, daemon.operations);
  add("lxd_uptime_seconds", {}, daemon.uptimeSeconds);
  return samples;
}
