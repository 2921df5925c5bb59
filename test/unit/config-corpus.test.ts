import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../../src/config/index.js";
import { LxtError } from "../../src/core/errors.js";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/configs");
const OPTS = { cgroupLayout: "v2" as const, env: { HOME: "/root" }, arch: "x86_64" };

function confFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".conf"))
    .sort()
    .map((f) => path.join(dir, f));
}

describe("malformed configs (test/fixtures/configs/bad)", () => {
  const files = confFiles(path.join(FIXTURES, "bad"));

  it("has at least 25 cases", () => {
    assert.ok(files.length >= 25, `only ${files.length} files`);
  });

  for (const file of files) {
    it(path.basename(file), () => {
      // First line: "# expect: LINE SUBSTRING".
      const header = /^# expect: (\d+) (.+)$/.exec(readFileSync(file, "utf8").split("\n")[0] ?? "");
      assert.ok(header, `${file}: missing "# expect: LINE SUBSTRING" header`);
      const [, line, substring] = header as unknown as [string, string, string];
      assert.throws(
        () => loadConfig(file, OPTS),
        (err: unknown) => {
          assert.ok(err instanceof LxtError, `not an LxtError: ${String(err)}`);
          assert.equal(err.code, "config");
          assert.ok(err.message.startsWith(`${file}:${line}: `), `wrong place: ${err.message}`);
          assert.ok(
            err.message.includes(substring),
            `message lacks "${substring}": ${err.message}`,
          );
          return true;
        },
      );
    });
  }
});

describe("good configs (test/fixtures/configs/good)", () => {
  for (const file of confFiles(path.join(FIXTURES, "good"))) {
    it(path.basename(file), () => {
      const cfg = loadConfig(file, OPTS);
      assert.ok(cfg.entries.length > 0);
    });
  }

  it("busybox.conf resolves like the lxc-busybox template intends", () => {
    const cfg = loadConfig(path.join(FIXTURES, "good/busybox.conf"), OPTS);
    assert.equal(cfg.utsName, "bb");
    assert.deepEqual(cfg.signals, { halt: 10, reboot: 15, stop: 9 });
    assert.deepEqual(cfg.mountAuto, {
      cgroup: { mode: "mixed", full: false, force: false },
      proc: "mixed",
      sys: "ro",
    });
    assert.equal(cfg.mountEntries.length, 4);
    assert.deepEqual(cfg.warnings, []);
    assert.deepEqual(
      cfg.nets.map((n) => [n.index, n.type, n.up]),
      [[0, "empty", true]],
    );
  });

  it("full.conf resolves with no warnings", () => {
    const cfg = loadConfig(path.join(FIXTURES, "good/full.conf"), OPTS);
    assert.deepEqual(cfg.warnings, []);
  });

  it("lists-and-clears.conf ends with only what follows each clear", () => {
    const cfg = loadConfig(path.join(FIXTURES, "good/lists-and-clears.conf"), OPTS);
    assert.deepEqual(cfg.environment, ["B=2"]);
    assert.deepEqual(
      cfg.mountEntries.map((m) => m.source),
      ["/b"],
    );
    assert.deepEqual(cfg.nets, []);
    assert.deepEqual(cfg.prlimits, []);
  });
});

describe("LXC's own config files", () => {
  const dir = "/usr/share/lxc/config";
  const files = existsSync(dir) ? confFiles(dir) : [];

  it("are Debian 12's lxc files", {
    skip: files.length === 0 ? `SKIP: ${dir} not found (install lxc to run these)` : false,
  }, () => {
    const names = files.map((f) => path.basename(f));
    for (const n of ["common.conf", "nesting.conf", "oci.common.conf", "userns.conf"])
      assert.ok(names.includes(n), `${n} in ${names}`);
  });

  for (const file of files) {
    // Every `lxc.KEY = VALUE` line of the file but its includes (expanded in
    // place, not entries), read here with a plain regex.
    const lines = readFileSync(file, "utf8")
      .split("\n")
      .map((l, i) => ({ m: /^\s*(lxc\.[^\s=]+)\s*=\s*(.*?)\s*$/.exec(l), line: i + 1 }))
      .filter((x) => x.m && x.m[1] !== "lxc.include")
      .map((x) => `${x.line} ${x.m?.[1]} = ${x.m?.[2]}`);
    for (const cgroupLayout of ["v1", "hybrid", "v2"] as const) {
      it(`${path.basename(file)} on a ${cgroupLayout} host: every line is an entry, in order`, () => {
        const cfg = loadConfig(file, { ...OPTS, cgroupLayout });
        assert.deepEqual(
          cfg.entries.filter((e) => e.file === file).map((e) => `${e.line} ${e.key} = ${e.value}`),
          lines,
        );
      });
    }
  }

  it("common.conf then userns.conf: userns clears the cgroup device rules and caps", (t) => {
    if (!existsSync(`${dir}/common.conf`) || !existsSync(`${dir}/userns.conf`)) {
      t.skip(`SKIP: ${dir}/common.conf or userns.conf not found`);
      return;
    }
    const text = `lxc.include = ${dir}/common.conf\nlxc.include = ${dir}/userns.conf\n`;
    const fs = {
      readFile: (f: string) => (f === "/virtual/config" ? text : readFileSync(f, "utf8")),
      stat: (f: string) => (f === "/virtual/config" ? { isDirectory: () => false } : statSync(f)),
      readdir: (d: string) => readdirSync(d),
    };
    const cfg = loadConfig("/virtual/config", { ...OPTS, fs });
    assert.equal(cfg.ttyDir, undefined);
    assert.equal(cfg.mountAuto.sys, "rw");
    assert.equal(cfg.mountAuto.proc, "mixed");
    assert.deepEqual(cfg.warnings, []);
    // userns.conf's empty lxc.cap.drop clears common.conf's drops (and lxt's defaults).
    assert.equal(cfg.security.dropCleared, true);
    assert.deepEqual(cfg.security.capDrop, []);
    assert.match(cfg.security.seccompProfile?.path ?? "", /common\.seccomp$/);
  });
});
