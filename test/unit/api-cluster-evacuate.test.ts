/**
 * Evacuate/restore's decisions over a store in memory (no etcd, no root):
 * the refusals before anything changes, the Evacuated status, placement
 * leaving an evacuated member out, `cluster.evacuate`'s values, the name's
 * compare-and-set. The moves themselves: test/integration/cluster-evacuate.test.ts.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Cluster } from "../../src/api/cluster.js";
import { leastLoaded } from "../../src/api/cluster-place.js";
import { KEYS, MemoryStore } from "../../src/api/cluster-store.js";
import type { Daemon } from "../../src/api/daemon.js";
import { evacuateMode, renderLxc } from "../../src/api/lxd-config.js";
import { buildApp } from "../../src/api/server.js";
import { testDaemon } from "./support/daemon.js";

const root = mkdtempSync(join(tmpdir(), "lxt-api-evacuate-"));
after(() => rmSync(root, { recursive: true, force: true }));

function member(name: string, fingerprint: string, store: MemoryStore): Daemon {
  const d = testDaemon(root);
  d.tls = { certificate: "", fingerprint, addresses: [] };
  d.cluster = new Cluster(d, {
    member: name,
    address: `https://10.0.0.${name.slice(1)}:8443`,
    architecture: "x86_64",
    ttlSeconds: 3600,
    store,
  });
  return d;
}

function fakeContainer(d: Daemon, name: string, meta = ""): void {
  const dir = join(d.ctx.lxcpath, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config"), `lxc.uts.name = ${name}\n`);
  if (meta) writeFileSync(join(dir, "lxd.yaml"), meta);
}

async function twoMembers() {
  const store = new MemoryStore();
  const d1 = member("m1", "a".repeat(64), store);
  const d2 = member("m2", "b".repeat(64), store);
  await d1.cluster?.join();
  await d2.cluster?.join();
  return { store, d1, d2 };
}

const post = (d: Daemon, url: string, payload: unknown) =>
  buildApp(d).inject({ method: "POST", url, payload: payload as object });

describe("cluster evacuate/restore", () => {
  test("with no other online member an evacuate is refused before anything changes", async () => {
    const { store, d1, d2 } = await twoMembers();
    fakeContainer(d1, "c1");
    await d1.cluster?.heartbeat();
    await d2.cluster?.leave();
    const r = await post(d1, "/1.0/cluster/members/m1/state", { action: "evacuate" });
    assert.equal(r.statusCode, 400);
    assert.match(
      r.json().error,
      /No other online cluster member to evacuate m1's instances to \(c1\): nothing was moved/,
    );
    assert.equal(store.data.has(KEYS.evacuation("m1")), false);
    assert.equal(store.data.get(KEYS.name("c1")), "m1");
    rmSync(join(d1.ctx.lxcpath, "c1"), { recursive: true });
  });

  test("an invalid cluster.evacuate on an instance refuses the evacuate, naming it", async () => {
    const { store, d1 } = await twoMembers();
    fakeContainer(d1, "c2", "config:\n  cluster.evacuate: sometimes\n");
    const r = await post(d1, "/1.0/cluster/members/m1/state", { action: "evacuate" });
    assert.equal(r.statusCode, 400);
    assert.match(r.json().error, /Instance "c2": .*cluster\.evacuate.*"sometimes"/);
    assert.equal(store.data.has(KEYS.evacuation("m1")), false);
    rmSync(join(d1.ctx.lxcpath, "c2"), { recursive: true });
  });

  test("an evacuated member shows LXD's Evacuated and takes no placement; restore needs an evacuation", async () => {
    const { store, d1, d2 } = await twoMembers();
    const none = await post(d1, "/1.0/cluster/members/m1/state", { action: "restore" });
    assert.equal(none.statusCode, 400);
    assert.match(none.json().error, /Cluster member is not evacuated/);
    const bad = await post(d1, "/1.0/cluster/members/m1/state", { action: "pause" });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().error, /Unknown action "pause"/);

    // An evacuation of a member with no instance: one operation, the mark set.
    const r = await post(d1, "/1.0/cluster/members/m1/state", { action: "evacuate" });
    assert.equal(r.statusCode, 202);
    const op = await buildApp(d1).inject({
      method: "GET",
      url: `${r.json().operation}/wait?timeout=30`,
    });
    assert.equal(op.json().metadata.status, "Success");
    assert.ok(store.data.has(KEYS.evacuation("m1")));
    const shown = await buildApp(d2).inject({ method: "GET", url: "/1.0/cluster/members/m1" });
    assert.equal(shown.json().metadata.status, "Evacuated");
    assert.equal(shown.json().metadata.message, "Unavailable due to maintenance");
    const members = (await d2.cluster?.members()) ?? [];
    assert.equal(leastLoaded(members, "m1")?.name, "m2");
    const twice = await post(d1, "/1.0/cluster/members/m1/state", { action: "evacuate" });
    assert.match(twice.json().error, /Cluster member is already evacuated/);

    const back = await post(d1, "/1.0/cluster/members/m1/state", { action: "restore" });
    assert.equal(back.statusCode, 202);
    await buildApp(d1).inject({ method: "GET", url: `${back.json().operation}/wait?timeout=30` });
    assert.equal(store.data.has(KEYS.evacuation("m1")), false);
    assert.equal(((await d2.cluster?.members()) ?? [])[0]?.evacuated, false);
  });

  test("a state change for a member that does not exist is a 404", async () => {
    const { d1 } = await twoMembers();
    const r = await post(d1, "/1.0/cluster/members/m9/state", { action: "evacuate" });
    assert.equal(r.statusCode, 404);
  });
});

test("cluster.evacuate takes LXD's values; anything else is refused with LXD's words", () => {
  assert.equal(evacuateMode(undefined), "auto");
  for (const v of ["auto", "migrate", "live-migrate", "stop"]) assert.equal(evacuateMode(v), v);
  assert.throws(
    () => evacuateMode("never"),
    /Invalid value "never" \(not one of \[auto migrate live-migrate stop\]\)/,
  );
  const r = renderLxc({ config: { "cluster.evacuate": "stop" }, devices: {} });
  assert.equal(r.stored["cluster.evacuate"], "stop");
  assert.throws(
    () => renderLxc({ config: { "cluster.evacuate": "x" }, devices: {} }),
    /cluster\.evacuate/,
  );
});

test("the store's swap moves a key's holder only from the value it holds", async () => {
  const s = new MemoryStore();
  await s.put("/k", "m1");
  assert.equal(await s.swap("/k", "m2", "m3"), false);
  assert.equal(s.data.get("/k"), "m1");
  assert.equal(await s.swap("/k", "m1", "m2"), true);
  assert.equal(s.data.get("/k"), "m2");
  assert.equal(await s.swap("/missing", "m1", "m2"), false);
});
