import assert from "node:assert/strict";
import { test } from "node:test";
import { buildApp } from "../../src/api/server.js";
import { cpuV1, cpuV2, ioV1, ioV2, memoryLimit, memoryStat } from "../../src/cgroups/metrics.js";
import { type ContainerMetrics, scrapeText } from "../../src/container/metrics.js";
import { collectSamples, escapeLabel, renderMetrics } from "../../src/container/metrics-text.js";
import { parseNetDev } from "../../src/host/netinfo.js";
import { testDaemon } from "./support/lxtd-daemon.js";

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0
  eth0:    5000      40    1    2    0     0          0         0     3000      30    3    4    0     0       0          0
`;

test("parseNetDev: bytes, packets, errors and drops per interface, loopback left out", () => {
  assert.deepEqual(parseNetDev(NET_DEV), [
    {
      name: "eth0",
      rxBytes: 5000,
      rxPackets: 40,
      rxErrs: 1,
      rxDrop: 2,
      txBytes: 3000,
      txPackets: 30,
      txErrs: 3,
      txDrop: 4,
    },
  ]);
});

test("cpuV1 scales the tick split to the exact per-CPU runtime; cpuV2 reads CPU 0", () => {
  const cpu = cpuV1("cpu user system\n0 300 100\n1 0 0\n", "1000 50 \n");
  assert.deepEqual(cpu, [
    { cpu: 0, userNs: 750n, systemNs: 250n },
    { cpu: 1, userNs: 0n, systemNs: 50n },
  ]);
  assert.deepEqual(cpuV2("usage_usec 30\nuser_usec 20\nsystem_usec 10\n"), [
    { cpu: 0, userNs: 20000n, systemNs: 10000n },
  ]);
  assert.deepEqual(cpuV2("usage_usec 30\n"), []);
});

test("memoryStat maps v1 total_ keys and v2 keys onto LXD's names", () => {
  const v1 = memoryStat(
    "cache 1\nrss 2\ntotal_cache 10\ntotal_rss 20\ntotal_active_anon 3\ntotal_active_file 4\ntotal_mapped_file 5\n",
    1,
  );
  assert.equal(v1.Cached, 10);
  assert.equal(v1.RSS, 20);
  assert.equal(v1.Active, 7);
  assert.equal(v1.Mapped, 5);
  assert.equal(v1.SReclaimable, undefined, "v1 has no slab figure: not made up");
  const v2 = memoryStat("anon 8\nfile 9\nslab_reclaimable 6\nfile_dirty 1\n", 2);
  assert.deepEqual(v2, { RSS: 8, Cached: 9, SReclaimable: 6, Dirty: 1 });
});

test("io per device: v1 blkio pairs and v2 io.stat", () => {
  assert.deepEqual(
    ioV1(
      "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 1\nTotal 12288\n",
      "8:0 Read 1\n8:0 Write 2\nTotal 3\n",
    ),
    [{ device: "8:0", readBytes: 4096, writtenBytes: 8192, reads: 1, writes: 2 }],
  );
  assert.deepEqual(ioV2("253:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n"), [
    { device: "253:0", readBytes: 10, writtenBytes: 20, reads: 1, writes: 2 },
  ]);
});

test("memoryLimit: none for max and v1's page-rounded LONG_MAX", () => {
  assert.equal(memoryLimit("max\n"), undefined);
  assert.equal(memoryLimit("9223372036854771712\n"), undefined);
  assert.equal(memoryLimit("268435456\n"), 268435456);
});

test("label values are escaped: backslash, quote, newline", () => {
  assert.equal(escapeLabel('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
});

const SAMPLE: ContainerMetrics = {
  name: "c1",
  state: "RUNNING",
  memoryPeakBytes: 4000,
  cpu: [{ cpu: 0, userNs: 1_500_000_000n, systemNs: 500_000_000n }],
  memoryBytes: 3000,
  memoryStat: { Cached: 100, RSS: 200 },
  memoryTotalBytes: 10000,
  oomKills: 0,
  pids: 2,
  io: [{ device: "8:0", readBytes: 1, writtenBytes: 2, reads: 3, writes: 4 }],
  deviceNames: { "8:0": "sda" },
  net: [
    {
      name: "eth0",
      rxBytes: 5,
      txBytes: 6,
      rxPackets: 7,
      txPackets: 8,
      rxErrs: 0,
      txErrs: 0,
      rxDrop: 0,
      txDrop: 0,
    },
  ],
};

test("the text: LXD's names, HELP and TYPE, sorted labels, derived memory figures, # EOF", () => {
  const text = renderMetrics(
    collectSamples([SAMPLE], { instances: 3, operations: 1, uptimeSeconds: 2.5 }),
  );
  const lines = text.split("\n");
  assert.equal(lines.at(-2), "# EOF");
  assert.equal(lines.at(-1), "");
  assert.ok(lines.includes("# TYPE lxd_cpu_seconds_total counter"));
  assert.ok(lines.includes("# TYPE lxd_memory_MemFree_bytes gauge"));
  assert.ok(lines.includes("# TYPE lxd_procs_total gauge"));
  const base = 'name="c1",project="default",type="container"';
  for (const l of [
    `lxd_cpu_seconds_total{cpu="0",mode="system",${base}} 0.5`,
    `lxd_cpu_seconds_total{cpu="0",mode="user",${base}} 1.5`,
    `lxd_disk_read_bytes_total{device="sda",${base}} 1`,
    `lxd_disk_writes_completed_total{device="sda",${base}} 4`,
    `lxd_memory_MemTotal_bytes{${base}} 10000`,
    `lxd_memory_MemFree_bytes{${base}} 7000`,
    `lxd_memory_MemAvailable_bytes{${base}} 7100`,
    `lxd_memory_RSS_bytes{${base}} 200`,
    `lxd_memory_OOM_kills_total{${base}} 0`,
    `lxd_network_receive_bytes_total{device="eth0",${base}} 5`,
    `lxd_network_transmit_packets_total{device="eth0",${base}} 8`,
    `lxd_procs_total{${base}} 2`,
    'lxd_instances{project="default",type="container"} 3',
    "lxd_operations_total 1",
    "lxd_uptime_seconds 2.5",
    `lxt_memory_usage_bytes{${base}} 3000`,
    `lxt_memory_peak_bytes{${base}} 4000`,
    `lxt_instance_state{name="c1",project="default",state="RUNNING",type="container"} 1`,
  ]) {
    assert.ok(lines.includes(l), `missing: ${l}\n${text}`);
  }
  // Every sample line is NAME{labels} VALUE or NAME VALUE, and follows its own HELP/TYPE.
  let current = "";
  for (const l of lines.filter((x) => x && x !== "# EOF")) {
    const t = /^# TYPE (\S+) (counter|gauge)$/.exec(l);
    if (t) current = t[1] ?? "";
    if (l.startsWith("#")) continue;
    assert.match(
      l,
      /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-z]+="(?:[^"\\]|\\.)*"(,[a-z]+="(?:[^"\\]|\\.)*")*\})? \S+$/,
    );
    assert.ok(l.startsWith(`${current}{`) || l.startsWith(`${current} `), l);
  }
  assert.doesNotMatch(text, /lxd_memory_Swap_bytes/, "no swap figure read: no sample");
});

test("the CLI's scrape: no daemon figures; a named stopped container has a state and no figures", () => {
  const text = renderMetrics(
    collectSamples([SAMPLE], {
      instances: 2,
      states: [
        { name: "c1", state: "RUNNING" },
        { name: "c2", state: "STOPPED" },
      ],
    }),
  );
  assert.doesNotMatch(text, /lxd_operations_total|lxd_uptime_seconds/);
  assert.match(
    text,
    /^lxt_instance_state\{name="c2",project="default",state="STOPPED",type="container"\} 1$/m,
  );
  assert.doesNotMatch(text, /^lxd_procs_total\{name="c2"/m);
  assert.match(text, /^lxd_procs_total\{name="c1",project="default",type="container"\} 2$/m);
});

test("GET /1.0/metrics answers text/plain for an empty state root (inject)", async () => {
  const t = testDaemon();
  const app = buildApp(t.d);
  try {
    const r = await app.inject({ method: "GET", url: "/1.0/metrics" });
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers["content-type"]), /^text\/plain/);
    assert.match(r.body, /^lxd_instances\{project="default",type="container"\} 0$/m);
    assert.match(r.body, /^lxd_uptime_seconds \d/m);
    assert.ok(r.body.endsWith("# EOF\n"));
  } finally {
    await app.close();
    t.cleanup();
  }
});

test("GET /1.0/metrics?view=cli answers `lxt metrics`'s text; a bad or unknown name is an error", async () => {
  const t = testDaemon();
  const app = buildApp(t.d);
  try {
    const r = await app.inject({ method: "GET", url: "/1.0/metrics?view=cli" });
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers["content-type"]), /^text\/plain/);
    assert.equal(r.body, await scrapeText(t.d.ctx));
    assert.doesNotMatch(r.body, /lxd_uptime_seconds|lxd_operations_total/);
    const missing = await app.inject({ method: "GET", url: "/1.0/metrics?view=cli&name=c9" });
    assert.equal(missing.statusCode, 404);
    assert.match(missing.body, /no such container/);
    const bad = await app.inject({ method: "GET", url: "/1.0/metrics?view=cli&name=a%2Fb" });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /bad container name/);
  } finally {
    await app.close();
    t.cleanup();
  }
});
