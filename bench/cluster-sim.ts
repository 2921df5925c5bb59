/**
 * `npm run bench:cluster` : the cluster at scale in simulation (issue 17),
 * measured, never asserted; docs/cluster.md ("Scale") has the last run's.
 *
 * A real etcd (SIM_ETCD members, 3 by default, on loopback, a temp dir)
 * and SIM_MEMBERS members (100) spread over SIM_WORKERS processes (10),
 * each member a real `Cluster` (src/api/cluster.ts) on its own etcd client,
 * joining, publishing SIM_INSTANCES (1000) instance records of its own and
 * heartbeating every TTL/3 like lxtd does, with records in place of
 * containers (ClusterOptions.local). Then, from one more member in this
 * process: placement's store work (the members list, then the name's claim
 * and its release) and the list of every instance (what `GET
 * /1.0/instances` reads from etcd), SIM_PROBES (20) times each; and etcd's
 * load from its /metrics: requests by method per second, bytes in and out,
 * the db size, its CPU and memory, during the population and during
 * SIM_STEADY_SECS (30) of heartbeats alone.
 *
 * Everything is killed and removed at the end (etcd members, workers, the dir).
 */
import { type ChildProcess, fork } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { Cluster } from "../src/api/cluster.js";
import { etcdStore } from "../src/api/cluster-etcd.js";
import type { InstanceJson } from "../src/api/types.js";
import { EtcdCluster, etcdSkipReason } from "../test/integration/etcd-harness.js";
import { daemonAt } from "../test/unit/support/lxtd-daemon.js";

const env = (k: string, d: number) => Number(process.env[k] ?? d);
const MEMBERS = env("SIM_MEMBERS", 100);
const INSTANCES = env("SIM_INSTANCES", 1000);
const WORKERS = Math.min(env("SIM_WORKERS", 10), MEMBERS);
const TTL = env("SIM_TTL", 10);
const STEADY_SECS = env("SIM_STEADY_SECS", 30);
const ETCD = env("SIM_ETCD", 3);
const PROBES = env("SIM_PROBES", 20);

/** An instance record as a member publishes one (a stopped busybox container's LXD JSON, ~1 KB). */
function record(member: string, name: string): InstanceJson {
  const config = {
    "image.description": "busybox (lxt template)",
    "image.os": "busybox",
    "volatile.base_image": "busybox",
    "volatile.idmap.base": "1000000",
    "volatile.idmap.current":
      '[{"Isuid":true,"Isgid":true,"Hostid":1000000,"Nsid":0,"Maprange":65536}]',
    "volatile.last_state.power": "STOPPED",
    "volatile.uuid": "2f6c1c0e-8f0b-4a36-9c1f-6d3a1c6c2b7e",
  };
  const devices = { root: { path: "/", pool: "default", type: "disk" } };
  return {
    architecture: "x86_64",
    config,
    devices: {},
    ephemeral: false,
    profiles: ["default"],
    stateful: false,
    description: "",
    created_at: "2026-12-07T12:00:00Z",
    expanded_config: config,
    expanded_devices: devices,
    name,
    status: "Stopped",
    status_code: 102,
    last_used_at: "1970-01-01T00:00:00Z",
    location: member,
    type: "container",
    project: "default",
  };
}

/** A member without containers: its records come from `local`, its daemon is the unit tests'. */
function simMember(name: string, endpoints: string[], root: string, n: number): Cluster {
  const d = daemonAt(`${root}/${name}`);
  const names = Array.from({ length: n }, (_, i) => `${name}-c${i}`);
  const records = names.map((c) => record(name, c));
  return new Cluster(d, {
    member: name,
    address: `https://${name}.sim:8443`,
    architecture: "x86_64",
    ttlSeconds: TTL,
    store: etcdStore(endpoints),
    local: { names: () => names, instances: async () => records },
  });
}

// ---- a worker: its share of the members, joined, heartbeating until told to leave ----

async function worker(): Promise<void> {
  const [endpoints = "", root = "", list = ""] = process.argv.slice(3);
  const members = list.split(",").map((m) => simMember(m, endpoints.split(","), root, INSTANCES));
  const t0 = performance.now();
  const joins = await Promise.all(
    members.map(async (m) => {
      const s = performance.now();
      await m.join();
      return performance.now() - s;
    }),
  );
  process.send?.({ joined: joins, ms: performance.now() - t0, cpu: process.cpuUsage() });
  process.on("message", async (msg: { cmd: string }) => {
    if (msg.cmd === "cpu") process.send?.({ cpu: process.cpuUsage() });
    if (msg.cmd === "leave") {
      await Promise.all(members.map((m) => m.leave().catch(() => {})));
      process.exit(0);
    }
  });
}

// ---- the coordinator ----

/** etcd's counters summed over its members (from each member's /metrics). */
async function metrics(endpoints: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const add = (k: string, v: number) => out.set(k, (out.get(k) ?? 0) + v);
  for (const url of endpoints) {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const line of text.split("\n")) {
      if (line.startsWith("#")) continue;
      const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
      if (!m) continue;
      const [, key = "", labels = "", v = "0"] = m;
      const val = Number(v);
      if (key === "grpc_server_handled_total" || key === "grpc_server_msg_received_total") {
        const method = /grpc_method="(\w+)"/.exec(labels)?.[1] ?? "?";
        add(`${key}:${method}`, val);
      } else if (
        [
          "etcd_mvcc_db_total_size_in_bytes",
          "etcd_mvcc_db_total_size_in_use_in_bytes",
          "etcd_debugging_mvcc_keys_total",
          "etcd_network_client_grpc_received_bytes_total",
          "etcd_network_client_grpc_sent_bytes_total",
          "etcd_server_proposals_committed_total",
          "process_cpu_seconds_total",
          "process_resident_memory_bytes",
        ].includes(key)
      ) {
        add(key, val);
      }
    }
  }
  return out;
}

/** What happened in etcd between two samples over `secs`, per second where it is a rate. */
function load(a: Map<string, number>, b: Map<string, number>, secs: number) {
  const d = (k: string) => (b.get(k) ?? 0) - (a.get(k) ?? 0);
  const perSec = (k: string) => Math.round((d(k) / secs) * 10) / 10;
  const methods: Record<string, number> = {};
  for (const k of b.keys()) {
    // Unary calls count when handled; the lease keepalive stream counts its messages.
    const [kind, method = ""] = k.split(":");
    if (kind === "grpc_server_handled_total" && method !== "LeaseKeepAlive" && d(k) > 0) {
      methods[method] = perSec(k);
    }
    if (kind === "grpc_server_msg_received_total" && method === "LeaseKeepAlive" && d(k) > 0) {
      methods[method] = perSec(k);
    }
  }
  return {
    secs: Math.round(secs * 10) / 10,
    requests_per_s: methods,
    bytes_in_per_s: perSec("etcd_network_client_grpc_received_bytes_total"),
    bytes_out_per_s: perSec("etcd_network_client_grpc_sent_bytes_total"),
    // Every etcd member counts each commit: once per member.
    proposals_per_s:
      Math.round((d("etcd_server_proposals_committed_total") / ETCD / secs) * 10) / 10,
    etcd_cpu_percent_of_a_core: Math.round((d("process_cpu_seconds_total") / secs) * 1000) / 10,
  };
}

function stats(ms: number[]) {
  const s = [...ms].sort((x, y) => x - y);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0;
  const r = (x: number) => Math.round(x * 10) / 10;
  return { median_ms: r(q(0.5)), p90_ms: r(q(0.9)), min_ms: r(s[0] ?? 0), max_ms: r(q(1)) };
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const s = performance.now();
  const v = await fn();
  return [performance.now() - s, v];
}

type WorkerMsg = { joined?: number[]; ms?: number; cpu?: NodeJS.CpuUsage };

/** The worker's next message (a worker that exits first is an error). */
function next(child: ChildProcess): Promise<WorkerMsg> {
  return new Promise((resolve, reject) => {
    const died = (code: number | null) => reject(new Error(`a worker exited (${code})`));
    child.once("exit", died);
    child.once("message", (m) => {
      child.off("exit", died);
      resolve(m as WorkerMsg);
    });
  });
}

/** The worker's CPU time so far. */
function cpuOf(child: ChildProcess): Promise<WorkerMsg> {
  const reply = next(child);
  child.send({ cmd: "cpu" });
  return reply;
}

async function main(): Promise<void> {
  const skip = etcdSkipReason();
  if (skip) {
    console.log(skip);
    return;
  }
  const etcd = new EtcdCluster();
  const workers: ChildProcess[] = [];
  // Filled phase by phase and printed even when a later phase fails.
  const result: Record<string, unknown> = {
    run: new Date().toISOString(),
    cpus: cpus().length,
    etcd_members: ETCD,
    members: MEMBERS,
    instances_per_member: INSTANCES,
    worker_processes: WORKERS,
    ttl_s: TTL,
    record_bytes: JSON.stringify(record("m0", "m0-c0")).length,
  };
  try {
    await etcd.start(ETCD);
    const eps = etcd.endpoints;
    const root = `${etcd.dir}/members`;
    const m0 = await metrics(eps);
    const names = Array.from({ length: MEMBERS }, (_, i) => `m${i}`);
    const started = performance.now();
    for (let w = 0; w < WORKERS; w++) {
      const mine = names.filter((_, i) => i % WORKERS === w);
      workers.push(
        fork(import.meta.filename, ["worker", eps.join(","), root, mine.join(",")], {
          execArgv: ["--import", "tsx"],
        }),
      );
    }
    const ready = await Promise.all(workers.map(next));
    const populateSecs = (performance.now() - started) / 1000;
    const m1 = await metrics(eps);
    const joins = ready.flatMap((r) => r.joined ?? []);
    result.populate = {
      wall_s: Math.round(populateSecs * 10) / 10,
      member_join_publish: stats(joins),
      etcd: load(m0, m1, populateSecs),
    };

    // Heartbeats alone: the steady state of the cluster.
    const cpu0 = await Promise.all(workers.map(cpuOf));
    await new Promise((r) => setTimeout(r, STEADY_SECS * 1000));
    const cpu1 = await Promise.all(workers.map(cpuOf));
    const m2 = await metrics(eps);
    const memberCpuMs =
      cpu1.reduce((s, c, i) => {
        const a = cpu0[i]?.cpu;
        const b = c.cpu;
        return a && b ? s + (b.user - a.user + b.system - a.system) / 1000 : s;
      }, 0) /
      STEADY_SECS /
      MEMBERS;
    result.steady_heartbeats = {
      etcd: load(m1, m2, STEADY_SECS),
      member_cpu_ms_per_s: Math.round(memberCpuMs * 100) / 100,
    };

    // One more member, in this process, places and lists.
    const probe = simMember("probe", eps, root, 0);
    await probe.join();
    const placeMs: number[] = [];
    const listMs: number[] = [];
    // The lister's own CPU time (utime + stime): what the load moves much less than wall time.
    const listCpuMs: number[] = [];
    let listed = 0;
    for (let i = 0; i < PROBES; i++) {
      const [ms] = await timed(async () => {
        const members = await probe.members();
        const online = members.filter((m) => m.online && m.name !== "probe");
        online.sort((a, b) => a.load.containers - b.load.containers);
        await probe.claim(`placed-${i}`);
        return online[0]?.name;
      });
      placeMs.push(ms);
      await probe.release(`placed-${i}`);
      const cpu = process.cpuUsage();
      const [lms, all] = await timed(() => probe.remoteInstances());
      const used = process.cpuUsage(cpu);
      listMs.push(lms);
      listCpuMs.push((used.user + used.system) / 1000);
      listed = all.length;
    }
    await probe.leave();
    const m3 = await metrics(eps);

    const mb = (k: string, m: Map<string, number>) =>
      Math.round(((m.get(k) ?? 0) / ETCD / 2 ** 20) * 10) / 10;
    const probeSecs = [...placeMs, ...listMs].reduce((a, b) => a + b, 0) / 1000;
    Object.assign(result, {
      placement_store_work: stats(placeMs),
      list_all_instances: { ...stats(listMs), instances: listed, cpu: stats(listCpuMs) },
      probes: load(m2, m3, probeSecs),
      etcd_per_member: {
        db_mb: mb("etcd_mvcc_db_total_size_in_bytes", m3),
        db_in_use_mb: mb("etcd_mvcc_db_total_size_in_use_in_bytes", m3),
        keys: Math.round((m3.get("etcd_debugging_mvcc_keys_total") ?? 0) / ETCD),
        rss_mb: mb("process_resident_memory_bytes", m3),
      },
    });
  } catch (err) {
    result.error = (err as Error).message;
    process.exitCode = 1;
  } finally {
    result.loadavg_at_end = loadavg().map((x) => Math.round(x * 100) / 100);
    console.log(JSON.stringify(result, null, 2));
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.exitCode !== null || w.signalCode !== null) return resolve();
            const kill = setTimeout(() => w.kill("SIGKILL"), 30_000);
            w.once("exit", () => {
              clearTimeout(kill);
              resolve();
            });
            w.send({ cmd: "leave" });
          }),
      ),
    );
    await etcd.close();
  }
}

if (process.argv[2] === "worker") await worker();
else await main();
