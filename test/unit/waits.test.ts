/**
 * Every wait for the helper or a monitor has a limit: a fake helper (a
 * script that never answers) stands in for `lxt-shim`, and the waits must
 * give up with a `timeout` (or `cancelled`) error that names what was
 * waited for and for how long, having killed and reaped what they spawned.
 */
import assert from "node:assert/strict";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { LxtError } from "../../src/core/errors.js";
import { formatSeconds, watchLimit } from "../../src/core/wait.js";
import { controlRequest, spawnMonitor } from "../../src/host/monitor-client.js";
import { flockHolders, takeLock } from "../../src/host/shim.js";

let dir: string;

/**
 * A fake helper that records its pid in DIR/NAME.pid, runs `body`, then
 * never answers: it sleeps, in a child of its own (pid in DIR/NAME.child)
 * when `child`, as a monitor's hung hook would.
 */
function fakeHelper(name: string, body = "", child = false): string {
  const file = join(dir, name);
  const sleep = child
    ? `sleep 1000 &\necho $! > "${dir}/${name}.child"\nwait\n`
    : "exec sleep 1000\n";
  writeFileSync(file, `#!/bin/sh\necho $$ > "${dir}/${name}.pid"\n${body}\n${sleep}`);
  chmodSync(file, 0o755);
  return file;
}

/** Whether a process of this pid still exists (a zombie counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

/** Live (not zombie) processes whose parent (`field: 4`) or process group (`5`) is `id`. */
function liveWith(field: 4 | 5, id: number): number[] {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .flatMap((e) => {
      let stat: string;
      try {
        stat = readFileSync(`/proc/${e}/stat`, "utf8");
      } catch {
        return [];
      }
      // Fields after the command: 3 state, 4 ppid, 5 pgrp.
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return f[0] !== "Z" && f[0] !== "X" && Number(f[field - 3]) === id ? [Number(e)] : [];
    });
}

function pidOf(file: string): number {
  return Number(readFileSync(file, "utf8"));
}

/** Resolves once `file` exists (the fake has started). */
async function started(file: string): Promise<void> {
  for (let i = 0; i < 500 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 10));
}

function isLxtError(code: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof LxtError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), "lxt-waits-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("waits have limits", () => {
  test("formatSeconds", () => {
    assert.equal(formatSeconds(1000), "1 s");
    assert.equal(formatSeconds(250), "0.25 s");
    assert.equal(formatSeconds(120_000), "120 s");
  });

  test("watchLimit fires once for an aborted signal, never without limits", async () => {
    const fired: string[] = [];
    const ac = new AbortController();
    ac.abort();
    watchLimit({ signal: ac.signal, timeoutMs: 5 }, (why) => fired.push(why));
    const stop = watchLimit({}, (why) => fired.push(`unlimited ${why}`));
    await new Promise((r) => setTimeout(r, 30));
    stop();
    assert.deepEqual(fired, ["cancelled"]);
  });

  test("takeLock gives up after its timeout, naming the lock; its helper is gone", async () => {
    const helper = fakeHelper("lock");
    // Children of ours from before (tsx's compiler service, say) are not the helper.
    const before = liveWith(4, process.pid);
    await assert.rejects(
      takeLock(helper, join(dir, "locks", "c1"), "c1", { timeoutMs: 200 }),
      isLxtError("timeout", /^lock c1: waiting for .*locks\/c1: timed out after 0\.2 s$/),
    );
    // Whether or not it got to run yet, the helper was killed and reaped.
    assert.deepEqual(liveWith(4, process.pid), before, "no new child of ours is left");
  });

  test("takeLock is cancelled by its AbortSignal", async () => {
    const helper = fakeHelper("lock2");
    const ac = new AbortController();
    const p = takeLock(helper, join(dir, "locks", "c2"), "c2", { signal: ac.signal });
    await started(join(dir, "lock2.pid"));
    ac.abort();
    await assert.rejects(p, isLxtError("cancelled", /^lock c2: .*: cancelled$/));
    assert.ok(!alive(pidOf(join(dir, "lock2.pid"))));
  });

  test("spawnMonitor kills a monitor that gives no verdict, with its process group", async () => {
    const helper = fakeHelper("monitor", "", true);
    const t0 = Date.now();
    let pid = 0;
    await assert.rejects(
      spawnMonitor(helper, join(dir, "plan"), undefined, { timeoutMs: 300 }),
      (err) => {
        isLxtError(
          "timeout",
          /^no verdict from the monitor \(pid \d+\): timed out after 0\.3 s$/,
        )(err);
        pid = Number(/pid (\d+)/.exec((err as Error).message)?.[1]);
        return true;
      },
    );
    assert.ok(Date.now() - t0 < 5000);
    assert.ok(pid > 0 && !alive(pid), "the monitor is gone");
    assert.deepEqual(liveWith(5, pid), [], "and everything in its process group");
  });

  test("spawnMonitor cancelled while its hook hangs: the monitor and the hook are gone", async () => {
    const helper = fakeHelper("monitor-c", "", true);
    const ac = new AbortController();
    const p = spawnMonitor(helper, join(dir, "plan"), undefined, { signal: ac.signal });
    await started(join(dir, "monitor-c.child"));
    ac.abort();
    await assert.rejects(p, isLxtError("cancelled", /^no verdict from the monitor .*: cancelled$/));
    assert.ok(!alive(pidOf(join(dir, "monitor-c.pid"))), "the monitor is gone");
    assert.ok(!alive(pidOf(join(dir, "monitor-c.child"))), "and what it ran (a hung hook)");
  });

  test("spawnMonitor still takes a verdict given in time", async () => {
    const helper = fakeHelper("monitor-ok", 'echo "running $$ 4242" >&3; exec 3>&-', true);
    const started = await spawnMonitor(helper, join(dir, "plan"), undefined, { timeoutMs: 5000 });
    assert.equal(started.init.start, "4242");
    // Detached: it leads its own process group, which goes with it.
    process.kill(-(started.monitor.pid ?? 0), "SIGKILL");
  });

  test("spawnMonitor reports an error line as a start failure with its cause", async () => {
    const helper = fakeHelper("monitor-err", 'echo "error exec exec /sbin/nosuch 2" >&3; exit 1');
    await assert.rejects(
      spawnMonitor(helper, join(dir, "plan"), undefined, { timeoutMs: 5000 }),
      (err) => {
        assert.ok(err instanceof LxtError);
        assert.equal(err.code, "start");
        assert.match(err.message, /exec \/sbin\/nosuch: ENOENT/);
        assert.deepEqual(err.cause, { stage: "exec", op: "exec", path: "/sbin/nosuch", errno: 2 });
        return true;
      },
    );
  });

  test("controlRequest gives up on a monitor that never answers, closing the connection", async () => {
    const sock = join(dir, "control.sock");
    const conns: Socket[] = [];
    let closed = false;
    const server = createServer((c) => {
      conns.push(c);
      c.resume();
      c.on("close", () => {
        closed = true;
      });
    });
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      await assert.rejects(
        controlRequest(sock, { verb: "stop", signal: 15, timeoutS: 0 }, { timeoutMs: 150 }),
        isLxtError(
          "timeout",
          /^no answer to "stop 15 0" from the monitor at .*: timed out after 0\.15 s$/,
        ),
      );
      for (let i = 0; i < 100 && !closed; i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(closed, "the connection was closed");
    } finally {
      for (const c of conns) c.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  test("flockHolders reads holders, not waiters, of one inode from /proc/locks", () => {
    const text = [
      "1: FLOCK  ADVISORY  WRITE 100 fe:00:42 0 EOF",
      "1: -> FLOCK  ADVISORY  WRITE 200 fe:00:42 0 EOF",
      "2: POSIX  ADVISORY  WRITE 300 fe:00:42 0 EOF",
      "3: FLOCK  ADVISORY  WRITE 400 fe:00:43 0 EOF",
    ].join("\n");
    assert.deepEqual(flockHolders(text, 42), [100]);
  });
});
