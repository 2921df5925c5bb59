/**
 * lxtd's snapshot and backup handlers without root: the LXD side files of
 * a snapshot, the request checks, the expiry sweep at a daemon's start and
 * the errors, over a temp state root whose containers are plain directories.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { backupCompression } from "../../src/api/backup-store.js";
import type { Daemon } from "../../src/api/daemon.js";
import { ApiError } from "../../src/api/envelope.js";
import { armExpiry, disarmExpiry } from "../../src/api/expiry.js";
import { inInstanceQueue } from "../../src/api/instance-queue.js";
import { buildApp } from "../../src/api/server.js";
import { checkSnapshotName, NO_EXPIRY, parseExpiry } from "../../src/api/snapshot-store.js";
import { daemonAt } from "./support/lxtd-daemon.js";

const is400 = (fn: () => unknown) =>
  assert.throws(fn, (e: unknown) => e instanceof ApiError && e.status === 400);

describe("snapshot and backup request checks", () => {
  test("expires_at: absent, null and LXD's zero time mean none; others are ISO times", () => {
    assert.equal(parseExpiry(undefined), undefined);
    assert.equal(parseExpiry(null), undefined);
    assert.equal(parseExpiry(NO_EXPIRY), undefined);
    assert.equal(parseExpiry("2030-01-02T03:04:05+01:00"), "2030-01-02T02:04:05.000Z");
    is400(() => parseExpiry("tomorrow"));
    is400(() => parseExpiry(12));
  });

  test("snapshot names are URL segments", () => {
    assert.equal(checkSnapshotName("keep-1.x"), "keep-1.x");
    for (const bad of ["", "a/b", "..", "a b", "a?b", 7]) is400(() => checkSnapshotName(bad));
  });

  test("backup compression: LXD's default is gzip; unknown ones are refused", () => {
    assert.equal(backupCompression(""), "gzip");
    assert.equal(backupCompression(undefined), "gzip");
    assert.equal(backupCompression("zstd"), "zstd");
    is400(() => backupCompression("lz4"));
  });

  test("one queue per instance: in order, a failure does not stop the next", async () => {
    const d = {} as Daemon;
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const a = inInstanceQueue(d, "c1", async () => {
      await gate;
      order.push("a");
      throw new Error("a failed");
    });
    const b = inInstanceQueue(d, "c1", async () => {
      order.push("b");
    });
    const other = inInstanceQueue(d, "c2", async () => {
      order.push("other");
    });
    await other;
    release();
    await assert.rejects(a, /a failed/);
    await b;
    assert.deepEqual(order, ["other", "a", "b"]);
  });
});

describe("snapshot routes over a temp state root", () => {
  let root: string;
  let d: Daemon;
  let app: ReturnType<typeof buildApp>;
  const now = 1_700_000_000_000;

  /** A stopped container `name` with snapshot directories `snaps` (LXD side files where given). */
  function container(name: string, snaps: Record<string, string | undefined>) {
    const dir = join(root, name);
    mkdirSync(join(dir, "rootfs"), { recursive: true });
    writeFileSync(
      join(dir, "config"),
      `lxc.rootfs.path = dir:${dir}/rootfs\nlxc.uts.name = ${name}\n`,
    );
    for (const [snap, side] of Object.entries(snaps)) {
      const sd = join(dir, "snaps", snap);
      mkdirSync(join(sd, "rootfs"), { recursive: true });
      writeFileSync(
        join(sd, "config"),
        `lxc.rootfs.path = dir:${sd}/rootfs\nlxc.uts.name = ${name}\n`,
      );
      writeFileSync(join(sd, "ts"), "2026-12-07 10:00:00\n");
      if (side !== undefined) writeFileSync(join(sd, "lxd-snapshot.yaml"), side);
    }
  }

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "lxt-unit-snap-"));
    container("c1", {
      snap0: undefined,
      snap1: "name: keep\n",
      snap2: `name: old\nexpires_at: "${new Date(now - 1000).toISOString()}"\n`,
      snap3: `name: later\nexpires_at: "${new Date(now + 3_600_000).toISOString()}"\n`,
    });
    d = daemonAt(root);
    app = buildApp(d);
    await app.ready();
  });
  after(async () => {
    disarmExpiry(d);
    await app.close();
    rmSync(root, { recursive: true, force: true });
  });

  const get = async (url: string) => {
    const r = await app.inject({ method: "GET", url });
    return { status: r.statusCode, body: r.json() as { metadata: unknown; error: string } };
  };

  test("a sweep (as at the daemon's start) removes what expired while none ran, keeps the rest", async () => {
    const gone = join(root, "c1", "snaps", "snap2");
    await armExpiry(d);
    assert.equal(existsSync(gone), false);
    const r = await get("/1.0/instances/c1/snapshots");
    assert.deepEqual(r.body.metadata, [
      "/1.0/instances/c1/snapshots/snap0",
      "/1.0/instances/c1/snapshots/keep",
      "/1.0/instances/c1/snapshots/later",
    ]);
  });

  test("a snapshot as LXD shows it: its LXD name, created_at from ts, expiry", async () => {
    const r = await get("/1.0/instances/c1/snapshots/later");
    assert.equal(r.status, 200);
    const s = r.body.metadata as Record<string, unknown>;
    assert.equal(s.name, "later");
    assert.equal(s.created_at, "2026-12-07T10:00:00.000Z");
    assert.equal(s.expires_at, new Date(now + 3_600_000).toISOString());
    assert.equal(s.stateful, false);
    const keep = (await get("/1.0/instances/c1/snapshots/keep")).body.metadata as Record<
      string,
      unknown
    >;
    assert.equal(keep.expires_at, NO_EXPIRY);
  });

  test("errors: a missing instance, snapshot or backup; refused requests", async () => {
    assert.equal((await get("/1.0/instances/nope/snapshots")).status, 404);
    const snap = await get("/1.0/instances/c1/snapshots/nope");
    assert.deepEqual([snap.status, snap.body.error], [404, "Snapshot not found"]);
    const backup = await get("/1.0/instances/c1/backups/nope/export");
    assert.deepEqual([backup.status, backup.body.error], [404, "Backup not found"]);
    const post = (url: string, payload: unknown) =>
      app.inject({ method: "POST", url, payload: payload as object });
    const stateful = await post("/1.0/instances/c1/snapshots", { stateful: true });
    assert.equal(stateful.statusCode, 400);
    assert.match(stateful.json().error, /Stateful snapshots are not supported/);
    assert.equal((await post("/1.0/instances/c1/snapshots", { name: "a/b" })).statusCode, 400);
    const dup = await post("/1.0/instances/c1/snapshots/keep", { name: "later" });
    assert.deepEqual([dup.statusCode, dup.json().error], [409, "Name 'c1/later' already in use"]);
    const optimized = await post("/1.0/instances/c1/backups", { optimized_storage: true });
    assert.equal(optimized.statusCode, 400);
    const restore = await app.inject({
      method: "PUT",
      url: "/1.0/instances/c1",
      payload: { restore: "c1/nope" },
    });
    assert.deepEqual([restore.statusCode, restore.json().error], [404, "Snapshot not found"]);
    const pool = await app.inject({
      method: "POST",
      url: "/1.0/instances",
      headers: { "content-type": "application/octet-stream", "x-lxd-pool": "other" },
      payload: Buffer.from("not a tarball"),
    });
    assert.deepEqual([pool.statusCode, pool.json().error], [404, "Storage pool not found"]);
  });
});
