import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { debianChangelog, parseChangelog } from "../../scripts/deb/changelog.js";
import { COMMIT, VERSION } from "../../src/core/version.js";

const ROOT = join(import.meta.dirname, "..", "..");
const DIST = join(ROOT, "dist");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
const built = existsSync(join(DIST, "lxt-main.cjs")) && existsSync(join(DIST, "lxtd.cjs"));

describe("version", () => {
  test("is package.json's; unbuilt code knows no commit", () => {
    assert.equal(VERSION, pkg.version);
    assert.equal(COMMIT, "unknown");
  });

  test("lxt --version and lxtd --version name the version and the commit of the build", {
    skip: built ? false : "SKIP: dist not built (npm run build)",
  }, () => {
    for (const prog of ["lxt", "lxtd"]) {
      const out = execFileSync(process.execPath, [join(DIST, `${prog}.cjs`), "--version"], {
        encoding: "utf8",
      });
      const m = new RegExp(`^${prog} (\\S+) \\(commit (\\S+)\\)\\n$`).exec(out);
      assert.ok(m, `${prog} --version: ${out}`);
      assert.equal(m[1], pkg.version);
      const commit = m[2] as string;
      if (commit === "unknown") continue;
      const hash = commit.replace(/-dirty$/, "");
      assert.match(hash, /^[0-9a-f]{12}$/);
      const known = spawnSync("git", ["-C", ROOT, "cat-file", "-e", `${hash}^{commit}`]);
      assert.equal(known.status, 0, `${prog}: ${hash} is a commit of this repository`);
    }
  });

  test("the build id outside a git checkout is unknown, and LXT_COMMIT overrides it", () => {
    const dir = mkdtempSync(join(tmpdir(), "lxt-buildid-"));
    try {
      mkdirSync(join(dir, "scripts"));
      copyFileSync(join(ROOT, "scripts", "build-id.sh"), join(dir, "scripts", "build-id.sh"));
      const run = (env: NodeJS.ProcessEnv) =>
        execFileSync("sh", [join(dir, "scripts", "build-id.sh")], {
          encoding: "utf8",
          env: { ...process.env, GIT_CEILING_DIRECTORIES: tmpdir(), ...env },
        });
      assert.equal(run({ LXT_COMMIT: "" }), '"unknown"');
      assert.equal(run({ LXT_COMMIT: "0123456789ab" }), '"0123456789ab"');
      assert.equal(run({ LXT_COMMIT: 'x"; evil()' }), '"unknown"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("CHANGELOG.md", () => {
  const releases = parseChangelog(readFileSync(join(ROOT, "CHANGELOG.md"), "utf8"));

  test("Unreleased on top, then dated releases, package.json's version among them or unreleased", () => {
    assert.equal(releases[0]?.version, "Unreleased");
    for (const r of releases.slice(1)) {
      assert.match(r.version, /^\d+\.\d+\.\d+/, r.version);
      assert.match(r.date ?? "", /^\d{4}-\d{2}-\d{2}$/, `${r.version} has a date`);
      assert.ok(
        r.sections.every((s) => s.items.length > 0),
        `${r.version}: no empty section`,
      );
    }
    const versions = releases.map((r) => r.version);
    assert.ok(versions.includes(pkg.version), `CHANGELOG.md has a section for ${pkg.version}`);
  });

  test("becomes a Debian changelog that dpkg-parsechangelog reads", (t) => {
    const text = debianChangelog(releases, {
      version: `${pkg.version}+git1.abc`,
      maintainer: "lxt developers <lxt@example.org>",
      buildDate: new Date("2026-12-07T12:00:00Z"),
    });
    assert.match(text, /^lxt \(\d+\.\d+\.\d+\+git1\.abc\) unstable; urgency=medium\n\n {2}\* /);
    assert.ok(text.includes(`lxt (${pkg.version}) unstable`));
    for (const line of text.split("\n")) assert.ok(line.length <= 80, `too long: ${line}`);
    if (spawnSync("which", ["dpkg-parsechangelog"]).status !== 0) {
      t.skip("SKIP: no dpkg-parsechangelog (dpkg-dev)");
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), "lxt-changelog-"));
    try {
      writeFileSync(join(dir, "changelog"), text);
      const all = execFileSync(
        "dpkg-parsechangelog",
        ["-l", join(dir, "changelog"), "--format", "rfc822", "--all"],
        {
          encoding: "utf8",
        },
      );
      const versions = [...all.matchAll(/^Version: (.+)$/gm)].map((m) => m[1]);
      assert.deepEqual(versions, [
        `${pkg.version}+git1.abc`,
        ...releases.slice(1).map((r) => r.version),
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
