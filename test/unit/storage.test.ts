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
import { after, describe, it } from "node:test";
import { rewriteConfig, writeHostname } from "../../src/container/clone.js";
import { renderPlan } from "../../src/container/plan.js";
import { relocateSpec } from "../../src/container/storage.js";
import {
  formatRootfsSpec,
  parseRootfsSpec,
  RecordingRunner,
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
    ] as const) {
      const spec = parseRootfsSpec(value);
      assert.ok(!("unsupported" in spec));
      assert.equal(formatRootfsSpec(spec), canonical);
    }
    assert.deepEqual(parseRootfsSpec("lvm:/dev/vg/c1"), { unsupported: "lvm" });
    for (const bad of ["rel", "btrfs:x", "overlayfs:/l", "overlayfs:/l:/u,x", "tar:/x", "/a/../b"])
      assert.throws(() => parseRootfsSpec(bad), /./, bad);
  });

  it("relocates the paths under a directory only", () => {
    const spec = parseRootfsSpec("overlayfs:/base:/c/overlay/delta");
    assert.ok(!("unsupported" in spec));
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

  it("zfs: a stub that says why it is unavailable and refuses", async () => {
    const d = storageDriver("zfs", new RecordingRunner(() => new Error("no zfs")));
    assert.match((await d.unavailable("/var/lib/lxt")) ?? "", /zfs/);
    await assert.rejects(d.create({ spec: d.newSpec("/p/a"), dir: "/p/a" }), /not implemented/);
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
