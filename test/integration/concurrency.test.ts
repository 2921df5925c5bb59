import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  LXT,
  REPO,
  runtimeLeftovers,
  runtimeRoot,
  Sandbox,
  skipReason,
  testArgs,
} from "./harness.js";

const skip = skipReason();
if (skip) console.log(skip);

function run(
  box: Sandbox,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(LXT, testArgs(args), {
      env: { ...process.env, LXT_PATH: box.lxcpath, ...env },
    });
    let out = "";
    child.stdout.on("data", (b) => {
      out += b;
    });
    child.stderr.on("data", (b) => {
      out += b;
    });
    child.on("exit", (code) => resolve({ code: code ?? -1, out }));
  });
}

describe("20 concurrent commands", { skip, timeout: 120_000 }, () => {
  let box: Sandbox;
  const names: string[] = [];
  before(() => {
    box = new Sandbox();
    for (let i = 0; i < 4; i++) names.push(box.name("conc"));
  });
  after(() => box.cleanup());

  test("creates and starts on different containers run in parallel and all succeed", async () => {
    const creates = await Promise.all(
      names.map((n) => run(box, ["create", "-n", n, "-t", "busybox"])),
    );
    for (const r of creates) assert.equal(r.code, 0, r.out);
    const starts = await Promise.all(names.map((n) => run(box, ["start", "-n", n])));
    for (const r of starts) assert.equal(r.code, 0, r.out);
  });

  test("20 mixed commands at once on one container serialise: exactly one start wins", async () => {
    const [first, ...others] = names as [string, ...string[]];
    await run(box, ["stop", "-n", first, "-k"]);
    const cmds: string[][] = [];
    for (let i = 0; i < 5; i++) cmds.push(["start", "-n", first]);
    for (let i = 0; i < 5; i++) cmds.push(["ls", "-f"]);
    for (let i = 0; i < 5; i++)
      cmds.push(["attach", "-n", others[i % others.length] as string, "--", "true"]);
    for (let i = 0; i < 5; i++) cmds.push(["info", "-n", others[i % others.length] as string]);
    const results = await Promise.all(cmds.map((a) => run(box, a)));
    const startOk = results.slice(0, 5).filter((r) => r.code === 0).length;
    assert.equal(
      startOk,
      1,
      results
        .slice(0, 5)
        .map((r) => r.out)
        .join("\n"),
    );
    for (const r of results.slice(0, 5)) if (r.code !== 0) assert.match(r.out, /RUNNING|STARTING/);
    for (const r of results.slice(5)) assert.equal(r.code, 0, r.out);
    const table = (await run(box, ["ls", "-f"])).out;
    for (const n of names) assert.match(table, new RegExp(`^${n}\\s+RUNNING`, "m"));
  });

  test("stops in parallel; nothing left", async () => {
    const stops = await Promise.all(names.map((n) => run(box, ["stop", "-n", n, "-k"])));
    for (const r of stops) assert.equal(r.code, 0, r.out);
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
  });
});

describe("a held lock", { skip, timeout: 120_000 }, () => {
  let box: Sandbox;
  before(() => {
    box = new Sandbox();
  });
  after(() => box.cleanup());

  /** The lock helpers of this lock file that are running (not zombies). */
  const lockers = (file: string) =>
    execFileSync("ps", ["-eo", "pid=,stat=,args="], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.includes(`lxt-shim lock ${file}`) && !/^\s*\d+\s+Z/.test(l))
      .map((l) => Number(l.trim().split(/\s+/)[0]));

  test("a verb waiting for it gives up after LXT_LOCK_TIMEOUT, names the holder, holds nothing", async () => {
    const c = box.name("lock");
    box.ok(["create", "-n", c, "-t", "busybox"]);
    const file = join(runtimeRoot(box.lxcpath), "locks", c);
    // Another process holds the container's lock, taken as lxt takes it.
    const holder = spawn(join(REPO, "native", "build", "lxt-shim"), ["lock", file]);
    await new Promise<void>((resolve) => holder.stdout.once("data", () => resolve()));
    try {
      const t0 = Date.now();
      const r = await run(box, ["start", "-n", c], { LXT_LOCK_TIMEOUT: "1" });
      const took = Date.now() - t0;
      assert.equal(r.code, 1, r.out);
      assert.match(
        r.out,
        new RegExp(
          `lxt: lock ${c}: waiting for ${file} \\(held by pid ${process.pid}: .*\\): timed out after 1 s`,
        ),
      );
      assert.ok(took >= 1000 && took < 15_000, `gave up after ${took} ms`);
      assert.deepEqual(lockers(file), [holder.pid], "only the holder has the lock file open");
      assert.deepEqual(runtimeLeftovers(box.lxcpath), [], "the start made nothing");
      const bad = await run(box, ["stop", "-n", c], { LXT_LOCK_TIMEOUT: "soon" });
      assert.equal(bad.code, 2);
      assert.match(bad.out, /LXT_LOCK_TIMEOUT: expected seconds, not "soon"/);
    } finally {
      holder.stdin.end();
      await new Promise((r) => holder.once("exit", r));
    }
    // Once the holder lets go, the lock is free: nothing of the timed-out start holds it.
    const again = await run(box, ["start", "-n", c], { LXT_LOCK_TIMEOUT: "5" });
    assert.equal(again.code, 0, again.out);
    box.ok(["stop", "-k", "-n", c]);
  });
});
