import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { attachDevice, imageFormat, splitNbdSource } from "../../src/container/rootfs-attach.js";
import { attachBlock, type BlockMount } from "../../src/container/rootfs-block.js";
import { LxtError } from "../../src/core/errors.js";
import { Reverter } from "../../src/core/reverter.js";
import { RecordingRunner } from "../../src/host/runner.js";

const KEY = "/s/c1/config: lxc.rootfs.path = X";

/**
 * A host with the paths in `present`; commands answered by `reply`. A
 * `qemu-nbd -c DEV` makes DEV's pid file (and the `appear` paths) exist, as
 * the kernel does; `modprobe M` loads M when `loadable` says so.
 */
function fakeHost(
  present: string[],
  opts: {
    reply?: (argv: readonly string[]) => string | Error;
    loadable?: boolean;
    appear?: string[];
    images?: string[];
  } = {},
) {
  const paths = new Set(present);
  let delays = 0;
  const run = new RecordingRunner((argv) => {
    const r = opts.reply?.(argv) ?? "";
    if (r instanceof Error) return r;
    if (argv[0]?.endsWith("modprobe") && opts.loadable)
      paths.add(argv[1] === "nbd" ? "/sys/module/nbd" : "/sys/bus/rbd");
    if (argv[1] === "-c") {
      paths.add(`/sys/block/${argv[2]?.slice(5)}/pid`);
      for (const p of opts.appear ?? []) paths.add(p);
    }
    return r;
  });
  const host = {
    run,
    delay: async () => {
      delays++;
    },
    kind: (p: string) =>
      opts.images?.includes(p) ? ("file" as const) : paths.has(p) ? ("block" as const) : undefined,
    head: (p: string) => {
      const b = Buffer.alloc(2048);
      if (paths.has(p)) b.writeUInt16LE(0xef53, 1080);
      return b;
    },
    exists: (p: string) => paths.has(p) || !!opts.images?.includes(p),
  };
  return { host, run, delays: () => delays };
}

async function rejectsLxt(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof LxtError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, re);
    return true;
  });
}

const NBD_HOST = ["/sys/module/nbd", "/usr/bin/qemu-nbd", "/dev/nbd0", "/dev/nbd1", "/dev/nbd2"];

describe("nbd and rbd rootfs devices", () => {
  it("nbd: tells qemu-nbd the format (qcow2 by its magic, else raw), never lets it probe", () => {
    assert.equal(imageFormat(Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3])), "qcow2");
    assert.equal(imageFormat(Buffer.alloc(512)), "raw");
    assert.equal(imageFormat(Buffer.from("KDMV")), "raw");
    assert.equal(imageFormat(Buffer.alloc(0)), "raw");
  });

  it("splits nbd:FILE[:PARTITION]", () => {
    assert.deepEqual(splitNbdSource("/srv/c1.qcow2:2"), { file: "/srv/c1.qcow2", partition: 2 });
    assert.deepEqual(splitNbdSource("/srv/c1.qcow2"), { file: "/srv/c1.qcow2" });
    assert.deepEqual(splitNbdSource("/srv/a:b.img"), { file: "/srv/a:b.img" });
    // Partitions count from 1 (LXC: `:0` names none).
    assert.deepEqual(splitNbdSource("/srv/i:0"), { file: "/srv/i:0" });
  });

  it("nbd: connects the image to the first free /dev/nbdN with qemu-nbd -c, as LXC", async () => {
    const { host, run } = fakeHost([...NBD_HOST, "/sys/block/nbd0/pid"], {
      images: ["/srv/c1.qcow2"],
    });
    const dev = await attachDevice({ backend: "nbd", source: "/srv/c1.qcow2" }, KEY, host);
    assert.deepEqual(dev, {
      device: "/dev/nbd1",
      detach: ["/usr/bin/qemu-nbd", "-d", "/dev/nbd1"],
      held: "/sys/block/nbd1/pid",
    });
    assert.deepEqual(run.calls, [
      ["/usr/bin/qemu-nbd", "-c", "/dev/nbd1", "-f", "raw", "/srv/c1.qcow2"],
    ]);
  });

  it("nbd: a device another attach took first is skipped", async () => {
    const { host, run } = fakeHost(NBD_HOST, {
      images: ["/srv/i"],
      reply: (argv) => (argv[2] === "/dev/nbd0" ? new Error("qemu-nbd: /dev/nbd0 busy") : ""),
    });
    const dev = await attachDevice({ backend: "nbd", source: "/srv/i" }, KEY, host);
    assert.equal(dev.device, "/dev/nbd1");
    assert.equal(run.calls.length, 2);
  });

  it("nbd: a partition is waited for, then used; a missing one detaches and refuses", async () => {
    const a = fakeHost(NBD_HOST, { images: ["/srv/i"], appear: ["/dev/nbd0p2"] });
    const dev = await attachDevice({ backend: "nbd", source: "/srv/i:2" }, KEY, a.host);
    assert.deepEqual(dev, {
      device: "/dev/nbd0p2",
      detach: ["/usr/bin/qemu-nbd", "-d", "/dev/nbd0"],
      held: "/sys/block/nbd0/pid",
    });
    const b = fakeHost(NBD_HOST, { images: ["/srv/i"] });
    await rejectsLxt(
      attachDevice({ backend: "nbd", source: "/srv/i:3" }, KEY, b.host),
      "config",
      /lxc\.rootfs\.path = X: \/srv\/i has no partition 3 \(no \/dev\/nbd0p3\)/,
    );
    assert.ok(b.delays() > 0, "it waited for the node");
    assert.deepEqual(b.run.calls.at(-1), ["/usr/bin/qemu-nbd", "-d", "/dev/nbd0"]);
  });

  it("nbd: loads the module when it can; refuses naming what the host lacks", async () => {
    const loaded = fakeHost(["/usr/sbin/modprobe", "/usr/bin/qemu-nbd", "/dev/nbd0"], {
      loadable: true,
      images: ["/srv/i"],
    });
    await attachDevice({ backend: "nbd", source: "/srv/i" }, KEY, loaded.host);
    assert.deepEqual(loaded.run.calls[0], ["/usr/sbin/modprobe", "nbd"]);
    const bare = fakeHost([], { reply: () => new Error("modprobe: FATAL: Module nbd not found") });
    await rejectsLxt(
      attachDevice({ backend: "nbd", source: "/srv/i" }, KEY, bare.host),
      "host",
      /^\/s\/c1\/config: lxc\.rootfs\.path = X: this host lacks the nbd kernel module \(no \/sys\/module\/nbd, and modprobe nbd failed\), and qemu-nbd \(the qemu-utils package\)$/,
    );
    assert.deepEqual(bare.run.calls, [["modprobe", "nbd"]]);
  });

  it("nbd: refuses a missing image and a host with every device in use", async () => {
    const { host } = fakeHost(NBD_HOST);
    await rejectsLxt(
      attachDevice({ backend: "nbd", source: "/srv/none" }, KEY, host),
      "config",
      /\/srv\/none is not an image file/,
    );
    const busy = fakeHost(
      ["/sys/module/nbd", "/usr/bin/qemu-nbd", "/dev/nbd0", "/sys/block/nbd0/pid"],
      {
        images: ["/srv/i"],
      },
    );
    await rejectsLxt(
      attachDevice({ backend: "nbd", source: "/srv/i" }, KEY, busy.host),
      "host",
      /no free nbd device/,
    );
    assert.deepEqual(busy.run.calls, []);
  });

  it("rbd: maps with rbd map and unmaps the device it printed", async () => {
    const { host, run } = fakeHost(["/sys/bus/rbd", "/usr/bin/rbd"], {
      reply: (argv) => (argv[1] === "map" ? "/dev/rbd0\n" : ""),
    });
    const dev = await attachDevice({ backend: "rbd", source: "pool/c1" }, KEY, host);
    assert.deepEqual(dev, {
      device: "/dev/rbd0",
      detach: ["/usr/bin/rbd", "unmap", "/dev/rbd0"],
      held: "/dev/rbd0",
    });
    await attachDevice({ backend: "rbd", source: "/dev/rbd/pool/c2" }, KEY, host);
    assert.deepEqual(run.calls, [
      ["/usr/bin/rbd", "map", "pool/c1"],
      ["/usr/bin/rbd", "map", "pool/c2"],
    ]);
  });

  it("rbd: an image the host maps already is used and left mapped", async () => {
    const { host, run } = fakeHost(["/sys/bus/rbd", "/usr/bin/rbd", "/dev/rbd/pool/c1"]);
    const dev = await attachDevice({ backend: "rbd", source: "pool/c1" }, KEY, host);
    assert.deepEqual(dev, { device: "/dev/rbd/pool/c1" });
    assert.deepEqual(run.calls, []);
    // LXC's own form of the key names the mapped image's link.
    const lxc = await attachDevice({ backend: "rbd", source: "/dev/rbd/pool/c1" }, KEY, host);
    assert.deepEqual(lxc, { device: "/dev/rbd/pool/c1" });
  });

  it("rbd: refuses naming the module, the tool, or an unreachable cluster", async () => {
    const bare = fakeHost([], { reply: () => new Error("modprobe: FATAL: Module rbd not found") });
    await rejectsLxt(
      attachDevice({ backend: "rbd", source: "pool/c1" }, KEY, bare.host),
      "host",
      /lacks the rbd kernel module \(no \/sys\/bus\/rbd, and modprobe rbd failed\), and the rbd command \(the ceph-common package\)$/,
    );
    const down = fakeHost(["/sys/bus/rbd", "/usr/bin/rbd"], {
      reply: () => new Error("rbd: couldn't connect to the cluster!"),
    });
    await rejectsLxt(
      attachDevice({ backend: "rbd", source: "pool/c1" }, KEY, down.host),
      "host",
      /rbd map pool\/c1 failed \(is the Ceph cluster reachable.*\): rbd: couldn't connect to the cluster!/,
    );
  });

  it("attachBlock fills the mount with the device and its filesystem; the reverter releases it", async () => {
    const { host, run } = fakeHost(NBD_HOST, { images: ["/srv/i"] });
    const planned: BlockMount = {
      kind: "dev",
      source: "",
      fstype: "",
      attach: { backend: "nbd", source: "/srv/i" },
      target: "/s/c1/rootfs",
      flags: 0,
      data: [],
    };
    const revert = new Reverter();
    const paths = { config: "/s/c1/config" } as Parameters<typeof attachBlock>[0];
    const b = await attachBlock(paths, planned, revert, host);
    assert.equal(b.source, "/dev/nbd0");
    assert.equal(b.fstype, "ext4");
    assert.deepEqual(b.detach, ["/usr/bin/qemu-nbd", "-d", "/dev/nbd0"]);
    await revert.revert();
    assert.deepEqual(run.calls.at(-1), ["/usr/bin/qemu-nbd", "-d", "/dev/nbd0"]);
  });
});
