/**
 * Removing a cluster member (`DELETE /1.0/cluster/members/NAME`) over a
 * store in memory (no etcd, no root): the refusals leave the store as it
 * was, a removal deletes the member's keys, the removed member's heartbeat
 * cannot bring it back and makes it leave, freeing what it still held; a
 * removed member joins again only with a token. The real daemons:
 * test/integration/cluster-remove.test.ts.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Cluster } from "../../src/api/cluster.js";
import { checkNotRemoved } from "../../src/api/cluster-remove.js";
import { KEYS, MemoryStore } from "../../src/api/cluster-store.js";
import { TRUST_KEYS } from "../../src/api/cluster-tokens.js";
import type { Daemon } from "../../src/api/daemon.js";
import { buildApp } from "../../src/api/server.js";
import { testDaemon } from "./support/daemon.js";

const root = mkdtempSync(join(tmpdir(), "lxt-api-remove-"));
after(() => rmSync(root, { recursive: true, force: true }));

function member(name: string, store: MemoryStore, removed: string[]): Daemon {
  const d = testDaemon(root);
  const fingerprint = name.padEnd(64, "0");
  d.tls = { certificate: "", fingerprint, addresses: [] };
  store.data.set(TRUST_KEYS.trust(fingerprint), name);
  d.cluster = new Cluster(d, {
    member: name,
    address: `https://10.0.0.${name.slice(1)}:8443`,
    architecture: "x86_64",
    ttlSeconds: 3600,
    store,
    onRemoved: async () => {
      removed.push(name);
      d.cluster = undefined;
    },
  });
  return d;
}

function fakeContainer(d: Daemon, name: string): void {
  const dir = join(d.ctx.lxcpath, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config"), `lxc.uts.name = ${name}\n`);
}

async function twoMembers() {
  const store = new MemoryStore();
  const removed: string[] = [];
  const d1 = member("m1", store, removed);
  const d2 = member("m2", store, removed);
  await d1.cluster?.join();
  await d2.cluster?.join();
  return { store, d1, d2, removed };
}

const remove = (d: Daemon, name: string, force = false) =>
  buildApp(d).inject({
    method: "DELETE",
    url: `/1.0/cluster/members/${name}${force ? "?force=1" : ""}`,
  });

/** The store's keys that mention member `name` (in the key or as the value). */
const keysOf = (store: MemoryStore, name: string) =>
  [...store.data]
    .filter(([k, v]) => k.includes(`/${name}`) || v === name)
    .map(([k]) => k)
    .sort();

describe("cluster remove", () => {
  test("refusals change nothing: unknown, holding an instance, offline, the last member", async () => {
    const { store, d1, d2 } = await twoMembers();
    const unknown = await remove(d1, "m9");
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().error, "Cluster member not found");

    fakeContainer(d2, "c1");
    await d2.cluster?.heartbeat();
    const held = await remove(d1, "m2");
    assert.equal(held.statusCode, 400);
    assert.equal(held.json().error, "Node still has the following instances: c1");
    assert.equal(store.data.has(KEYS.removed("m2")), false);
    assert.equal(store.data.get(KEYS.name("c1")), "m2");

    await d2.cluster?.leave();
    const offline = await remove(d1, "m2");
    assert.equal(offline.statusCode, 503);
    assert.match(offline.json().error, /Cluster member m2 is offline: remove it with --force/);
    assert.ok(store.data.has(KEYS.member("m2")));

    // The only member: m2's record gone by a forced removal, m1 is alone.
    assert.equal((await remove(d1, "m2", true)).statusCode, 200);
    const last = await remove(d1, "m1");
    assert.equal(last.statusCode, 400);
    assert.equal(last.json().error, "Member is the only member in the cluster");
    assert.ok(store.data.has(KEYS.member("m1")));
    assert.equal(store.data.has(KEYS.removed("m1")), false);
    await d1.cluster?.leave();
  });

  test("an empty member's keys go; its heartbeat cannot bring it back and makes it leave", async () => {
    const { store, d1, d2, removed } = await twoMembers();
    const cluster2 = d2.cluster as Cluster;
    // Asked of m2 itself: its images are read locally (a unit test reaches no peer).
    const r = await remove(d2, "m2");
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(keysOf(store, "m2"), [KEYS.removed("m2")]);
    assert.deepEqual(
      (await d1.cluster?.members())?.map((m) => m.name),
      ["m1"],
    );
    // A create on m2 that raced the removal: its name is freed when m2 notices.
    store.data.set(KEYS.name("late"), "m2");
    await cluster2.heartbeat();
    assert.deepEqual(removed, ["m2"]);
    assert.equal(d2.cluster, undefined);
    assert.deepEqual(keysOf(store, "m2"), [KEYS.removed("m2")]);
    // Stopped: a later heartbeat writes nothing.
    await cluster2.heartbeat();
    assert.deepEqual(keysOf(store, "m2"), [KEYS.removed("m2")]);
    await d1.cluster?.leave();
  });

  test("a member may remove itself: it answers, then leaves at its next heartbeat", async () => {
    const { store, d1, d2, removed } = await twoMembers();
    const cluster1 = d1.cluster as Cluster;
    const r = await remove(d1, "m1");
    assert.equal(r.statusCode, 200, r.body);
    await cluster1.heartbeat();
    assert.deepEqual(removed, ["m1"]);
    assert.deepEqual(keysOf(store, "m1"), [KEYS.removed("m1")]);
    assert.deepEqual(
      (await d2.cluster?.members())?.map((m) => `${m.name}:${m.online}`),
      ["m2:true"],
    );
    await d2.cluster?.leave();
  });

  test("--force drops an offline member's names and records", async () => {
    const { store, d1, d2 } = await twoMembers();
    fakeContainer(d2, "c2");
    await d2.cluster?.heartbeat();
    await d2.cluster?.leave();
    assert.ok(store.data.has(KEYS.instance("m2", "c2")));
    const r = await remove(d1, "m2", true);
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(keysOf(store, "m2"), [KEYS.removed("m2")]);
    assert.equal(store.data.has(KEYS.name("c2")), false);
    await d1.cluster?.leave();
  });

  test("a removed member joins again only with a token; the token clears the mark", async () => {
    const store = new MemoryStore();
    store.data.set(KEYS.removed("m3"), JSON.stringify({ at: "2026-12-07T21:00:00.000Z" }));
    await assert.rejects(
      checkNotRemoved(store, "m3", false),
      /member m3 was removed from the cluster at 2026-12-07T21:00:00.000Z: join it again with a token/,
    );
    const ok = await checkNotRemoved(store, "m3", true);
    assert.ok(store.data.has(KEYS.removed("m3")), "kept until the token admitted it");
    await ok.readmitted();
    assert.equal(store.data.has(KEYS.removed("m3")), false);
    await (await checkNotRemoved(store, "m4", false)).readmitted();
  });
});
