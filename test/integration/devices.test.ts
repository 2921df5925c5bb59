/**
 * The device allowlist on a host with the cgroup v1 devices controller
 * (cgroup v2 is covered by test/vm/cgroup2-smoke.sh): LXC's default set,
 * user rules, and bad rules refusing the start. Checked from the host (the
 * container's devices.list) and from the inside (busybox mknod + head).
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { hostDisk, hostLeftovers, Sandbox, skipReason } from "./harness.js";

/** This process's directory in the v1 devices hierarchy, if the host has one. */
function devicesDir(): string | undefined {
  const line = readFileSync("/proc/self/cgroup", "utf8")
    .split("\n")
    .find((l) => l.split(":")[1]?.split(",").includes("devices"));
  const path = line?.split(":")[2];
  const dir = path !== undefined ? `/sys/fs/cgroup/devices${path === "/" ? "" : path}` : undefined;
  return dir && existsSync(`${dir}/devices.list`) ? dir : undefined;
}

const skip =
  skipReason() ?? (devicesDir() ? undefined : "SKIP: no cgroup v1 devices controller here");
if (skip) console.log(skip);

describe("device allowlist of a privileged container (cgroup v1)", {
  skip,
  timeout: 120_000,
}, () => {
  let box: Sandbox;
  let c: string;
  const sh = (cmd: string, name = c) => box.lxt(["attach", "-n", name, "--", "sh", "-c", cmd]);
  const disk = hostDisk();
  // Opens the host's disk / loop-control node for reading (`: <` opens and closes) and prints the status.
  const openDisk = `mknod /dev/lxt-disk b ${disk.major} ${disk.minor} && : < /dev/lxt-disk; s=$?; rm -f /dev/lxt-disk; exit $s`;
  const openLoopControl = (redir: string) =>
    `mknod /dev/lxt-lc c 10 237 && : ${redir} /dev/lxt-lc; s=$?; rm -f /dev/lxt-lc; exit $s`;

  // Privileged containers: in a user namespace mknod of any device is refused
  // anyway (security.test.ts covers both); here the device cgroup is the only
  // thing between CAP_MKNOD and the host's devices.
  const create = (n: string) => {
    box.ok(["create", "-n", n, "-t", "busybox"]);
    const cfg = join(box.lxcpath, n, "config");
    const text = readFileSync(cfg, "utf8");
    assert.match(text, /^lxt\.privileged = 0$/m);
    writeFileSync(cfg, text.replace(/^lxt\.privileged = 0$/m, "lxt.privileged = 1"));
  };

  before(() => {
    box = new Sandbox();
    c = box.name("dev");
    create(c);
    box.ok(["start", "-n", c]);
  });
  after(() => {
    box.cleanup();
    // Only ours: other engineers' containers may be running meanwhile.
    assert.deepEqual(
      hostLeftovers("lxtdev").filter((l) => l.includes("lxtdev")),
      [],
    );
  });

  test("the container's devices.list is LXC's default set", () => {
    const list = readFileSync(`${devicesDir()}/lxt.payload.${c}/devices.list`, "utf8")
      .trim()
      .split("\n")
      .sort();
    assert.deepEqual(
      list,
      [
        "b *:* m",
        "c *:* m",
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 1:7 rwm",
        "c 1:8 rwm",
        "c 1:9 rwm",
        "c 5:0 rwm",
        "c 5:1 rwm",
        "c 5:2 rwm",
        "c 136:* rwm",
        "c 10:229 rwm",
        "c 10:200 rwm",
      ].sort(),
    );
  });

  test("allowed devices work: /dev/null, /dev/zero, /dev/urandom, /dev/ptmx", () => {
    const r = sh(
      "echo x > /dev/null && head -c 4 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c && : <> /dev/ptmx && echo ptmx",
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "4\n4\nptmx\n");
  });

  test("a host disk and /dev/loop-control can be made but not opened", () => {
    const r = sh(openDisk);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Operation not permitted/);
    // The host itself can open /dev/loop-control (c 10:237): the refusal is the device cgroup's.
    const k = sh(openLoopControl("<"));
    assert.notEqual(k.code, 0);
    assert.match(k.stderr, /Operation not permitted/);
  });

  test("lxc.cgroup.devices.allow opens /dev/loop-control for reading only; deny takes access away", () => {
    const n = box.name("devok");
    create(n);
    box.ok([
      "start",
      "-n",
      n,
      "-s",
      "lxc.cgroup.devices.allow=c 10:237 r",
      "-s",
      "lxc.cgroup.devices.deny=c 1:5 rwm",
    ]);
    const r = sh(openLoopControl("<"), n);
    assert.equal(r.code, 0, r.stderr);
    const w = sh(openLoopControl(">>"), n);
    assert.notEqual(w.code, 0, "opening for writing stays refused");
    assert.match(w.stderr, /Operation not permitted/);
    assert.match(sh("head -c 1 /dev/zero", n).stderr, /Operation not permitted/);
    box.ok(["stop", "-n", n, "-k"]);
  });

  test("a bad rule refuses the start naming file and line, leaving no cgroup", () => {
    const n = box.name("devbad");
    create(n);
    const r = box.lxt(["start", "-n", n, "-s", "lxc.cgroup.devices.allow=c 1:3 rwx"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /-s #1:1: .*access "rwx" is not a combination of r, w and m/);
    assert.equal(existsSync(`${devicesDir()}/lxt.payload.${n}`), false);
  });
});
