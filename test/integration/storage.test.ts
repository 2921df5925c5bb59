/**
 * One conformance suite for every storage backend: create, start, write
 * inside, snapshot, change, restore an older snapshot in place and a newer
 * one to a new container, clone (CoW and full), ephemeral copy, destroy,
 * nothing left. btrfs runs on a loop-mounted image this file makes (and
 * unmounts and detaches in `after`, even on failure), zfs on a pool on a
 * sparse file (destroyed in `after`).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  alive,
  type BtrfsLoop,
  backendSandbox,
  hasCmd,
  hostLeftovers,
  kernelFs,
  monitorPid,
  type Sandbox,
  skipReason,
  until,
} from "./harness.js";
import { ZfsPool, zfsSkip } from "./zfs-pool.js";

const baseSkip = skipReason();
if (baseSkip) console.log(baseSkip);

interface Backend {
  name: "dir" | "overlay" | "btrfs" | "zfs";
  skip?: string;
}

const BACKENDS: Backend[] = [
  { name: "dir" },
  { name: "overlay", skip: kernelFs("overlay") ? undefined : "SKIP: no overlayfs" },
  {
    name: "btrfs",
    skip:
      !kernelFs("btrfs") && !existsSync("/sys/module/btrfs")
        ? "SKIP: no btrfs in this kernel"
        : !hasCmd("mkfs.btrfs") || !hasCmd("losetup")
          ? "SKIP: no btrfs-progs/losetup (scripts/setup.sh installs them)"
          : undefined,
  },
  // A pool on a sparse file, made and destroyed by the suite (zfs-pool.ts).
  { name: "zfs", skip: zfsSkip() },
];
/** Backends whose `copy -s` and live snapshot are their own (not an overlay over the source). */
const NATIVE_COW = ["btrfs", "zfs"];

for (const backend of BACKENDS) {
  const skip = baseSkip ?? backend.skip;
  if (backend.skip) console.log(`${backend.name}: ${backend.skip}`);
  describe(`storage conformance: ${backend.name}`, { skip, timeout: 180_000 }, () => {
    let box: Sandbox;
    let loop: BtrfsLoop | undefined;
    let pool: ZfsPool | undefined;
    let c: string;
    const timings: string[] = [];
    const names: string[] = [];
    const name = (prefix: string) => {
      const n = box.name(prefix);
      names.push(n);
      return n;
    };
    const timed = <T>(what: string, fn: () => T): T => {
      const t0 = performance.now();
      const r = fn();
      timings.push(`${what} ${Math.round(performance.now() - t0)} ms`);
      return r;
    };
    const read = (name: string, file: string) =>
      box.ok(["attach", "-n", name, "--", "cat", file]).trim();
    const write = (name: string, file: string, text: string) =>
      box.ok(["attach", "-n", name, "--", "sh", "-c", `echo ${text} > ${file}`]);

    before(() => {
      if (backend.name === "zfs") {
        pool = new ZfsPool();
        pool.open();
      }
      ({ box, loop } = backendSandbox(backend.name));
      c = name(backend.name.slice(0, 2));
    });
    after(() => {
      try {
        box?.cleanup();
      } finally {
        loop?.close();
        pool?.close();
        if (timings.length)
          console.log(`${backend.name}: ${timings.join(", ")} (lxt CLI, busybox rootfs)`);
      }
    });

    test("create -B picks the backend and records it as LXC does", () => {
      const zfsRoot = pool ? ["--zfsroot", pool.root] : [];
      box.ok(["create", "-n", c, "-t", "busybox", "-B", backend.name, ...zfsRoot]);
      const config = readFileSync(join(box.lxcpath, c, "config"), "utf8");
      const prefix = backend.name === "overlay" ? "overlayfs" : backend.name;
      const path = pool ? `${pool.root}/${c}$` : "/";
      assert.match(config, new RegExp(`^lxc\\.rootfs\\.path = ${prefix}:${path}`, "m"));
      if (backend.name === "btrfs") {
        // The default on a btrfs state root is btrfs too.
        const d = name("def");
        box.ok(["create", "-n", d, "-t", "busybox"]);
        assert.match(readFileSync(join(box.lxcpath, d, "config"), "utf8"), /= btrfs:\//);
        box.ok(["destroy", "-n", d]);
      }
    });

    test("start, write inside, stop, snapshot, change, snapshot again", () => {
      box.ok(["start", "-n", c]);
      write(c, "/root/v", "one");
      box.ok(["stop", "-k", "-n", c]);
      assert.equal(timed("snapshot", () => box.ok(["snapshot", "-n", c])).trim(), "snap0");
      box.ok(["start", "-n", c]);
      write(c, "/root/v", "two");
      box.ok(["stop", "-k", "-n", c]);
      const note = join(box.lxcpath, "lxt-comment");
      writeFileSync(note, "before three\n");
      assert.equal(box.ok(["snapshot", "-n", c, "-c", note]).trim(), "snap1");
      rmSync(note);
      box.ok(["start", "-n", c]);
      write(c, "/root/v", "three");
      box.ok(["stop", "-k", "-n", c]);
      const list = JSON.parse(box.ok(["snapshot", "-n", c, "-L", "--format", "json"]));
      assert.deepEqual(
        list.map((s: { name: string }) => s.name),
        ["snap0", "snap1"],
      );
      assert.equal(list[1].comment, "before three");
      assert.match(list[0].time, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      assert.ok(existsSync(join(box.lxcpath, c, "snaps", "snap0", "config")), "LXC's layout");
    });

    test("restore the older snapshot in place, the newer one to a new container", () => {
      box.ok(["snapshot", "-n", c, "-r", "snap0"]);
      box.ok(["start", "-n", c]);
      assert.equal(read(c, "/root/v"), "one");
      box.ok(["stop", "-k", "-n", c]);
      const n = name("rst");
      box.ok(["snapshot", "-n", c, "-r", "snap1", "-N", n]);
      box.ok(["start", "-n", n]);
      assert.equal(read(n, "/root/v"), "two");
      assert.equal(box.ok(["attach", "-n", n, "--", "hostname"]).trim(), n);
      box.ok(["stop", "-k", "-n", n]);
      box.ok(["destroy", "-n", n]);
      // Snapshots are intact after both restores.
      assert.equal(JSON.parse(box.ok(["snapshot", "-n", c, "-L", "--format", "json"])).length, 2);
    });

    test("copy -s (CoW) and a full copy have their own name, hostname and data", () => {
      for (const [flag, label] of [
        [["-s"], "clone -s"],
        [[], "full copy"],
      ] as const) {
        const d = name("cp");
        timed(label, () => box.ok(["copy", "-n", c, "-N", d, ...flag]));
        const cfg = readFileSync(join(box.lxcpath, d, "config"), "utf8");
        assert.match(cfg, new RegExp(`^lxc\\.uts\\.name = ${d}$`, "m"));
        if (flag.length)
          assert.match(
            cfg,
            NATIVE_COW.includes(backend.name) ? new RegExp(`= ${backend.name}:`) : /= overlayfs:/,
          );
        box.ok(["start", "-n", d]);
        assert.equal(read(d, "/root/v"), "one");
        assert.equal(read(d, "/etc/hostname"), d);
        write(d, "/root/v", "mine");
        box.ok(["stop", "-k", "-n", d]);
        box.ok(["destroy", "-n", d]);
      }
      box.ok(["start", "-n", c]);
      assert.equal(read(c, "/root/v"), "one", "the source is untouched by its copies");
      box.ok(["stop", "-k", "-n", c]);
    });

    test("a running source: copy refused unless the backend snapshots atomically", () => {
      box.ok(["start", "-n", c]);
      const d = name("live");
      const r = box.lxt(["copy", "-n", c, "-N", d, "-s"]);
      if (NATIVE_COW.includes(backend.name)) {
        assert.equal(r.code, 0, r.stderr);
        box.ok(["destroy", "-n", d]);
      } else {
        assert.equal(r.code, 1);
        assert.match(r.stderr, /RUNNING.*stop it first/);
        assert.ok(!existsSync(join(box.lxcpath, d)), "a refused copy leaves nothing");
      }
      box.ok(["stop", "-k", "-n", c]);
    });

    test("ephemeral copy is started and destroyed when it stops", async () => {
      const e = name("eph");
      box.ok(["copy", "-n", c, "-N", e, "-e"]);
      assert.match(readFileSync(join(box.lxcpath, e, "config"), "utf8"), /^lxc\.ephemeral = 1$/m);
      assert.equal(read(e, "/root/v"), "one");
      box.ok(["stop", "-k", "-n", e]);
      assert.ok(!existsSync(join(box.lxcpath, e)), "gone after stop");
      // One that ends by itself: its monitor destroys it as its last step.
      const f = name("eph");
      box.ok(["copy", "-n", c, "-N", f, "-e"]);
      const monitor = monitorPid(box.lxcpath, f);
      box.lxt(["attach", "-n", f, "--", "poweroff", "-f"]);
      assert.ok(await until(() => !alive(monitor), 30_000), "the monitor ended");
      assert.ok(!existsSync(join(box.lxcpath, f)), "gone once its monitor has ended");
    });

    test("destroy needs -s for snapshots, then leaves nothing", () => {
      const r = box.lxt(["destroy", "-n", c]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /snapshots \(snap0, snap1\); -s/);
      box.ok(["snapshot", "-n", c, "-d", "snap0"]);
      box.ok(["destroy", "-s", "-n", c]);
      assert.deepEqual(
        readdirSync(box.lxcpath).filter((e) => e !== "lxt-comment"),
        [],
        "state root empty",
      );
      if (loop) {
        const subvols = execFileSync("btrfs", ["subvolume", "list", loop.mnt], {
          encoding: "utf8",
        });
        assert.equal(subvols.trim(), "", "no subvolume left");
      }
      if (pool) assert.deepEqual(pool.datasets(), [pool.name, pool.root], "no dataset left");
      // Only ours: other suites (or other users of the host) may run containers meanwhile.
      const mine = (l: string) =>
        (l.includes(box.lxcpath) && !l.includes("lxt-btrfs-")) ||
        names.some((n) => new RegExp(`\\b${n}\\b`).test(l));
      assert.deepEqual(hostLeftovers().filter(mine), []);
    });
  });
}
