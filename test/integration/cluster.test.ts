/**
 * lxtd as cluster members on a real etcd: three etcd members and three
 * lxtd members on loopback (own state roots, unix sockets, HTTPS on
 * 127.0.0.1), driven by the stock client and `lxt cluster list`.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { EtcdCluster, etcdSkipReason, freePorts, waitFor } from "./etcd-harness.js";
import { LXT } from "./harness.js";
import { LXTD, LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason() ?? etcdSkipReason();
if (skip) console.log(skip);

/** The lease TTL the members run with (seconds): etcd's shortest is about 1.5 s. */
const TTL = 2;

interface Member {
  server_name: string;
  url: string;
  status: string;
  message: string;
  roles: string[];
  architecture: string;
  failure_domain: string;
  database: boolean;
  groups: string[];
}

interface Instance {
  name: string;
  location: string;
  status: string;
}

describe("lxtd cluster on etcd", { skip, timeout: 300_000 }, () => {
  const etcd = new EtcdCluster();
  const boxes: LxtdSandbox[] = [];
  const names = ["m0", "m1", "m2"];
  const ports: number[] = [];

  const start = (i: number) => {
    const box = boxes[i] as LxtdSandbox;
    const address = `https://127.0.0.1:${ports[i]}`;
    return box.startDaemon([
      "--https",
      `127.0.0.1:${ports[i]}`,
      "--cluster",
      etcd.endpoints.join(","),
      "--member",
      names[i] ?? "",
      "--address",
      address,
      "--cluster-ttl",
      String(TTL),
    ]);
  };
  const members = (box: LxtdSandbox): Member[] =>
    JSON.parse(box.lxcOk(["query", "/1.0/cluster/members?recursion=1"])) as Member[];
  const statusOf = (box: LxtdSandbox, name: string) =>
    members(box).find((m) => m.server_name === name)?.status;
  const instances = (box: LxtdSandbox): Instance[] =>
    JSON.parse(box.lxcOk(["query", "/1.0/instances?recursion=1"])) as Instance[];

  before(async () => {
    await etcd.start(3);
    ports.push(...(await freePorts(3)));
    for (let i = 0; i < 3; i++) boxes.push(new LxtdSandbox());
    for (let i = 0; i < 3; i++) await start(i);
  });

  after(async () => {
    for (const b of boxes) await b.close();
    await etcd.close();
    for (const b of boxes) assert.equal(existsSync(b.lxcpath), false, b.lxcpath);
    assert.equal(existsSync(etcd.dir), false, etcd.dir);
    for (const c of etcd.members) assert.notEqual(c.signalCode ?? c.exitCode, null);
  });

  test("every member lists the three Online, as LXD's API shows members", () => {
    for (const box of boxes) {
      const list = members(box);
      assert.deepEqual(
        list.map((m) => [m.server_name, m.status, m.url]),
        names.map((n, i) => [n, "Online", `https://127.0.0.1:${ports[i]}`]),
      );
      for (const m of list) {
        assert.equal(m.message, "Fully operational");
        assert.deepEqual(m.roles, []);
        assert.equal(m.failure_domain, "default");
        assert.deepEqual(m.groups, ["default"]);
        assert.ok(m.architecture.length > 0);
      }
    }
    const one = JSON.parse(
      (boxes[1] as LxtdSandbox).lxcOk(["query", "/1.0/cluster/members/m2"]),
    ) as Member;
    assert.equal(one.server_name, "m2");
    const cl = JSON.parse((boxes[0] as LxtdSandbox).lxcOk(["query", "/1.0/cluster"])) as {
      server_name: string;
      enabled: boolean;
    };
    assert.deepEqual([cl.server_name, cl.enabled], ["m0", true]);
    const missing = (boxes[0] as LxtdSandbox).lxc(["query", "/1.0/cluster/members/nope"]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /Cluster member not found/);
  });

  test("the stock client's `lxc cluster list` shows the members", () => {
    const out = (boxes[0] as LxtdSandbox).lxcOk(["cluster", "list", "--format", "csv"]);
    const rows = out.trim().split("\n");
    assert.equal(rows.length, 3, out);
    for (const [i, n] of names.entries()) {
      const row = rows[i] ?? "";
      assert.ok(row.startsWith(`${n},https://127.0.0.1:${ports[i]},`), row);
      assert.match(row, /,ONLINE,Fully operational$/);
    }
    const show = (boxes[0] as LxtdSandbox).lxcOk(["cluster", "show", "m2"]);
    assert.match(show, /^server_name: m2$/m);
    assert.match(show, /^status: Online$/m);
  });

  test("`lxt cluster list` shows state, load and the last heartbeat", () => {
    const box = boxes[1] as LxtdSandbox;
    const r = spawnSync(LXT, ["cluster", "list", "-P", box.lxcpath, "--format", "json"], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const list = JSON.parse(r.stdout) as {
      name: string;
      online: boolean;
      fingerprint: string;
      heartbeat: string;
      load: { containers: number; cpus: number; memory_free: number; memory_total: number };
    }[];
    assert.deepEqual(
      list.map((m) => [m.name, m.online]),
      names.map((n) => [n, true]),
    );
    for (const m of list) {
      assert.match(m.fingerprint, /^[0-9a-f]{64}$/);
      assert.ok(Date.now() - Date.parse(m.heartbeat) < 60_000, m.heartbeat);
      assert.ok(m.load.cpus > 0 && m.load.memory_free > 0);
      assert.ok(m.load.memory_free <= m.load.memory_total);
    }
    // Three members, three distinct certificates.
    assert.equal(new Set(list.map((m) => m.fingerprint)).size, 3);
    const table = spawnSync(LXT, ["cluster", "list", "-P", box.lxcpath], { encoding: "utf8" });
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /^NAME +URL +STATE +CONTAINERS +CPU +MEMORY FREE +LAST HEARTBEAT$/m);
    assert.match(table.stdout, /^m2 +https:\/\/127\.0\.0\.1:\d+ +ONLINE +0 \(0 running\) /m);
  });

  test("a name is unique across members (create, rename); every member lists every instance with its location", async () => {
    const [b0, b1, b2] = boxes as [LxtdSandbox, LxtdSandbox, LxtdSandbox];
    b0.lxcOk(["init", "--empty", "c1"]);
    const dup = b1.lxc(["init", "--empty", "c1"]);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /Instance "c1" already exists/);
    assert.equal(existsSync(`${b1.lxcpath}/c1`), false, "no half-made instance on m1");
    // A rename claims the new name and frees the old one.
    b2.lxcOk(["init", "--empty", "r1"]);
    const taken = b2.lxc(["move", "r1", "c1"]);
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr, /Name "c1" already in use/);
    b2.lxcOk(["move", "r1", "r2"]);
    b0.lxcOk(["init", "--empty", "r1"]);
    assert.notEqual(b0.lxc(["init", "--empty", "r2"]).code, 0, "r2 is m2's now");
    b0.lxcOk(["delete", "r1"]);
    b2.lxcOk(["delete", "r2"]);
    // Published at m0's next heartbeat (a third of the TTL).
    const seen = await waitFor(() => instances(b2).find((i) => i.name === "c1"), TTL * 2000);
    assert.deepEqual([seen?.location, seen?.status], ["m0", "Stopped"]);
    assert.equal(instances(b0).find((i) => i.name === "c1")?.location, "m0");
    const list = b2.lxcOk(["list", "--format", "csv", "-c", "nsL"]);
    assert.match(list, /^c1,STOPPED,m0$/m);
    // Deleted on m0: the name is free for m1.
    b0.lxcOk(["delete", "c1"]);
    b1.lxcOk(["init", "--empty", "c1"]);
    const moved = await waitFor(
      () => instances(b0).find((i) => i.name === "c1" && i.location === "m1"),
      TTL * 2000,
    );
    assert.ok(moved, "m0 lists c1 on m1");
    b1.lxcOk(["delete", "c1"]);
    const gone = await waitFor(
      () => (instances(b2).some((i) => i.name === "c1") ? undefined : true),
      TTL * 2000,
    );
    assert.ok(gone, "c1's record is gone after its delete");
  });

  test("a clean stop is Offline at once; a SIGKILLed member after its lease's TTL", async () => {
    const [b0, b1, b2] = boxes as [LxtdSandbox, LxtdSandbox, LxtdSandbox];
    assert.equal(await b1.stopDaemon(), 0);
    // Revoked before it exited: no wait.
    assert.equal(statusOf(b0, "m1"), "Offline");
    const killedAt = Date.now();
    b2.daemon?.kill("SIGKILL");
    const offline = await waitFor(
      () => (statusOf(b0, "m2") === "Offline" ? Date.now() : undefined),
      TTL * 1000 + 10_000,
    );
    assert.ok(offline, "m2 went Offline");
    assert.equal(statusOf(b0, "m0"), "Online");
    const m2 = members(b0).find((m) => m.server_name === "m2");
    assert.match(m2?.message ?? "", /^No heartbeat for \d+s/);
    // Not before the lease could expire (the last keepalive came at most TTL/3 before the kill).
    assert.ok((offline as number) - killedAt >= (TTL * 1000 * 2) / 3 - 100, "not before the TTL");
    const out = b0.lxcOk(["cluster", "list", "--format", "csv"]);
    assert.match(out, /^m2,.*,OFFLINE,No heartbeat for/m);
    // The same member back (its state root, so its certificate): Online again.
    b2.daemon = undefined;
    await start(2);
    await start(1);
    assert.deepEqual(
      members(b0).map((m) => m.status),
      ["Online", "Online", "Online"],
    );
  });

  test("a second lxtd with a live member's name and another certificate is refused", async () => {
    const box = new LxtdSandbox();
    try {
      const [port] = await freePorts(1);
      const r = spawnSync(
        LXTD,
        [
          "--foreground",
          "-P",
          box.lxcpath,
          "--cluster",
          etcd.endpoints.join(","),
          "--member",
          "m0",
          "--address",
          `https://127.0.0.1:${port}`,
          "--cluster-ttl",
          String(TTL),
        ],
        { encoding: "utf8", timeout: 60_000 },
      );
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /member m0 is already online in the cluster/);
      assert.equal(existsSync(box.socket), false, "its socket is gone");
      assert.equal(statusOf(boxes[0] as LxtdSandbox, "m0"), "Online");
    } finally {
      await box.close();
    }
  });
});
