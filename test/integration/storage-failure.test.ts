/**
 * Storage failures: a full disk (a small loop-mounted ext4 as the target
 * state root) during copy, import and create gives a `no-space` error
 * naming the operation and the filesystem and leaves nothing; a missing
 * image leaves nothing; a copy and an import killed with SIGKILL mid-way are
 * cleaned up by the next `ls`, which says so, and their `cp`/`tar` die with
 * the CLI.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { exitWithin, hasCmd, Sandbox, skipReason, until } from "./harness.js";

const skip =
  skipReason() ??
  (!hasCmd("mkfs.ext4") || !hasCmd("losetup") ? "SKIP: no mkfs.ext4/losetup" : undefined);
if (skip) console.log(skip);

/** A 48 MiB ext4 on a loop device, mounted under a temp dir. */
class SmallFs {
  readonly dir = mkdtempSync(join(tmpdir(), "lxt-small-"));
  readonly mnt = join(this.dir, "mnt");
  dev = "";
  open(): void {
    const img = join(this.dir, "fs.img");
    execFileSync("truncate", ["-s", "48M", img]);
    this.dev = execFileSync("losetup", ["--find", "--show", img], { encoding: "utf8" }).trim();
    execFileSync("mkfs.ext4", ["-q", "-m", "0", this.dev]);
    mkdirSync(this.mnt);
    execFileSync("mount", [this.dev, this.mnt]);
  }
  close(): void {
    for (let i = 0; i < 50 && spawnSync("umount", [this.mnt]).status !== 0; i++) {
      if (!existsSync(this.mnt) || spawnSync("mountpoint", ["-q", this.mnt]).status !== 0) break;
      spawnSync("sleep", ["0.1"]);
    }
    if (this.dev) spawnSync("losetup", ["-d", this.dev]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Entries of a state root other than lxt's own bookkeeping (lost+found, lock files). */
function leftovers(root: string): string[] {
  return readdirSync(root).filter((n) => n !== "lost+found" && n !== "images");
}

describe("storage failures", { skip, timeout: 240_000 }, () => {
  let box: Sandbox;
  let small: SmallFs;
  let smallBox: Sandbox;
  let c: string;
  let work: string;
  before(() => {
    box = new Sandbox();
    small = new SmallFs();
    small.open();
    smallBox = new Sandbox(small.mnt);
    work = mkdtempSync(join(tmpdir(), "lxt-fail-"));
    c = box.name("big");
    box.ok(["create", "-n", c, "-t", "busybox", "-B", "dir"]);
    // 64 MiB of incompressible data: more than the small filesystem holds.
    execFileSync("dd", [
      "if=/dev/urandom",
      `of=${join(box.lxcpath, c, "rootfs", "root", "blob")}`,
      "bs=1M",
      "count=64",
      "status=none",
    ]);
  });
  after(() => {
    smallBox?.cleanup();
    small?.close();
    box?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("copy onto a full filesystem: no-space naming it, nothing left", () => {
    const n = smallBox.name("full");
    const r = box.lxt(["copy", "-n", c, "-N", n, "-p", small.mnt]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`copy ${c} to ${n}: no space left on the filesystem of ${small.mnt} \\(`),
    );
    assert.deepEqual(leftovers(small.mnt), []);
  });

  test("import onto a full filesystem: no-space, nothing left", () => {
    const file = join(work, "big.tar.zst");
    box.ok(["export", c, file]);
    const r = smallBox.lxt(["import", file, smallBox.name("imp")]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /no space left on the filesystem of/);
    assert.deepEqual(leftovers(small.mnt), []);
  });

  test("create on a filesystem with no room: no-space, nothing left", () => {
    const filler = join(small.mnt, "filler");
    spawnSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=1M", "status=none"]);
    try {
      const r = smallBox.lxt(["create", "-n", smallBox.name("cr"), "-t", "busybox", "-B", "dir"]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /create lxtcr-\w+: no space left on the filesystem of/);
      assert.deepEqual(
        leftovers(small.mnt).filter((n) => n !== "filler"),
        [],
      );
    } finally {
      rmSync(filler, { force: true });
    }
  });

  test("a missing image: not-found, nothing made", () => {
    const n = box.name("noimg");
    const r = box.lxt(["create", "-n", n, "-t", "no-such-image"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown template "no-such-image", and no image by that alias/);
    const l = box.lxt(["launch", "no-such-image", n]);
    assert.equal(l.code, 1);
    assert.equal(existsSync(join(box.lxcpath, n)), false);
  });

  test("a copy killed with SIGKILL is removed by the next ls, which says so", async () => {
    // 400 MiB more, so the copy runs long enough to be killed in the middle.
    execFileSync("dd", [
      "if=/dev/urandom",
      `of=${join(box.lxcpath, c, "rootfs", "root", "blob2")}`,
      "bs=1M",
      "count=400",
      "status=none",
    ]);
    const n = box.name("killed");
    const child = box.spawn(["copy", "-n", c, "-N", n]);
    const marker = join(box.lxcpath, n, ".lxt-incomplete");
    assert.ok(await until(() => existsSync(marker), 20_000), "the copy started");
    child.kill("SIGKILL");
    await exitWithin(child, 5000);
    assert.ok(existsSync(marker), "killed mid-way: still marked incomplete");
    // cp dies with the CLI (PR_SET_PDEATHSIG), so nothing keeps writing.
    assert.ok(
      await until(
        () => !execFileSync("ps", ["-eo", "args="], { encoding: "utf8" }).includes(`${n}/rootfs`),
        5000,
      ),
      "cp went with the CLI",
    );
    const r = box.lxt(["ls"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`removed incomplete container ${n} \\(copy of ${c} by pid \\d+, which died\\)`),
    );
    assert.equal(existsSync(join(box.lxcpath, n)), false);
    assert.ok(!r.stdout.includes(n));
    rmSync(join(box.lxcpath, c, "rootfs", "root", "blob2"));
  });

  test("an import killed with SIGKILL leaves a staging directory the next ls removes", async () => {
    const file = join(work, "big.tar.zst");
    if (!existsSync(file)) box.ok(["export", c, file]);
    const child = box.spawn(["import", file, box.name("kimp")]);
    const staging = () => readdirSync(box.lxcpath).filter((e) => e.startsWith(".lxt-import-"));
    assert.ok(await until(() => staging().length > 0, 20_000), "the import started");
    child.kill("SIGKILL");
    await exitWithin(child, 5000);
    const r = box.lxt(["ls"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /removed stale staging directory \.lxt-import-/);
    assert.deepEqual(staging(), []);
  });

  test("a copy in progress is not touched by a concurrent ls", async () => {
    const n = box.name("live");
    const child = box.spawn(["copy", "-n", c, "-N", n]);
    const marker = join(box.lxcpath, n, ".lxt-incomplete");
    const seen = await until(() => existsSync(marker), 20_000);
    const r = box.lxt(["ls"]);
    assert.equal(r.code, 0);
    assert.ok(!r.stderr.includes("removed"), r.stderr);
    assert.equal(await exitWithin(child, 60_000), 0);
    assert.ok(seen || existsSync(join(box.lxcpath, n, "config")));
    assert.ok(existsSync(join(box.lxcpath, n, "config")));
    assert.equal(existsSync(marker), false);
  });
});
