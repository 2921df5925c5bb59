/**
 * `lxt metrics` scraped after a workload the test ran in the container:
 * CPU time against what `time` measured inside, a 40 MiB buffer against
 * the memory peak, a synced file against the block I/O written, pings
 * over its veth to the test's namespace against the NIC counters, sleeps
 * against the process count, an OOM kill under a memory limit, and the
 * state of a stopped container named on the command line. Runs in a
 * network namespace of its own.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { NetnsSandbox, netnsSkip, skipReason } from "./harness.js";

const skip = skipReason() ?? netnsSkip();
if (skip) console.log(skip);

/** One sample line's value: `NAME{labels} VALUE` whose labels include every `want` pair. */
function values(text: string, name: string, want: Record<string, string>): number[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`))
    .filter((l) => Object.entries(want).every(([k, v]) => l.includes(`${k}="${v}"`)))
    .map((l) => Number(l.slice(l.lastIndexOf(" ") + 1)));
}
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** MAJ:MIN of the whole disk holding `path` (a throttle rule needs a disk, not a partition). */
function diskOf(path: string): string {
  const dev = statSync(path).dev;
  const id = `${Math.floor(dev / 256) & 0xfff}:${(dev & 0xff) | ((dev >> 12) & 0xfff00)}`;
  const sys = `/sys/dev/block/${id}`;
  if (existsSync(`${sys}/partition`)) return readFileSync(`${sys}/../dev`, "utf8").trim();
  return id;
}

describe("lxt metrics against a workload", { skip, timeout: 300_000 }, () => {
  const netns = new NetnsSandbox("mt");
  const { box: sb, ok, lxt, network } = netns;
  const net = network("m");
  const container = (lines: string[]): string => {
    const name = netns.name("m");
    ok(["create", "-t", "busybox", "-n", name, "--network", net]);
    const cfg = join(sb.lxcpath, name, "config");
    writeFileSync(cfg, `${readFileSync(cfg, "utf8")}${lines.join("\n")}\n`);
    return name;
  };
  const inside = (c: string, script: string) => ok(["attach", "-n", c, "--", "sh", "-c", script]);

  before(() => {
    netns.open();
    ok(["network", "create", net, "--ipv4", "10.0.74.1/24", "--nat", "false"]);
  });
  after(() => netns.dispose());

  test("CPU, memory, block I/O, NIC, processes, OOM kills and state as the workload made them", () => {
    // A throttle rule far above anything reached: on cgroup v1 the kernel counts a device's
    // block I/O only where one is set (docs/config.md).
    const disk = diskOf(sb.lxcpath);
    const c = container([`lxt.limits.io.write.bps = ${disk} 10G`]);
    const small = container(["lxt.limits.memory = 32M", "lxt.limits.memory.swap = 0"]);
    const off = container([]);
    ok(["start", "-n", c]);
    ok(["start", "-n", small]);

    const K = 7;
    const M = 8 * 1024 * 1024;
    const cpuBefore = sum(values(ok(["metrics", c]), "lxd_cpu_seconds_total", { name: c }));
    // CPU: busybox's `time` prints the loop's user and system seconds on stderr.
    const timed = lxt([
      "attach",
      "-n",
      c,
      "--",
      "sh",
      "-c",
      "time sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done'",
    ]);
    assert.equal(timed.code, 0, timed.stderr);
    const user = Number(/user\s+(?:(\d+)m\s*)?([\d.]+)s?/.exec(timed.stderr)?.[2] ?? "NaN");
    const sys = Number(/sys\s+(?:(\d+)m\s*)?([\d.]+)s?/.exec(timed.stderr)?.[2] ?? "NaN");
    assert.ok(user + sys > 0.1, `the loop used CPU: ${timed.stderr}`);
    // Memory: dd's 40 MiB buffer, filled from /dev/zero. I/O: M bytes written and synced.
    inside(c, "dd if=/dev/zero of=/dev/null bs=40M count=1 2>/dev/null");
    inside(
      c,
      `dd if=/dev/zero of=/root/blob bs=1M count=${M / 1024 / 1024} conv=fsync 2>/dev/null`,
    );
    // NIC: K pings over the veth to the test's namespace (the bridge's address).
    inside(c, `ping -c ${K} -i 0.2 -W 2 10.0.74.1 >/dev/null`);
    // Processes: three sleeps beside init.
    inside(c, "for i in 1 2 3; do sleep 300 & done");
    // OOM: a 64 MiB buffer under a 32 MiB limit with no swap.
    lxt(["attach", "-n", small, "--", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]);

    const text = ok(["metrics"]);
    assert.ok(text.endsWith("# EOF\n"));
    const base = { name: c };
    const cpu = sum(values(text, "lxd_cpu_seconds_total", base));
    assert.ok(
      cpu - cpuBefore >= (user + sys) * 0.9 - 0.02,
      `CPU went from ${cpuBefore} to ${cpu}; the loop took ${user + sys} s`,
    );
    const peak = values(text, "lxt_memory_peak_bytes", base)[0] ?? 0;
    assert.ok(peak >= 40 * 1024 * 1024, `memory peak ${peak} after a 40 MiB buffer`);
    const usage = values(text, "lxt_memory_usage_bytes", base)[0] ?? 0;
    assert.ok(usage > 0 && usage <= peak, `memory in use ${usage}, peak ${peak}`);
    assert.ok((values(text, "lxd_memory_MemTotal_bytes", base)[0] ?? 0) > 0);
    const written = sum(values(text, "lxd_disk_written_bytes_total", base));
    assert.ok(written >= M, `block I/O written ${written} after ${M} synced bytes`);
    assert.ok(sum(values(text, "lxd_disk_writes_completed_total", base)) >= 1);
    const eth0 = { ...base, device: "eth0" };
    assert.ok((values(text, "lxd_network_transmit_packets_total", eth0)[0] ?? 0) >= K);
    assert.ok((values(text, "lxd_network_receive_packets_total", eth0)[0] ?? 0) >= K);
    assert.ok((values(text, "lxd_network_transmit_bytes_total", eth0)[0] ?? 0) >= K * 84);
    assert.equal(values(text, "lxd_network_transmit_errs_total", eth0)[0], 0);
    assert.equal(values(text, "lxd_network_receive_drop_total", eth0).length, 1);
    assert.ok((values(text, "lxd_procs_total", base)[0] ?? 0) >= 4, "init and three sleeps");
    assert.equal(values(text, "lxd_memory_OOM_kills_total", base)[0], 0);
    assert.ok((values(text, "lxd_memory_OOM_kills_total", { name: small })[0] ?? 0) >= 1);
    assert.deepEqual(values(text, "lxt_instance_state", { ...base, state: "RUNNING" }), [1]);
    // Only running containers unless named; a named stopped one has its state alone.
    assert.equal(values(text, "lxt_instance_state", { name: off }).length, 0);
    const named = ok(["metrics", off, "-n", c]);
    assert.deepEqual(values(named, "lxt_instance_state", { name: off, state: "STOPPED" }), [1]);
    assert.equal(values(named, "lxd_procs_total", { name: off }).length, 0);
    assert.equal(values(named, "lxd_procs_total", { name: small }).length, 0);
    assert.equal(values(named, "lxd_procs_total", base).length, 1);
    const missing = lxt(["metrics", "nosuch"]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /nosuch/);
    for (const x of [c, small]) ok(["stop", "-k", "-n", x]);
  });
});
