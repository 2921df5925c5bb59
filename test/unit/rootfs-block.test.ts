import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MS, parseConfigText, resolveConfig } from "../../src/config/index.js";
import { parseRootfsOptions } from "../../src/config/rootfs.js";
import {
  type BlockHost,
  blockFailure,
  checkRootfsOptions,
  noShiftReason,
  planBlockMount,
  sniffFsType,
} from "../../src/container/rootfs-block.js";
import { rootfsManaged, unmanagedEntries } from "../../src/container/storage.js";
import { LxtError } from "../../src/core/errors.js";

const config = (text: string) =>
  resolveConfig(parseConfigText(text, "c.conf"), { cgroupLayout: "v2", env: {}, arch: "x86_64" });

const paths = (dir: string) => ({
  name: "c1",
  lxcpath: join(dir, ".."),
  dir,
  config: join(dir, "config"),
  rootfs: join(dir, "rootfs"),
  exitFile: join(dir, "last-exit"),
  consoleLog: join(dir, "console.log"),
  runtimeDir: "/run/lxt/x/c1",
  lockFile: "/run/lxt/x/locks/c1",
});

/** A host of files given by kind and first bytes. */
function fakeHost(
  files: Record<string, { kind: "file" | "block" | "other"; head?: Buffer }>,
  exists: string[] = [],
): BlockHost {
  return {
    kind: (p) => files[p]?.kind,
    head: (p, len) => (files[p]?.head ?? Buffer.alloc(0)).subarray(0, len),
    exists: (p) => exists.includes(p) || p in files,
  };
}

function ext4Head(): Buffer {
  const b = Buffer.alloc(2048);
  b.writeUInt16LE(0xef53, 1080);
  return b;
}

function throwsLxt(fn: () => unknown, code: string, re: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof LxtError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, re);
    return true;
  });
}

describe("lxc.rootfs.options", () => {
  it("splits per-mount flags, filesystem options and idmap=container", () => {
    assert.deepEqual(
      parseRootfsOptions(
        "ro,nosuid,nodev,noexec,noatime,rw,data=journal,sync,async,idmap=container,rslave",
      ),
      {
        flags: MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.NOATIME,
        data: ["data=journal", "sync"],
        idmapContainer: true,
      },
    );
    assert.deepEqual(parseRootfsOptions("defaults"), { flags: 0, data: [], idmapContainer: false });
  });

  it("refuses what the rootfs mount cannot take, naming it", () => {
    for (const [v, re] of [
      ["idmap=/proc/1/ns/user", /"idmap=\/proc\/1\/ns\/user"/],
      ["bind", /"bind" does not apply/],
      ["rshared", /"rshared" does not apply/],
      ["remount", /"remount" does not apply/],
      ["a b", /"a b" is not a mount option/],
    ] as const)
      assert.throws(() => parseRootfsOptions(v), re, v);
  });

  it("filesystem options only on a block rootfs, idmap=container only unprivileged", () => {
    const cfg = config("lxc.rootfs.options = nosuid,discard\n");
    throwsLxt(
      () => checkRootfsOptions(cfg, false, true),
      "config",
      /c\.conf:1: lxc\.rootfs\.options: "discard" is not a mount flag/,
    );
    checkRootfsOptions(cfg, true, true);
    const idm = config("lxc.rootfs.options = idmap=container\n");
    checkRootfsOptions(idm, false, true);
    throwsLxt(
      () => checkRootfsOptions(idm, false, false),
      "config",
      /idmap=container needs a user namespace/,
    );
    assert.match(noShiftReason(idm) ?? "", /idmap=container/);
    assert.match(noShiftReason(config("lxc.rootfs.managed = 0\n")) ?? "", /managed = 0/);
    assert.equal(noShiftReason(config("lxc.rootfs.managed = 1\n")), undefined);
  });
});

describe("block-device rootfs", () => {
  it("knows ext4, xfs, btrfs and squashfs superblocks, and nothing else", () => {
    assert.equal(sniffFsType(ext4Head()), "ext4");
    assert.equal(sniffFsType(Buffer.from("XFSB....")), "xfs");
    assert.equal(sniffFsType(Buffer.from("hsqs....")), "squashfs");
    const btrfs = Buffer.alloc(65608);
    btrfs.write("_BHRfS_M", 65600);
    assert.equal(sniffFsType(btrfs), "btrfs");
    assert.equal(sniffFsType(Buffer.alloc(70000)), undefined);
    assert.equal(sniffFsType(Buffer.alloc(10)), undefined);
  });

  it("plans a loop image and an LV with the rootfs options", () => {
    const p = paths("/s/c1");
    const cfg = config("lxc.rootfs.options = ro,data=journal\n");
    const host = fakeHost({
      "/img": { kind: "file", head: ext4Head() },
      "/dev/vg/lv": { kind: "block", head: Buffer.from("XFSB") },
    });
    assert.deepEqual(planBlockMount(p, cfg, { backend: "loop", source: "/img" }, host), {
      kind: "loop",
      source: "/img",
      fstype: "ext4",
      target: "/s/c1/rootfs",
      flags: MS.RDONLY,
      data: ["data=journal"],
    });
    assert.equal(
      planBlockMount(p, cfg, { backend: "lvm", source: "/dev/vg/lv" }, host).kind,
      "dev",
    );
  });

  it("refuses a missing image, a wrong kind of file and an unknown filesystem, naming the key", () => {
    const p = paths("/s/c1");
    const cfg = config("");
    const host = fakeHost({
      "/img": { kind: "file", head: Buffer.alloc(4096) },
      "/dir": { kind: "other" },
      "/dev/sda": { kind: "block", head: ext4Head() },
    });
    const plan = (backend: "loop" | "lvm", source: string) => () =>
      planBlockMount(p, cfg, { backend, source }, host);
    throwsLxt(plan("lvm", "/dev/vg/lv"), "host", /this host has no device-mapper/);
    throwsLxt(
      plan("loop", "/none"),
      "config",
      /\/s\/c1\/config: lxc\.rootfs\.path = loop:\/none: \/none does not exist/,
    );
    throwsLxt(plan("loop", "/dir"), "config", /is not a regular file/);
    throwsLxt(plan("loop", "/dev/sda"), "config", /is not a regular file/);
    throwsLxt(plan("lvm", "/img"), "config", /lvm:\/img: \/img is not a block device/);
    throwsLxt(plan("loop", "/img"), "config", /no filesystem lxt can mount/);
  });

  it("leaves an nbd or rbd device to the start to attach, with the mount's flags", () => {
    const p = paths("/s/c1");
    const cfg = config("lxc.rootfs.options = ro\n");
    const b = planBlockMount(p, cfg, { backend: "nbd", source: "/f.qcow2:1" }, fakeHost({}));
    assert.deepEqual(b, {
      kind: "dev",
      source: "",
      fstype: "",
      attach: { backend: "nbd", source: "/f.qcow2:1" },
      target: "/s/c1/rootfs",
      flags: MS.RDONLY,
      data: [],
    });
  });

  it("names the key and option of a helper failure", () => {
    const cfg = config("lxc.rootfs.options = bogus\n");
    const block = {
      kind: "loop" as const,
      source: "/img",
      fstype: "ext4",
      target: "/s/c1/rootfs",
      flags: 0,
      data: ["bogus"],
    };
    const f = (op: string, path: string) => ({ stage: "rootfs", op, path, errno: 22 });
    assert.match(
      blockFailure(f("fs-option", "bogus"), cfg, block)?.message ?? "",
      /^c\.conf:1: lxc\.rootfs\.options: ext4 refuses "bogus": EINVAL/,
    );
    assert.match(
      blockFailure(f("fs-create", "/img"), cfg, block)?.message ?? "",
      /^lxc\.rootfs\.path = loop:\/img: mount its ext4 filesystem: EINVAL/,
    );
    assert.equal(blockFailure(f("bind", "/s/c1/rootfs"), cfg, block), undefined);
    assert.equal(blockFailure(f("fs-option", "x"), cfg, undefined), undefined);
  });
});

describe("lxc.rootfs.managed = 0", () => {
  it("names the entries of the container directory that hold the rootfs", () => {
    const root = mkdtempSync(join(tmpdir(), "lxt-unmanaged-"));
    try {
      const dir = join(root, "c1");
      mkdirSync(dir);
      const p = paths(dir);
      const write = (lines: string) => writeFileSync(p.config, lines);
      write(`lxc.rootfs.path = dir:${dir}/rootfs\n`);
      assert.equal(rootfsManaged(p.config), true);
      assert.deepEqual(unmanagedEntries(p), []);
      write(`lxc.rootfs.path = dir:${dir}/rootfs\nlxc.rootfs.managed = 0\n`);
      assert.equal(rootfsManaged(p.config), false);
      assert.deepEqual(unmanagedEntries(p), ["rootfs"]);
      write(`lxc.rootfs.managed = 0\nlxc.rootfs.path = overlayfs:/base:${dir}/overlay/delta\n`);
      // The merged view's mount point too.
      assert.deepEqual(unmanagedEntries(p).sort(), ["overlay", "rootfs"]);
      write(`lxc.rootfs.managed = 0\nlxc.rootfs.path = loop:${dir}/rootdev\n`);
      assert.deepEqual(unmanagedEntries(p).sort(), ["rootdev", "rootfs"]);
      write(`lxc.rootfs.managed = 0\nlxc.rootfs.path = zfs:tank/c1\n`);
      assert.deepEqual(unmanagedEntries(p), ["rootfs"]);
      write(`lxc.rootfs.managed = 0\nlxc.rootfs.path = /srv/elsewhere\n`);
      assert.deepEqual(unmanagedEntries(p), []);
      assert.deepEqual(readdirSync(dir), ["config"]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
