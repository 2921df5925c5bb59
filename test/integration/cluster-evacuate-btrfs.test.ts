/**
 * An evacuation between cluster members on btrfs sends a stopped container
 * by `btrfs send`, as `lxt move` does (docs/cluster.md, docs/migrate.md):
 * two lxtd members on loopback, each with a loop-mounted btrfs state root,
 * over a real etcd. m1's stopped container with a snapshot arrives on m0
 * as received subvolumes (a Received UUID, which only `btrfs receive`
 * gives), its snapshot read-only, its rootfs writable; nothing is left on
 * m1.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { etcdSkipReason, joinToken, LoopbackMembers } from "./etcd-harness.js";
import { BtrfsLoop } from "./harness.js";
import { lxtdSkipReason } from "./lxtd-harness.js";

const BTRFS = spawnSync("sh", ["-c", "command -v btrfs"], { encoding: "utf8" }).stdout.trim();
const skip =
  lxtdSkipReason() ??
  etcdSkipReason() ??
  (BTRFS === "" ? "SKIP: no btrfs-progs (apt-get install btrfs-progs)" : undefined);
if (skip) console.log(skip.startsWith("SKIP") ? skip : `SKIP: ${skip}`);

describe("lxtd cluster: evacuate between btrfs members", { skip, timeout: 600_000 }, () => {
  const loops = [new BtrfsLoop(), new BtrfsLoop()];
  let hosts: LoopbackMembers;
  const box = (i: number) => hosts.box(i);
  const btrfs = (args: string[]) => execFileSync("btrfs", args, { encoding: "utf8" });
  const hidden = (i: number) =>
    readdirSync(box(i).lxcpath).filter((n) => n.startsWith(".lxt-") || n === "lost+found");

  before(async () => {
    for (const l of loops) l.open("400M");
    hosts = new LoopbackMembers(
      ["m0", "m1"],
      2,
      loops.map((l) => l.mnt),
    );
    await hosts.start(1);
    await hosts.startMember(1, ["--cluster-token", joinToken(box(0), "m1")]);
  });

  after(async () => {
    try {
      for (const i of [0, 1]) box(i).lxc(["delete", "--force", "idle"]);
      assert.deepEqual(await hosts.close(), []);
    } finally {
      for (const l of loops) l.close();
    }
  });

  test("a stopped container with a snapshot moves from m1 to m0 by btrfs send", () => {
    box(0).lxcOk(["init", "busybox", "idle", "--target", "m1"]);
    const src = join(box(1).lxcpath, "idle");
    writeFileSync(join(src, "rootfs", "marker"), "one\n");
    // lxt names its directory snap0 (the LXD name s0 is kept beside it).
    box(0).lxcOk(["snapshot", "idle", "s0"]);
    writeFileSync(join(src, "rootfs", "marker"), "two\n");
    box(0).lxcOk(["cluster", "evacuate", "m1", "--force"]);

    const dst = join(box(0).lxcpath, "idle");
    assert.equal(existsSync(src), false, "idle is gone from m1");
    assert.equal(readFileSync(join(dst, "rootfs", "marker"), "utf8"), "two\n");
    const snap = join(dst, "snaps", "snap0", "rootfs");
    assert.equal(readFileSync(join(snap, "marker"), "utf8"), "one\n");
    // Received by `btrfs receive`: an archive import makes subvolumes with no Received UUID.
    assert.match(btrfs(["subvolume", "show", snap]), /Received UUID:\s+[0-9a-f-]{36}/);
    assert.equal(btrfs(["property", "get", "-ts", snap, "ro"]).trim(), "ro=true");
    assert.equal(btrfs(["property", "get", "-ts", join(dst, "rootfs"), "ro"]).trim(), "ro=false");
    assert.deepEqual(hidden(0), []);
    assert.deepEqual(hidden(1), []);
    // m1's filesystem holds no subvolume any more (the sent rootfs snapshot removed too).
    assert.equal(btrfs(["subvolume", "list", box(1).lxcpath]).trim(), "");
  });
});
