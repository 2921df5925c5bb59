/**
 * `lxtd --shared-busybox` (src/container/busybox-base.ts): busybox instances
 * made through the API are overlays over one tree shared by all of them,
 * built once; each has its own hostname and hosts, owns its files inside (the
 * idmapped overlay), and what one writes reaches neither the others nor the
 * shared tree. Deleting them leaves the tree; the CLI's `lxt create -t
 * busybox` on the same state root still makes a tree of its own.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason();
if (skip) console.log(skip);

describe("lxtd --shared-busybox", { skip }, () => {
  let box: LxtdSandbox;
  before(async () => {
    box = new LxtdSandbox();
    await box.startDaemon(["--shared-busybox"]);
  });
  after(async () => {
    await box?.close();
  });

  const rootfsOf = (name: string) =>
    /^lxc\.rootfs\.path = (.*)$/m.exec(
      readFileSync(join(box.lxcpath, name, "config"), "utf8"),
    )?.[1];

  test("instances share one lower, each with its own upper, names and files", () => {
    const [a, b] = [box.name("lxtsba"), box.name("lxtsbb")];
    box.lxcOk(["launch", "busybox", a]);
    box.lxcOk(["launch", "busybox", b]);
    const bases = readdirSync(join(box.lxcpath, ".lxt-bases")).filter((n) => !n.includes("."));
    assert.equal(bases.length, 1, "one shared tree");
    const lower = join(box.lxcpath, ".lxt-bases", bases[0] ?? "", "rootfs");
    assert.equal(rootfsOf(a), `overlayfs:${lower}:${join(box.lxcpath, a, "overlay", "delta")}`);
    assert.equal(rootfsOf(b), `overlayfs:${lower}:${join(box.lxcpath, b, "overlay", "delta")}`);

    for (const n of [a, b]) {
      assert.equal(box.lxcOk(["exec", n, "--", "cat", "/etc/hostname"]).trim(), n);
      assert.match(
        box.lxcOk(["exec", n, "--", "cat", "/etc/hosts"]),
        new RegExp(`127\\.0\\.1\\.1\\s+${n}`),
      );
      // Owned by the container's root inside (an idmapped overlay, nothing shifted on disk).
      assert.equal(
        box.lxcOk(["exec", n, "--", "stat", "-c", "%u:%g", "/bin/busybox", "/etc"]).trim(),
        "0:0\n0:0",
      );
    }
    box.lxcOk([
      "exec",
      a,
      "--",
      "sh",
      "-c",
      "echo mine > /bin/mine && echo changed >> /etc/profile",
    ]);
    assert.equal(box.lxcOk(["exec", a, "--", "cat", "/bin/mine"]).trim(), "mine");
    assert.notEqual(
      box.lxc(["exec", b, "--", "test", "-e", "/bin/mine"]).code,
      0,
      "not in the other",
    );
    assert.doesNotMatch(box.lxcOk(["exec", b, "--", "cat", "/etc/profile"]), /changed/);
    assert.ok(!existsSync(join(lower, "bin", "mine")), "not in the shared tree");
    assert.doesNotMatch(readFileSync(join(lower, "etc", "profile"), "utf8"), /changed/);
    assert.equal(readFileSync(join(lower, "etc", "hostname"), "utf8"), "busybox\n");

    box.lxcOk(["delete", "-f", a, b]);
    assert.ok(!existsSync(join(box.lxcpath, a)) && !existsSync(join(box.lxcpath, b)));
    assert.ok(existsSync(join(lower, "bin", "busybox")), "the tree stays for the next create");
    const c = box.name("lxtsbc");
    box.lxcOk(["launch", "busybox", c]);
    assert.equal(rootfsOf(c), `overlayfs:${lower}:${join(box.lxcpath, c, "overlay", "delta")}`);
    assert.equal(box.lxcOk(["exec", c, "--", "cat", "/etc/hostname"]).trim(), c);
    box.lxcOk(["delete", "-f", c]);
  });

  test("the CLI's busybox on the same state root still gets a tree of its own", () => {
    const n = box.name("lxtsbcli");
    box.ok(["create", "-n", n, "-t", "busybox", "--network", "empty"]);
    assert.equal(rootfsOf(n), `dir:${join(box.lxcpath, n, "rootfs")}`);
    assert.ok(existsSync(join(box.lxcpath, n, "rootfs", "bin", "busybox")));
    box.ok(["destroy", "-n", n]);
  });
});
