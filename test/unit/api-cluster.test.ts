/**
 * lxtd's cluster membership and shared names over a store in memory: the
 * records, online/offline by lease, the name transaction, what each member
 * lists, and the LXD endpoints through inject (no etcd, no root).
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Cluster } from "../../src/api/cluster.js";
import { KEYS, MemoryStore } from "../../src/api/cluster-store.js";
import type { Daemon } from "../../src/api/daemon.js";
import { ApiError } from "../../src/api/envelope.js";
import { buildApp } from "../../src/api/server.js";
import { listNames } from "../../src/container/list.js";
import { testDaemon } from "./support/daemon.js";

const root = mkdtempSync(join(tmpdir(), "lxt-api-cluster-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** A daemon with a certificate of its own (what a member's record carries). */
function daemon(fingerprint: string): Daemon {
  const d = testDaemon(root);
  d.tls = { certificate: "", fingerprint, addresses: [] };
  return d;
}

function member(d: Daemon, name: string, store: MemoryStore): Cluster {
  const c = new Cluster(d, {
    member: name,
    address: `https://10.0.0.${name.slice(1)}:8443`,
    architecture: "x86_64",
    ttlSeconds: 3600,
    store,
  });
  d.cluster = c;
  return c;
}

/** A container on `d`'s state root as the fake context sees one (a config file). */
function fakeContainer(d: Daemon, name: string): void {
  const dir = join(d.ctx.lxcpath, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config"), `lxc.uts.name = ${name}\n`);
}

/** Members m1 and m2 joined on one store; `before` runs on m1's daemon before it joins. */
async function twoMembers(before?: (d1: Daemon) => void) {
  const store = new MemoryStore();
  const d1 = daemon("a".repeat(64));
  const d2 = daemon("b".repeat(64));
  before?.(d1);
  const m1 = member(d1, "m1", store);
  const m2 = member(d2, "m2", store);
  await m1.join();
  await m2.join();
  return { store, d1, d2, m1, m2 };
}

describe("cluster membership", () => {
  test("members join, list Online with their records, and go Offline when their lease ends", async () => {
    const { d1, d2, m1, m2 } = await twoMembers();
    const list = await m1.members();
    assert.deepEqual(
      list.map((m) => [m.name, m.online, m.address, m.fingerprint]),
      [
        ["m1", true, "https://10.0.0.1:8443", "a".repeat(64)],
        ["m2", true, "https://10.0.0.2:8443", "b".repeat(64)],
      ],
    );
    assert.equal(list[0]?.load.containers, 0);
    assert.ok((list[0]?.load.cpus ?? 0) > 0);
    const r = await buildApp(d1).inject({ method: "GET", url: "/1.0/cluster/members?recursion=1" });
    assert.equal(r.statusCode, 200);
    const lxd = r.json().metadata;
    assert.deepEqual(lxd[1], {
      server_name: "m2",
      url: "https://10.0.0.2:8443",
      database: false,
      status: "Online",
      message: "Fully operational",
      roles: [],
      architecture: "x86_64",
      failure_domain: "default",
      description: "",
      config: {},
      groups: ["default"],
    });
    const urls = await buildApp(d1).inject({ method: "GET", url: "/1.0/cluster/members" });
    assert.deepEqual(urls.json().metadata, ["/1.0/cluster/members/m1", "/1.0/cluster/members/m2"]);
    const server = (await buildApp(d2).inject({ method: "GET", url: "/1.0" })).json().metadata;
    assert.deepEqual(
      [server.environment.server_clustered, server.environment.server_name],
      [true, "m2"],
    );
    // A clean leave revokes: Offline at once, its record kept.
    await m2.leave();
    const after1 = await m1.members();
    assert.deepEqual(
      after1.map((m) => [m.name, m.online]),
      [
        ["m1", true],
        ["m2", false],
      ],
    );
    const one = await buildApp(d1).inject({ method: "GET", url: "/1.0/cluster/members/m2" });
    assert.equal(one.json().metadata.status, "Offline");
    assert.match(one.json().metadata.message, /^No heartbeat for \d+s \(\d{4}-/);
    await m1.leave();
  });

  test("a live member's name is refused to another certificate, taken over by the same one", async () => {
    const store = new MemoryStore();
    const m1 = member(daemon("a".repeat(64)), "m1", store);
    await m1.join();
    const other = member(daemon("c".repeat(64)), "m1", store);
    await assert.rejects(other.join(), /member m1 is already online in the cluster/);
    const same = member(daemon("a".repeat(64)), "m1", store);
    await same.join();
    assert.deepEqual(
      (await same.members()).map((m) => [m.name, m.online]),
      [["m1", true]],
    );
    await same.leave();
    await m1.leave();
  });

  test("an expired lease is Offline; the member rejoins on its lost event", async () => {
    const store = new MemoryStore();
    const m1 = member(daemon("a".repeat(64)), "m1", store);
    await m1.join();
    store.expire();
    // The lost handler takes a new lease at once (the store answers again).
    await new Promise((r) => setImmediate(r));
    assert.equal(store.data.has(KEYS.alive("m1")), true);
    await m1.leave();
    assert.equal(store.data.has(KEYS.alive("m1")), false);
  });
});

describe("one namespace of instance names", () => {
  test("a claim is one member's; another member's create is LXD's 409 and makes nothing", async () => {
    const { store, d2, m1, m2 } = await twoMembers();
    await m1.claim("web");
    await assert.rejects(
      m2.claim("web"),
      (e: unknown) =>
        e instanceof ApiError &&
        e.status === 409 &&
        /Instance "web" already exists/.test(e.message),
    );
    const r = await buildApp(d2).inject({
      method: "POST",
      url: "/1.0/instances",
      payload: { name: "web", source: { type: "none" } },
    });
    assert.equal(r.statusCode, 409);
    assert.match(r.json().error, /Instance "web" already exists/);
    await m1.release("web");
    await m2.claim("web");
    assert.equal(store.data.get(KEYS.name("web")), "m2");
    await m1.leave();
    await m2.leave();
  });

  test("each member publishes its instances; the others list them with location, Error when offline", async () => {
    const { store, d1, d2, m1, m2 } = await twoMembers((d) => fakeContainer(d, "c1"));
    assert.equal(store.data.get(KEYS.name("c1")), "m1");
    const r = await buildApp(d2).inject({ method: "GET", url: "/1.0/instances?recursion=1" });
    assert.deepEqual(
      r.json().metadata.map((i: { name: string; location: string }) => [i.name, i.location]),
      [["c1", "m1"]],
    );
    const mine = await buildApp(d1).inject({ method: "GET", url: "/1.0/instances/c1" });
    assert.equal(mine.json().metadata.location, "m1");
    const names = await buildApp(d2).inject({ method: "GET", url: "/1.0/instances" });
    assert.deepEqual(names.json().metadata, ["/1.0/instances/c1"]);
    // m1 gone without a word: its instance is still listed, in Error.
    store.data.delete(KEYS.alive("m1"));
    const [c1] = await m2.remoteInstances();
    assert.deepEqual([c1?.name, c1?.status, c1?.status_code], ["c1", "Error", 112]);
    // Removed behind lxtd's back (the CLI): the next heartbeat drops its record and frees the name.
    rmSync(join(d1.ctx.lxcpath, "c1"), { recursive: true });
    await m1.heartbeat();
    assert.equal(store.data.has(KEYS.instance("m1", "c1")), false);
    assert.equal(store.data.has(KEYS.name("c1")), false);
    await m1.leave();
    await m2.leave();
  });

  test("at start a member frees the names it holds without a container; a taken name is not published", async () => {
    const store = new MemoryStore();
    await store.put(KEYS.name("ghost"), "m1");
    await store.put(KEYS.name("dup"), "m2");
    const d1 = daemon("a".repeat(64));
    fakeContainer(d1, "dup");
    const m1 = member(d1, "m1", store);
    await m1.join();
    assert.equal(store.data.has(KEYS.name("ghost")), false);
    assert.equal(store.data.get(KEYS.name("dup")), "m2");
    assert.equal(store.data.has(KEYS.instance("m1", "dup")), false);
    await m1.leave();
  });

  test("with the store unreadable a member still lists its own instances", async () => {
    const { store, d1, m1, m2 } = await twoMembers((d) => fakeContainer(d, "own"));
    store.getPrefix = () => Promise.reject(new Error("etcd unreachable"));
    const r = await buildApp(d1).inject({ method: "GET", url: "/1.0/instances?recursion=1" });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(
      r.json().metadata.map((i: { name: string; location: string }) => [i.name, i.location]),
      [["own", "m1"]],
    );
    const members = await buildApp(d1).inject({ method: "GET", url: "/1.0/cluster/members" });
    assert.equal(members.statusCode, 503);
    assert.match(
      members.json().error,
      /^The cluster's store \(a store in memory\) cannot be read: etcd unreachable/,
    );
    await m1.leave();
    await m2.leave();
  });

  test("with the store unwritable (quorum lost) a create, rename or delete is a 503 naming the store", async () => {
    const { store, d1, m1, m2 } = await twoMembers((d) => fakeContainer(d, "own"));
    store.claim = () => Promise.reject(new Error("no quorum"));
    const app = buildApp(d1);
    const words = /^The cluster's store \(a store in memory\) cannot be written: no quorum$/;
    for (const [method, url, payload] of [
      ["POST", "/1.0/instances", { name: "c9", source: { type: "none" } }],
      ["POST", "/1.0/instances/own", { name: "own2" }],
      ["DELETE", "/1.0/instances/own", undefined],
    ] as const) {
      const r = await app.inject({ method, url, payload });
      assert.equal(r.statusCode, 503, `${method} ${url}: ${r.body}`);
      assert.match(r.json().error, words);
    }
    assert.deepEqual(listNames(d1.ctx.lxcpath), ["own"]);
    await m1.leave();
    await m2.leave();
  });

  test("a local container whose name another member holds is listed once, the local one", async () => {
    const { d1, d2, m1, m2 } = await twoMembers();
    fakeContainer(d2, "dup");
    await m2.heartbeat();
    fakeContainer(d1, "dup");
    await m1.heartbeat();
    const r = await buildApp(d1).inject({ method: "GET", url: "/1.0/instances?recursion=1" });
    assert.deepEqual(
      r.json().metadata.map((i: { name: string; location: string }) => [i.name, i.location]),
      [["dup", "m1"]],
    );
    await m1.leave();
    await m2.leave();
  });

  test("outside a cluster: /1.0/cluster is disabled and the members are refused", async () => {
    const app = buildApp(testDaemon(root));
    const c = await app.inject({ method: "GET", url: "/1.0/cluster" });
    assert.deepEqual(c.json().metadata, { server_name: "", enabled: false, member_config: [] });
    const m = await app.inject({ method: "GET", url: "/1.0/cluster/members" });
    assert.equal(m.statusCode, 400);
    assert.match(m.json().error, /isn't part of a cluster/);
  });
});
