/**
 * The pools of helpers made ahead of demand (src/host/helper-pool.ts), with a
 * fake helper (a shell script) in place of `lxt-shim`: the pool keeps its
 * size, a member taken is the caller's and is replaced, one that dies is
 * replaced, `close` ends the untaken ones; a gated pool refills only once no
 * verb is in flight; and a lock taken through a pooled helper sends it the
 * path and holds the lock as a spawned one does.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { lockHelperPool, monitorPool, RefillGate } from "../../src/host/helper-pool.js";
import { takeLock } from "../../src/host/shim.js";

let dir: string;
let helper: string;

/** Resolves once `cond` holds; each check waits for the event loop to turn (a spawn, an exit). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
}

const exited = (c: ChildProcess) =>
  c.exitCode !== null || c.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((r) => c.once("exit", () => r()));

before(() => {
  dir = mkdtempSync(join(tmpdir(), "lxt-pool-unit-"));
  helper = join(dir, "fake-shim");
  // `pool PAD`: reads fd 4 until EOF, then says what it got on fd 3.
  // `lock -`: reads the path line, says `locked`, holds until stdin ends.
  writeFileSync(
    helper,
    `#!/bin/sh
case "$1" in
pool) got=$(cat <&4); printf 'got %s\\n' "$got" >&3 ;;
lock) read -r path; echo "$path" > "${dir}/locked-path"; echo locked; cat > /dev/null ;;
esac
`,
  );
  chmodSync(helper, 0o755);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("helper pools", () => {
  test("a pool keeps its size; a taken member is replaced and is the caller's", async () => {
    const pool = monitorPool(() => helper, 2);
    await until(() => pool.pids().length === 2);
    const first = pool.pids();
    const m = pool.take();
    assert.ok(m?.pid !== undefined && first.includes(m.pid));
    await until(() => pool.pids().length === 2);
    assert.ok(!pool.pids().includes(m.pid as number), "the taken member left the pool");
    // The taken member reads its request: the pool no longer listens for it.
    let said = "";
    m.stdio[3]?.on("data", (b: Buffer) => {
      said += b.toString();
    });
    (m.stdio[4] as Writable | null)?.end("start /run/x/plan\n");
    await exited(m);
    assert.equal(said, "got start /run/x/plan\n");
    await pool.close();
  });

  test("a member that dies is replaced; close ends the untaken ones", async () => {
    const pool = monitorPool(() => helper, 2);
    await until(() => pool.pids().length === 2);
    const [victim] = pool.pids();
    assert.ok(victim);
    process.kill(victim, "SIGKILL");
    await until(() => pool.pids().length === 2 && !pool.pids().includes(victim));
    const members = pool.pids();
    await pool.close();
    for (const p of members) assert.ok(!alive(p), `member ${p} ended`);
    assert.deepEqual(pool.pids(), []);
    assert.equal(pool.take(), undefined, "a closed pool gives nothing");
  });

  test("a gated pool refills only once no verb is in flight", async () => {
    const gate = new RefillGate();
    const pool = monitorPool(() => helper, 1, gate);
    await until(() => pool.pids().length === 1);
    gate.enter();
    gate.enter();
    const m = pool.take();
    assert.ok(m);
    // Turns of the event loop in which an ungated pool would have spawned (it does on the next).
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(pool.pids(), [], "no spawn while a verb is in flight");
    gate.leave();
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(pool.pids(), [], "nor while the second is");
    gate.leave();
    await until(() => pool.pids().length === 1);
    (m.stdio[4] as Writable | null)?.end("");
    await exited(m);
    await pool.close();
  });

  test("a lock through a pooled helper: the path is its first line, released on stdin's end", async () => {
    const pool = lockHelperPool(() => helper, 1);
    await until(() => pool.pids().length === 1);
    const [member] = pool.pids();
    const path = join(dir, "locks", "c1");
    const held = await takeLock("/nonexistent/helper", path, "container c1", {}, pool);
    assert.equal(readFileSync(join(dir, "locked-path"), "utf8"), `${path}\n`);
    assert.ok(member !== undefined && alive(member), "the pooled helper holds it");
    await held.release();
    assert.ok(!alive(member as number), "released: the helper has exited");
    await pool.close();
  });
});
