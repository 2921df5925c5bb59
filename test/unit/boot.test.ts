import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";

const DIST = join(import.meta.dirname, "..", "..", "dist");
const built = existsSync(join(DIST, "lxt-main.cjs.cache"));

/** dist/lxt.cjs: the code cache only ever saves time; a missing or bad one changes nothing. */
describe("boot loader", { skip: built ? false : "SKIP: dist not built (npm run build)" }, () => {
  const version = (dir: string) =>
    execFileSync(process.execPath, [join(dir, "lxt.cjs"), "--version"], { encoding: "utf8" });

  test("the cache written by the build belongs to the bundle beside it", () => {
    const st = statSync(join(DIST, "lxt-main.cjs"));
    const head = execFileSync("head", ["-c", "80", join(DIST, "lxt-main.cjs.cache")], {
      encoding: "latin1",
    }).split("\n")[0];
    assert.equal(head, `lxt-code-cache ${st.size} ${st.mtimeMs}`);
    assert.match(version(DIST), /^lxt \d/);
  });

  test("no cache, a stale one, or a corrupt one: the bundle is compiled as usual", () => {
    const dir = mkdtempSync(join(tmpdir(), "lxt-boot-"));
    try {
      for (const f of ["lxt.cjs", "lxt-main.cjs"]) copyFileSync(join(DIST, f), join(dir, f));
      const expected = version(DIST);
      assert.equal(version(dir), expected, "no cache");
      copyFileSync(join(DIST, "lxt-main.cjs.cache"), join(dir, "lxt-main.cjs.cache"));
      assert.equal(version(dir), expected, "a cache stamped for another build of the bundle");
      const st = statSync(join(dir, "lxt-main.cjs"));
      writeFileSync(
        join(dir, "lxt-main.cjs.cache"),
        Buffer.concat([
          Buffer.from(`lxt-code-cache ${st.size} ${st.mtimeMs}\n`),
          Buffer.alloc(4096, 7),
        ]),
      );
      assert.equal(version(dir), expected, "a corrupt cache with the right stamp");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("LXT_PHASES=1: the phases on stderr, in order, the output unchanged", () => {
    const run = (env: NodeJS.ProcessEnv) =>
      spawnSync(process.execPath, [join(DIST, "lxt.cjs"), "--version"], {
        encoding: "utf8",
        env: { ...process.env, ...env },
      });
    const plain = run({ LXT_PHASES: undefined });
    assert.equal(plain.stderr, "", "no switch, no phases");
    const traced = run({ LXT_PHASES: "1" });
    assert.equal(traced.status, 0);
    assert.equal(traced.stdout, plain.stdout);
    const lines = traced.stderr.trimEnd().split("\n");
    const marks = lines.map((l) => {
      const m = /^lxt-phase (\d+\.\d{3}) (.+)$/.exec(l);
      assert.ok(m, `a phase line: ${l}`);
      return { at: Number(m[1]), name: m[2] as string };
    });
    const names = marks.map((m) => m.name.replace(/ \(code cache rejected\)$/, ""));
    assert.deepEqual(names, [
      "node:start",
      "node:v8 started",
      "node:environment",
      "node:bootstrapped",
      "loader",
      "bundle read",
      "bundle compiled",
      "bundle loaded",
      "verb registered",
      "exit",
    ]);
    for (let i = 1; i < marks.length; i++) {
      assert.ok(
        (marks[i]?.at ?? 0) >= (marks[i - 1]?.at ?? 0),
        `${names[i]} after ${names[i - 1]}`,
      );
    }
    const now = Date.now();
    assert.ok(Math.abs(now - (marks.at(-1)?.at ?? 0)) < 60_000, "epoch milliseconds");
  });
});
