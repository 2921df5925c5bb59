/**
 * OCI image layouts the test writes itself (no registry): two layers, the
 * first an uncompressed tar, the second gzip with a whiteout, an opaque
 * directory and an attempt to write through a symlink out of the rootfs;
 * imported as a directory and as a tarball, digests verified (a damaged
 * blob leaves nothing), and a container made from it runs the config's
 * Entrypoint/Cmd with its Env, WorkingDir and User.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ociArchitecture } from "../../src/images/oci.js";
import { Sandbox, skipReason, until } from "./harness.js";

const skip = skipReason();
if (skip) console.log(skip);

function sha(file: string): { digest: string; size: number } {
  const b = readFileSync(file);
  return { digest: `sha256:${createHash("sha256").update(b).digest("hex")}`, size: b.length };
}

/** Writes `bytes` as a blob of `layout`; returns its descriptor fields. */
function blob(layout: string, file: string): { digest: string; size: number } {
  const d = sha(file);
  execFileSync("cp", [file, join(layout, "blobs", "sha256", d.digest.slice(7))]);
  return d;
}

/** Builds an OCI layout in `work`: returns its path and the outside target that must stay empty. */
function buildLayout(work: string): { layout: string; outside: string } {
  const outside = join(work, "outside");
  mkdirSync(outside);
  const l1 = join(work, "l1");
  const l2 = join(work, "l2");
  for (const d of ["bin", "etc", "home/app", "opaque", "tmp"])
    mkdirSync(join(l1, d), { recursive: true });
  execFileSync("cp", ["/bin/busybox", join(l1, "bin/busybox")]);
  for (const a of ["sh", "sleep", "cat", "id", "ls"]) symlinkSync("busybox", join(l1, "bin", a));
  writeFileSync(
    join(l1, "etc/passwd"),
    "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
  );
  writeFileSync(join(l1, "etc/group"), "root:x:0:\napp:x:1001:\n");
  writeFileSync(join(l1, "keep.txt"), "kept\n");
  writeFileSync(join(l1, "gone.txt"), "whited out\n");
  writeFileSync(join(l1, "opaque/old.txt"), "hidden by the opaque marker\n");
  symlinkSync(outside, join(l1, "link"));
  execFileSync("chown", ["1000:1001", join(l1, "home/app")]);
  execFileSync("chmod", ["1777", join(l1, "tmp")]);
  for (const d of ["opaque", "link"]) mkdirSync(join(l2, d), { recursive: true });
  writeFileSync(join(l2, ".wh.gone.txt"), "");
  writeFileSync(join(l2, "opaque/.wh..wh..opq"), "");
  writeFileSync(join(l2, "opaque/new.txt"), "new\n");
  writeFileSync(join(l2, "link/pwned"), "must not leave the rootfs\n");
  writeFileSync(join(l2, "keep.txt"), "kept, changed\n");

  const layout = join(work, "layout");
  mkdirSync(join(layout, "blobs", "sha256"), { recursive: true });
  const t1 = join(work, "l1.tar");
  const t2 = join(work, "l2.tar.gz");
  execFileSync("tar", ["-c", "-f", t1, "--numeric-owner", "-C", l1, "."]);
  execFileSync("sh", ["-c", 'tar -c --numeric-owner -C "$1" . | gzip -n > "$2"', "x", l2, t2]);
  const b1 = blob(layout, t1);
  const b2 = blob(layout, t2);
  const config = join(work, "config.json");
  writeFileSync(
    config,
    JSON.stringify({
      architecture: ociArchitecture(),
      os: "linux",
      config: {
        Entrypoint: ["/bin/sh", "-c"],
        Cmd: ['echo "$GREETING it\'s $(id -u):$(id -g) in $(pwd)" > /tmp/out; exec sleep 1000'],
        Env: ["PATH=/bin", "GREETING=hello oci"],
        WorkingDir: "/home/app",
        User: "app",
      },
      rootfs: { type: "layers", diff_ids: [] },
    }),
  );
  const bc = blob(layout, config);
  const manifest = join(work, "manifest.json");
  writeFileSync(
    manifest,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...bc },
      layers: [
        { mediaType: "application/vnd.oci.image.layer.v1.tar", ...b1 },
        { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...b2 },
      ],
    }),
  );
  const bm = blob(layout, manifest);
  writeFileSync(join(layout, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...bm,
          platform: { architecture: "s390x", os: "linux" },
        },
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...bm,
          platform: { architecture: ociArchitecture(), os: "linux" },
        },
      ],
    }),
  );
  return { layout, outside };
}

describe("oci image layouts", { skip, timeout: 120_000 }, () => {
  let box: Sandbox;
  let work: string;
  let layout: string;
  let outside: string;
  before(() => {
    box = new Sandbox();
    work = mkdtempSync(join(tmpdir(), "lxt-oci-"));
    ({ layout, outside } = buildLayout(work));
  });
  after(() => {
    box?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const storeEntries = () => readdirSync(join(box.lxcpath, "images"));

  test("a damaged blob is refused and leaves nothing", () => {
    const bad = join(work, "bad");
    execFileSync("cp", ["-a", layout, bad]);
    const blobs = join(bad, "blobs", "sha256");
    // The largest blob is the uncompressed layer: flip its last byte.
    const big = readdirSync(blobs)
      .map((n) => join(blobs, n))
      .sort((a, b) => readFileSync(b).length - readFileSync(a).length)[0] as string;
    const buf = readFileSync(big);
    buf[buf.length - 1] = (buf[buf.length - 1] ?? 0) ^ 0xff;
    writeFileSync(big, buf);
    const r = box.lxt(["image", "import", bad]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /damaged/);
    assert.deepEqual(storeEntries(), []);
  });

  test("a tarball of the layout imports; whiteouts, opaque dirs and the symlink outside", () => {
    const tarball = join(work, "layout.tar");
    execFileSync("tar", ["-c", "-f", tarball, "-C", layout, "."]);
    const out = box.ok(["image", "import", "--alias", "ocit", tarball]);
    assert.match(out, /image imported/);
    const meta = JSON.parse(box.ok(["image", "show", "ocit"]));
    const root = join(box.lxcpath, "images", meta.fingerprint, "rootfs");
    assert.equal(readFileSync(join(root, "keep.txt"), "utf8"), "kept, changed\n");
    assert.equal(existsSync(join(root, "gone.txt")), false, "whiteout applied");
    assert.deepEqual(readdirSync(join(root, "opaque")), ["new.txt"], "opaque dir emptied first");
    assert.deepEqual(readdirSync(outside), [], "nothing written through the symlink");
    assert.equal(readFileSync(join(root, "link/pwned"), "utf8"), "must not leave the rootfs\n");
    assert.equal(
      readdirSync(root).filter((n) => n.startsWith(".wh.") || n.startsWith(".lxt-")).length,
      0,
    );
    const cfg = Object.fromEntries(meta.config.filter(([k]: string[]) => k !== "lxc.environment"));
    assert.equal(cfg["lxc.init.cwd"], "/home/app");
    assert.equal(cfg["lxc.init.uid"], "1000");
    assert.equal(cfg["lxc.init.gid"], "1001");
    box.ok(["image", "delete", "ocit"]);
  });

  test("a layout directory imports and its container runs the config's command", async () => {
    const out = box.ok(["image", "import", "--alias", "ocid", layout]);
    assert.match(out, /image imported/);
    const c = box.name("oci");
    box.ok(["launch", "ocid", c]);
    const outFile = join(box.lxcpath, c, "rootfs", "tmp", "out");
    assert.ok(
      await until(() => existsSync(outFile) && readFileSync(outFile, "utf8").length > 0, 15_000),
    );
    assert.equal(readFileSync(outFile, "utf8"), "hello oci it's 1000:1001 in /home/app\n");
    const env = box.ok(["attach", "-n", c, "--", "cat", "/proc/1/environ"]).split("\0");
    assert.ok(env.includes("GREETING=hello oci"), env.join(" "));
    box.ok(["stop", "-n", c, "-t", "5"]);
    box.ok(["destroy", "-n", c]);
    box.ok(["image", "delete", "ocid"]);
    assert.deepEqual(storeEntries(), []);
  });
});
