import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { refuseCheckpoint } from "../../src/container/checkpoint.js";
import { criuLogError, dumpArgs, restoreArgs } from "../../src/container/checkpoint-images.js";
import { externalMounts, makedev, ptyKeys } from "../../src/container/checkpoint-mounts.js";
import { parseRuntimePlan } from "../../src/container/runtime-cgroups.js";

const PLAN = parseRuntimePlan(
  [
    "lxt-plan 1",
    "name c1",
    "console /dev/console",
    "tty /dev/tty1",
    "mknod /dev/null 20666 1 3 /dev/null",
    "mount /proc/sys /proc/sys % 4096 % 15 src-in-root",
    "mount /dev/null /proc/kcore % 4096 % 0 optional",
    "mount /dev/null /proc/keys % 4096 % 0 optional",
    "mount proc /proc proc 14 % 0 create-dir",
    "",
  ].join("\n"),
);
// The init's mount table: /proc/keys was not mounted (optional), /dev/null was bound (mknod refused).
const MOUNTINFO = [
  "2530 2529 0:40 / / rw - tmpfs tmpfs rw",
  "2533 2530 0:6 /null /dev/null rw - devtmpfs devtmpfs rw",
  "2534 2530 0:50 / /proc rw - proc proc rw",
  "2539 2534 0:6 /null /proc/kcore rw - devtmpfs devtmpfs rw",
  "2545 2530 0:26 /190 /dev/console rw,relatime - devpts devpts rw,mode=600",
  "2546 2530 0:26 /300 /dev/tty1 rw,relatime - devpts devpts rw,mode=600",
].join("\n");

describe("checkpoint planning", () => {
  test("external mounts: host binds and bound device nodes the init really has", () => {
    assert.deepEqual(externalMounts(PLAN, MOUNTINFO), [
      { target: "/proc/kcore", source: "/dev/null" },
      { target: "/dev/null", source: "/dev/null" },
    ]);
  });

  test("the monitor's ptys keyed as CRIU names external ttys (RDEV:DEV in hex)", () => {
    assert.deepEqual(ptyKeys(PLAN, MOUNTINFO), [
      { index: 0, target: "/dev/console", key: "88be:1a" },
      // pts 300: major 137, minor 44.
      { index: 1, target: "/dev/tty1", key: "10882c:1a" },
    ]);
  });

  test("dump and restore command lines", () => {
    const ttys = ptyKeys(PLAN, MOUNTINFO);
    const ext = externalMounts(PLAN, MOUNTINFO);
    const d = dumpArgs({
      pid: 42,
      dir: "/ck",
      leaveRunning: true,
      verbose: false,
      ttys,
      externalMounts: ext,
    });
    assert.deepEqual(d.slice(0, 8), ["dump", "-t", "42", "-D", "/ck", "-o", "dump.log", "-v2"]);
    assert.ok(d.includes("--leave-running"));
    assert.ok(d.includes("mnt[/proc/kcore]:lxt_proc_kcore"));
    assert.ok(d.includes("tty[88be:1a]") && d.includes("mnt[/dev/console]:lxt_dev_console"));
    const stop = dumpArgs({
      pid: 42,
      dir: "/ck",
      leaveRunning: false,
      verbose: true,
      ttys,
      externalMounts: ext,
    });
    assert.ok(!stop.includes("--leave-running") && stop.includes("-v4"));
    // No NIC: nothing outside reaches the namespace, no lock; with one, CRIU's nftables lock.
    assert.equal(stop[stop.indexOf("--network-lock") + 1], "skip");
    const locked = dumpArgs({
      pid: 42,
      dir: "/ck",
      leaveRunning: false,
      verbose: false,
      ttys,
      externalMounts: ext,
      networkLock: "nftables",
    });
    assert.equal(locked[locked.indexOf("--network-lock") + 1], "nftables");
    assert.ok(locked.includes("--tcp-established"));
    const r = restoreArgs({
      criu: "/usr/local/sbin/criu",
      dir: "/ck",
      rootfs: "/var/lib/lxt/c1/rootfs",
      verbose: false,
      manifest: { version: 1, name: "c1", criu: "4.1.1", externalMounts: ext, ttys, dumpMs: 1 },
    });
    assert.deepEqual(r.slice(0, 2), ["/usr/local/sbin/criu", "restore"]);
    for (const a of [
      "--restore-detached",
      "--restore-sibling",
      "mnt[lxt_proc_kcore]:/dev/null",
      "mnt[lxt_dev_console]:{tty-pts:0}",
      "fd[{tty:0}]:tty[88be:1a]",
      "fd[{tty:1}]:tty[10882c:1a]",
    ])
      assert.ok(r.includes(a), a);
    assert.equal(r[r.indexOf("--root") + 1], "/var/lib/lxt/c1/rootfs");
    assert.equal(r[r.indexOf("--network-lock") + 1], "skip");
    // The restore repeats the dump's lock: only the same method deletes CRIU's table from the restored ruleset.
    const rn = restoreArgs({
      criu: "/usr/local/sbin/criu",
      dir: "/ck",
      rootfs: "/r",
      verbose: false,
      manifest: {
        version: 1,
        name: "c1",
        criu: "4.2.1",
        externalMounts: [],
        ttys: [],
        dumpMs: 1,
        networkLock: "nftables",
        veths: [{ name: "eth0", bridge: "br0", mac: "-" }],
      },
    });
    assert.equal(rn[rn.indexOf("--network-lock") + 1], "nftables");
  });

  test("refused up front: user namespaces, NICs, shared namespaces, execute, idmapped binds", () => {
    assert.equal(refuseCheckpoint(PLAN), undefined);
    const with_ = (line: string) => refuseCheckpoint(parseRuntimePlan(`lxt-plan 1\n${line}\n`));
    // Unprivileged: the idmapped rootfs is taken (the restore remakes that view), other idmapped mounts not.
    const unpriv = "idmap u 0 100000 65536\nrootfs /c/rootfs\nidmapped-mount /c/rootfs";
    assert.equal(with_(unpriv), undefined);
    assert.match(
      with_(`${unpriv}\nidmapped-mount /c/data`) ?? "",
      /idmapped mounts other than the rootfs/,
    );
    // A veth on a bridge is taken (CRIU dumps the namespace); other NICs are not.
    const bridged = ["net up lo", "net veth lxtv1 eth0 0 00:16:3e:00:00:01 br0 0 0", "net up eth0"];
    assert.equal(with_(["netdev lxtv1", ...bridged].join("\n")), undefined);
    // ... but not in a user namespace (criu 4.2's restore fails on it).
    assert.match(
      with_([unpriv, ...bridged].join("\n")) ?? "",
      /unprivileged containers with a NIC are not checkpointed/,
    );
    assert.match(with_("net macvlan eth9 eth0 bridge 0 -") ?? "", /other than veths .*`macvlan`/);
    assert.match(with_("net veth lxtv1 eth0 0 - - 0 0") ?? "", /without a bridge/);
    assert.match(with_("net veth lxtv1 eth0 0 - br0 2 2") ?? "", /queue counts/);
    assert.match(
      with_([...bridged, "net bridge-vlan lxtv1 br0 10 -"].join("\n")) ?? "",
      /`bridge-vlan`/,
    );
    assert.match(
      with_([...bridged, "net host-route 10.0.0.5/32 lxtv1"].join("\n")) ?? "",
      /`host-route`/,
    );
    assert.match(with_([...bridged, "host-hook /etc/up.sh"].join("\n")) ?? "", /host-side hooks/);
    assert.match(with_("opt ns-share net /proc/1/ns/net") ?? "", /shared namespaces/);
    assert.match(with_("init-shim 1") ?? "", /execute/);
    assert.match(
      with_("mount /srv /mnt/srv % 4096 /proc/7/ns/user 0 create-dir,idmapped") ?? "",
      /idmapped mounts/,
    );
    assert.equal(with_("mount /srv /mnt/srv % 4096 % 0 create-dir"), undefined);
  });

  test("device numbers as stat(2) gives them: minors of 256 or more above the major (pts 300, a late devpts)", () => {
    assert.equal(makedev(136, 190).toString(16), "88be");
    assert.equal(makedev(136, 300).toString(16), "10882c");
    assert.equal(makedev(0, 6440).toString(16), "1900028");
  });

  test("CRIU's own errors are what the message quotes", () => {
    const log = [
      "(00.001) Warn  (criu/kerndat.c:1285): Can't keep kdat cache on non-tempfs",
      "(00.210) Error (criu/mount.c:753): mnt: 80:./dev/tty doesn't have a proper root mount",
      "(00.211) Error (criu/cr-dump.c:2111): Dumping FAILED.",
    ].join("\n");
    assert.equal(
      criuLogError(log),
      "Error (criu/mount.c:753): mnt: 80:./dev/tty doesn't have a proper root mount; Error (criu/cr-dump.c:2111): Dumping FAILED.",
    );
    assert.equal(criuLogError(""), "no error in its log");
    // Many: the first (a restored task's own) and criu's last two.
    const many = ["A", "B", "C", "D"].map((x) => `(00.1) Error (criu/x.c:1): ${x}`).join("\n");
    assert.equal(
      criuLogError(many),
      "Error (criu/x.c:1): A; …; Error (criu/x.c:1): C; Error (criu/x.c:1): D",
    );
  });
});
