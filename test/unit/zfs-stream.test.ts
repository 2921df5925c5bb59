/**
 * Stopped moves by storage streams without root: the zfs driver's exact
 * `zfs send`/`zfs receive` command lines (recording runner), and the one
 * negotiation btrfs and zfs share (what this container can be sent by,
 * against what the remote says it receives).
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, describe, it } from "node:test";
import type { Link } from "../../src/api/migrate-send.js";
import { commonTransport } from "../../src/api/migrate-send-storage.js";
import { containerPaths } from "../../src/container/paths.js";
import {
  receivableTransports,
  sendableTransport,
  stageReceive,
} from "../../src/container/storage-transfer.js";
import { LxtError } from "../../src/core/errors.js";
import { RecordingRunner } from "../../src/host/runner.js";
import { type RootfsRef, storageDriver } from "../../src/storage/index.js";
import { zfsDatasetAt } from "../../src/storage/zfs-stream.js";
import { testCaller, testContext } from "./support/context.js";

const tmp = mkdtempSync(join(tmpdir(), "lxt-unit-zfs-stream-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const zfsArgs = (run: RecordingRunner) =>
  run.calls.filter((c) => c[0] === "zfs").map((c) => c.slice(1).join(" "));

const zref = (dataset: string, dir: string): RootfsRef => ({
  spec: { backend: "zfs", dataset },
  dir,
});

describe("zfs send/receive command lines (recording runner)", () => {
  const live = zref("tank/lxt/c1", "/l/c1");
  const snap0 = zref("tank/lxt/c1@snap0", "/l/c1/snaps/snap0");
  const snap1 = zref("tank/lxt/c1@snap1", "/l/c1/snaps/snap1");

  it("sends each snapshot as the change since the one before, the send snapshot last", async () => {
    const run = new RecordingRunner(() => "bytes");
    const d = storageDriver("zfs", run);
    const sendSpec = d.sendSpec?.(live, "/l/.lxt-migrate-12-ab/live");
    assert.deepEqual(sendSpec, { backend: "zfs", dataset: "tank/lxt/c1@lxt-migrate-12-ab-live" });
    const sending = zref(sendSpec?.backend === "zfs" ? sendSpec.dataset : "", "/l/s/live");
    await d.snapshot(live, sending);
    let bytes = 0;
    for (const [ref, parent] of [
      [snap0, undefined],
      [snap1, snap0],
      [sending, snap1],
    ] as const) {
      for await (const b of d.send?.(ref, parent) ?? []) bytes += (b as Buffer).length;
    }
    assert.equal(bytes, 15);
    assert.deepEqual(zfsArgs(run), [
      "snapshot tank/lxt/c1@lxt-migrate-12-ab-live",
      "send tank/lxt/c1@snap0",
      "send -i tank/lxt/c1@snap0 tank/lxt/c1@snap1",
      "send -i tank/lxt/c1@snap1 tank/lxt/c1@lxt-migrate-12-ab-live",
    ]);
  });

  it("sends only snapshots of the rootfs's own dataset, taken in the order of their names", async () => {
    let order = "tank/lxt/c1@snap0\ntank/lxt/c1@lxt-copy-x\ntank/lxt/c1@snap1\n";
    const run = new RecordingRunner(() => order);
    const d = storageDriver("zfs", run);
    assert.equal(await d.sendable?.(live, []), undefined);
    assert.equal(await d.sendable?.(live, [snap0]), undefined);
    assert.equal(await d.sendable?.(live, [snap0, snap1]), undefined);
    assert.deepEqual(zfsArgs(run), ["list -H -o name -t snapshot -s createtxg -d 1 tank/lxt/c1"]);
    order = "tank/lxt/c1@snap1\ntank/lxt/c1@snap0\n";
    assert.match(
      (await d.sendable?.(live, [snap0, snap1])) ?? "",
      /snapshots of tank\/lxt\/c1 were not taken in the order of their names/,
    );
    // After an in-place restore the live dataset is a clone; older snapshots stay on the retired one.
    const restored = zref("tank/lxt/c1-r1", "/l/c1");
    assert.match(
      (await d.sendable?.(restored, [snap0])) ?? "",
      /tank\/lxt\/c1@snap0 is not tank\/lxt\/c1-r1@snap0/,
    );
  });

  it("receives every stream into one staging dataset, renamed and mounted only when complete", async () => {
    const run = new RecordingRunner((argv) => (argv.includes("mounted") ? "no\n" : ""));
    const d = storageDriver("zfs", run, { zfsRoot: "tank/state" });
    const r = d.receiver?.("/s/.lxt-import-7-cd", ["snap0", "snap1"]);
    assert.ok(r);
    for (let i = 0; i < 3; i++) await r.receive(i, Readable.from([Buffer.from("stream")]));
    const got = await r.prepare("/s/c1");
    assert.deepEqual(got, {
      main: zref("tank/state/c1", "/s/.lxt-import-7-cd"),
      snaps: [
        zref("tank/state/c1@snap0", "/s/.lxt-import-7-cd/snaps/snap0"),
        zref("tank/state/c1@snap1", "/s/.lxt-import-7-cd/snaps/snap1"),
      ],
    });
    await r.placed();
    assert.deepEqual(zfsArgs(run), [
      "receive -u -o mountpoint=none tank/state/lxt-import-7-cd@snap0",
      "receive -u tank/state/lxt-import-7-cd@snap1",
      "receive -u tank/state/lxt-import-7-cd@lxt-recv",
      "destroy tank/state/lxt-import-7-cd@lxt-recv",
      "rename tank/state/lxt-import-7-cd tank/state/c1",
      "set mountpoint=/s/c1/rootfs tank/state/c1",
      "get -H -o value mounted tank/state/c1",
      "mount tank/state/c1",
    ]);
  });

  it("a container without snapshots is one stream; destroy removes what was received, by its current name", async () => {
    const datasets = new Set<string>();
    const run = new RecordingRunner((argv) => {
      const a = argv.slice(1);
      if (a[0] === "receive") datasets.add((a.at(-1) ?? "").split("@")[0] ?? "");
      if (a[0] === "rename") {
        datasets.delete(a[1] ?? "");
        datasets.add(a[2] ?? "");
      }
      if (a[0] === "destroy" && a[1] === "-r") datasets.delete(a[2] ?? "");
      if (a[0] === "list") {
        return datasets.has(a.at(-1) ?? "") ? `${a.at(-1)}\n` : new Error("dataset does not exist");
      }
      return "";
    });
    const d = storageDriver("zfs", run, { zfsRoot: "tank/state" });
    const r = d.receiver?.("/s/.lxt-import-8-ef", []);
    assert.ok(r);
    await r.receive(0, Readable.from([Buffer.from("stream")]));
    await r.destroy();
    await r.destroy();
    const r2 = d.receiver?.("/s/.lxt-import-9-ef", []);
    assert.ok(r2);
    await r2.receive(0, Readable.from([Buffer.from("stream")]));
    await r2.prepare("/s/c2");
    await r2.destroy();
    assert.deepEqual(
      zfsArgs(run).filter((a) => !a.startsWith("list")),
      [
        "receive -u -o mountpoint=none tank/state/lxt-import-8-ef@lxt-recv",
        "destroy -r tank/state/lxt-import-8-ef",
        "receive -u -o mountpoint=none tank/state/lxt-import-9-ef@lxt-recv",
        "destroy tank/state/lxt-import-9-ef@lxt-recv",
        "rename tank/state/lxt-import-9-ef tank/state/c2",
        "destroy -r tank/state/c2",
      ],
    );
    assert.equal(datasets.size, 0);
  });

  it("finds the dataset a state root on zfs is mounted from", async () => {
    const run = new RecordingRunner(() => "zfs    tank/state\n");
    assert.equal(await zfsDatasetAt(run, "/srv/lxt"), "tank/state");
    assert.deepEqual(run.calls, [["findmnt", "-n", "-o", "FSTYPE,SOURCE", "-T", "/srv/lxt"]]);
    assert.equal(
      await zfsDatasetAt(new RecordingRunner(() => "ext4 /dev/sda1\n"), "/x"),
      undefined,
    );
  });
});

describe("the stream negotiation btrfs and zfs share", () => {
  const lxcpath = join(tmp, "state");
  /** A container whose config names `rootfs`, with snapshots named by `snaps` (snapshot name to its rootfs). */
  const container = (name: string, rootfs: string, snaps: Record<string, string> = {}) => {
    const dir = join(lxcpath, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "config"), `lxc.rootfs.path = ${rootfs}\nlxc.uts.name = ${name}\n`);
    for (const [s, r] of Object.entries(snaps)) {
      mkdirSync(join(dir, "snaps", s), { recursive: true });
      writeFileSync(join(dir, "snaps", s, "config"), `lxc.rootfs.path = ${r}\n`);
    }
    return name;
  };
  /** A link to a remote that answers `GET /1.0/migrations` with `receive` (a 404 when undefined). */
  const link = (receive: string[] | undefined): Link & { asked: number } => {
    const l = {
      ctx: testContext({ lxcpath, host: { run: new RecordingRunner(() => "") } }),
      to: "remote r",
      what: "move",
      asked: 0,
      async request(call: { method: string; path: string }) {
        assert.deepEqual([call.method, call.path], ["GET", "/1.0/migrations"]);
        l.asked++;
        if (!receive) throw new LxtError("not-found", "not found");
        return { type: "sync", metadata: { receive } };
      },
      wait: async () => undefined,
    };
    return l as unknown as Link & { asked: number };
  };
  const agree = (name: string, receive: string[] | undefined) => {
    const l = link(receive);
    return commonTransport(l, containerPaths(l.ctx, name));
  };

  it("zfs where the container is on zfs and the remote receives zfs, else the archive", async () => {
    const c = container("z1", "zfs:tank/lxt/z1", {
      snap0: "zfs:tank/lxt/z1@snap0",
    });
    assert.equal(await agree(c, ["archive", "zfs"]), "zfs");
    assert.equal(await agree(c, ["archive", "btrfs"]), undefined);
    assert.equal(await agree(c, ["archive"]), undefined);
    // An older lxtd that does not say what it receives gets the archive.
    assert.equal(await agree(c, undefined), undefined);
  });

  it("btrfs the same way, by the same code", async () => {
    const dir = join(lxcpath, "b1");
    const c = container("b1", `btrfs:${dir}/rootfs`, { snap0: `btrfs:${dir}/snaps/snap0/rootfs` });
    assert.equal(await agree(c, ["archive", "btrfs"]), "btrfs");
    assert.equal(await agree(c, ["archive", "zfs"]), undefined);
  });

  it("no stream for a container of mixed or stream-less backends: the remote is not even asked", async () => {
    const restored = container("z2", "zfs:tank/lxt/z2-r1", { snap0: "zfs:tank/lxt/z2@snap0" });
    const d = container("d1", `dir:${join(lxcpath, "d1", "rootfs")}`);
    const mixed = container("m1", "zfs:tank/lxt/m1", {
      snap0: `dir:${join(lxcpath, "m1", "snaps", "snap0", "rootfs")}`,
    });
    for (const c of [restored, d, mixed]) {
      const l = link(["archive", "zfs", "btrfs"]);
      assert.equal(await commonTransport(l, containerPaths(l.ctx, c)), undefined, c);
      assert.equal(l.asked, 0, c);
    }
    const l = link([]);
    assert.equal(await sendableTransport(l.ctx, containerPaths(l.ctx, "z1")), "zfs");
  });

  it("a state root on neither btrfs nor zfs receives archives only, and refuses a zfs stream", async () => {
    const ctx = testContext({ lxcpath });
    assert.deepEqual(await receivableTransports(ctx), ["archive"]);
    await assert.rejects(
      stageReceive(ctx, "zfs", join(tmp, "meta.tar"), "c9", { caller: testCaller() }),
      /receive c9: this host cannot receive a zfs stream/,
    );
  });
});
