/**
 * Evacuate and restore a cluster member (docs/cluster.md "Evacuate and
 * restore") on a real etcd: three etcd members in a switch namespace and
 * three lxtd members on separate "machines" (`NetnsMembers`: each in a
 * network namespace and state root of its own, HTTPS on its address there,
 * joined to the switch by a veth), m1 and m2 joined with tokens so the
 * members trust one another; the moves go over the wires. The containers
 * have no NIC (the tests' default profile), so no network needs to match
 * between members for a live move. The stock client asks m0 to
 * evacuate m1: m1's running container moves live (the same counter process
 * goes on), its stopped one moves stopped, m1 shows Evacuated and takes no
 * placement; restore brings both back. An evacuate with no other online
 * member is refused and moves nothing.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { etcdSkipReason, joinToken, NetnsMembers, waitFor } from "./etcd-harness.js";
import { criuSkip, LXT, netnsSkip } from "./harness.js";
import { lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason() ?? etcdSkipReason() ?? netnsSkip(["ip", "nsenter"]) ?? criuSkip();
if (skip) console.log(skip.startsWith("SKIP") ? skip : `SKIP: ${skip}`);

const TTL = 2;

const COUNTER = `#!/bin/sh
i=0
while true; do i=$((i+1)); echo "$$ $i" > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.05; done
`;

interface Instance {
  name: string;
  location: string;
  status: string;
}

interface Member {
  server_name: string;
  status: string;
  message: string;
}

describe("lxtd cluster: evacuate and restore a member", { skip, timeout: 600_000 }, () => {
  const hosts = new NetnsMembers(["m0", "m1", "m2"], TTL);
  const box = (i: number) => hosts.box(i);
  const instance = (name: string) =>
    JSON.parse(box(0).lxcOk(["query", `/1.0/instances/${name}`])) as Instance;
  const member = (name: string) =>
    JSON.parse(box(0).lxcOk(["query", `/1.0/cluster/members/${name}`])) as Member;
  /** Which member's state root has container `name` (by its directory). */
  const holders = (name: string) =>
    [0, 1, 2].filter((i) => existsSync(join(box(i).lxcpath, name, "config")));
  /** The counter's pid and count in `name`, read through m0 (forwarded to its member). */
  const count = (name: string): [number, number] => {
    const [pid, n] = box(0).lxcOk(["exec", name, "--", "cat", "/tmp/count"]).trim().split(" ");
    return [Number(pid), Number(n)];
  };
  const counts = (name: string, above: number) =>
    waitFor(() => (count(name)[1] > above ? true : undefined), 15_000);
  const token = (name: string) => joinToken(box(0), name);

  before(async () => {
    await hosts.start(1);
    await hosts.startMember(1, ["--cluster-token", token("m1")]);
    await hosts.startMember(2, ["--cluster-token", token("m2")]);
    // On m1: `run` privileged and running a counter, `idle` stopped.
    box(0).lxcOk(["launch", "busybox", "run", "--target", "m1", "-c", "security.privileged=true"]);
    writeFileSync(join(box(1).lxcpath, "run", "rootfs", "counter.sh"), COUNTER, { mode: 0o755 });
    box(0).lxcOk([
      "exec",
      "run",
      "--",
      "sh",
      "-c",
      "setsid /counter.sh </dev/null >/dev/null 2>&1 &",
    ]);
    box(0).lxcOk(["init", "busybox", "idle", "--target", "m1"]);
    assert.deepEqual([holders("run"), holders("idle")], [[1], [1]]);
  });
  after(async () => assert.deepEqual(await hosts.close(), []));

  test("evacuate m1 through m0: both containers move, the running one live; m1 Evacuated, no placement there", async () => {
    assert.ok(await counts("run", 5), "the counter never ran");
    const [pid, n] = count("run");
    box(0).lxcOk(["cluster", "evacuate", "m1", "--force"]);

    const run = instance("run");
    const idle = instance("idle");
    assert.notEqual(run.location, "m1");
    assert.notEqual(idle.location, "m1");
    assert.equal(run.status, "Running");
    assert.equal(idle.status, "Stopped");
    assert.equal(holders("run").length, 1);
    assert.equal(holders("idle").length, 1);
    assert.equal(holders("run").includes(1), false, "run is gone from m1's state root");
    assert.equal(holders("idle").includes(1), false, "idle is gone from m1's state root");
    // A live move: the same process, its count not reset, still counting.
    const [pid2, n2] = count("run");
    assert.equal(pid2, pid);
    assert.ok(n2 >= n, `the counter went back: ${n} -> ${n2}`);
    assert.ok(await counts("run", n2), "the counter stopped after the move");
    // One name, one holder: m1's record went with the move; the new holder's
    // comes at its next heartbeat. The list then shows each once, where it is.
    const listed = () =>
      (JSON.parse(box(2).lxcOk(["query", "/1.0/instances?recursion=1"])) as Instance[])
        .filter((i) => i.name === "run" || i.name === "idle")
        .map((i) => `${i.name}@${i.location}`)
        .sort()
        .join(" ");
    const want = `idle@${idle.location} run@${run.location}`;
    assert.equal(await waitFor(() => (listed() === want ? want : undefined), TTL * 5000), want);
    assert.doesNotMatch(listed(), /@m1/);

    const m1 = member("m1");
    assert.deepEqual([m1.status, m1.message], ["Evacuated", "Unavailable due to maintenance"]);
    assert.match(box(0).lxcOk(["cluster", "list"]), /m1.*EVACUATED/);
    assert.match(
      execFileSync(LXT, ["cluster", "list", "-P", box(2).lxcpath], { encoding: "utf8" }),
      /m1 .*EVACUATED/,
    );
    // m1 has nothing running, the least loaded but evacuated: a create asked of m1 goes elsewhere.
    box(1).lxcOk(["launch", "busybox", "p1"]);
    assert.notEqual(instance("p1").location, "m1");
    assert.equal(holders("p1").includes(1), false);
    box(0).lxcOk(["delete", "--force", "p1"]);
    // Twice is refused with LXD's words.
    const again = box(0).lxc(["cluster", "evacuate", "m1", "--force"]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /Cluster member is already evacuated/);
  });

  test("restore m1 (lxt cluster restore through m2): both come back, the running one live; m1 Online", async () => {
    const [pid, n] = count("run");
    execFileSync(LXT, ["cluster", "restore", "m1", "-P", box(2).lxcpath], { encoding: "utf8" });
    assert.deepEqual([holders("run"), holders("idle")], [[1], [1]]);
    const run = instance("run");
    const idle = instance("idle");
    assert.deepEqual([run.location, run.status], ["m1", "Running"]);
    assert.deepEqual([idle.location, idle.status], ["m1", "Stopped"]);
    const [pid2, n2] = count("run");
    assert.equal(pid2, pid);
    assert.ok(n2 >= n, `the counter went back: ${n} -> ${n2}`);
    assert.ok(await counts("run", n2), "the counter stopped after the restore");
    assert.equal(member("m1").status, "Online");
    const restoredAgain = box(0).lxc(["cluster", "restore", "m1"], { input: "yes\n" });
    assert.notEqual(restoredAgain.code, 0);
    assert.match(restoredAgain.stderr, /Cluster member is not evacuated/);
  });

  test("cluster.evacuate=migrate: stopped, moved, started there; stop: stays, stopped, restarted by restore", async () => {
    box(0).lxcOk(["config", "set", "run", "cluster.evacuate", "migrate"]);
    box(0).lxcOk(["launch", "busybox", "keep", "--target", "m1", "-c", "cluster.evacuate=stop"]);
    const bad = box(0).lxc(["config", "set", "idle", "cluster.evacuate", "sometimes"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /cluster\.evacuate.*sometimes/);
    box(0).lxcOk(["cluster", "evacuate", "m1", "--force"]);
    const run = instance("run");
    assert.notEqual(run.location, "m1");
    assert.equal(run.status, "Running");
    assert.deepEqual([instance("keep").location, instance("keep").status], ["m1", "Stopped"]);
    // The stock client asks first (no --force for restore in 5.0.2).
    box(0).lxcOk(["cluster", "restore", "m1"], { input: "yes\n" });
    assert.deepEqual([holders("run"), holders("idle"), holders("keep")], [[1], [1], [1]]);
    assert.equal(instance("run").status, "Running");
    assert.equal(instance("idle").status, "Stopped");
    assert.equal(instance("keep").status, "Running");
    box(0).lxcOk(["delete", "--force", "keep"]);
  });

  test("evacuate with no other online member: refused, nothing moved", async () => {
    await box(0).stopDaemon();
    await box(2).stopDaemon();
    const r = box(1).lxc(["cluster", "evacuate", "m1", "--force"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /No other online cluster member to evacuate m1's instances to/);
    assert.deepEqual([holders("run"), holders("idle")], [[1], [1]]);
    const m1 = JSON.parse(box(1).lxcOk(["query", "/1.0/cluster/members/m1"])) as Member;
    assert.equal(m1.status, "Online");
    assert.match(box(1).lxcOk(["list", "run", "-c", "ns", "-f", "csv"]), /run,RUNNING/);
  });
});
