import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
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

  /** A copy of the build in a temporary directory, with a general cache of its own. */
  const copyOfDist = (): string => {
    const dir = mkdtempSync(join(tmpdir(), "lxt-boot-"));
    for (const f of ["lxt.cjs", "lxt-main.cjs"]) copyFileSync(join(DIST, f), join(dir, f));
    execFileSync(process.execPath, [join(dir, "lxt.cjs"), "--help"], {
      env: { ...process.env, LXT_WRITE_CODE_CACHE: "1" },
    });
    return dir;
  };
  const runIn = (dir: string, root: string, args: string[]) =>
    spawnSync(process.execPath, [join(dir, "lxt.cjs"), ...args], {
      encoding: "utf8",
      env: { ...process.env, LXT_PATH: root, LXT_PHASES: "1" },
    });
  const header = (file: string) =>
    readFileSync(file).subarray(0, 80).toString("latin1").split("\n")[0];

  test("a verb learns its own cache once, from its first run that succeeds", () => {
    const dir = copyOfDist();
    const root = mkdtempSync(join(tmpdir(), "lxt-boot-root-"));
    try {
      const general = join(dir, "lxt-main.cjs.cache");
      const failed = runIn(dir, root, ["info", "-n", "nothere"]);
      assert.equal(failed.status, 1, failed.stderr);
      assert.ok(!existsSync(join(dir, "lxt-main.cjs.info.cache")), "a failed run learns nothing");

      const own = join(dir, "lxt-main.cjs.ls.cache");
      const first = runIn(dir, root, ["ls"]);
      assert.equal(first.status, 0, first.stderr);
      assert.ok(existsSync(own), "ls learnt its cache");
      assert.equal(header(own), header(general), "stamped for the same bundle");
      assert.ok(statSync(own).size > statSync(general).size, "it holds more than the general one");
      const learnt = statSync(own);

      const second = runIn(dir, root, ["ls"]);
      assert.equal(second.status, 0, second.stderr);
      assert.equal(second.stdout, first.stdout);
      assert.match(second.stderr, /^lxt-phase \S+ bundle compiled$/m, "V8 took the learnt cache");
      const now = statSync(own);
      assert.deepEqual([now.ino, now.mtimeMs], [learnt.ino, learnt.mtimeMs], "learnt once");
      assert.deepEqual(
        readdirSync(dir).filter((f) => f.endsWith(".tmp")),
        [],
        "no temporary file left",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("`metrics` is answered by its own entry, which learns its own cache; the rest goes to the verb", () => {
    const dir = copyOfDist();
    copyFileSync(join(DIST, "lxt-metrics.cjs"), join(dir, "lxt-metrics.cjs"));
    const root = mkdtempSync(join(tmpdir(), "lxt-boot-root-"));
    try {
      const cache = join(dir, "lxt-metrics.cjs.cache");
      const first = runIn(dir, root, ["metrics"]);
      assert.equal(first.status, 0, first.stderr);
      assert.match(first.stdout, /^lxd_instances\{project="default",type="container"\} 0$/m);
      assert.match(first.stdout, /^# EOF\n$/m);
      assert.doesNotMatch(first.stderr, /bundle read/, "the CLI bundle was not loaded");
      assert.ok(existsSync(cache), "the entry learnt its cache");
      const learnt = statSync(cache);
      const second = runIn(dir, root, ["metrics", "-P", root]);
      assert.equal(second.status, 0, second.stderr);
      assert.equal(second.stdout, first.stdout);
      const now = statSync(cache);
      assert.deepEqual([now.ino, now.mtimeMs], [learnt.ino, learnt.mtimeMs], "learnt once");

      const help = runIn(dir, root, ["metrics", "--help"]);
      assert.equal(help.status, 0, help.stderr);
      assert.match(help.stdout, /^Usage: lxt metrics/m);
      assert.match(help.stderr, /bundle read/, "--help went to the verb");
      const missing = runIn(dir, root, ["metrics", "nosuch"]);
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /^lxt: metrics nosuch: no such container/m);
      assert.equal(missing.stdout, "");
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("the bundle makes no dynamic import(): the loader's vm.Script cannot serve one", async () => {
    // esbuild turns import() of a bundled module into a require; one of a
    // built-in or an external stays, and fails only when that path runs.
    for (const file of ["lxt-main.cjs", "lxt-metrics.cjs"]) {
      const bundle = readFileSync(join(DIST, file), "utf8");
      const calls = bundle.match(/(?<![\w$.])import\s*\([^)]*\)/g) ?? [];
      assert.deepEqual(calls, [], file);
    }
    const { Script } = await import("node:vm");
    const tried = new Script('import("node:os")').runInThisContext() as Promise<unknown>;
    await assert.rejects(tried, { code: "ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING" });
  });

  test("a cache that cannot be written changes nothing", () => {
    const dir = copyOfDist();
    const root = mkdtempSync(join(tmpdir(), "lxt-boot-root-"));
    try {
      mkdirSync(join(dir, "lxt-main.cjs.ls.cache")); // where the learnt file would go
      const r = runIn(dir, root, ["ls"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "");
      assert.doesNotMatch(r.stderr, /^lxt: /m);
      assert.ok(statSync(join(dir, "lxt-main.cjs.ls.cache")).isDirectory());
      assert.deepEqual(
        readdirSync(dir).filter((f) => f.endsWith(".tmp")),
        [],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
    }
  });
});
