import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readCgroupLayout } from "../../src/cgroups/layout.js";
import { controllerVersion } from "../../src/cgroups/limits.js";
import { nodeCgroupFs } from "../../src/host/cgroup-fs.js";
import { hasCmd, Sandbox, skipReason } from "./harness.js";

function ioSkip(): string | undefined {
  const base = skipReason();
  if (base) return base;
  if (!hasCmd("losetup") || !hasCmd("mkfs.ext4")) return "SKIP: no losetup/mkfs.ext4";
  if (controllerVersion(readCgroupLayout(nodeCgroupFs), "io") === undefined)
    return "SKIP: no blkio/io controller for lxt's cgroup";
  return undefined;
}

const MiB = 1024 * 1024;

describe("I/O limits on a loop device mounted into the container", {
  skip: ioSkip(),
  timeout: Number(process.env.LXT_TEST_TIMEOUT_MS ?? 180_000),
}, () => {
  let box: Sandbox;
  let c: string;
  const dir = mkdtempSync(join(tmpdir(), "lxt-io-"));
  // Searchable by an unprivileged container's root, which opens the bind source.
  chmodSync(dir, 0o711);
  const mnt = join(dir, "mnt");
  let dev = "";
  let mounted = false;
  let majmin = "";
  let v1 = true;

  before(() => {
    const img = join(dir, "io.img");
    execFileSync("truncate", ["-s", "64M", img]);
    dev = execFileSync("losetup", ["--find", "--show", img], { encoding: "utf8" }).trim();
    execFileSync("mkfs.ext4", ["-q", dev]);
    mkdirSync(mnt);
    execFileSync("mount", [dev, mnt]);
    mounted = true;
    // Writable by the container's root, whatever host uid it maps to.
    chmodSync(mnt, 0o1777);
    const rdev = statSync(dev).rdev;
    majmin = `${Math.floor(rdev / 256) & 0xfff}:${(rdev & 0xff) | ((rdev >> 12) & 0xfff00)}`;
    v1 = controllerVersion(readCgroupLayout(nodeCgroupFs), "io") === 1;
    box = new Sandbox();
    c = box.name("io");
    box.ok(["create", "-n", c, "-t", "busybox"]);
    appendFileSync(
      join(box.lxcpath, c, "config"),
      `lxc.mount.entry = ${mnt} mnt/io none bind,create=dir 0 0\n`,
    );
    box.ok(["start", "-n", c]);
  });
  after(() => {
    box?.cleanup();
    if (mounted) {
      for (let i = 0; i < 50; i++) {
        if (spawnSync("umount", [mnt]).status === 0) break;
        spawnSync("sleep", ["0.1"]);
      }
    }
    if (dev) spawnSync("losetup", ["-d", dev]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Writes COUNT blocks of BS bytes with O_DIRECT inside; seconds taken, by /proc/uptime. */
  const ddSeconds = (bs: number, count: number): number => {
    const out = box.ok([
      "attach",
      "-n",
      c,
      "--",
      "sh",
      "-c",
      `a=$(cut -d' ' -f1 /proc/uptime); dd if=/dev/zero of=/mnt/io/f bs=${bs} count=${count} oflag=direct 2>/dev/null || echo DDFAIL; b=$(cut -d' ' -f1 /proc/uptime); echo "$a $b"`,
    ]);
    assert.doesNotMatch(out, /DDFAIL/);
    const [a, b] = out.trim().split(/\s+/).map(Number);
    return Math.max((b as number) - (a as number), 0.01);
  };
  const throttleFile = (what: "bps" | "iops") =>
    v1 ? `blkio.throttle.write_${what}_device` : "io.max";
  const cg = (file: string) => box.ok(["cgroup", "-n", c, file]).trim();
  /** The device's rule in the throttle file: v1 `MAJ:MIN N`, v2 `MAJ:MIN rbps=max wbps=N ...`. */
  const rule = (v2Field: string, n: number) =>
    v1
      ? new RegExp(`^${majmin} ${n}$`, "m")
      : new RegExp(`^${majmin} .*\\b${v2Field}=${n}\\b`, "m");

  let unlimitedRate = 0;
  test("unlimited: a direct write runs at the device's speed", (t) => {
    unlimitedRate = (8 * MiB) / ddSeconds(MiB, 8);
    t.diagnostic(`unlimited: ${(unlimitedRate / MiB).toFixed(1)} MiB/s`);
    assert.ok(unlimitedRate > 4 * MiB, `unlimited rate ${unlimitedRate}`);
  });

  test("write.bps by path, set live: a direct write runs at about the limit", (t) => {
    box.ok(["config", "set", c, "lxt.limits.io.write.bps", `${dev} ${MiB}`]);
    assert.match(cg(throttleFile("bps")), rule("wbps", MiB));
    const rate = (3 * MiB) / ddSeconds(256 * 1024, 12);
    t.diagnostic(`1 MiB/s limit: ${(rate / MiB).toFixed(2)} MiB/s`);
    assert.ok(rate < 2 * MiB, `rate ${rate} B/s under a 1 MiB/s limit`);
    assert.ok(rate < unlimitedRate / 2, `limited ${rate} vs unlimited ${unlimitedRate}`);
    box.ok(["config", "unset", c, "lxt.limits.io.write.bps"]);
    assert.doesNotMatch(cg(throttleFile("bps")), rule("wbps", MiB));
  });

  test("write.iops by MAJ:MIN, set live: IOPS stay near the limit", (t) => {
    box.ok(["config", "set", c, "lxt.limits.io.write.iops", `${majmin} 20`]);
    assert.match(cg(throttleFile("iops")), rule("wiops", 20));
    const iops = 40 / ddSeconds(4096, 40);
    t.diagnostic(`20 IOPS limit: ${iops.toFixed(1)} IOPS`);
    assert.ok(iops < 40, `iops ${iops} under a limit of 20`);
  });

  test("info counts the written bytes; the limit from the config holds after a restart", () => {
    const info = JSON.parse(box.ok(["info", "-n", c, "--format", "json"]));
    // v1 (Linux 5.0+, no CFQ) counts bios in blk-throttle only, that is on
    // devices with a throttle rule: the 3 MiB and 160 KiB written under limits.
    const least = v1 ? 3 * MiB : 11 * MiB;
    assert.ok(info.io_write_bytes >= least, `io_write_bytes ${info.io_write_bytes}`);
    box.ok(["stop", "-n", c, "-k"]);
    box.ok(["start", "-n", c]);
    assert.match(cg(throttleFile("iops")), rule("wiops", 20));
    box.ok(["stop", "-n", c, "-k"]);
  });
});
