/**
 * Snapshots, copies, empty instances and backups through lxtd, driven by
 * the stock LXD client; the CLI sees the same snapshots on the same state
 * root. Files are put into a stopped container's rootfs from the host (the
 * container's own view is the same tree).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { BtrfsLoop, btrfsSkip, until } from "./harness.js";
import { LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason();
if (skip) console.log(skip);

interface SnapJson {
  name: string;
  expires_at: string;
  stateful: boolean;
  created_at: string;
  config: Record<string, string>;
}

describe("lxtd snapshots, copy, empty instances and backups", { skip, timeout: 300_000 }, () => {
  let box: LxtdSandbox;
  let tmp: string;
  before(async () => {
    box = new LxtdSandbox();
    tmp = mkdtempSync(join(tmpdir(), "lxt-snaptest-"));
    await box.startDaemon();
  });
  after(async () => {
    await box.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  const marker = (c: string) => join(box.lxcpath, c, "rootfs", "marker");
  const snapshots = (c: string): SnapJson[] =>
    JSON.parse(box.lxcOk(["query", `/1.0/instances/${c}/snapshots?recursion=1`])) as SnapJson[];
  const names = (c: string) => snapshots(c).map((s) => s.name);
  /** The snapshot directories the CLI lists (`lxt snapshot -L`). */
  const cliSnaps = (c: string) =>
    (JSON.parse(box.ok(["snapshot", "-L", "--format", "json", c])) as { name: string }[]).map(
      (s) => s.name,
    );

  interface Lifecycle {
    action?: string;
    source?: string;
  }

  /** `lxc monitor --type=lifecycle`, collecting events; `next` waits for one that matches. */
  function monitor() {
    const mon = spawn("lxc", ["monitor", "--type=lifecycle", "--format", "json"], {
      env: box.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const events: Lifecycle[] = [];
    const waiters = new Set<() => void>();
    createInterface({ input: mon.stdout }).on("line", (line) => {
      if (!line.trim()) return;
      events.push((JSON.parse(line) as { metadata: Lifecycle }).metadata);
      for (const w of waiters) w();
    });
    const next = (action: string, source: string, ms: number) =>
      new Promise<boolean>((resolve) => {
        const check = () => {
          if (!events.some((e) => e.action === action && e.source === source)) return;
          cleanup();
          resolve(true);
        };
        const timer = setTimeout(() => {
          cleanup();
          resolve(false);
        }, ms);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    return { next, stop: () => mon.kill("SIGTERM") };
  }

  test("snapshot, list (lxc and lxt), restore, rename, delete", () => {
    const c = box.name("snap");
    box.lxcOk(["init", "busybox", c]);
    writeFileSync(marker(c), "before\n");
    box.lxcOk(["snapshot", c]);
    box.lxcOk(["snapshot", c, "keep"]);
    assert.deepEqual(names(c), ["snap0", "keep"]);
    const s0 = snapshots(c)[0];
    assert.equal(s0?.stateful, false);
    assert.equal(s0?.expires_at, "0001-01-01T00:00:00Z");
    assert.ok(Date.parse(s0?.created_at ?? "") > Date.now() - 600_000, "created_at is now");
    assert.match(
      box.lxcOk(["list", c, "--format", "csv", "-c", "nS"]),
      new RegExp(`^${c},2$`, "m"),
    );
    assert.match(box.lxcOk(["info", c]), /^\| keep +\|/m);
    assert.deepEqual(cliSnaps(c), ["snap0", "snap1"]);
    const one = JSON.parse(box.lxcOk(["query", `/1.0/instances/${c}/snapshots/keep`])) as SnapJson;
    assert.equal(one.name, "keep");

    writeFileSync(marker(c), "after\n");
    box.lxcOk(["restore", c, "snap0"]);
    assert.equal(readFileSync(marker(c), "utf8"), "before\n");

    // A running instance is stopped, restored and started again.
    writeFileSync(marker(c), "after\n");
    box.lxcOk(["start", c]);
    box.lxcOk(["restore", c, "keep"]);
    assert.match(
      box.lxcOk(["list", c, "--format", "csv", "-c", "ns"]),
      new RegExp(`^${c},RUNNING$`, "m"),
    );
    box.lxcOk(["stop", "-f", c]);
    assert.equal(readFileSync(marker(c), "utf8"), "before\n");

    box.lxcOk(["move", `${c}/keep`, `${c}/kept`]);
    assert.deepEqual(names(c), ["snap0", "kept"]);
    assert.deepEqual(cliSnaps(c), ["snap0", "snap1"], "a rename is the LXD name only");
    const dup = box.lxc(["move", `${c}/kept`, `${c}/snap0`]);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /already in use/);

    box.lxcOk(["delete", `${c}/kept`]);
    assert.deepEqual(names(c), ["snap0"]);
    assert.deepEqual(cliSnaps(c), ["snap0"]);
    // The next unnamed snapshot is one past the highest snapN name.
    box.lxcOk(["snapshot", c]);
    assert.deepEqual(names(c), ["snap0", "snap1"]);
    box.lxcOk(["delete", `${c}/snap1`]);
  });

  test("snapshot errors are LXD's: unknown, duplicate, stateful", () => {
    const c = box.name("snaperr");
    box.lxcOk(["init", "busybox", c]);
    box.lxcOk(["snapshot", c, "one"]);
    const missing = box.lxc(["restore", c, "nope"]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /Snapshot not found/);
    const dup = box.lxc(["snapshot", c, "one"]);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /already exists/);
    const stateful = box.lxc(["snapshot", c, "two", "--stateful"]);
    assert.notEqual(stateful.code, 0);
    assert.match(stateful.stderr, /Stateful snapshots are not supported/);
    const bad = box.lxc([
      "query",
      "-X",
      "POST",
      "-d",
      '{"name":"a/b"}',
      `/1.0/instances/${c}/snapshots`,
    ]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Invalid snapshot name/);
    assert.deepEqual(names(c), ["one"], "no half-made snapshot");
  });

  test("an expired snapshot is removed by the daemon (lifecycle event)", async () => {
    const c = box.name("exp");
    box.lxcOk(["init", "busybox", c]);
    box.lxcOk(["snapshot", c, "soon"]);
    box.lxcOk(["snapshot", c, "stays"]);
    const url = `/1.0/instances/${c}/snapshots/soon`;
    const put = (expires_at: string | null) =>
      box.lxcOk(["query", "--wait", "-X", "PUT", "-d", JSON.stringify({ expires_at }), url]);
    const mon = monitor();
    try {
      // The monitor listens once it reports an update made after it started.
      let listening = false;
      for (let i = 0; i < 20 && !listening; i++) {
        put(null);
        listening = await mon.next("instance-snapshot-updated", url, 500);
      }
      assert.ok(listening, "lxc monitor receives events");
      const at = new Date(Date.now() + 2000).toISOString();
      put(at);
      const soon = snapshots(c).find((s) => s.name === "soon");
      assert.equal(soon && Date.parse(soon.expires_at), Date.parse(at));
      assert.ok(await mon.next("instance-snapshot-deleted", url, 30_000), "deleted event");
    } finally {
      mon.stop();
    }
    assert.deepEqual(names(c), ["stays"]);
    assert.deepEqual(cliSnaps(c), ["snap1"]);
    // Created with an expiry (POST), too: stored and shown.
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const body = JSON.stringify({ name: "hour", expires_at: later });
    box.lxcOk(["query", "--wait", "-X", "POST", "-d", body, `/1.0/instances/${c}/snapshots`]);
    const hour = snapshots(c).find((s) => s.name === "hour");
    assert.equal(hour && Date.parse(hour.expires_at), Date.parse(later));
  });

  test("an expiry set by PUT survives a daemon restart", async () => {
    const c = box.name("exprs");
    box.lxcOk(["init", "busybox", c]);
    box.lxcOk(["snapshot", c, "later"]);
    const at = Date.now() + 4000;
    box.lxcOk([
      "query",
      "--wait",
      "-X",
      "PUT",
      "-d",
      JSON.stringify({ expires_at: new Date(at).toISOString() }),
      `/1.0/instances/${c}/snapshots/later`,
    ]);
    await box.stopDaemon();
    assert.deepEqual(cliSnaps(c), ["snap0"], "no daemon, nothing removed it");
    await box.startDaemon();
    // The new daemon knows the expiry only from what was stored. (Polled through
    // the API: the CLI's `-L` measures sizes and is not meant to race a destroy.)
    assert.ok(await until(() => names(c).length === 0, 30_000), "removed after the restart");
    assert.ok(Date.now() >= at, "not before its expiry");
    assert.deepEqual(cliSnaps(c), []);
  });

  test("copy of an instance (with or without its snapshots) and of a snapshot", () => {
    const c = box.name("src");
    box.lxcOk(["init", "busybox", c]);
    writeFileSync(marker(c), "v1\n");
    box.lxcOk(["snapshot", c, "first"]);
    writeFileSync(marker(c), "v2\n");

    const full = box.name("copy");
    box.lxcOk(["copy", c, full]);
    assert.equal(readFileSync(marker(full), "utf8"), "v2\n");
    assert.deepEqual(names(full), ["first"]);
    box.lxcOk(["restore", full, "first"]);
    assert.equal(readFileSync(marker(full), "utf8"), "v1\n");
    assert.equal(readFileSync(marker(c), "utf8"), "v2\n", "the source is its own");
    assert.match(
      readFileSync(join(box.lxcpath, full, "config"), "utf8"),
      new RegExp(`^lxc.uts.name = ${full}$`, "m"),
    );

    const only = box.name("only");
    box.lxcOk(["copy", c, only, "--instance-only"]);
    assert.deepEqual(names(only), []);

    const fromSnap = box.name("fromsnap");
    box.lxcOk(["copy", `${c}/first`, fromSnap]);
    assert.equal(readFileSync(marker(fromSnap), "utf8"), "v1\n");
    assert.deepEqual(names(fromSnap), []);
    assert.match(box.ok(["ls", "-1"]), new RegExp(`^${fromSnap}$`, "m"));

    const exists = box.lxc(["copy", c, full]);
    assert.notEqual(exists.code, 0);
    assert.match(exists.stderr, /already exists/);

    // A running source: copied only where its backend snapshots atomically (lxt's rule).
    box.lxcOk(["start", c]);
    const live = box.name("live");
    const r = box.lxc(["copy", c, live]);
    box.lxcOk(["stop", "-f", c]);
    if (r.code === 0) assert.equal(readFileSync(marker(live), "utf8"), "v2\n");
    else {
      assert.match(r.stderr, /cannot be copied consistently while it runs/);
      assert.equal(existsSync(join(box.lxcpath, live)), false, "nothing half-made");
    }
  });

  test("init --empty makes an instance with an empty rootfs", () => {
    const c = box.name("empty");
    box.lxcOk(["init", "--empty", c]);
    assert.deepEqual(readdirSync(join(box.lxcpath, c, "rootfs")), []);
    assert.match(
      box.lxcOk(["list", c, "--format", "csv", "-c", "ns"]),
      new RegExp(`^${c},STOPPED$`, "m"),
    );
    assert.match(box.ok(["ls", "-f"]), new RegExp(`^${c}\\s+STOPPED`, "m"));
    // The CLI's own: lxt create --empty, seen by lxtd; not with a template.
    const e = box.name("cliempty");
    box.ok(["create", "-n", e, "--empty"]);
    assert.deepEqual(readdirSync(join(box.lxcpath, e, "rootfs")), []);
    assert.match(
      box.lxcOk(["list", e, "--format", "csv", "-c", "ns"]),
      new RegExp(`^${e},STOPPED$`, "m"),
    );
    const both = box.lxt(["create", "-n", box.name("both"), "--empty", "-t", "busybox"]);
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, /--empty takes neither a template/);
  });

  test("export and import round trip; backups API; foreign tarballs refused", () => {
    const c = box.name("bk");
    box.lxcOk(["init", "busybox", c]);
    writeFileSync(marker(c), "old\n");
    box.lxcOk(["snapshot", c, "named"]);
    writeFileSync(marker(c), "new\n");
    const file = join(tmp, "x.tar.gz");
    box.lxcOk(["export", c, file]);
    const members = spawnSync("tar", ["-tzf", file], { encoding: "utf8" }).stdout.split("\n");
    for (const m of ["index.json", "config", "lxd.yaml", "snaps/snap0/lxd-snapshot.yaml"]) {
      assert.ok(members.includes(m), `${m} in the tarball`);
    }
    assert.deepEqual(
      JSON.parse(box.lxcOk(["query", `/1.0/instances/${c}/backups`])),
      [],
      "the client deleted its backup",
    );

    const back = box.name("imp");
    box.lxcOk(["import", file, back]);
    assert.equal(readFileSync(marker(back), "utf8"), "new\n");
    assert.deepEqual(names(back), ["named"], "the snapshot's LXD name came along");
    box.lxcOk(["restore", back, "named"]);
    assert.equal(readFileSync(marker(back), "utf8"), "old\n");
    assert.match(box.ok(["ls", "-1"]), new RegExp(`^${back}$`, "m"));

    const again = box.lxc(["import", file, back]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already exists/);

    // The backups collection: create (instance only), get, rename, delete.
    const url = `/1.0/instances/${c}/backups`;
    box.lxcOk(["query", "--wait", "-X", "POST", "-d", '{"name":"b1","instance_only":true}', url]);
    const b1 = JSON.parse(box.lxcOk(["query", `${url}/b1`])) as {
      name: string;
      instance_only: boolean;
    };
    assert.deepEqual([b1.name, b1.instance_only], ["b1", true]);
    box.lxcOk(["query", "--wait", "-X", "POST", "-d", '{"name":"b2"}', `${url}/b1`]);
    assert.deepEqual(JSON.parse(box.lxcOk(["query", url])), [`${url}/b2`]);
    box.lxcOk(["query", "--wait", "-X", "DELETE", `${url}/b2`]);
    assert.deepEqual(JSON.parse(box.lxcOk(["query", url])), []);

    // A tarball lxt did not write (LXD's own layout) is refused, and nothing is made.
    const foreign = join(tmp, "lxd");
    mkdirSync(join(foreign, "backup", "container"), { recursive: true });
    writeFileSync(join(foreign, "backup", "index.yaml"), "name: x\n");
    const lxdFile = join(tmp, "lxd.tar.gz");
    spawnSync("tar", ["-czf", lxdFile, "-C", foreign, "backup"]);
    const other = box.name("lxdfmt");
    const r = box.lxc(["import", lxdFile, other]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not a readable lxt backup/);
    assert.equal(existsSync(join(box.lxcpath, other)), false);
    assert.deepEqual(readdirSync(join(box.lxcpath, ".lxtd", "uploads")), [], "the upload is gone");
  });
});

const btrfsSkipped = skip ?? btrfsSkip();
if (!skip && btrfsSkipped) console.log(btrfsSkipped);

describe("lxtd on btrfs: a running instance is snapshotted, copied and exported", {
  skip: btrfsSkipped,
  timeout: 300_000,
}, () => {
  let loop: BtrfsLoop;
  let box: LxtdSandbox;
  let tmp: string;
  before(async () => {
    loop = new BtrfsLoop();
    loop.open("640M");
    box = new LxtdSandbox(loop.mnt);
    tmp = mkdtempSync(join(tmpdir(), "lxt-snaptest-"));
    await box.startDaemon();
  });
  after(async () => {
    await box?.close();
    loop.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  test("snapshot, copy, export of a running instance; restore starts it again", () => {
    const c = box.name("run");
    box.lxcOk(["init", "busybox", c]);
    const rootfs = join(box.lxcpath, c, "rootfs");
    writeFileSync(join(rootfs, "marker"), "one\n");
    box.lxcOk(["start", c]);
    box.lxcOk(["snapshot", c, "live"]);
    const copy = box.name("runcopy");
    box.lxcOk(["copy", c, copy]);
    assert.equal(readFileSync(join(box.lxcpath, copy, "rootfs", "marker"), "utf8"), "one\n");
    assert.deepEqual(
      (JSON.parse(box.lxcOk(["query", `/1.0/instances/${copy}/snapshots`])) as string[]).length,
      1,
    );
    const file = join(tmp, "run.tar.zst");
    box.lxcOk(["export", c, file, "--compression", "zstd"]);
    const back = box.name("runimp");
    box.lxcOk(["import", file, back]);
    assert.equal(readFileSync(join(box.lxcpath, back, "rootfs", "marker"), "utf8"), "one\n");
    box.lxcOk(["restore", c, "live"]);
    assert.match(
      box.lxcOk(["list", c, "--format", "csv", "-c", "nsS"]),
      new RegExp(`^${c},RUNNING,1$`, "m"),
    );
    box.lxcOk(["stop", "-f", c]);
  });
});
