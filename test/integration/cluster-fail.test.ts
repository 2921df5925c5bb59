/**
 * A cluster of lxtd members when things fail: an etcd member lost (one of
 * three), etcd's quorum lost and back, and an lxtd member SIGKILLed while
 * containers are made and removed behind its back (three etcd members and
 * two lxtd members on loopback, own state roots); and a partition (the
 * members in network namespaces, a wire set down). Driven by the stock client.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { etcdStore } from "../../src/api/cluster-etcd.js";
import {
  EtcdCluster,
  etcdSkipReason,
  freePorts,
  killEtcdMember,
  NetnsMembers,
  restartEtcdMember,
  waitFor,
} from "./etcd-harness.js";
import { netnsSkip } from "./harness.js";
import { LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason() ?? etcdSkipReason();
if (skip) console.log(skip);

/**
 * The members' lease TTL (seconds). Longer than an etcd election (about
 * 1 s here), so that losing the leader costs no member its lease.
 */
const TTL = 3;

interface Instance {
  name: string;
  location: string;
  status: string;
}

/**
 * [location, status] from `probe` once the status is `status` (a record is
 * republished at each heartbeat), else the last one seen after 3 TTLs.
 */
async function seen(probe: () => string[] | undefined, status: string) {
  const hit = await waitFor(() => {
    const v = probe();
    return v?.[1] === status ? v : undefined;
  }, TTL * 3000);
  return hit ?? probe();
}

/** The index of the etcd member that leads now (asked of the live ones), or -1. */
function leaderOf(etcd: EtcdCluster): number {
  const live = etcd.endpoints.filter((_, i) => {
    const c = etcd.members[i];
    return c && c.exitCode === null && c.signalCode === null;
  });
  const r = spawnSync(
    "etcdctl",
    ["--endpoints", live.join(","), "endpoint", "status", "--write-out", "json"],
    { env: { ...process.env, ETCDCTL_API: "3" }, encoding: "utf8", timeout: 5000 },
  );
  if (r.status !== 0) return -1;
  const rows = JSON.parse(r.stdout) as {
    Endpoint: string;
    Status: { header: { member_id: number }; leader: number };
  }[];
  const lead = rows.find((s) => s.Status.leader === s.Status.header.member_id);
  return lead ? etcd.endpoints.indexOf(lead.Endpoint) : -1;
}

describe("lxtd cluster: failures", { skip, timeout: 600_000 }, () => {
  const etcd = new EtcdCluster();
  const boxes: LxtdSandbox[] = [];
  const names = ["m0", "m1"];
  const ports: number[] = [];

  const start = (i: number) =>
    (boxes[i] as LxtdSandbox).startDaemon([
      "--https",
      `127.0.0.1:${ports[i]}`,
      "--cluster",
      etcd.endpoints.join(","),
      "--member",
      names[i] ?? "",
      "--address",
      `https://127.0.0.1:${ports[i]}`,
      "--cluster-ttl",
      String(TTL),
    ]);
  const statuses = (box: LxtdSandbox) =>
    (
      JSON.parse(box.lxcOk(["query", "/1.0/cluster/members?recursion=1"])) as {
        status: string;
      }[]
    ).map((m) => m.status);
  const instances = (box: LxtdSandbox): Instance[] =>
    JSON.parse(box.lxcOk(["query", "/1.0/instances?recursion=1"])) as Instance[];
  /** `name` as `box` lists it once published: [location, status], or undefined. */
  const listed = (box: LxtdSandbox, name: string) => {
    const hits = instances(box).filter((i) => i.name === name);
    assert.ok(hits.length <= 1, `${name} listed ${hits.length} times`);
    return hits[0] ? [hits[0].location, hits[0].status] : undefined;
  };
  const gone = (box: LxtdSandbox, name: string) =>
    instances(box).some((i) => i.name === name) ? undefined : true;
  /** Whether a run of the member's own `lxt` sees the container (the state root, not the store). */
  const local = (box: LxtdSandbox, name: string) => existsSync(join(box.lxcpath, name, "config"));

  before(async () => {
    await etcd.start(3);
    ports.push(...(await freePorts(2)));
    for (let i = 0; i < 2; i++) boxes.push(new LxtdSandbox());
    for (let i = 0; i < 2; i++) await start(i);
  });

  after(async () => {
    for (const b of boxes) await b.close();
    await etcd.close();
    for (const b of boxes) assert.equal(existsSync(b.lxcpath), false, b.lxcpath);
    assert.equal(existsSync(etcd.dir), false, etcd.dir);
  });

  test("a prefix larger than one gRPC answer (4 MB) is read whole, at one revision", async () => {
    const store = etcdStore(etcd.endpoints);
    try {
      const value = "x".repeat(5000);
      const puts = Array.from({ length: 1200 }, (_, i) =>
        store.put(`/lxt-test/big/${String(i).padStart(4, "0")}`, value),
      );
      await Promise.all(puts);
      const all = await store.getPrefix("/lxt-test/big/");
      assert.equal(all.size, 1200, "every key, over several pages");
      assert.equal(all.get("/lxt-test/big/1199"), value);
      assert.equal((await store.getPrefix("/lxt-test/bi")).size, 1200);
      assert.equal((await store.getPrefix("/lxt-test/none/")).size, 0);
    } finally {
      await Promise.all(
        Array.from({ length: 1200 }, (_, i) =>
          store.delete(`/lxt-test/big/${String(i).padStart(4, "0")}`),
        ),
      );
      store.close();
    }
  });

  test("losing one etcd member of three (the leader) changes nothing", async () => {
    const [b0, b1] = boxes as [LxtdSandbox, LxtdSandbox];
    const lead = leaderOf(etcd);
    assert.ok(lead >= 0, "etcd has a leader");
    await killEtcdMember(etcd, lead);
    // The two left elect a leader (about a second): the steady state after the loss.
    assert.ok(await waitFor(() => (leaderOf(etcd) >= 0 ? true : undefined), 15_000));
    const c = b0.name("one");
    b0.lxcOk(["init", "--empty", c, "--target", "m0"]);
    const dup = b1.lxc(["init", "--empty", c, "--target", "m1"]);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, new RegExp(`Instance "${c}" already exists`));
    assert.deepEqual(await seen(() => listed(b1, c), "Stopped"), ["m0", "Stopped"]);
    // Longer than a lease: no member lost it.
    await new Promise((r) => setTimeout(r, TTL * 1000 + 500));
    assert.deepEqual(statuses(b1), ["Online", "Online"]);
    b0.lxcOk(["delete", c]);
    assert.ok(await waitFor(() => gone(b1, c), TTL * 3000));
    await restartEtcdMember(etcd, lead);
  });

  test("quorum lost: writes fail naming the store, containers run on, local reads work; quorum back: writes work", async () => {
    const [b0, b1] = boxes as [LxtdSandbox, LxtdSandbox];
    const run = b0.name("run");
    const stopped = b0.name("stp");
    b0.lxcOk(["launch", "busybox", run, "--target", "m0"]);
    b0.lxcOk(["init", "--empty", stopped, "--target", "m0"]);
    assert.deepEqual(await seen(() => listed(b1, stopped), "Stopped"), ["m0", "Stopped"]);
    const [k1, k2] = [0, 1, 2].filter((i) => i !== leaderOf(etcd)).slice(0, 2) as [number, number];
    // Two of three gone, the leader left alone: no quorum.
    await killEtcdMember(etcd, k1);
    await killEtcdMember(etcd, k2);

    // A write's first store call fails: the claim (written) or, for a create, placement's members list (read).
    const store =
      /The cluster's store \(etcd at http:\/\/127\.0\.0\.1:\d+.*\) cannot be (written|read)/;
    const fresh = b0.name("new");
    const create = b0.lxc(["init", "--empty", fresh, "--target", "m0"]);
    assert.notEqual(create.code, 0);
    assert.match(create.stderr, store);
    assert.equal(local(b0, fresh), false, "no half-made instance");
    const del = b0.lxc(["delete", stopped]);
    assert.notEqual(del.code, 0);
    assert.match(del.stderr, store);
    assert.ok(local(b0, stopped), "the refused delete removed nothing");
    const renamed = b0.name("ren");
    const ren = b0.lxc(["move", stopped, renamed]);
    assert.notEqual(ren.code, 0);
    assert.match(ren.stderr, store);
    assert.ok(local(b0, stopped) && !local(b0, renamed), "the refused rename changed nothing");
    const members = b0.lxc(["query", "/1.0/cluster/members"]);
    assert.notEqual(members.code, 0);
    assert.match(members.stderr, /The cluster's store \(etcd at .*\) cannot be read/);

    // Local reads and the running container.
    const list = b0.lxcOk(["list", "--format", "csv", "-c", "nsL"]);
    assert.match(list, new RegExp(`^${run},RUNNING,m0$`, "m"));
    assert.match(list, new RegExp(`^${stopped},STOPPED,m0$`, "m"));
    assert.equal(b0.lxcOk(["exec", run, "--", "echo", "alive"]).trim(), "alive");
    assert.match(b0.lxcOk(["info", run]), /Status: RUNNING/);

    // Quorum back: writes work again (once the client reconnects), the members rejoin.
    await restartEtcdMember(etcd, k1);
    const back = await waitFor(() => {
      const r = b0.lxc(["init", "--empty", fresh, "--target", "m0"]);
      return r.code === 0 ? true : undefined;
    }, 30_000);
    assert.ok(back, `create after quorum came back:\n${b0.log.slice(-3000)}`);
    b0.lxcOk(["delete", stopped]);
    // m1's etcd client holds off a host for 5 s after failures (its circuit breaker): a 503 meanwhile.
    const online = () => {
      const r = b1.lxc(["query", "/1.0/cluster/members?recursion=1"]);
      if (r.code !== 0) return undefined;
      const list = JSON.parse(r.stdout) as { status: string }[];
      return list.every((m) => m.status === "Online") ? true : undefined;
    };
    assert.ok(
      await waitFor(online, TTL * 5000),
      `both members Online again:\n${b1.log.slice(-3000)}`,
    );
    assert.deepEqual(await seen(() => listed(b1, fresh), "Stopped"), ["m0", "Stopped"]);
    assert.ok(await waitFor(() => gone(b1, stopped), TTL * 3000));
    assert.deepEqual(await seen(() => listed(b1, run), "Running"), ["m0", "Running"]);
    await restartEtcdMember(etcd, k2);
    b0.lxcOk(["stop", "--force", run]);
    b0.lxcOk(["delete", run]);
    b0.lxcOk(["delete", fresh]);
  });

  test("an lxtd SIGKILLed, containers made and removed behind its back: it reconciles on restart", async () => {
    const [b0, b1] = boxes as [LxtdSandbox, LxtdSandbox];
    const kept = b1.name("kept");
    const removed = b1.name("rm");
    const made = b1.name("made");
    const clash = b0.name("clash");
    b1.lxcOk(["init", "--empty", kept, "--target", "m1"]);
    b1.lxcOk(["init", "--empty", removed, "--target", "m1"]);
    b0.lxcOk(["init", "--empty", clash, "--target", "m0"]);
    assert.deepEqual(await seen(() => listed(b0, removed), "Stopped"), ["m1", "Stopped"]);
    assert.deepEqual(await seen(() => listed(b1, clash), "Stopped"), ["m0", "Stopped"]);

    b1.daemon?.kill("SIGKILL");
    assert.ok(
      await waitFor(() => (statuses(b0)[1] === "Offline" ? true : undefined), TTL * 4000),
      "m1 Offline after its lease",
    );
    assert.deepEqual(listed(b0, kept), ["m1", "Error"], "an offline member's instance is in Error");
    // Behind its back: one removed, one made, one made with a name m0 holds.
    b1.ok(["destroy", "-f", "-n", removed]);
    b1.ok(["create", "-n", made, "-t", "busybox", "--network", "empty"]);
    b1.ok(["create", "-n", clash, "-t", "busybox", "--network", "empty"]);
    b1.daemon = undefined;
    await start(1);

    assert.deepEqual(await seen(() => listed(b0, made), "Stopped"), ["m1", "Stopped"]);
    assert.ok(await waitFor(() => gone(b0, removed), TTL * 3000), `${removed}'s record is dropped`);
    assert.deepEqual(listed(b0, kept), ["m1", "Stopped"]);
    // The clash stays m0's: listed once, at m0, on both members.
    assert.deepEqual(listed(b0, clash), ["m0", "Stopped"]);
    assert.deepEqual(listed(b1, clash), ["m1", "Stopped"], "m1 lists its own container");
    assert.equal(
      instances(b1).filter((i) => i.name === clash).length,
      1,
      "m1 does not list m0's record of the same name beside its own",
    );
    assert.match(b1.log, /a local container has a name another member holds/);
    // The names: the removed one is free, the made one is m1's.
    b0.lxcOk(["init", "--empty", removed, "--target", "m0"]);
    const taken = b0.lxc(["init", "--empty", made, "--target", "m0"]);
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr, new RegExp(`Instance "${made}" already exists`));
    for (const [b, n] of [
      [b0, removed],
      [b0, clash],
      [b1, kept],
      [b1, made],
    ] as const) {
      b.lxcOk(["delete", n]);
    }
    b1.ok(["destroy", "-f", "-n", clash]);
  });
});

const netSkip = skip ?? netnsSkip(["ip", "nsenter"]);
if (!skip && netSkip) console.log(netSkip);

/**
 * Members on separate "machines" (`NetnsMembers`): etcd's three members in
 * a hub namespace on a bridge, each lxtd in a namespace and state root of
 * its own, wired to the hub's bridge by a veth. A partition is that wire
 * set down.
 */
describe("lxtd cluster: a member cut off by its wire", { skip: netSkip, timeout: 600_000 }, () => {
  const cluster = new NetnsMembers(["p0", "p1"], TTL);
  const hosts = cluster.net.hosts;
  const statusOf = (box: LxtdSandbox, name: string) =>
    (
      JSON.parse(box.lxcOk(["query", "/1.0/cluster/members?recursion=1"])) as {
        server_name: string;
        status: string;
      }[]
    ).find((m) => m.server_name === name)?.status;
  const located = (box: LxtdSandbox, name: string) => {
    const hits = (
      JSON.parse(box.lxcOk(["query", "/1.0/instances?recursion=1"])) as Instance[]
    ).filter((i) => i.name === name);
    assert.ok(hits.length <= 1, `${name} listed ${hits.length} times`);
    return hits[0] ? [hits[0].location, hits[0].status] : undefined;
  };

  before(() => cluster.start());
  after(async () => assert.deepEqual(await cluster.close(), []));

  test("its wire down: Offline for the others after the TTL, its container runs on; wire up: Online, the same containers", async () => {
    const [a, b] = hosts as [(typeof hosts)[0], (typeof hosts)[0]];
    const c = b.net.name("part");
    b.box.lxcOk(["launch", "busybox", c, "--target", "p1"]);
    assert.deepEqual(await seen(() => located(a.box, c), "Running"), ["p1", "Running"]);
    assert.equal(statusOf(a.box, "p1"), "Online");

    const cut = Date.now();
    b.net.nsOk(["ip", "link", "set", b.wire, "down"]);
    assert.ok(
      await waitFor(() => (statusOf(a.box, "p1") === "Offline" ? true : undefined), TTL * 4000),
      "p1 Offline for p0",
    );
    // Not before its lease could run out (the last keepalive came at most TTL/3 before the cut).
    assert.ok(Date.now() - cut >= (TTL * 1000 * 2) / 3 - 100, "not before the TTL");
    assert.deepEqual(located(a.box, c), ["p1", "Error"], "p0 cannot reach it: Error, as LXD shows");
    // On the cut-off member: its own list (without the store) and the container, running.
    assert.match(
      b.box.lxcOk(["list", "--format", "csv", "-c", "nsL"]),
      new RegExp(`^${c},RUNNING,p1$`, "m"),
    );
    assert.equal(b.box.lxcOk(["exec", c, "--", "echo", "alive"]).trim(), "alive");

    b.net.nsOk(["ip", "link", "set", b.wire, "up"]);
    assert.ok(
      await waitFor(() => (statusOf(a.box, "p1") === "Online" ? true : undefined), TTL * 10_000),
      `p1 Online again:\n${b.box.log.slice(-3000)}`,
    );
    assert.deepEqual(await seen(() => located(a.box, c), "Running"), ["p1", "Running"]);
    assert.equal(statusOf(b.box, "p0"), "Online");
    b.box.lxcOk(["stop", "--force", c]);
    b.box.lxcOk(["delete", c]);
  });
});
