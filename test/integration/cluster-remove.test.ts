/**
 * A member leaving the cluster for good (docs/cluster.md "Removing a
 * member") on a real etcd: three etcd members and three lxtd members on
 * loopback (own state roots, HTTPS on 127.0.0.1), m1 and m2 joined with
 * tokens. The stock client's `lxc cluster remove` and `lxt cluster remove`:
 * an unknown name is a 404; a member holding an instance is refused; an
 * empty one is removed (gone from the list, its lxtd standalone, its
 * certificate no longer a member's, `--target` it refused) and comes back
 * only with a new token; an offline one only with --force, which frees
 * the names it held; the last member is refused.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { etcdSkipReason, joinToken, LoopbackMembers, waitFor } from "./etcd-harness.js";
import { LXT } from "./harness.js";
import { LXTD, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason() ?? etcdSkipReason();
if (skip) console.log(skip.startsWith("SKIP") ? skip : `SKIP: ${skip}`);

const TTL = 2;

interface Member {
  server_name: string;
  status: string;
}

describe("lxtd cluster: removing a member", { skip, timeout: 600_000 }, () => {
  const hosts = new LoopbackMembers(["m0", "m1", "m2"], TTL);
  const box = (i: number) => hosts.box(i);
  const names = (i: number) =>
    (JSON.parse(box(i).lxcOk(["query", "/1.0/cluster/members?recursion=1"])) as Member[])
      .map((m) => `${m.server_name}:${m.status}`)
      .join(" ");
  const token = (name: string) => joinToken(box(0), name);
  const lxt = (args: string[]) =>
    spawnSync(LXT, args, { encoding: "utf8", env: { ...process.env, LXT_NO_HOST_NETWORK: "1" } });
  /** The HTTP status m0 answers `GET /1.0/instances` with for member i's certificate. */
  const asMember = (i: number): Promise<number> => {
    const dir = join(box(i).lxcpath, ".lxtd");
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: hosts.ports[0],
          path: "/1.0/instances",
          cert: readFileSync(join(dir, "server.crt")),
          key: readFileSync(join(dir, "server.key")),
          rejectUnauthorized: false,
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.end();
    });
  };

  before(async () => {
    await hosts.start(1);
    await hosts.startMember(1, ["--cluster-token", token("m1")]);
    await hosts.startMember(2, ["--cluster-token", token("m2")]);
    assert.equal(names(0), "m0:Online m1:Online m2:Online");
  });
  after(async () => assert.deepEqual(await hosts.close(), []));

  test("an unknown member is a 404 with LXD's words", () => {
    const r = box(0).lxc(["cluster", "remove", "nope"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Cluster member not found/);
    const l = lxt(["cluster", "remove", "nope", "-P", box(0).lxcpath]);
    assert.notEqual(l.status, 0);
    assert.match(l.stderr, /Cluster member not found/);
    assert.equal(names(0), "m0:Online m1:Online m2:Online");
  });

  test("a member holding an instance is refused; once empty it is removed and leaves", async () => {
    box(0).lxcOk(["init", "busybox", "c1", "--target", "m1"]);
    const r = box(0).lxc(["cluster", "remove", "m1"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Node still has the following instances: c1/);
    assert.equal(names(0), "m0:Online m1:Online m2:Online");
    assert.equal(await asMember(1), 200, "m1's certificate is a member's");
    box(0).lxcOk(["delete", "c1"]);
    // An image only m1 has keeps it too (LXD's check); deleted, it no longer does.
    const fp = importImage(box(1).lxcOk, "only1");
    const img = box(0).lxc(["cluster", "remove", "m1"]);
    assert.notEqual(img.code, 0);
    assert.match(img.stderr, new RegExp(`Node still has the following images: ${fp}`));
    box(1).lxcOk(["image", "delete", "only1"]);

    // What the stock client sends: DELETE /1.0/cluster/members/m1, answered with LXD's line.
    const removed = box(2).lxc(["--debug", "cluster", "remove", "m1"]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(removed.stdout, "Member m1 removed\n");
    assert.match(removed.stderr, /DELETE.*\/1\.0\/cluster\/members\/m1/);
    const again = box(2).lxc(["cluster", "remove", "m1"]);
    assert.match(again.stderr, /Cluster member not found/, "a second time it is gone");
    assert.equal(names(0), "m0:Online m2:Online");
    assert.equal(names(2), "m0:Online m2:Online");

    // m1's lxtd notices at its next heartbeat and goes on alone.
    const standalone = await waitFor(() => {
      const s = JSON.parse(box(1).lxcOk(["query", "/1.0"])) as {
        environment: { server_clustered: boolean };
      };
      return s.environment.server_clustered ? undefined : true;
    }, TTL * 5000);
    assert.equal(standalone, true, `m1 still a member:\n${box(1).log.slice(-2000)}`);
    assert.equal(names(0), "m0:Online m2:Online", "its heartbeat did not bring it back");
    box(1).lxcOk(["init", "busybox", "solo"]);
    assert.match(box(1).lxcOk(["list", "-c", "n", "-f", "csv"]), /^solo$/m);
    assert.doesNotMatch(box(0).lxcOk(["list", "-c", "n", "-f", "csv"]), /solo/);
    const c = box(1).lxc(["cluster", "list"]);
    assert.notEqual(c.code, 0);
    assert.match(c.stderr, /isn't part of a cluster/);
    box(1).lxcOk(["delete", "solo"]);

    // A create aimed at it is refused; its certificate is no member's (re-read within 5 s).
    const t = box(0).lxc(["init", "busybox", "c2", "--target", "m1"]);
    assert.notEqual(t.code, 0);
    assert.match(t.stderr, /Cluster member "m1" not found/);
    const status = await pollStatus(() => asMember(1), 403, 8000);
    assert.equal(status, 403, "m1's certificate is still trusted");
  });

  test("a removed member restarted with --cluster is refused; with a new token it is back", async () => {
    await box(1).stopDaemon();
    // Its log (written asynchronously, complete once it stopped) says why it went on alone.
    assert.match(box(1).log, /this member was removed from the cluster/);
    const flags = [
      "--foreground",
      "-P",
      box(1).lxcpath,
      "--https",
      `127.0.0.1:${hosts.ports[1]}`,
      "--cluster",
      hosts.etcd.endpoints.join(","),
      "--member",
      "m1",
      "--address",
      `https://127.0.0.1:${hosts.ports[1]}`,
      "--cluster-ttl",
      String(TTL),
    ];
    const r = spawnSync(LXTD, flags, { encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /member m1 was removed from the cluster at .*join it again with a token/,
    );
    assert.equal(names(0), "m0:Online m2:Online");
    await hosts.startMember(1, ["--cluster-token", token("m1")]);
    assert.equal(names(0), "m0:Online m1:Online m2:Online");
    assert.equal(await pollStatus(() => asMember(1), 200, 8000), 200);
  });

  test("an offline member only with --force, which frees its names; the last member is refused", async () => {
    box(0).lxcOk(["init", "busybox", "c3", "--target", "m2"]);
    await box(2).stopDaemon();
    assert.equal(names(0), "m0:Online m1:Online m2:Offline");
    const r = box(0).lxc(["cluster", "remove", "m2"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Cluster member m2 is offline: remove it with --force/);
    assert.equal(names(0), "m0:Online m1:Online m2:Offline");

    box(0).lxcOk(["cluster", "remove", "m2", "--force", "--yes"]);
    assert.equal(names(0), "m0:Online m1:Online");
    assert.doesNotMatch(box(0).lxcOk(["list", "-c", "n", "-f", "csv"]), /c3/);
    // Its name is free again in the cluster.
    box(0).lxcOk(["init", "busybox", "c3", "--target", "m0"]);
    box(0).lxcOk(["delete", "c3"]);

    // lxt's verb: m1 is empty, removed through m0.
    const l = lxt(["cluster", "remove", "m1", "-P", box(0).lxcpath]);
    assert.equal(l.status, 0, l.stderr);
    assert.equal(l.stdout, "Member m1 removed\n");
    assert.equal(names(0), "m0:Online");
    const last = box(0).lxc(["cluster", "remove", "m0"]);
    assert.notEqual(last.code, 0);
    assert.match(last.stderr, /Member is the only member in the cluster/);
    assert.equal(names(0), "m0:Online");
  });
});

/**
 * Imports a small image (LXD's split layout) through `lxcOk` under `alias`;
 * its fingerprint.
 */
function importImage(lxcOk: (args: string[]) => string, alias: string): string {
  const dir = mkdtempSync(join(tmpdir(), "lxt-remove-img-"));
  try {
    mkdirSync(join(dir, "meta"));
    mkdirSync(join(dir, "rootfs", "etc"), { recursive: true });
    writeFileSync(
      join(dir, "meta", "metadata.yaml"),
      "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  os: busybox\n",
    );
    writeFileSync(join(dir, "rootfs", "etc", "hostname"), `${alias}\n`);
    const meta = join(dir, "meta.tar.xz");
    const rootfs = join(dir, "rootfs.tar.xz");
    execFileSync("tar", ["-C", join(dir, "meta"), "-cJf", meta, "metadata.yaml"]);
    execFileSync("tar", ["-C", join(dir, "rootfs"), "--numeric-owner", "-cJf", rootfs, "."]);
    lxcOk(["image", "import", meta, rootfs, "--alias", alias]);
    return createHash("sha256")
      .update(readFileSync(meta))
      .update(readFileSync(rootfs))
      .digest("hex");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Polls an async status until it is `want` or `ms` pass; the last status. */
async function pollStatus(probe: () => Promise<number>, want: number, ms: number): Promise<number> {
  const end = Date.now() + ms;
  for (;;) {
    const s = await probe();
    if (s === want || Date.now() > end) return s;
    await new Promise((r) => setTimeout(r, 200));
  }
}
