import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { deriveState, requireState } from "../../src/container/state.js";
import { LxtError } from "../../src/core/errors.js";
import { checkName } from "../../src/core/names.js";

const mon = { pid: 100, start: "555" };

describe("deriveState", () => {
  test("no runtime directory: STOPPED, nothing to repair", () => {
    assert.deepEqual(deriveState({ runtimeDirExists: false, monitorAlive: false }), {
      state: "STOPPED",
      stale: false,
    });
  });
  test("runtime directory but no live monitor: STOPPED and stale", () => {
    assert.equal(deriveState({ runtimeDirExists: true, monitorAlive: false }).stale, true);
    const dead = deriveState({
      runtimeDirExists: true,
      monitor: mon,
      monitorAlive: false,
      stateLine: "RUNNING 5 6",
    });
    assert.deepEqual(dead, { state: "STOPPED", stale: true });
  });
  test("live monitor: STARTING until it says RUNNING, then STOPPING", () => {
    assert.equal(
      deriveState({ runtimeDirExists: true, monitor: mon, monitorAlive: true }).state,
      "STARTING",
    );
    const running = deriveState({
      runtimeDirExists: true,
      monitor: mon,
      monitorAlive: true,
      stateLine: "RUNNING 5 6\n",
    });
    assert.equal(running.state, "RUNNING");
    assert.deepEqual(running.init, { pid: 5, start: "6" });
    assert.equal(
      deriveState({
        runtimeDirExists: true,
        monitor: mon,
        monitorAlive: true,
        stateLine: "STOPPING 5 6",
      }).state,
      "STOPPING",
    );
    assert.equal(
      deriveState({
        runtimeDirExists: true,
        monitor: mon,
        monitorAlive: true,
        stateLine: "garbage",
      }).state,
      "STARTING",
    );
  });
});

describe("requireState", () => {
  test("refuses wrong verbs with the state in the message", () => {
    assert.throws(
      () => requireState("start", "c1", "RUNNING"),
      (e: LxtError) => e.code === "state" && /RUNNING/.test(e.message),
    );
    assert.throws(() => requireState("destroy", "c1", "RUNNING"), /stop it first/);
    assert.throws(() => requireState("attach", "c1", "STOPPED"), /STOPPED/);
    assert.throws(() => requireState("stop", "c1", "STOPPED"), /STOPPED/);
  });
  test("allows the right ones", () => {
    requireState("start", "c1", "STOPPED");
    requireState("stop", "c1", "RUNNING");
    requireState("attach", "c1", "RUNNING");
    requireState("destroy", "c1", "STOPPED");
  });
});

describe("checkName", () => {
  test("accepts portable names", () => {
    for (const n of ["c1", "web.example", "a_b-c", "X".repeat(64)]) assert.equal(checkName(n), n);
  });
  test("refuses the rest", () => {
    for (const n of ["", "-x", ".x", "a/b", "..", "a b", "é", "X".repeat(65)]) {
      assert.throws(() => checkName(n), LxtError, JSON.stringify(n));
    }
  });
});
