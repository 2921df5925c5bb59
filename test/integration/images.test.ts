/**
 * Backups and images, per backend (dir, and btrfs on a loop image):
 * export/import round trip with snapshots (owners, modes, xattrs, hard
 * links, device nodes, setuid compared before and after), import under a
 * new name, a damaged tarball that leaves nothing, a stale staging
 * directory cleaned by the next command; images imported from a rootfs
 * tarball and LXD's layout, `launch`, delete while containers use them.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type BtrfsLoop,
  backendSandbox,
  btrfsSkip,
  hasCmd,
  type Sandbox,
  skipReason,
} from "./harness.js";

const baseSkip =
  skipReason() ??
  (!hasCmd("getfattr") || !hasCmd("zstd")
    ? "SKIP: no getfattr/zstd (scripts/setup.sh installs attr and zstd)"
    : undefined);
if (baseSkip) console.log(baseSkip);

const sh = (cmd: string, ...args: string[]) =>
  execFileSync("sh", ["-c", cmd, "lxt-test", ...args], { encoding: "utf8" });

/** Everything the round trip must keep, for a rootfs tree. */
function fingerprint(root: string): string {
  return [
    sh('cd "$1" && find . -printf "%m %U %G %n %s %y %p\\n" | LC_ALL=C sort', root),
    sh('cd "$1" && getfattr -h -d -m - root/xattr root/suid dev/lxtnull 2>/dev/null', root),
    sh('cd "$1" && stat -c "%F %t:%T %a %u:%g %h %i" dev/lxtnull root/suid', root).replace(
      / \d+\n/g,
      "\n",
    ),
    sh('cd "$1" && stat -c "%i" root/hl1 root/hl2 | uniq | wc -l', root),
  ].join("---\n");
}

/** Special files a rootfs must keep: a device node, a hard link pair, a user xattr, a setuid file, a sparse file, other owners. */
function decorate(root: string): void {
  sh(
    [
      'cd "$1"',
      "mknod dev/lxtnull c 1 3",
      "echo pair > root/hl1 && ln root/hl1 root/hl2",
      "echo x > root/xattr && setfattr -n user.lxt -v kept root/xattr",
      "cp bin/busybox root/suid && chmod 4750 root/suid && chown 0:12 root/suid",
      "chown 1234:5678 root/hl1",
      "truncate -s 64M root/sparse && echo end >> root/sparse",
    ].join(" && "),
    root,
  );
}

const BACKENDS = [
  { name: "dir", skip: undefined as string | undefined },
  { name: "btrfs", skip: btrfsSkip() },
];

for (const backend of BACKENDS) {
  const skip = baseSkip ?? backend.skip;
  if (backend.skip) console.log(`images ${backend.name}: ${backend.skip}`);
  describe(`backups and images: ${backend.name}`, { skip, timeout: 180_000 }, () => {
    let box: Sandbox;
    let loop: BtrfsLoop | undefined;
    let c: string;
    const timings: string[] = [];
    const timed = <T>(what: string, fn: () => T): T => {
      const t0 = performance.now();
      const r = fn();
      timings.push(`${what} ${Math.round(performance.now() - t0)} ms`);
      return r;
    };
    const rootfs = (n: string, snap?: string) =>
      snap ? join(box.lxcpath, n, "snaps", snap, "rootfs") : join(box.lxcpath, n, "rootfs");
    const files = () => join(box.lxcpath, "lxt-files");
    const leftovers = () => readdirSync(box.lxcpath).filter((e) => e.startsWith(".lxt-"));

    before(() => {
      ({ box, loop } = backendSandbox(backend.name));
      mkdirSync(files());
      c = box.name("bk");
      box.ok(["create", "-n", c, "-t", "busybox", "-B", backend.name]);
      decorate(rootfs(c));
    });
    after(() => {
      try {
        box?.cleanup();
        execFileSync("rm", ["-rf", files()]);
      } finally {
        loop?.close();
        if (timings.length) console.log(`images ${backend.name}: ${timings.join(", ")}`);
      }
    });

    test("export/import round trip keeps the rootfs and snapshots exactly", () => {
      const before0 = fingerprint(rootfs(c));
      box.ok(["snapshot", "-n", c]);
      writeFileSync(join(rootfs(c), "root/after"), "later\n");
      const beforeNow = fingerprint(rootfs(c));
      const tarball = join(files(), "c.tar.zst");
      timed("export", () => box.ok(["export", c, tarball]));
      const list = execFileSync("tar", ["-tf", tarball], { encoding: "utf8" }).split("\n");
      assert.equal(list[0], "index.json", "the manifest comes first");
      const n = box.name("imp");
      timed("import", () => box.ok(["import", tarball, n]));
      // Imported under a new name: only /etc/hostname differs (its own name, as a copy).
      const noHostname = (f: string) => f.replace(/^.* f \.\/etc\/hostname\n/m, "");
      assert.equal(noHostname(fingerprint(rootfs(n))), noHostname(beforeNow));
      assert.equal(readFileSync(join(rootfs(n), "etc/hostname"), "utf8"), `${n}\n`);
      assert.equal(fingerprint(rootfs(n, "snap0")), before0, "the snapshot as it was");
      assert.ok(existsSync(join(box.lxcpath, n, "snaps", "snap0", "ts")));
      const cfg = readFileSync(join(box.lxcpath, n, "config"), "utf8");
      assert.match(cfg, new RegExp(`^lxc\\.rootfs\\.path = ${backend.name}:${rootfs(n)}$`, "m"));
      assert.match(cfg, new RegExp(`^lxc\\.uts\\.name = ${n}$`, "m"));
      assert.match(
        readFileSync(join(box.lxcpath, n, "snaps", "snap0", "config"), "utf8"),
        new RegExp(`= ${backend.name}:${rootfs(n, "snap0")}$`, "m"),
      );
      box.ok(["start", "-n", n]);
      assert.equal(box.ok(["attach", "-n", n, "--", "hostname"]).trim(), n);
      assert.equal(box.ok(["attach", "-n", n, "--", "cat", "/root/after"]).trim(), "later");
      box.ok(["stop", "-k", "-n", n]);
      box.ok(["destroy", "-s", "-n", n]);
      // Under its own name, back where it was: the same config.
      const same = join(files(), "same.tar");
      box.ok(["export", "-n", c, same, "--compression", "none"]);
      const cfgC = readFileSync(join(box.lxcpath, c, "config"), "utf8");
      box.ok(["snapshot", "-n", c, "-d", "snap0"]);
      box.ok(["destroy", "-n", c]);
      box.ok(["import", same]);
      assert.equal(readFileSync(join(box.lxcpath, c, "config"), "utf8"), cfgC);
      assert.equal(fingerprint(rootfs(c)), beforeNow);
      assert.deepEqual(leftovers(), []);
    });

    // On a btrfs state root an overlay's layers are different subvolumes of one
    // filesystem, so its merged view reports colliding inode numbers (overlayfs
    // keeps the real ones when all layers share a superblock): known limitation.
    const overlaySkip = backend.name === "btrfs" ? "SKIP: overlay over btrfs subvolumes" : false;
    test("an overlay is exported as its merged view, imported on another backend", {
      skip: overlaySkip,
    }, () => {
      const o = box.name("ov");
      box.ok(["copy", "-n", c, "-N", o, "-s", "-B", "overlay"]);
      writeFileSync(join(box.lxcpath, o, "overlay/delta/etc/upper"), "up\n");
      const out = join(files(), "ov.tar.xz");
      box.ok(["export", o, out]);
      const o2 = box.name("ov");
      box.ok(["import", out, o2, "-B", backend.name]);
      // Beside the two files, only the size of /etc (on btrfs, the sum of its names) may differ.
      const strip = (f: string) =>
        f.replace(/^.* (\.\/etc\/hostname|\.\/etc\/upper|d \.\/etc)\n/gm, "");
      assert.equal(strip(fingerprint(rootfs(o2))), strip(fingerprint(rootfs(c))));
      assert.equal(readFileSync(join(rootfs(o2), "etc/upper"), "utf8"), "up\n");
      box.ok(["destroy", "-n", o2]);
      box.ok(["destroy", "-n", o]);
      assert.deepEqual(leftovers(), []);
    });

    test("a running container: export refused unless the backend snapshots atomically", () => {
      box.ok(["start", "-n", c]);
      const out = join(files(), "live.tar.zst");
      const r = box.lxt(["export", c, out]);
      if (backend.name === "btrfs") {
        assert.equal(r.code, 0, r.stderr);
        assert.ok(existsSync(out));
      } else {
        assert.equal(r.code, 1);
        assert.match(r.stderr, /RUNNING.*stop it first/);
        assert.ok(!existsSync(out), "nothing written");
      }
      box.ok(["stop", "-k", "-n", c]);
      assert.deepEqual(leftovers(), []);
    });

    test("a damaged tarball gives a clear error and leaves nothing; stale staging is cleaned", () => {
      const good = join(files(), "same.tar");
      const cut = join(files(), "cut.tar");
      sh('head -c 2000000 "$1" > "$2"', good, cut);
      const n = box.name("cut");
      const r = box.lxt(["import", cut, n]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /import .*cut\.tar: .*(Unexpected EOF|truncated)/);
      assert.doesNotMatch(r.stderr, /import .*import/);
      assert.ok(!existsSync(join(box.lxcpath, n)));
      assert.deepEqual(leftovers(), []);
      const junk = join(files(), "junk.tar");
      writeFileSync(junk, "not a tarball\n");
      assert.match(box.lxt(["import", junk, n]).stderr, /not a readable lxt backup/);
      // A killed import leaves its staging directory: the next import removes it.
      mkdirSync(join(box.lxcpath, ".lxt-import-999999999-dead", "rootfs"), { recursive: true });
      box.ok(["import", good, n]);
      assert.deepEqual(leftovers(), []);
      box.ok(["destroy", "-s", "-n", n]);
    });

    test("images: rootfs tarball and LXD layout, launch, delete while in use", () => {
      const tarball = join(files(), "rootfs.tar.xz");
      sh('tar -C "$1" --numeric-owner --xattrs -cJf "$2" .', rootfs(c), tarball);
      const fp = timed("image import", () =>
        box.ok(["image", "import", tarball, "--alias", "lxt-bb"]),
      );
      assert.match(fp, /image imported: [0-9a-f]{64}/);
      assert.match(box.ok(["image", "import", tarball]), /already stored/);
      const l = box.name("l");
      timed("launch", () => box.ok(["launch", "lxt-bb", l]));
      assert.equal(box.ok(["attach", "-n", l, "--", "cat", "/etc/hostname"]).trim(), l);
      box.ok(["stop", "-k", "-n", l]);
      const cfg = readFileSync(join(box.lxcpath, l, "config"), "utf8");
      assert.match(cfg, new RegExp(`^lxc\\.rootfs\\.path = ${backend.name}:`, "m"));
      // LXD's split layout: metadata tarball + rootfs tarball.
      const meta = join(files(), "meta");
      mkdirSync(meta);
      writeFileSync(
        join(meta, "metadata.yaml"),
        "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  description: lxt test\n",
      );
      sh('tar -C "$1" -cJf "$1.tar.xz" metadata.yaml', meta);
      box.ok(["image", "import", `${meta}.tar.xz`, tarball, "--alias", "lxt-lxd"]);
      const images = JSON.parse(box.ok(["image", "list", "--format", "json"]));
      assert.equal(images.length, 2);
      const lxd = JSON.parse(box.ok(["image", "show", "lxt-lxd"]));
      assert.equal(lxd.description, "lxt test");
      assert.equal(lxd.backend, backend.name, "stored as a subvolume on btrfs");
      // Overlay containers depend on their image; others are independent copies, as in LXD.
      const o = box.name("ov");
      box.ok(["create", "-n", o, "-t", "lxt-lxd", "-B", "overlay"]);
      assert.match(box.lxt(["image", "delete", "lxt-lxd"]).stderr, new RegExp(`${o}.*based on it`));
      box.ok(["destroy", "-n", o]);
      box.ok(["image", "delete", "lxt-lxd", "lxt-bb"]);
      assert.deepEqual(JSON.parse(box.ok(["image", "list", "--format", "json"])), []);
      box.ok(["start", "-n", l]);
      assert.equal(box.ok(["attach", "-n", l, "--", "hostname"]).trim(), l);
      box.ok(["stop", "-k", "-n", l]);
      box.ok(["destroy", "-n", l]);
      assert.match(
        box.lxt(["launch", "lxt-bb", l]).stderr,
        /unknown template "lxt-bb", and no image/,
      );
      assert.ok(!existsSync(join(box.lxcpath, l)));
      if (loop) {
        const subvols = execFileSync("btrfs", ["subvolume", "list", loop.mnt], {
          encoding: "utf8",
        });
        assert.doesNotMatch(subvols, /images/, "image subvolumes gone");
      }
      assert.deepEqual(
        readdirSync(join(box.lxcpath, "images")).filter((e) => e.startsWith(".")),
        [],
      );
    });
  });
}
