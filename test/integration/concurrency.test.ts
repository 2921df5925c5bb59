import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { LXT, runtimeLeftovers, Sandbox, skipReason, testArgs } from "./harness.js";

const skip = skipReason();
if (skip) console.log(skip);

function run(box: Sandbox, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(LXT, testArgs(args), { env: { ...process.env, LXT_PATH: box.lxcpath } });
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
