import assert from "node:assert/strict";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { progressLine } from "../../src/cli/progress.js";
import { splitCommand } from "../../src/config/values.js";
import { LxtError } from "../../src/core/errors.js";
import {
  cacheKey,
  DEBIAN_CONFIG,
  DEBIAN_IMAGE_FORMAT,
  DEBIAN_INCLUDE,
  DEBIAN_NETWORKD_TEXT,
  debianOptions,
  hostMirror,
  parseDebianArgs,
} from "../../src/images/debian.js";
import {
  checkLayerType,
  chooseManifest,
  type OciDescriptor,
  ociConfigLines,
  parseImageConfig,
  parseIndex,
  quoteWord,
} from "../../src/images/oci.js";
import { mergeLayer } from "../../src/images/oci-apply.js";
import { explainNoSpace, isNoSpace } from "../../src/storage/space.js";

const D = (
  arch?: string,
  mediaType = "application/vnd.oci.image.manifest.v1+json",
): OciDescriptor => ({
  mediaType,
  digest: `sha256:${"a".repeat(64)}`,
  size: 1,
  ...(arch ? { platform: { architecture: arch, os: "linux" } } : {}),
});

describe("oci", () => {
  test("index: bad digests and empty lists are refused", () => {
    assert.throws(() => parseIndex('{"schemaVersion":2,"manifests":[]}', "x"), /no manifests/);
    assert.throws(
      () => parseIndex('{"schemaVersion":2,"manifests":[{"digest":"md5:00","size":1}]}', "x"),
      /sha256 only/,
    );
    assert.throws(() => parseIndex("nope", "x"), /not JSON/);
  });

  test("the manifest for this architecture, or the only unlabelled one", () => {
    assert.equal(
      chooseManifest([D("arm64"), D("amd64")], "amd64", "x").platform?.architecture,
      "amd64",
    );
    assert.equal(chooseManifest([D()], "amd64", "x").platform, undefined);
    assert.throws(
      () => chooseManifest([D("s390x")], "amd64", "x"),
      /no manifest for linux\/amd64 \(offered: s390x\)/,
    );
  });

  test("layer media types: tar, gzip, zstd, docker's; others refused", () => {
    for (const t of [
      "application/vnd.oci.image.layer.v1.tar",
      "application/vnd.oci.image.layer.v1.tar+gzip",
      "application/vnd.oci.image.layer.v1.tar+zstd",
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ]) {
      checkLayerType(D(undefined, t), "x");
    }
    assert.throws(
      () => checkLayerType(D(undefined, "application/json"), "x"),
      /unsupported media type/,
    );
  });

  test("config: entrypoint + cmd quoted for lxc.init.cmd, env, cwd, user by name", () => {
    const rc = parseImageConfig(
      JSON.stringify({
        architecture: "amd64",
        config: {
          Entrypoint: ["/bin/sh", "-c"],
          Cmd: ["echo it's $HOME"],
          Env: ["A=1", "B=x y"],
          WorkingDir: "/srv",
          User: "app",
        },
      }),
      "x",
    );
    const lines = ociConfigLines(rc, { passwd: "app:x:1000:1001::/:/bin/sh\n" }, "x");
    const cmd = lines.find(([k]) => k === "lxc.init.cmd")?.[1] ?? "";
    assert.deepEqual(splitCommand(cmd), ["/bin/sh", "-c", "echo it's $HOME"]);
    assert.deepEqual(
      lines.filter(([k]) => k !== "lxc.init.cmd"),
      [
        ["lxc.environment", "A=1"],
        ["lxc.environment", "B=x y"],
        ["lxc.init.cwd", "/srv"],
        ["lxc.init.uid", "1000"],
        ["lxc.init.gid", "1001"],
      ],
    );
    assert.deepEqual(
      ociConfigLines({ ...rc, user: "7:app" }, { group: "app:x:42:\n" }, "x").slice(-2),
      [
        ["lxc.init.uid", "7"],
        ["lxc.init.gid", "42"],
      ],
    );
    assert.throws(
      () => ociConfigLines({ ...rc, user: "nobody" }, {}, "x"),
      /not in the image's \/etc\/passwd/,
    );
    assert.throws(() => ociConfigLines({ ...rc, workingDir: "rel" }, {}, "x"), /not absolute/);
    assert.throws(() => quoteWord("a\nb"), /newline/);
  });

  test("mergeLayer: whiteouts, opaque directories, a symlink replaced not followed", async () => {
    const t = mkdtempSync(join(tmpdir(), "lxt-merge-"));
    try {
      const root = join(t, "root");
      const layer = join(t, "layer");
      const outside = join(t, "outside");
      for (const d of [root, layer, outside, join(root, "op"), join(root, "keep")]) mkdirSync(d);
      writeFileSync(join(root, "gone"), "x");
      writeFileSync(join(root, "op", "old"), "x");
      writeFileSync(join(root, "keep", "a"), "a");
      symlinkSync(outside, join(root, "link"));
      for (const d of ["op", "keep", "link", "new"]) mkdirSync(join(layer, d));
      writeFileSync(join(layer, ".wh.gone"), "");
      writeFileSync(join(layer, "op", ".wh..wh..opq"), "");
      writeFileSync(join(layer, "op", "fresh"), "f");
      writeFileSync(join(layer, "keep", "b"), "b");
      writeFileSync(join(layer, "link", "pwned"), "p");
      writeFileSync(join(layer, "new", ".wh.nothing"), "");
      await mergeLayer(layer, root);
      assert.deepEqual(readdirSync(root).sort(), ["keep", "link", "new", "op"]);
      assert.deepEqual(readdirSync(join(root, "op")), ["fresh"]);
      assert.deepEqual(readdirSync(join(root, "keep")).sort(), ["a", "b"]);
      assert.deepEqual(readdirSync(join(root, "new")), []);
      assert.deepEqual(readdirSync(outside), []);
      assert.equal(readFileSync(join(root, "link", "pwned"), "utf8"), "p");
      assert.throws(() => readlinkSync(join(root, "link")));
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  });
});

describe("debian", () => {
  test("mirror from the host's apt sources (deb822 and one-line), security skipped", () => {
    assert.equal(
      hostMirror([
        {
          name: "/etc/apt/sources.list.d/debian.sources",
          text: "Types: deb\nURIs: http://deb.debian.org/debian-security\n\nTypes: deb\nURIs: http://mirror.example/debian/\n",
        },
      ]),
      "http://mirror.example/debian",
    );
    assert.equal(
      hostMirror([
        {
          name: "/etc/apt/sources.list",
          text: "deb [arch=amd64] http://ftp.de.debian.org/debian bookworm main\n",
        },
      ]),
      "http://ftp.de.debian.org/debian",
    );
    assert.equal(hostMirror([]), "http://deb.debian.org/debian");
  });

  test("options: defaults, checks, template arguments, cache key", () => {
    const o = debianOptions({ mirror: "http://m/debian/" });
    assert.equal(o.suite, "bookworm");
    assert.equal(o.variant, "minbase");
    assert.equal(o.mirror, "http://m/debian");
    assert.equal(cacheKey(o), `debian-bookworm-minbase-${o.arch}-f${DEBIAN_IMAGE_FORMAT}`);
    assert.throws(() => debianOptions({ suite: "../x" }), /bad suite/);
    assert.throws(() => debianOptions({ variant: "huge" }), /unknown variant/);
    assert.throws(() => debianOptions({ mirror: "ftp://x" }), /bad mirror/);
    assert.deepEqual(
      parseDebianArgs(["--suite", "trixie", "--variant=minbase", "-r"].slice(0, 3)),
      {
        suite: "trixie",
        variant: "minbase",
      },
    );
    assert.deepEqual(parseDebianArgs(["--release=sid"]), { suite: "sid" });
    assert.throws(() => parseDebianArgs(["--nope"]), /unknown argument/);
    assert.throws(() => parseDebianArgs(["--arch"]), /needs a value/);
  });

  test("networking: a veth on lxtbr0, DHCP by networkd, DNS by resolved, format 2", () => {
    assert.ok(DEBIAN_IMAGE_FORMAT >= 2, "format 1 trees have no DHCP: not reused");
    const cfg = new Map(DEBIAN_CONFIG);
    assert.equal(cfg.get("lxc.net.0.type"), "veth");
    assert.equal(cfg.get("lxc.net.0.link"), "lxtbr0");
    assert.equal(cfg.get("lxc.net.0.flags"), "up");
    assert.equal(cfg.get("lxc.signal.halt"), "SIGRTMIN+3");
    assert.ok(DEBIAN_INCLUDE.includes("systemd-resolved"));
    assert.ok(!DEBIAN_INCLUDE.includes("ifupdown"), "one network manager");
    assert.match(DEBIAN_NETWORKD_TEXT, /^Name=eth\* en\*$/m);
    assert.match(DEBIAN_NETWORKD_TEXT, /^DHCP=yes$/m);
    assert.match(DEBIAN_NETWORKD_TEXT, /^IPv6AcceptRA=yes$/m);
  });
});

describe("failure helpers and progress", () => {
  test("a full disk is recognised in errno codes and in command stderr", () => {
    assert.ok(isNoSpace(Object.assign(new Error("x"), { code: "ENOSPC" })));
    assert.ok(
      isNoSpace(
        new LxtError("system", "cp -a a b: cp: error writing 'b/x': No space left on device"),
      ),
    );
    assert.ok(!isNoSpace(new Error("EACCES")));
    const e = explainNoSpace(new Error("No space left on device"), "copy a to b", tmpdir());
    assert.ok(e instanceof LxtError && e.code === "no-space");
    assert.match(
      (e as LxtError).message,
      /^copy a to b: no space left on the filesystem of .* free of/,
    );
    const other = new Error("x");
    assert.equal(explainNoSpace(other, "w", "/"), other);
  });

  test("progress: silent off a terminal, one redrawn line on one, cleared at the end", () => {
    const written: string[] = [];
    const fake = { isTTY: true, columns: 30, write: (s: string) => written.push(s) };
    const off = progressLine({}, { ...fake, isTTY: false } as unknown as NodeJS.WriteStream);
    off.report("x");
    off.end();
    const json = progressLine({ format: "json" }, fake as unknown as NodeJS.WriteStream);
    json.report("x");
    assert.deepEqual(written, []);
    const on = progressLine({}, fake as unknown as NodeJS.WriteStream);
    on.report("unpacking a very long name that will not fit", 0.5);
    on.end();
    assert.equal(written.length, 2);
    assert.ok((written[0] ?? "").startsWith("\r\x1b[Klxt: unpacking"));
    assert.ok((written[0] ?? "").length <= 29 + 4);
    assert.equal(written[1], "\r\x1b[K");
  });
});

describe("debian image cache", () => {
  test("a cached tarball is used only when its sha256 matches its manifest", async () => {
    const { verifiedCache } = await import("../../src/images/debian.js");
    const { createHash } = await import("node:crypto");
    const dir = mkdtempSync(join(tmpdir(), "lxt-cache-"));
    try {
      const key = "debian-x-minbase-amd64-f1";
      writeFileSync(join(dir, `${key}.tar.zst`), "tree");
      const sha = createHash("sha256").update("tree").digest("hex");
      writeFileSync(join(dir, `${key}.json`), JSON.stringify({ key, sha256: sha }));
      assert.equal((await verifiedCache(dir, key))?.sha256, sha);
      writeFileSync(join(dir, `${key}.tar.zst`), "tampered");
      assert.equal(await verifiedCache(dir, key), undefined);
      assert.equal(await verifiedCache(dir, "debian-other-minbase-amd64-f1"), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("data movers die with the CLI", () => {
  test("cp/tar/unshare/btrfs run under setpriv --pdeathsig KILL; other commands as they are", async () => {
    const { diesWithParent } = await import("../../src/host/runner.js");
    const { existsSync } = await import("node:fs");
    assert.deepEqual(diesWithParent("ip", ["link"]), ["ip", ["link"]]);
    const [file, argv] = diesWithParent("cp", ["-a", "x", "y"]);
    if (existsSync("/usr/bin/setpriv")) {
      assert.equal(file, "/usr/bin/setpriv");
      assert.deepEqual(argv, ["--pdeathsig", "KILL", "--", "cp", "-a", "x", "y"]);
    } else {
      assert.deepEqual([file, argv], ["cp", ["-a", "x", "y"]]);
    }
  });
});
