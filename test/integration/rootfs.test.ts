/**
 * The rootfs keys, with real loop devices: `lxc.rootfs.path = loop:IMAGE`
 * (attached at start, released by the kernel when the container ends, also
 * when its monitor is SIGKILLed; bad images refused naming the key with
 * nothing left attached), `lxc.rootfs.options` on a loop and a directory
 * rootfs, `nbd:` attached with qemu-nbd and detached when the container
 * ends (where the host has nbd), `nbd:`/`rbd:` refused naming what the host
 * lacks (where it does), and
 * `lxc.rootfs.managed = 0` (destroy keeps the rootfs, snapshot refuses).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { hasCmd, monitorPid, runtimeLeftovers, Sandbox, skipReason, until } from "./harness.js";

const skip =
  skipReason() ??
  (!hasCmd("mkfs.ext4") || !hasCmd("losetup") || !existsSync("/dev/loop-control")
    ? "SKIP: no mkfs.ext4, losetup or /dev/loop-control"
    : undefined);
if (skip) console.log(skip);

/** The loop devices backed by `image` (`losetup -j`). */
function loopsOf(image: string): string[] {
  return execFileSync("losetup", ["-j", image], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.trim() !== "");
}

/** What this host lacks for an nbd: or rbd: rootfs (module loadable, tool), or undefined. */
function lacks(mod: string, tool: string): string | undefined {
  const loadable =
    existsSync(mod === "nbd" ? "/sys/module/nbd" : "/sys/bus/rbd") ||
    spawnSync("modprobe", ["-n", mod], { stdio: "ignore" }).status === 0;
  if (!loadable) return `the ${mod} kernel module`;
  return hasCmd(tool) ? undefined : tool;
}
const nbdLacks = lacks("nbd", "qemu-nbd");
const rbdLacks = lacks("rbd", "rbd");

/** Loop devices on the host (all of them: this test's must not add any). */
function allLoops(): number {
  return execFileSync("losetup", ["-a"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.trim() !== "").length;
}

describe("rootfs keys", { skip, timeout: 300_000 }, () => {
  let box: Sandbox;
  let work: string;
  let base: string;
  let image: string;
  let loopsBefore: number;

  /** A container `name` whose config is base's with `rootfs` and `extra` lines. */
  const container = (rootfs: string, extra: string[] = []): string => {
    const name = box.name("rfs");
    const dir = join(box.lxcpath, name);
    mkdirSync(dir);
    const text = readFileSync(join(box.lxcpath, base, "config"), "utf8")
      .split("\n")
      .filter((l) => !/^\s*(lxc\.rootfs\.path|lxc\.uts\.name|lxt\.volatile\.)/.test(l))
      .join("\n");
    writeFileSync(
      join(dir, "config"),
      `${text}\nlxc.uts.name = ${name}\nlxc.rootfs.path = ${rootfs}\n${extra.join("\n")}\n`,
    );
    return name;
  };
  const inside = (name: string, script: string) =>
    box.ok(["attach", "-n", name, "--", "sh", "-c", script]);
  const rootMount = (name: string) =>
    inside(name, "cat /proc/mounts")
      .split("\n")
      .find((l) => l.split(" ")[1] === "/") ?? "";

  before(() => {
    box = new Sandbox();
    work = mkdtempSync(join(tmpdir(), "lxt-rootfs-"));
    // An unprivileged root reaches a rootfs kept here (the directory rootfs test).
    chmodSync(work, 0o755);
    loopsBefore = allLoops();
    base = box.name("base");
    box.ok(["create", "-n", base, "-t", "busybox"]);
    image = join(work, "root.ext4");
    execFileSync("mkfs.ext4", ["-q", "-d", join(box.lxcpath, base, "rootfs"), image, "48M"]);
  });

  after(async () => {
    box.cleanup();
    // Whatever a failed assertion left running is gone now: its loop device with it.
    await until(() => loopsOf(image).length === 0, 10_000);
    rmSync(work, { recursive: true, force: true });
    assert.equal(allLoops(), loopsBefore, "the loop devices this test attached are released");
  });

  test("loop: mounts the image as / (idmapped), and a stop releases the loop device", async () => {
    const c = container(`loop:${image}`);
    box.ok(["start", "-n", c]);
    assert.equal(loopsOf(image).length, 1, "attached while running");
    const root = rootMount(c);
    assert.match(root, /^\/dev\/loop\d+ \/ ext4 /, root);
    assert.match(root, /idmapped/, "unprivileged: the mount is idmapped");
    assert.equal(inside(c, "id -u; stat -c %u /etc/passwd"), "0\n0\n");
    // Never in the host's mount table.
    assert.ok(!readFileSync("/proc/self/mountinfo", "utf8").includes(join(box.lxcpath, c)));
    inside(c, "echo kept > /root/written");
    box.ok(["stop", "-n", c]);
    assert.ok(await until(() => loopsOf(image).length === 0), "released after stop");
    // What the container wrote is in the image.
    box.ok(["start", "-n", c]);
    assert.equal(inside(c, "cat /root/written"), "kept\n");
    box.ok(["stop", "-n", c]);
    assert.ok(await until(() => loopsOf(image).length === 0));
    box.ok(["destroy", "-n", c]);
    assert.ok(existsSync(image), "an image outside the container's directory stays");
  });

  test("loop: a SIGKILLed monitor leaves no loop device attached", async () => {
    const c = container(`loop:${image}`);
    box.ok(["start", "-n", c]);
    assert.equal(loopsOf(image).length, 1);
    process.kill(monitorPid(box.lxcpath, c), "SIGKILL");
    assert.ok(await until(() => loopsOf(image).length === 0, 10_000), "released by the kernel");
    assert.match(box.ok(["ls", "-f"]), new RegExp(`${c}\\s+STOPPED`));
    box.ok(["destroy", "-n", c]);
  });

  test("lvm: a block device's filesystem is the rootfs of a privileged container (a loop device attached by the test)", async () => {
    // lvm:DEVICE takes any block device; a VG needs device-mapper, which this host may lack.
    const dev = execFileSync("losetup", ["--find", "--show", image], { encoding: "utf8" }).trim();
    try {
      const c = container(`lvm:${dev}`, ["lxc.rootfs.options = nodev", "lxt.privileged = 1"]);
      box.ok(["start", "-n", c]);
      const root = rootMount(c);
      assert.match(root, new RegExp(`^${dev} / ext4 rw,nodev,`), root);
      assert.doesNotMatch(root, /idmapped/, "privileged: no id mapping");
      box.ok(["stop", "-n", c]);
      box.ok(["destroy", "-n", c]);
    } finally {
      execFileSync("losetup", ["-d", dev]);
    }
    assert.ok(await until(() => loopsOf(image).length === 0));
  });

  test("loop: lxc.rootfs.options sets flags and filesystem options", async () => {
    const c = container(`loop:${image}`, ["lxc.rootfs.options = ro,nosuid,data=journal"]);
    box.ok(["start", "-n", c]);
    const root = rootMount(c);
    assert.match(root, / ext4 ro,nosuid,/, root);
    assert.match(root, /data=journal/, root);
    const w = box.lxt(["attach", "-n", c, "--", "touch", "/x"]);
    assert.notEqual(w.code, 0);
    assert.match(w.stderr, /Read-only file system/);
    box.ok(["stop", "-n", c]);
    assert.ok(await until(() => loopsOf(image).length === 0));
    box.ok(["destroy", "-n", c]);
  });

  test("bad images and options are refused naming the key, leaving nothing", async () => {
    const zeros = join(work, "zeros.img");
    execFileSync("truncate", ["-s", "8M", zeros]);
    // An ext4 magic over garbage: only the kernel can tell.
    const broken = join(work, "broken.img");
    const buf = Buffer.alloc(4 << 20, 0x5a);
    buf.writeUInt16LE(0xef53, 1080);
    writeFileSync(broken, buf);
    const cases: [string, string[], RegExp][] = [
      [`loop:${join(work, "missing.img")}`, [], /lxc\.rootfs\.path = loop:.*does not exist/],
      [`loop:${work}`, [], /lxc\.rootfs\.path = loop:.*is not a regular file/],
      [`loop:${zeros}`, [], /lxc\.rootfs\.path = loop:.*no filesystem lxt can mount/],
      [`loop:${broken}`, [], /lxc\.rootfs\.path = loop:.*mount its ext4 filesystem: /],
      [
        `loop:${image}`,
        ["lxc.rootfs.options = bogus=1"],
        /lxc\.rootfs\.options: ext4 refuses "bogus=1"/,
      ],
      [`lvm:${image}`, [], /lxc\.rootfs\.path = lvm:.*is not a block device/],
    ];
    for (const [rootfs, extra, want] of cases) {
      const c = container(rootfs, extra);
      const r = box.lxt(["start", "-n", c]);
      assert.notEqual(r.code, 0, rootfs);
      assert.match(r.stderr, want, r.stderr);
      for (const img of [image, zeros, broken])
        assert.ok(
          await until(() => loopsOf(img).length === 0),
          `${rootfs}: no loop left on ${img}`,
        );
      assert.deepEqual(runtimeLeftovers(box.lxcpath), [], rootfs);
      // The mount point the start made went with it.
      assert.ok(!existsSync(join(box.lxcpath, c, "rootfs")), rootfs);
      assert.match(box.ok(["ls", "-f"]), new RegExp(`${c}\\s+STOPPED`));
      box.ok(["destroy", "-n", c]);
    }
  });

  test("nbd: and rbd: are refused naming the key and what the host lacks", (t) => {
    for (const [rootfs, lacks] of [
      [`nbd:${image}`, nbdLacks],
      ["rbd:pool/image", rbdLacks],
    ] as const) {
      const kind = rootfs.slice(0, 3);
      if (!lacks) {
        t.diagnostic(`SKIP: this host has what ${kind}: needs, so nothing is refused`);
        continue;
      }
      const c = container(rootfs);
      const r = box.lxt(["start", "-n", c]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`lxc\\.rootfs\\.path = ${kind}:`), r.stderr);
      assert.match(r.stderr, new RegExp(`lacks (the ${kind} kernel module|${lacks})`), r.stderr);
      assert.deepEqual(runtimeLeftovers(box.lxcpath), [], rootfs);
      console.log(`${kind}: ${r.stderr.split("\n")[0]}`);
      box.ok(["destroy", "-n", c]);
    }
  });

  test("nbd: attaches with qemu-nbd, detaches at stop and after a SIGKILLed monitor", async (t) => {
    if (nbdLacks) {
      console.log(`SKIP: nbd attach: this host lacks ${nbdLacks}`);
      t.skip(`this host lacks ${nbdLacks}`);
      return;
    }
    const c = container(`nbd:${image}`);
    box.ok(["start", "-n", c]);
    /** The container's nbd device, from its root mount, and whether it is connected. */
    const nbd = () => {
      const root = rootMount(c);
      const dev = /^\/dev\/(nbd\d+) \/ ext4 /.exec(root)?.[1];
      assert.ok(dev, root);
      return () => existsSync(`/sys/block/${dev}/pid`);
    };
    let connected = nbd();
    assert.ok(connected());
    box.ok(["stop", "-n", c]);
    assert.ok(!connected(), "qemu-nbd -d ran when the container ended");
    box.ok(["start", "-n", c]);
    connected = nbd();
    process.kill(monitorPid(box.lxcpath, c), "SIGKILL");
    // The next command that finds the monitor dead runs its stop-hooks.
    assert.match(box.ok(["ls", "-f"]), new RegExp(`${c}\\s+STOPPED`));
    assert.ok(await until(() => !connected()), "detached after the killed monitor");
    box.ok(["destroy", "-n", c]);
  });

  test("a directory rootfs takes per-mount flags and refuses filesystem options", () => {
    const dir = join(work, "tree");
    execFileSync("cp", ["-a", join(box.lxcpath, base, "rootfs"), dir]);
    const c = container(dir, ["lxc.rootfs.options = ro,nodev"]);
    box.ok(["start", "-n", c]);
    assert.match(rootMount(c), / ro,nodev,/);
    box.ok(["stop", "-n", c]);
    box.ok(["destroy", "-n", c]);
    const d = container(dir, ["lxc.rootfs.options = nosuid,data=journal"]);
    const r = box.lxt(["start", "-n", d]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /lxc\.rootfs\.options: "data=journal" is not a mount flag/);
    box.ok(["destroy", "-n", d]);
    assert.ok(existsSync(join(dir, "bin/busybox")), "a rootfs outside the container stays");
  });

  test("lxc.rootfs.managed = 0: destroy keeps the rootfs, snapshot refuses", () => {
    const c = box.name("unmanaged");
    box.ok(["copy", "-n", base, "-N", c]);
    const dir = join(box.lxcpath, c);
    writeFileSync(join(dir, "config"), "lxc.rootfs.managed = 0\n", { flag: "a" });
    box.ok(["start", "-n", c]);
    inside(c, "echo mine > /root/data");
    box.ok(["stop", "-n", c]);
    const s = box.lxt(["snapshot", "-n", c]);
    assert.notEqual(s.code, 0);
    assert.match(s.stderr, /lxc\.rootfs\.managed = 0/);
    // A full copy is allowed, and is lxt's own.
    const copy = box.name("copy");
    box.ok(["copy", "-n", c, "-N", copy]);
    assert.ok(!readFileSync(join(box.lxcpath, copy, "config"), "utf8").includes("managed"));
    box.ok(["destroy", "-n", c]);
    assert.ok(!existsSync(join(dir, "config")), "the config goes");
    assert.equal(readFileSync(join(dir, "rootfs/root/data"), "utf8"), "mine\n");
    assert.ok(!box.ok(["ls"]).includes(c));
    rmSync(dir, { recursive: true, force: true });
    box.ok(["destroy", "-n", copy]);
  });
});
