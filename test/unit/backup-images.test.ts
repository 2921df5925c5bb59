import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  type BackupManifest,
  extractTransforms,
  parseManifest,
  renderManifest,
} from "../../src/container/backup-manifest.js";
import { rewriteConfig } from "../../src/container/clone.js";
import { cleanStaleStaging, makeStaging } from "../../src/container/staging.js";
import { LxtError } from "../../src/core/errors.js";
import {
  checkAlias,
  hostArchitecture,
  type ImageMeta,
  parseImageMeta,
  parseLxdMetadata,
  resolveImage,
} from "../../src/images/metadata.js";
import {
  compressionArgs,
  compressionFromName,
  detectCompression,
} from "../../src/storage/archive.js";
import { testContext } from "./support/context.js";

const tmp = mkdtempSync(join(tmpdir(), "lxt-unit-backup-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const manifest: BackupManifest = {
  format: 1,
  lxt: "0.1.0",
  name: "c1",
  backend: "btrfs",
  dir: "/var/lib/lxt/c1",
  created: "2026-11-28T00:00:00.000Z",
  snapshots: [
    { name: "snap0", dir: "/var/lib/lxt/c1/snaps/snap0", backend: "btrfs", ts: "t", comment: "c" },
  ],
};

describe("backup manifest", () => {
  it("round-trips through render and parse", () => {
    assert.deepEqual(parseManifest(renderManifest(manifest), "f"), manifest);
  });
  it("refuses what is not ours, with the file named", () => {
    for (const bad of [
      "",
      "[]",
      "{}",
      JSON.stringify({ ...manifest, backend: "lvm" }),
      JSON.stringify({ ...manifest, dir: "rel" }),
      JSON.stringify({ ...manifest, snapshots: [{ name: "../x", dir: "/a", backend: "dir" }] }),
    ]) {
      assert.throws(
        () => parseManifest(bad, "b.tar"),
        (e: unknown) => e instanceof LxtError && /import b\.tar: not an lxt backup/.test(e.message),
        bad,
      );
    }
  });
  it("refuses a newer format as unsupported", () => {
    assert.throws(
      () => parseManifest(JSON.stringify({ ...manifest, format: 99 }), "f"),
      (e: unknown) => e instanceof LxtError && e.code === "unsupported",
    );
  });
  it("transforms only trees that land elsewhere, escaping the regex", () => {
    assert.deepEqual(
      extractTransforms([
        { archive: "rootfs", target: "rootfs" },
        { archive: "snaps/snap0/rootfs", target: "snaps/snap0/overlay/delta" },
      ]),
      ["--transform=s,^snaps/snap0/rootfs\\(/\\|$\\),snaps/snap0/overlay/delta\\1,S"],
    );
  });
  it("GNU tar applies the transform to names and hard links, not symlink targets", () => {
    const src = join(tmp, "src");
    mkdirSync(join(src, "rootfs/etc"), { recursive: true });
    writeFileSync(join(src, "rootfs/etc/a"), "a");
    execFileSync("ln", [join(src, "rootfs/etc/a"), join(src, "rootfs/etc/b")]);
    execFileSync("ln", ["-s", "rootfs/etc/a", join(src, "rootfs/link")]);
    const tar = join(tmp, "t.tar");
    execFileSync("tar", ["-cf", tar, "-C", src, "rootfs"]);
    const dst = join(tmp, "dst");
    mkdirSync(dst);
    const [t = ""] = extractTransforms([{ archive: "rootfs", target: "overlay/delta" }]);
    execFileSync("tar", ["-xf", tar, t, "-C", dst]);
    assert.equal(readFileSync(join(dst, "overlay/delta/etc/b"), "utf8"), "a");
    assert.equal(
      execFileSync("readlink", [join(dst, "overlay/delta/link")], { encoding: "utf8" }).trim(),
      "rootfs/etc/a",
    );
    assert.equal(
      execFileSync("stat", ["-c", "%h", join(dst, "overlay/delta/etc/a")], {
        encoding: "utf8",
      }).trim(),
      "2",
    );
  });
});

describe("archives", () => {
  it("detects compressions by magic number", () => {
    assert.equal(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0])), "xz");
    assert.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), "zstd");
    assert.equal(detectCompression(Buffer.from([0x1f, 0x8b, 8])), "gzip");
    assert.equal(detectCompression(Buffer.from("BZh9")), "bzip2");
    assert.equal(detectCompression(Buffer.from("index.json")), "none");
    assert.equal(detectCompression(Buffer.alloc(0)), "none");
  });
  it("picks a compression from the file name", () => {
    assert.equal(compressionFromName("a.tar.xz"), "xz");
    assert.equal(compressionFromName("a.tar.zst"), "zstd");
    assert.equal(compressionFromName("a.tgz"), "gzip");
    assert.equal(compressionFromName("a.tar"), "none");
    assert.equal(compressionFromName("a.backup"), undefined);
    assert.deepEqual(compressionArgs("zstd", "read"), ["--zstd"]);
    assert.deepEqual(compressionArgs("xz", "create"), ["-I", "xz -T0"]);
    assert.deepEqual(compressionArgs("none", "create"), []);
  });
  it("removes staging directories whose claim is gone, and only those", async () => {
    const root = join(tmp, "state");
    const ctx = testContext();
    const mine = await makeStaging(ctx, root, "import");
    assert.match(mine.dir, /\/\.lxt-import-[0-9a-f]{12}$/);
    assert.ok(ctx.locks.held.has(`${mine.dir}.lock`), "claimed before it was made");
    // A worker that was killed: its directory and lock file, no one holding the lock.
    mkdirSync(join(root, ".lxt-export-abcd"));
    writeFileSync(join(root, ".lxt-export-abcd.lock"), "");
    mkdirSync(join(root, ".lxt-image-1x"));
    writeFileSync(join(root, ".lxt-build-ef01.lock"), "");
    assert.deepEqual(await cleanStaleStaging(ctx, root), [".lxt-export-abcd"]);
    assert.deepEqual(readdirSync(root).sort(), [
      ".lxt-image-1x",
      mine.dir.slice(root.length + 1),
      `${mine.dir.slice(root.length + 1)}.lock`,
    ]);
    await mine.release();
    assert.deepEqual(readdirSync(root), [".lxt-image-1x"]);
    assert.equal(ctx.locks.held.size, 0, "every claim ended");
  });

  it("keep ends the claim and leaves the directory, which the next sweep removes", async () => {
    const root = join(tmp, "kept");
    const ctx = testContext();
    const kept = await makeStaging(ctx, root, "migrate");
    writeFileSync(join(kept.dir, "image"), "x");
    await kept.keep();
    assert.equal(ctx.locks.held.size, 0, "the claim ended");
    assert.deepEqual(readdirSync(kept.dir), ["image"]);
    await kept.release();
    assert.ok(
      readdirSync(root).includes(kept.dir.slice(root.length + 1)),
      "release after keep is a no-op",
    );
    assert.deepEqual(await cleanStaleStaging(ctx, root), [kept.dir.slice(root.length + 1)]);
    assert.deepEqual(readdirSync(root), []);
  });
});

describe("config rewriting for an import", () => {
  const text = [
    "lxc.rootfs.path = btrfs:/old/c1/rootfs",
    "lxc.uts.name = c1",
    "lxc.net.0.hwaddr = 00:16:3e:00:00:01",
    "lxc.console.logfile = /old/c1/console.log",
    "",
  ].join("\n");
  it("keeps MAC addresses under the same name, moves paths", () => {
    const out = rewriteConfig(text, {
      rootfs: "dir:/new/c1/rootfs",
      fromDir: "/old/c1",
      toDir: "/new/c1",
      keepHwaddr: true,
    });
    assert.match(out, /^lxc\.rootfs\.path = dir:\/new\/c1\/rootfs$/m);
    assert.match(out, /^lxc\.net\.0\.hwaddr = 00:16:3e:00:00:01$/m);
    assert.match(out, /^lxc\.console\.logfile = \/new\/c1\/console\.log$/m);
    assert.match(out, /^lxc\.uts\.name = c1$/m);
  });
  it("a new name gets its own hostname and MAC", () => {
    const out = rewriteConfig(text, {
      rootfs: "dir:/new/c2/rootfs",
      fromDir: "/old/c1",
      toDir: "/new/c2",
      hostname: "c2",
    });
    assert.match(out, /^lxc\.uts\.name = c2$/m);
    assert.doesNotMatch(out, /00:16:3e:00:00:01/);
  });
});

const fp = (c: string) => c.repeat(64);
const img = (f: string, aliases: string[]): ImageMeta => ({
  fingerprint: f,
  aliases,
  created: "",
  architecture: "x86_64",
  description: "",
  source: "",
  backend: "dir",
  config: [],
});

describe("image metadata", () => {
  it("parses LXD's metadata.yaml", () => {
    const m = parseLxdMetadata(
      "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  os: debian\n  release: bookworm\n",
      "i.tar",
    );
    assert.deepEqual(m, {
      architecture: "x86_64",
      created: "2023-11-14T22:13:20.000Z",
      description: "debian bookworm",
      properties: { os: "debian", release: "bookworm" },
    });
    assert.equal(
      parseLxdMetadata("architecture: a\nproperties:\n  description: D\n", "f").description,
      "D",
    );
    assert.throws(() => parseLxdMetadata("properties: {}\n", "f"), /no architecture/);
    assert.throws(() => parseLxdMetadata("a: [\n", "f"), /metadata\.yaml/);
  });
  it("reads a store metadata.json, refusing a bad fingerprint", () => {
    const m = parseImageMeta(JSON.stringify({ fingerprint: fp("a"), aliases: ["x", 1] }), "m");
    assert.deepEqual(m.aliases, ["x"]);
    assert.ok(m.config.length > 0, "default config");
    assert.throws(() => parseImageMeta(JSON.stringify({ fingerprint: "zz" }), "m"), /fingerprint/);
  });
  it("resolves aliases first, then unique fingerprint prefixes", () => {
    const list = [img(fp("a"), ["deb"]), img(`ab${fp("c").slice(2)}`, ["bb"]), img(fp("b"), [])];
    assert.equal(resolveImage(list, "bb").fingerprint, list[1]?.fingerprint);
    assert.equal(resolveImage(list, "bbb").fingerprint, fp("b"));
    assert.equal(resolveImage(list, "deb").fingerprint, fp("a"));
    assert.throws(() => resolveImage(list, "a"), /ambiguous/);
    assert.throws(
      () => resolveImage(list, "zzz"),
      (e: unknown) => e instanceof LxtError && e.code === "not-found",
    );
  });
  it("checks aliases and names the host architecture as LXD", () => {
    assert.equal(checkAlias("debian/12"), "debian/12");
    assert.throws(() => checkAlias("-x"), /bad image alias/);
    assert.throws(() => checkAlias("a b"), /bad image alias/);
    assert.equal(hostArchitecture("x64"), "x86_64");
    assert.equal(hostArchitecture("arm64"), "aarch64");
  });
});
