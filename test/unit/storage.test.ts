import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, describe, it } from "node:test";
import { rewriteConfig, writeHostname } from "../../src/container/clone.js";
import { renderPlan } from "../../src/container/plan.js";
import { relocateSpec } from "../../src/container/storage.js";
import { RecordingRunner } from "../../src/host/runner.js";
import {
  formatRootfsSpec,
  parseRootfsSpec,
  type RootfsRef,
  startMounts,
  storageBackends,
  storageDriver,
} from "../../src/storage/index.js";

const tmp = mkdtempSync(join(tmpdir(), "lxt-unit-storage-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe("rootfs spec", () => {
  it("parses and renders every backend the LXC way", () => {
    for (const [value, canonical] of [
      ["/srv/c1", "dir:/srv/c1"],
      ["dir:/srv/c1/", "dir:/srv/c1"],
      ["btrfs:/var/lib/lxt/c1/rootfs", "btrfs:/var/lib/lxt/c1/rootfs"],
      ["overlay:/base:/c1/overlay/delta", "overlayfs:/base:/c1/overlay/delta"],
      ["overlayfs:/base:/c1/overlay/delta", "overlayfs:/base:/c1/overlay/delta"],
      ["zfs:tank/lxt/c1", "zfs:tank/lxt/c1"],
      ["zfs:tank/lxt/c1@snap0", "zfs:tank/lxt/c1@snap0"],
    ] as const) {
      const spec = parseRootfsSpec(value);
      assert.ok(!("block" in spec));
      assert.equal(formatRootfsSpec(spec), canonical);
    }
    assert.deepEqual(parseRootfsSpec("lvm:/dev/vg/c1"), {
      block: { backend: "lvm", source: "/dev/vg/c1" },
    });
    assert.deepEqual(parseRootfsSpec("loop:/var/lib/lxt/c1/rootdev"), {
      block: { backend: "loop", source: "/var/lib/lxt/c1/rootdev" },
    });
    assert.deepEqual(parseRootfsSpec("rbd:pool/c1"), {
      block: { backend: "rbd", source: "pool/c1" },
    });
    for (const bad of [
      "rel",
      "btrfs:x",
      "overlayfs:/l",
      "overlayfs:/l:/u,x",
      "tar:/x",
      "/a/../b",
      "zfs:tank//c1",
      "zfs:tank/c1/",
      "zfs:tank/c1@a@b",
      "zfs:tank/@s",
      "loop:img",
      "lvm:/dev/../sda",
      "nbd:",
    ])
      assert.throws(() => parseRootfsSpec(bad), /./, bad);
  });

  it("relocates the paths under a directory only", () => {
    const spec = parseRootfsSpec("overlayfs:/base:/c/overlay/delta");
    assert.ok(!("block" in spec));
    assert.deepEqual(relocateSpec(spec, "/c", "/c/.old"), {
      backend: "overlay",
      lower: "/base",
      upper: "/c/.old/overlay/delta",
    });
  });
});

describe("storage drivers (recording runner)", () => {
  it("registers dir, btrfs, overlay and zfs", () => {
    assert.deepEqual(storageBackends(), ["dir", "btrfs", "overlay", "zfs"]);
    assert.throws(() => storageDriver("lvm", new RecordingRunner()), /unknown storage backend/);
  });

  it("btrfs: a subvolume per container, snapshots and CoW clones as subvolume snapshots", async () => {
    const run = new RecordingRunner();
    const d = storageDriver("btrfs", run);
    assert.deepEqual(d.capabilities, {
      snapshots: true,
      cowClone: true,
      liveSnapshot: true,
      usage: false,
    });
    const a: RootfsRef = { spec: d.newSpec("/p/a"), dir: "/p/a" };
    const b: RootfsRef = { spec: d.newSpec("/p/b", a), dir: "/p/b" };
    await d.create(a);
    await d.snapshot(a, { spec: d.newSpec("/p/a/snaps/snap0"), dir: "/p/a/snaps/snap0" });
    await d.clone(a, b, { cow: true });
    await d.clone(a, b, { cow: false });
    assert.deepEqual(run.calls, [
      ["btrfs", "-q", "subvolume", "create", "/p/a/rootfs"],
      ["btrfs", "-q", "subvolume", "snapshot", "-r", "/p/a/rootfs", "/p/a/snaps/snap0/rootfs"],
      ["btrfs", "-q", "subvolume", "snapshot", "/p/a/rootfs", "/p/b/rootfs"],
      ["btrfs", "-q", "subvolume", "create", "/p/b/rootfs"],
      ["cp", "-a", "--reflink=auto", "--", "/p/a/rootfs/.", "/p/b/rootfs/"],
    ]);
    const dirSrc: RootfsRef = { spec: { backend: "dir", path: "/x" }, dir: "/p/x" };
    await assert.rejects(d.clone(dirSrc, b, { cow: true }), /cannot be cloned as a btrfs snapshot/);
  });

  it("btrfs: send streams (incremental from a parent) and receives them into a directory", async () => {
    const run = new RecordingRunner();
    const d = storageDriver("btrfs", run);
    const snap: RootfsRef = { spec: d.newSpec("/p/a/snaps/snap0"), dir: "/p/a/snaps/snap0" };
    const live: RootfsRef = { spec: d.newSpec("/p/s/live"), dir: "/p/s/live" };
    const sent: Buffer[] = [];
    for await (const b of d.send?.(snap) ?? []) sent.push(b as Buffer);
    for await (const b of d.send?.(live, snap) ?? []) sent.push(b as Buffer);
    const stage = join(tmp, "btrfs-stage");
    const recv = d.receiver?.(stage, []);
    // The recording runner receives nothing: the rootfs a real receive makes is made here.
    mkdirSync(join(stage, ".recv", "rootfs"), { recursive: true });
    await recv?.receive(0, Readable.from([Buffer.from("stream")]));
    const placed = await recv?.prepare("/q/c1");
    assert.deepEqual(placed, { main: { spec: d.newSpec(stage), dir: stage }, snaps: [] });
    assert.deepEqual(run.calls, [
      ["btrfs", "-q", "send", "/p/a/snaps/snap0/rootfs"],
      ["btrfs", "-q", "send", "-p", "/p/a/snaps/snap0/rootfs", "/p/s/live/rootfs"],
      ["btrfs", "-q", "receive", `${stage}/.recv`],
      ["btrfs", "-q", "subvolume", "snapshot", `${stage}/.recv/rootfs`, `${stage}/rootfs`],
    ]);
    assert.equal(existsSync(join(stage, ".recv")), false);
    assert.equal(d.sendSpec?.(snap, "/p/s/live").backend, "btrfs");
    assert.equal(await d.sendable?.(live, [snap]), undefined);
    const odd: RootfsRef = { spec: { backend: "btrfs", path: "/elsewhere" }, dir: "/p/b" };
    assert.match((await d.sendable?.(odd, [])) ?? "", /\/elsewhere is not its directory's rootfs/);
    // A runner without pipes cannot stream.
    const plain = storageDriver("btrfs", { run: async () => "" });
    assert.throws(() => plain.send?.(snap), /cannot stream/);
    // Only backends with a stream of their own offer it.
    assert.equal(storageDriver("dir", run).send, undefined);
    assert.equal(storageDriver("overlay", run).receiver, undefined);
  });

  it("dir: copies, and refuses a CoW clone", async () => {
    const run = new RecordingRunner();
    const d = storageDriver("dir", run);
    const a: RootfsRef = { spec: d.newSpec(join(tmp, "a")), dir: join(tmp, "a") };
    const b: RootfsRef = { spec: d.newSpec(join(tmp, "b")), dir: join(tmp, "b") };
    mkdirSync(a.dir);
    mkdirSync(b.dir);
    await d.create(a);
    await d.clone(a, b, { cow: false });
    assert.ok(existsSync(join(tmp, "b", "rootfs")));
    assert.deepEqual(run.calls, [
      ["cp", "-a", "--reflink=auto", "--", `${tmp}/a/rootfs/.`, `${tmp}/b/rootfs/`],
    ]);
    await assert.rejects(d.clone(a, b, { cow: true }), /-B overlay/);
    await d.destroy(b);
    assert.ok(!existsSync(join(tmp, "b", "rootfs")));
  });

  it("overlay: CoW over a dir uses it as lower; a full copy merges in a private mount namespace", async () => {
    const run = new RecordingRunner();
    const d = storageDriver("overlay", run);
    const src: RootfsRef = { spec: { backend: "dir", path: "/base/rootfs" }, dir: "/base" };
    const dir = join(tmp, "ov");
    mkdirSync(dir);
    const cow: RootfsRef = { spec: d.newSpec(dir, src), dir };
    assert.deepEqual(cow.spec, {
      backend: "overlay",
      lower: "/base/rootfs",
      upper: `${dir}/overlay/delta`,
    });
    await d.clone(src, cow, { cow: true });
    assert.deepEqual(run.calls, [], "nothing to copy: the source is the lower");
    for (const p of ["rootfs", "overlay/delta", "overlay/olwork"])
      assert.ok(existsSync(join(dir, p)), p);
    assert.deepEqual(startMounts(cow), [
      {
        source: "overlay",
        target: `${dir}/rootfs`,
        fstype: "overlay",
        flags: 0,
        data: `lowerdir=/base/rootfs,upperdir=${dir}/overlay/delta,workdir=${dir}/overlay/olwork`,
        remountFlags: 0,
      },
    ]);
    // A copy of an overlay reads its merged view: mounted only inside `unshare --mount`.
    const dir2 = join(tmp, "ov2");
    mkdirSync(dir2);
    const full: RootfsRef = { spec: storageDriver("dir", run).newSpec(dir2), dir: dir2 };
    await storageDriver("dir", run).clone(cow, full, { cow: false });
    const call: string[] = run.calls.at(-1) ?? [];
    assert.deepEqual(call.slice(0, 5), ["unshare", "--mount", "--propagation", "private", "--"]);
    assert.ok(call.includes(`ro,lowerdir=${dir}/overlay/delta:/base/rootfs`));
    await d.destroy(cow);
    assert.ok(!existsSync(join(dir, "overlay")) && !existsSync(join(dir, "rootfs")));
  });

  it("zfs: says why it is unavailable (no zfs here, or no parent dataset)", async () => {
    const d = storageDriver("zfs", new RecordingRunner(() => new Error("no zfs")));
    assert.match((await d.unavailable("/var/lib/lxt")) ?? "", /zfs/);
    const bad = storageDriver("zfs", new RecordingRunner(), { zfsRoot: "tank//x" });
    assert.match((await bad.unavailable("/l")) ?? "", /--zfsroot "tank\/\/x" is not a ZFS dataset/);
  });
});

/**
 * A fake `zfs` for the recording runner: `datasets` maps each existing
 * filesystem or snapshot to its properties (clones, origin, retired owner).
 */
function fakeZfs(
  datasets: Record<string, { clones?: string; origin?: string; retired?: string; used?: string }>,
  fail?: (argv: readonly string[]) => boolean,
) {
  return new RecordingRunner((argv) => {
    if (fail?.(argv)) return new Error(`zfs ${argv.slice(1).join(" ")}: injected failure`);
    const a = argv.slice(1);
    const last = a.at(-1) ?? "";
    if (a[0] === "list" && a.includes("-d")) {
      const snaps = a.includes("snapshot");
      const kids = Object.keys(datasets).filter((n) =>
        snaps ? n.startsWith(`${last}@`) : !n.includes("@") && n.startsWith(`${last}/`),
      );
      const col = a[a.indexOf("-o") + 1] ?? "name";
      return kids
        .map((n) =>
          col === "name,clones"
            ? `${n}\t${datasets[n]?.clones ?? ""}`
            : col === "name,lxt:retired"
              ? `${n}\t${datasets[n]?.retired ?? "-"}`
              : n,
        )
        .join("\n");
    }
    if (a[0] === "list") {
      return last in datasets
        ? `${last}\n`
        : new Error(`cannot open '${last}': dataset does not exist`);
    }
    if (a[0] === "get" && a.includes("origin")) return `${datasets[last]?.origin ?? "-"}\n`;
    if (a[0] === "get" && a.includes("used")) return `${datasets[last]?.used ?? "0"}\n`;
    return "";
  });
}

const zcalls = (run: RecordingRunner) =>
  run.calls
    .filter((c) => c[0] === "zfs" && !["list", "get"].includes(c[1] ?? ""))
    .map((c) => c.slice(1).join(" "));

describe("zfs driver (recording runner)", () => {
  const live: RootfsRef = { spec: { backend: "zfs", dataset: "tank/lxt/c1" }, dir: "/l/c1" };
  const snap0: RootfsRef = {
    spec: { backend: "zfs", dataset: "tank/lxt/c1@snap0" },
    dir: "/l/c1/snaps/snap0",
  };

  it("names datasets under --zfsroot, snapshots as DATASET@snapN, clones beside their source", () => {
    const d = storageDriver("zfs", new RecordingRunner(), { zfsRoot: "tank/lxt" });
    assert.deepEqual(d.newSpec("/l/c1"), { backend: "zfs", dataset: "tank/lxt/c1" });
    assert.deepEqual(storageDriver("zfs", new RecordingRunner()).newSpec("/l/c1"), {
      backend: "zfs",
      dataset: "lxt/c1",
    });
    assert.deepEqual(d.newSpec("/l/c1/snaps/snap3", live), {
      backend: "zfs",
      dataset: "tank/lxt/c1@snap3",
    });
    const other: RootfsRef = { spec: { backend: "zfs", dataset: "pool/x/c1" }, dir: "/l/c1" };
    assert.deepEqual(d.newSpec("/l/c2", other), { backend: "zfs", dataset: "pool/x/c2" });
    assert.deepEqual(d.newSpec("/l/c2", snap0), { backend: "zfs", dataset: "tank/lxt/c2" });
    assert.deepEqual(d.newSpec("/l/.lxt-export-12-ab/live", live), {
      backend: "zfs",
      dataset: "tank/lxt/lxt-export-12-ab-live",
    });
    assert.deepEqual(d.capabilities, {
      snapshots: true,
      cowClone: true,
      liveSnapshot: true,
      usage: true,
    });
  });

  it("create mounts the dataset at the container's rootfs; snapshot is zfs snapshot", async () => {
    const run = fakeZfs({ "tank/lxt/c1": {} });
    const d = storageDriver("zfs", run, { zfsRoot: "tank/lxt" });
    await d.create(live);
    await d.snapshot(live, snap0);
    assert.deepEqual(zcalls(run), [
      "create -o mountpoint=/l/c1/rootfs tank/lxt/c1",
      "snapshot tank/lxt/c1@snap0",
    ]);
    await assert.rejects(d.snapshot(live, { ...snap0, spec: { backend: "zfs", dataset: "x@y" } }));
  });

  it("copy -s: a copy snapshot and a clone; from a snapshot, the clone alone", async () => {
    const run = fakeZfs({ "tank/lxt/c1": {}, "tank/lxt/c1@snap0": {} });
    const d = storageDriver("zfs", run);
    const c2: RootfsRef = { spec: { backend: "zfs", dataset: "tank/lxt/c2" }, dir: "/l/c2" };
    await d.clone(live, c2, { cow: true });
    await d.clone(snap0, c2, { cow: true });
    assert.deepEqual(zcalls(run), [
      "snapshot tank/lxt/c1@lxt-copy-c2",
      "clone -o mountpoint=/l/c2/rootfs tank/lxt/c1@lxt-copy-c2 tank/lxt/c2",
      "clone -o mountpoint=/l/c2/rootfs tank/lxt/c1@snap0 tank/lxt/c2",
    ]);
    const dirRef: RootfsRef = { spec: { backend: "dir", path: "/l/d/rootfs" }, dir: "/l/d" };
    await assert.rejects(d.clone(dirRef, c2, { cow: true }), /copy it in full/);
  });

  it("copy -s: a failing clone destroys the copy snapshot it made", async () => {
    const run = fakeZfs({ "tank/lxt/c1": {} }, (a) => a[1] === "clone");
    const d = storageDriver("zfs", run);
    const c2: RootfsRef = { spec: { backend: "zfs", dataset: "tank/lxt/c2" }, dir: "/l/c2" };
    await assert.rejects(d.clone(live, c2, { cow: true }), /injected failure/);
    assert.deepEqual(zcalls(run), [
      "snapshot tank/lxt/c1@lxt-copy-c2",
      "clone -o mountpoint=/l/c2/rootfs tank/lxt/c1@lxt-copy-c2 tank/lxt/c2",
      "destroy tank/lxt/c1@lxt-copy-c2",
    ]);
  });

  it("destroy: the dataset, then datasets a restore retired (newest first), then a copy's origin", async () => {
    // c1 was restored in place: its live dataset is c1-r1; c1 (retired) holds snap0, c1-r1's origin.
    const cur: RootfsRef = { spec: { backend: "zfs", dataset: "tank/lxt/c1-r1" }, dir: "/l/c1" };
    const run = fakeZfs({
      "tank/lxt/c1": { retired: "/l/c1" },
      "tank/lxt/c1@snap0": { clones: "tank/lxt/c1-r1" },
      "tank/lxt/c1-r1": { origin: "tank/lxt/c1@snap0" },
      "tank/lxt/c1-r1@snap1": {},
      "tank/lxt/other": { retired: "/l/other" },
    });
    const d = storageDriver("zfs", run);
    assert.deepEqual(await d.dependents?.(cur), []);
    await d.destroy(cur);
    assert.deepEqual(zcalls(run), ["destroy -r tank/lxt/c1-r1", "destroy -r tank/lxt/c1"]);
    // A copy -s clone: its origin snapshot goes with it (deferred).
    const copy = fakeZfs({
      "tank/lxt/c0": {},
      "tank/lxt/c0@lxt-copy-c1": { clones: "tank/lxt/c1" },
      "tank/lxt/c1": { origin: "tank/lxt/c0@lxt-copy-c1" },
    });
    await storageDriver("zfs", copy).destroy(live);
    assert.deepEqual(zcalls(copy), [
      "destroy -r tank/lxt/c1",
      "destroy -d tank/lxt/c0@lxt-copy-c1",
    ]);
  });

  it("destroy refuses while another container is a clone of its snapshots, and is idempotent", async () => {
    const run = fakeZfs({
      "tank/lxt/c1": {},
      "tank/lxt/c1@lxt-copy-c2": { clones: "tank/lxt/c2" },
      "tank/lxt/c2": { origin: "tank/lxt/c1@lxt-copy-c2" },
    });
    const d = storageDriver("zfs", run);
    assert.deepEqual(await d.dependents?.(live), ["tank/lxt/c2"]);
    await assert.rejects(
      d.destroy(live),
      /tank\/lxt\/c2 is a clone of its snapshots \(destroy those copies first\)/,
    );
    assert.deepEqual(zcalls(run), [], "nothing destroyed");
    const none = fakeZfs({});
    await storageDriver("zfs", none).destroy(live);
    await storageDriver("zfs", none).destroy(snap0);
    assert.deepEqual(zcalls(none), []);
  });

  it("destroying a snapshot is deferred while a clone needs it", async () => {
    const run = fakeZfs({ "tank/lxt/c1@snap0": { clones: "tank/lxt/c1-r1" } });
    await storageDriver("zfs", run).destroy(snap0);
    assert.deepEqual(zcalls(run), ["destroy -d tank/lxt/c1@snap0"]);
  });

  it("restore of an older snapshot: clone it, swap mountpoints, retire the old dataset (newer snapshots kept)", async () => {
    const run = fakeZfs({
      "tank/lxt/c1": {},
      "tank/lxt/c1@snap0": {},
      "tank/lxt/c1@snap1": {},
      "tank/lxt/c1-r1": { retired: "/l/other" },
    });
    const d = storageDriver("zfs", run);
    const swap = await d.replaceRootfs?.(live, snap0);
    assert.ok(swap);
    assert.deepEqual(swap.ref, {
      spec: { backend: "zfs", dataset: "tank/lxt/c1-r2" },
      dir: "/l/c1",
    });
    await swap.commit();
    assert.deepEqual(zcalls(run), [
      "clone -o mountpoint=none tank/lxt/c1@snap0 tank/lxt/c1-r2",
      "set mountpoint=none tank/lxt/c1",
      "set mountpoint=/l/c1/rootfs tank/lxt/c1-r2",
      "set lxt:retired=/l/c1 tank/lxt/c1",
    ]);
    assert.ok(!run.calls.some((c) => c.includes("rollback")), "no rollback: snap1 survives");
  });

  it("restore: a failing step puts the old dataset back; undo after success too", async () => {
    const ds = { "tank/lxt/c1": {}, "tank/lxt/c1@snap0": {} };
    const run = fakeZfs(
      ds,
      (a) => a[1] === "set" && a[2] === "mountpoint=/l/c1/rootfs" && a[3] === "tank/lxt/c1-r1",
    );
    const d = storageDriver("zfs", run);
    await assert.rejects(d.replaceRootfs?.(live, snap0) ?? Promise.resolve(), /injected failure/);
    assert.deepEqual(zcalls(run), [
      "clone -o mountpoint=none tank/lxt/c1@snap0 tank/lxt/c1-r1",
      "set mountpoint=none tank/lxt/c1",
      "set mountpoint=/l/c1/rootfs tank/lxt/c1-r1",
      "set mountpoint=/l/c1/rootfs tank/lxt/c1",
      "destroy tank/lxt/c1-r1",
    ]);
    const ok = fakeZfs(ds);
    const swap = await storageDriver("zfs", ok).replaceRootfs?.(live, snap0);
    await swap?.undo();
    assert.deepEqual(zcalls(ok).slice(3), [
      "set mountpoint=none tank/lxt/c1-r1",
      "set mountpoint=/l/c1/rootfs tank/lxt/c1",
      "destroy tank/lxt/c1-r1",
    ]);
  });

  it("restore when the old dataset has no snapshots left destroys it; usage is zfs get -Hp used", async () => {
    const run = fakeZfs({ "tank/lxt/c1-r1": {}, "tank/lxt/c1@snap0": {}, "tank/lxt/c1": {} });
    const d = storageDriver("zfs", run);
    const cur: RootfsRef = { spec: { backend: "zfs", dataset: "tank/lxt/c1-r1" }, dir: "/l/c1" };
    const swap = await d.replaceRootfs?.(cur, snap0);
    await swap?.commit();
    assert.deepEqual(zcalls(run), [
      "clone -o mountpoint=none tank/lxt/c1@snap0 tank/lxt/c1-r2",
      "set mountpoint=none tank/lxt/c1-r1",
      "set mountpoint=/l/c1/rootfs tank/lxt/c1-r2",
      "destroy tank/lxt/c1-r1",
    ]);
    const u = fakeZfs({ "tank/lxt/c1": { used: "123456" } });
    assert.equal(await storageDriver("zfs", u).usage?.(live), 123456);
    assert.deepEqual(u.calls.at(-1), [
      "zfs",
      "get",
      "-H",
      "-p",
      "-o",
      "value",
      "used",
      "tank/lxt/c1",
    ]);
  });
});

describe("copies", () => {
  it("rewrite the config: rootfs, name, MACs, own files, ephemeral", () => {
    const text = [
      "# c1",
      "lxc.rootfs.path = dir:/l/c1/rootfs",
      "lxc.uts.name = c1",
      "lxc.net.0.type = veth",
      "lxc.net.0.hwaddr = 00:16:3e:00:00:01",
      "lxc.log.file = /l/c1/c1.log",
      "lxc.ephemeral = 0",
      "lxc.init.cmd = /sbin/init",
    ].join("\n");
    const out = rewriteConfig(text, {
      rootfs: "overlayfs:/l/c1/rootfs:/l/c2/overlay/delta",
      fromDir: "/l/c1",
      toDir: "/l/c2",
      hostname: "c2",
      ephemeral: true,
    }).split("\n");
    assert.equal(out[1], "lxc.rootfs.path = overlayfs:/l/c1/rootfs:/l/c2/overlay/delta");
    assert.equal(out[2], "lxc.uts.name = c2");
    assert.match(out[4] ?? "", /^lxc\.net\.0\.hwaddr = 00:16:3e:[0-9a-f:]{8}$/);
    assert.notEqual(out[4], "lxc.net.0.hwaddr = 00:16:3e:00:00:01");
    assert.equal(out[5], "lxc.log.file = /l/c2/c1.log");
    assert.ok(!out.includes("lxc.ephemeral = 0"));
    assert.equal(out.at(-2), "lxc.ephemeral = 1");
  });

  it("write /etc/hostname without following symlinks out of the rootfs", () => {
    const root = join(tmp, "hn");
    mkdirSync(join(root, "etc"), { recursive: true });
    const ref: RootfsRef = { spec: { backend: "dir", path: root }, dir: tmp };
    writeHostname(ref, false, "c2");
    assert.equal(readFileSync(join(root, "etc", "hostname"), "utf8"), "c2\n");
    const victim = join(tmp, "victim");
    writeFileSync(victim, "host\n");
    rmSync(join(root, "etc", "hostname"));
    symlinkSync(victim, join(root, "etc", "hostname"));
    writeHostname(ref, false, "c3");
    assert.equal(readFileSync(victim, "utf8"), "host\n", "the link's target is untouched");
  });
});

describe("plan", () => {
  it("renders a storage mount before the rootfs record", () => {
    const base = {
      name: "c1",
      hostname: "c1",
      rootfs: "/l/c1/rootfs",
      rootfsMounts: startMounts({
        spec: { backend: "overlay", lower: "/b", upper: "/l/c1/overlay/delta" },
        dir: "/l/c1",
      }),
      runtimeDir: "/run/lxt/x/c1",
      exitFile: "/l/c1/last-exit",
      cgroups: { v1: [] },
      namespaces: ["pid", "mnt"],
      hierarchies: [],
      mountAuto: {},
      autodev: false,
      autodevTmpfsSize: 0,
      ttyMax: 0,
      ptyMax: 0,
      mountEntries: [],
      sysctls: [],
      rlimits: [],
      init: { argv: ["/sbin/init"], cwd: "/", uid: 0, gid: 0 },
      env: [],
      stdio: "null" as const,
      foreground: false,
      initShim: false,
    };
    const lines = renderPlan(base).split("\n");
    const i = lines.findIndex((l) => l.startsWith("rootfs "));
    assert.equal(
      lines[i - 1],
      "mount overlay /l/c1/rootfs overlay 0 lowerdir=/b,upperdir=/l/c1/overlay/delta,workdir=/l/c1/overlay/olwork 0 %",
    );
  });
});
