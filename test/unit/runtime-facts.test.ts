/**
 * What a daemon reuses between observations of a running container: the
 * runtime files' texts while their identity holds, and each monitor's kept
 * /proc/PID/stat. A changed file and a restarted container must be seen.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { deriveState, RUNTIME_FILE_CACHE, readMonitorFacts } from "../../src/container/state.js";
import { Caches } from "../../src/core/cache.js";
import { heldLiveness, readStartTime } from "../../src/host/proc.js";

/** Writes as the monitor does: a new file renamed over the old one. */
function replace(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

function self(): { pid: number; start: string } {
  const start = readStartTime(process.pid);
  assert.ok(start, "this process's start time");
  return { pid: process.pid, start };
}

describe("readMonitorFacts with a context's caches", () => {
  test("an unchanged file is taken from the cache; a replaced one is read again", () => {
    const dir = mkdtempSync(join(tmpdir(), "lxt-facts-"));
    try {
      const runtimeDir = join(dir, "c1");
      mkdirSync(runtimeDir);
      const me = self();
      replace(join(runtimeDir, "monitor"), `${me.pid} ${me.start}\n`);
      replace(join(runtimeDir, "state"), "RUNNING 5 6\n");
      const caches = new Caches();
      const reader = { caches };
      const first = deriveState(readMonitorFacts({ runtimeDir }, reader));
      assert.equal(first.state, "RUNNING");
      assert.deepEqual(first.init, { pid: 5, start: "6" });
      const files = caches.of(RUNTIME_FILE_CACHE);
      assert.equal(files.get(join(runtimeDir, "state"))?.text, "RUNNING 5 6\n");
      assert.deepEqual(deriveState(readMonitorFacts({ runtimeDir }, reader)), first);

      replace(join(runtimeDir, "state"), "STOPPING 5 6\n");
      assert.equal(deriveState(readMonitorFacts({ runtimeDir }, reader)).state, "STOPPING");
      assert.equal(files.get(join(runtimeDir, "state"))?.text, "STOPPING 5 6\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a restarted container is seen: new monitor, new init; gone: STOPPED", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lxt-facts-"));
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      await once(child, "spawn");
      const runtimeDir = join(dir, "c1");
      mkdirSync(runtimeDir);
      const me = self();
      const reader = { caches: new Caches(), liveness: heldLiveness(8) };
      replace(join(runtimeDir, "monitor"), `${me.pid} ${me.start}\n`);
      replace(join(runtimeDir, "state"), "RUNNING 5 6\n");
      assert.equal(deriveState(readMonitorFacts({ runtimeDir }, reader)).state, "RUNNING");

      // Stopped: the runtime directory is removed.
      rmSync(runtimeDir, { recursive: true });
      const stopped = readMonitorFacts({ runtimeDir }, reader);
      assert.equal(stopped.runtimeDirExists, false);
      assert.equal(deriveState(stopped).state, "STOPPED");

      // Started again under another monitor: the new one's files are read, not the old texts.
      mkdirSync(runtimeDir);
      const pid = child.pid ?? 0;
      const start = readStartTime(pid) ?? "";
      replace(join(runtimeDir, "monitor"), `${pid} ${start}\n`);
      replace(join(runtimeDir, "state"), "RUNNING 7 8\n");
      const again = deriveState(readMonitorFacts({ runtimeDir }, reader));
      assert.equal(again.state, "RUNNING");
      assert.deepEqual(again.monitor, { pid, start });
      assert.deepEqual(again.init, { pid: 7, start: "8" });

      // Its monitor dies: the kept /proc/PID/stat says so though the files stay.
      child.kill("SIGKILL");
      await once(child, "exit");
      const dead = deriveState(readMonitorFacts({ runtimeDir }, reader));
      assert.deepEqual(dead, { state: "STOPPED", stale: true });
    } finally {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("heldLiveness", () => {
  test("alive while the process lives, not for another start time, not once it is reaped", async () => {
    const alive = heldLiveness(1);
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      await once(child, "spawn");
      const pid = child.pid ?? 0;
      const start = readStartTime(pid);
      assert.ok(start);
      const ref = { pid, start };
      assert.equal(alive(ref), true);
      assert.equal(alive(ref), true, "again, from the kept descriptor");
      // Another process asked about (max 1: the first one's descriptor is closed) and back.
      assert.equal(alive(self()), true);
      assert.equal(alive(ref), true);
      assert.equal(alive({ pid, start: `${BigInt(start) + 1n}` }), false, "same pid, other start");
      child.kill("SIGKILL");
      await once(child, "exit");
      assert.equal(alive(ref), false);
      assert.equal(alive(ref), false, "and stays so");
    } finally {
      child.kill("SIGKILL");
    }
  });
});
