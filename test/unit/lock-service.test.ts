/**
 * lxtd's lock service (src/host/lock-service.ts) over the real helper
 * (`lxt-shim locks`, native/build): a free lock is held and excludes other
 * processes' flocks until released; a held one is busy (undefined, the
 * caller waits through a helper of its own); takes of one lock by one
 * daemon queue in the daemon, within their limit; a service that died drops its
 * locks, its pending answers fail, and the next take makes a new one.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { LockService } from "../../src/host/lock-service.js";

const helper = resolve("native/build/lxt-shim");
const built = existsSync(helper);
if (!built) console.log("SKIP: native/build/lxt-shim not built (npm run build:native)");

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "lxt-locks-unit-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** What `lxt-shim lock -n PATH` (another process) finds: "locked" (it got it) or "busy". */
function otherTry(path: string): string {
  return execFileSync(helper, ["lock", "-n", path], { input: "" }).toString().trim();
}

describe("lock service", { skip: !built }, () => {
  test("a free lock is held until released; meanwhile it is busy for everyone", async () => {
    const s = new LockService(() => helper);
    const path = join(dir, "sub", "a.lock");
    const held = await s.tryTake(path);
    assert.ok(held, "a free lock is taken");
    assert.equal(await s.tryTake(path), undefined, "the same lock again is busy");
    assert.equal(otherTry(path), "busy", "another process sees it held");
    await held.release();
    await held.release(); // idempotent
    assert.equal(otherTry(path), "locked", "released, another process gets it");
    const again = await s.tryTake(path);
    assert.ok(again, "and so does the service");
    await again.release();
    await s.close();
  });

  test("many locks at once, each its own", async () => {
    const s = new LockService(() => helper);
    const paths = Array.from({ length: 50 }, (_, i) => join(dir, `m${i}.lock`));
    const held = await Promise.all(paths.map((p) => s.tryTake(p)));
    assert.ok(held.every(Boolean));
    await held[7]?.release();
    assert.equal(otherTry(paths[7] ?? ""), "locked");
    assert.equal(otherTry(paths[8] ?? ""), "busy");
    await Promise.all(held.map((h) => h?.release()));
    await s.close();
  });

  test("a killed service drops its locks; the next take makes a new one", async () => {
    const s = new LockService(() => helper);
    const path = join(dir, "k.lock");
    const held = await s.tryTake(path);
    assert.ok(held);
    const pid = s.pid();
    assert.ok(pid);
    process.kill(pid, "SIGKILL");
    while (s.pid() === pid) await new Promise((r) => setTimeout(r, 5));
    await held.release(); // resolves: the lock went with the process
    assert.equal(otherTry(path), "locked", "the kernel dropped it");
    const again = await s.tryTake(path);
    assert.ok(again, "a new service took it");
    assert.notEqual(s.pid(), pid);
    await again.release();
    await s.close();
  });

  test("take: this daemon's takes of one lock queue without a helper; another process's hold goes to the fallback", async () => {
    const s = new LockService(() => helper);
    const path = join(dir, "q.lock");
    let fallbacks = 0;
    const fallback = async () => {
      fallbacks++;
      return { release: async () => {} };
    };
    const first = await s.take(path, "q", {}, fallback);
    const order: string[] = [];
    const second = s.take(path, "q", {}, fallback).then((h) => {
      order.push("second");
      return h;
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(order.length, 0, "the second waits for the first");
    await assert.rejects(s.take(path, "q", { timeoutMs: 20 }, fallback), /timed out/);
    order.push("released");
    await first.release();
    const h2 = await second;
    assert.deepEqual(order, ["released", "second"]);
    assert.equal(otherTry(path), "busy", "the second holds the flock itself");
    await h2.release();
    assert.equal(fallbacks, 0);
    // Held by another process: the fallback is asked (it would wait with a helper).
    const other = new LockService(() => helper);
    const theirs = await other.tryTake(path);
    assert.ok(theirs);
    await (await s.take(path, "q", {}, fallback)).release();
    assert.equal(fallbacks, 1);
    await theirs.release();
    await Promise.all([s.close(), other.close()]);
  });

  test("a lock it cannot open is left to the caller's helper (undefined)", async () => {
    const s = new LockService(() => helper);
    const file = join(dir, "f");
    execFileSync("touch", [file]);
    // A regular file as the parent directory: mkdir fails before the service is asked.
    await assert.rejects(s.tryTake(join(file, "x.lock")));
    // A symlink as the lock file: O_NOFOLLOW refuses it.
    const link = join(dir, "link.lock");
    execFileSync("ln", ["-s", file, link]);
    assert.equal(await s.tryTake(link), undefined);
    await s.close();
  });
});
