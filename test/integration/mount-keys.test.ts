/**
 * LXC's mount keys beyond plain entries, checked from both sides:
 * `idmap=` on lxc.mount.entry (an idmapped bind, to the container's user
 * namespace or to one named by path) and `lxc.mount.auto = shmounts:`
 * (mounts made on the host after the start show inside).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  appendFileSync,
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Sandbox as Box, Sandbox, skipReason } from "./harness.js";

const skip = skipReason();
if (skip) console.log(skip);

const owner = (p: string) => {
  const st = statSync(p);
  return `${st.uid}:${st.gid}`;
};

describe("mount keys: idmap= entries and shmounts", { skip, timeout: 240_000 }, () => {
  let box: Box;
  const dirs: string[] = [];
  const mounts: string[] = [];
  const cfgOf = (n: string) => join(box.lxcpath, n, "config");
  const addKeys = (n: string, lines: string[]) => appendFileSync(cfgOf(n), `${lines.join("\n")}\n`);
  const make = (prefix: string) => {
    const n = box.name(prefix);
    box.ok(["create", "-n", n, "-t", "busybox"]);
    return n;
  };
  const initPid = (n: string) => Number(/PID:\s+(\d+)/.exec(box.ok(["info", "-n", n]))?.[1]);
  const inside = (n: string, cmd: string) => box.ok(["attach", "-n", n, "--", "sh", "-c", cmd]);
  /** A host directory owned by host root holding one root-owned file. */
  const hostDir = (prefix: string) => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    writeFileSync(join(d, "f"), "host\n");
    chownSync(d, 0, 0);
    chmodSync(d, 0o755);
    chownSync(join(d, "f"), 0, 0);
    return d;
  };

  before(() => {
    box = new Sandbox();
  });
  after(() => {
    box.cleanup();
    for (const m of mounts.reverse()) spawnSync("umount", ["-l", m]);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("idmap=container: host root's files are the container root's, and written ones the host root's", () => {
    const d = hostDir("lxt-idmap-");
    const n = make("idm");
    addKeys(n, [
      `lxc.mount.entry = ${d} mnt/plain none bind,create=dir 0 0`,
      `lxc.mount.entry = ${d} mnt/shared none bind,create=dir,idmap=container 0 0`,
    ]);
    box.ok(["start", "-n", n]);
    // The container's root is an unprivileged host uid, so the plain bind shows nobody.
    assert.equal(inside(n, "stat -c %u:%g /mnt/plain/f").trim(), "65534:65534");
    assert.equal(inside(n, "stat -c %u:%g /mnt/shared /mnt/shared/f").trim(), "0:0\n0:0");
    inside(n, "echo inside > /mnt/shared/new && mkdir /mnt/shared/sub");
    assert.equal(owner(join(d, "new")), "0:0");
    assert.equal(owner(join(d, "sub")), "0:0");
    assert.equal(readFileSync(join(d, "new"), "utf8"), "inside\n");
    box.ok(["stop", "-n", n]);
  });

  test("idmap=PATH: a privileged container's bind idmapped to another container's user namespace", () => {
    const d = hostDir("lxt-idmap-path-");
    const a = make("ida");
    box.ok(["start", "-n", a]);
    const pid = initPid(a);
    const base = Number(readFileSync(`/proc/${pid}/uid_map`, "utf8").trim().split(/\s+/)[1]);
    assert.ok(base > 0, `container ${a} maps root to host uid ${base}`);
    const b = make("idb");
    addKeys(b, [
      "lxt.privileged = 1",
      `lxc.mount.entry = ${d} mnt/other none bind,create=dir,idmap=/proc/${pid}/ns/user 0 0`,
    ]);
    box.ok(["start", "-n", b]);
    // Through a's mapping, host uid 0 on disk is a's root: host uid `base`.
    assert.equal(inside(b, "stat -c %u /mnt/other/f").trim(), String(base));
    chownSync(join(d, "f"), 1000, 1000);
    assert.equal(inside(b, "stat -c %u:%g /mnt/other/f").trim(), `${base + 1000}:${base + 1000}`);
    // b's root (host uid 0) is not in a's map, so it cannot own a file there.
    const r = box.lxt(["attach", "-n", b, "--", "touch", "/mnt/other/by-root"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Value too large/);
    assert.ok(!existsSync(join(d, "by-root")));
    box.ok(["stop", "-n", b]);
    box.ok(["stop", "-n", a]);
  });

  test("idmap= is refused at start where LXC refuses it, naming the line", () => {
    const d = hostDir("lxt-idmap-bad-");
    const priv = make("idp");
    addKeys(priv, [
      "lxt.privileged = 1",
      `lxc.mount.entry = ${d} mnt/x none bind,create=dir,idmap=container 0 0`,
    ]);
    const r = box.lxt(["start", "-n", priv]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /config:\d+: lxc\.mount\.entry: idmap=container needs the container's own user namespace/,
    );
    const fs = make("idf");
    addKeys(fs, ["lxc.mount.entry = tmpfs mnt/t tmpfs create=dir,idmap=container 0 0"]);
    const r2 = box.lxt(["start", "-n", fs]);
    assert.notEqual(r2.code, 0);
    assert.match(
      r2.stderr,
      /lxc\.mount\.entry: only a bind mount \(bind or rbind\) can be idmapped/,
    );
    for (const n of [priv, fs]) assert.match(box.ok(["info", "-n", n]), /STOPPED/);
  });

  test("an optional idmapped bind whose source is missing is skipped; a required one fails the start", () => {
    const n = make("ido");
    const missing = join(tmpdir(), `lxt-missing-${process.pid}`);
    assert.ok(!existsSync(missing));
    addKeys(n, [
      `lxc.mount.entry = ${missing} mnt/o none bind,create=dir,optional,idmap=container 0 0`,
    ]);
    box.ok(["start", "-n", n]);
    assert.equal(inside(n, "test -e /mnt/o || echo absent").trim(), "absent");
    box.ok(["stop", "-n", n]);
    addKeys(n, [`lxc.mount.entry = ${missing} mnt/r none bind,create=dir,idmap=container 0 0`]);
    const r = box.lxt(["start", "-n", n]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /idmapped mount of \/tmp\/lxt-missing-\d+: open_tree: ENOENT/);
    assert.match(box.ok(["info", "-n", n]), /STOPPED/);
  });

  test("shmounts: a mount made under the host path after the start shows inside, and not the reverse", () => {
    const h = mkdtempSync(join(tmpdir(), "lxt-shmounts-"));
    dirs.push(h);
    // As LXC's mount-injection test: the host path is a shared mount point.
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0711", "lxt-shm", h]);
    mounts.push(h);
    execFileSync("mount", ["--make-shared", h]);
    mkdirSync(join(h, "mine"));
    const n = make("shm");
    const m = make("shd");
    addKeys(n, [`lxc.mount.auto = shmounts:${h}:/mnt/inject`]);
    addKeys(m, [`lxc.mount.auto = shmounts:${h}`]);
    box.ok(["start", "-n", n]);
    box.ok(["start", "-n", m]);
    const sub = join(h, "late");
    mkdirSync(sub);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "lxt-late", sub]);
    mounts.push(sub);
    writeFileSync(join(sub, "hello"), "from the host\n");
    assert.equal(inside(n, "cat /mnt/inject/late/hello"), "from the host\n");
    // Without a container path: LXC's /dev/.lxc-mounts.
    assert.equal(inside(m, "cat /dev/.lxc-mounts/late/hello"), "from the host\n");
    // A mount made inside stays inside (the container's copy is a slave).
    inside(n, "mount -t tmpfs none /mnt/inject/mine && touch /mnt/inject/mine/x");
    assert.ok(!existsSync(join(h, "mine", "x")));
    assert.ok(!readFileSync("/proc/self/mountinfo", "utf8").includes(`${h}/mine `));
    box.ok(["stop", "-n", n]);
    box.ok(["stop", "-n", m]);
  });
});
