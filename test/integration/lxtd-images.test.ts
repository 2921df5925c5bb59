/**
 * Images and storage through lxtd with the stock `lxc`: LXD's split and
 * unified images built here from a busybox rootfs (no network), imported,
 * aliased, listed, launched, edited, exported byte for byte and deleted;
 * the built-in busybox image refused as a delete target; a damaged upload
 * that leaves nothing; the storage pool and its volumes.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason();
if (skip) console.log(skip);

const sha256 = (...files: string[]) => {
  const h = createHash("sha256");
  for (const f of files) h.update(readFileSync(f));
  return h.digest("hex");
};

interface ImageRow {
  fingerprint: string;
  aliases: { name: string }[];
  properties: Record<string, string>;
  public: boolean;
  size: number;
}

describe("lxtd images and storage with the stock client", { skip, timeout: 240_000 }, () => {
  let box: LxtdSandbox;
  let files: string;
  const images = () => JSON.parse(box.lxcOk(["image", "list", "--format", "json"])) as ImageRow[];
  const byAlias = (a: string) => images().find((i) => i.aliases.some((x) => x.name === a));

  before(async () => {
    box = new LxtdSandbox();
    files = join(box.lxcpath, "lxt-files");
    mkdirSync(join(files, "meta"), { recursive: true });
    mkdirSync(join(files, "unified"));
    // LXD's two layouts, from the rootfs of a busybox container.
    const src = box.name("src");
    box.ok(["create", "-n", src, "-t", "busybox"]);
    const rootfs = join(box.lxcpath, src, "rootfs");
    writeFileSync(join(rootfs, "etc", "lxt-image"), "from an LXD image\n");
    const yaml =
      "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  description: lxt busybox\n  os: busybox\n  release: test\n";
    writeFileSync(join(files, "meta", "metadata.yaml"), yaml);
    const tar = (args: string[]) => execFileSync("tar", args);
    tar(["-C", join(files, "meta"), "-cJf", join(files, "meta.tar.xz"), "metadata.yaml"]);
    tar(["-C", rootfs, "--numeric-owner", "-cJf", join(files, "rootfs.tar.xz"), "."]);
    writeFileSync(join(files, "unified", "metadata.yaml"), yaml.replace("test", "unified"));
    tar([
      "-C",
      join(files, "unified"),
      "--numeric-owner",
      "-cJf",
      join(files, "unified.tar.xz"),
      "metadata.yaml",
      `--transform=s,^\\.,rootfs,`,
      "-C",
      rootfs,
      ".",
    ]);
    box.ok(["destroy", "-n", src]);
    await box.startDaemon();
  });
  after(async () => {
    await box?.close();
  });

  test("split image: import with an alias, list, info, launch, export byte for byte, delete", () => {
    const meta = join(files, "meta.tar.xz");
    const rootfs = join(files, "rootfs.tar.xz");
    const out = box.lxcOk(["image", "import", meta, rootfs, "--alias", "lxt-split"]);
    const fp = sha256(meta, rootfs);
    assert.match(out, new RegExp(`fingerprint: ${fp}`), "LXD's fingerprint: metadata then rootfs");
    const img = byAlias("lxt-split");
    assert.equal(img?.fingerprint, fp);
    assert.equal(img?.properties.os, "busybox", "metadata.yaml's properties");
    assert.equal(img?.size, readFileSync(meta).length + readFileSync(rootfs).length);
    assert.match(box.lxcOk(["image", "info", "lxt-split"]), /^\s+release: test$/m);
    // The CLI sees the same store.
    assert.match(box.ok(["image", "list"]), new RegExp(`^lxt-split\\s+${fp.slice(0, 12)}`, "m"));

    const c = box.name("imgl");
    box.lxcOk(["launch", "lxt-split", c]);
    assert.match(box.ok(["ls", "-f"]), new RegExp(`^${c}\\s+RUNNING`, "m"));
    assert.equal(
      readFileSync(join(box.lxcpath, c, "rootfs", "etc", "lxt-image"), "utf8"),
      "from an LXD image\n",
    );
    box.lxcOk(["delete", "-f", c]);

    const dest = join(files, "export-split");
    mkdirSync(dest);
    box.lxcOk(["image", "export", "lxt-split", `${dest}/`]);
    assert.deepEqual(readdirSync(dest).sort(), ["meta.tar.xz", "rootfs.tar.xz"]);
    assert.equal(sha256(join(dest, "meta.tar.xz"), join(dest, "rootfs.tar.xz")), fp);

    const again = box.lxc(["image", "import", meta, rootfs]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /Image with same fingerprint already exists/);

    box.lxcOk(["image", "delete", "lxt-split"]);
    assert.equal(byAlias("lxt-split"), undefined);
    assert.ok(!readdirSync(join(box.lxcpath, "images")).includes(fp), "its files gone");
  });

  test("unified image: import, aliases (create, rename, delete), edit, export", () => {
    const file = join(files, "unified.tar.xz");
    box.lxcOk(["image", "import", file, "--alias", "lxt-uni"]);
    const fp = sha256(file);
    assert.equal(byAlias("lxt-uni")?.fingerprint, fp);
    assert.equal(byAlias("lxt-uni")?.properties.release, "unified");

    box.lxcOk(["image", "alias", "create", "lxt-uni2", fp.slice(0, 12)]);
    const taken = box.lxc(["image", "alias", "create", "lxt-uni2", fp]);
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr, /already exists/);
    box.lxcOk(["image", "alias", "rename", "lxt-uni2", "lxt-uni3"]);
    const aliases = box.lxcOk(["image", "alias", "list", "--format", "csv"]);
    assert.match(aliases, new RegExp(`^lxt-uni3,${fp.slice(0, 12)},`, "m"));
    assert.doesNotMatch(aliases, /^lxt-uni2,/m);
    box.lxcOk(["image", "alias", "delete", "lxt-uni3"]);
    assert.deepEqual(
      byAlias("lxt-uni")?.aliases.map((a) => a.name),
      ["lxt-uni"],
    );

    const shown = box.lxcOk(["image", "show", "lxt-uni"]);
    box.lxcOk(["image", "edit", "lxt-uni"], {
      input: shown.replace("public: false", "public: true").replace("os: busybox", "os: tiny"),
    });
    assert.equal(byAlias("lxt-uni")?.public, true);
    assert.equal(byAlias("lxt-uni")?.properties.os, "tiny");
    // The client drops unknown YAML fields itself; a raw PATCH reaches the server.
    const bad = box.lxc(["query", "-X", "PATCH", `/1.0/images/${fp}`, "--data", '{"color":"red"}']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Unknown image field "color"/);

    const dest = join(files, "export-uni");
    mkdirSync(dest);
    box.lxcOk(["image", "export", "lxt-uni", `${dest}/`]);
    assert.deepEqual(readdirSync(dest), ["unified.tar.xz"]);
    assert.equal(sha256(join(dest, "unified.tar.xz")), fp);
    box.lxcOk(["image", "delete", fp]);
    assert.equal(byAlias("lxt-uni"), undefined);
  });

  test("refusals: the built-in image, an image the CLI imported, a damaged upload", () => {
    const del = box.lxc(["image", "delete", "busybox"]);
    assert.notEqual(del.code, 0);
    assert.match(del.stderr, /built-in busybox image cannot be deleted/);
    assert.ok(byAlias("busybox"), "still there");
    const alias = box.lxc(["image", "alias", "delete", "busybox"]);
    assert.notEqual(alias.code, 0);
    assert.match(alias.stderr, /cannot be changed/);

    box.ok(["image", "import", join(files, "rootfs.tar.xz"), "--alias", "lxt-cli"]);
    const dest = join(files, "export-cli");
    mkdirSync(dest);
    const ex = box.lxc(["image", "export", "lxt-cli", `${dest}/`]);
    assert.notEqual(ex.code, 0);
    assert.match(ex.stderr, /original files are not kept/);
    assert.deepEqual(readdirSync(dest), [], "no partial files");
    box.lxcOk(["image", "delete", "lxt-cli"]);

    const junk = join(files, "junk.tar.xz");
    writeFileSync(junk, Buffer.alloc(4096, 7));
    const before0 = readdirSync(join(box.lxcpath, "images")).sort();
    const r = box.lxc(["image", "import", junk, "--alias", "lxt-junk"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /image import/);
    assert.deepEqual(readdirSync(join(box.lxcpath, "images")).sort(), before0, "nothing stored");
    assert.deepEqual(readdirSync(join(box.lxcpath, ".lxtd", "uploads")), [], "upload removed");
    assert.equal(byAlias("lxt-junk"), undefined);
  });

  test("storage: the default pool, its volumes, and no other pool", () => {
    const c = box.name("vol");
    box.ok(["create", "-n", c, "-t", "busybox"]);
    const list = box.lxcOk(["storage", "list", "--format", "csv"]);
    assert.match(list, new RegExp(`^default,(dir|btrfs),${box.lxcpath},`, "m"));
    const show = box.lxcOk(["storage", "show", "default"]);
    assert.match(show, new RegExp(`^  source: ${box.lxcpath}$`, "m"));
    assert.match(show, new RegExp(`^- /1.0/instances/${c}$`, "m"));
    assert.match(box.lxcOk(["storage", "info", "default"]), /^\s+total space: /m);
    const vols = box.lxcOk(["storage", "volume", "list", "default", "--format", "csv"]);
    assert.match(vols, new RegExp(`^container,${c},`, "m"));
    const made = box.lxc(["storage", "create", "other", "dir"]);
    assert.notEqual(made.code, 0);
    assert.match(made.stderr, /one storage pool, "default"/);
    const missing = box.lxc(["storage", "show", "other"]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /not found/i);
    box.ok(["destroy", "-n", c]);
  });
});
