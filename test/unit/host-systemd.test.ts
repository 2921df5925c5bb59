import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LxtError } from "../../src/core/errors.js";
import { RecordingRunner } from "../../src/host/runner.js";
import {
  machineNameOf,
  registerMachine,
  scopeUnitName,
  startScope,
  stopUnit,
  systemdBooted,
} from "../../src/host/systemd.js";

const failing = (stderr: string) => () =>
  new LxtError("system", `busctl call ...: Call failed: ${stderr}`);

describe("systemd over busctl", () => {
  it("tells a systemd host by /run/systemd/system (sd_booted)", () => {
    assert.equal(
      systemdBooted((p) => p === "/run/systemd/system"),
      true,
    );
    assert.equal(
      systemdBooted(() => false),
      false,
    );
  });

  it("names scopes lxt-NAME.scope, then lxt-NAME-N.scope; machines after them", () => {
    assert.equal(scopeUnitName("web"), "lxt-web.scope");
    assert.equal(scopeUnitName("web", 2), "lxt-web-2.scope");
    assert.equal(machineNameOf("lxt-web-2.scope"), "web-2");
    assert.equal(machineNameOf("lxt-lxt-a.scope"), "lxt-a");
  });

  it("asks for a delegated, collected scope in machine.slice holding the given pids", async () => {
    const r = new RecordingRunner(() => '{"type":"o","data":["/org/freedesktop/systemd1/job/7"]}');
    await startScope(r, {
      unit: "lxt-c1.scope",
      slice: "machine.slice",
      description: "lxt container c1",
      pids: [4242],
    });
    assert.deepEqual(r.calls, [
      [
        "busctl",
        "call",
        "--json=short",
        "org.freedesktop.systemd1",
        "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager",
        "StartTransientUnit",
        "ssa(sv)a(sa(sv))",
        "lxt-c1.scope",
        "fail",
        "5",
        "Slice",
        "s",
        "machine.slice",
        "Delegate",
        "b",
        "true",
        "CollectMode",
        "s",
        "inactive-or-failed",
        "Description",
        "s",
        "lxt container c1",
        "PIDs",
        "au",
        "1",
        "4242",
        "0",
      ],
    ]);
  });

  it("maps a taken unit name to exists and other refusals to host", async () => {
    const spec = { unit: "lxt-c1.scope", slice: "machine.slice", description: "d", pids: [1] };
    await assert.rejects(
      startScope(new RecordingRunner(failing("Unit lxt-c1.scope already exists.")), spec),
      (e: unknown) =>
        e instanceof LxtError && e.code === "exists" && /lxt-c1\.scope/.test(e.message),
    );
    await assert.rejects(
      startScope(new RecordingRunner(failing("Access denied")), spec),
      (e: unknown) => e instanceof LxtError && e.code === "host" && /Access denied/.test(e.message),
    );
  });

  it("stops a unit; one that is gone already is not an error", async () => {
    const r = new RecordingRunner();
    await stopUnit(r, "lxt-c1.scope");
    assert.deepEqual(r.calls[0]?.slice(-4), ["StopUnit", "ss", "lxt-c1.scope", "replace"]);
    await stopUnit(new RecordingRunner(failing("Unit lxt-c1.scope not loaded.")), "lxt-c1.scope");
    await assert.rejects(
      stopUnit(new RecordingRunner(failing("Access denied")), "lxt-c1.scope"),
      (e: unknown) => e instanceof LxtError && e.code === "host",
    );
  });

  it("registers a machine with machined: no id, service lxt, class container, leader and root", async () => {
    const r = new RecordingRunner();
    await registerMachine(r, { name: "c1", leader: 99, rootDirectory: "/var/lib/lxt/c1/rootfs" });
    assert.deepEqual(r.calls[0]?.slice(5), [
      "RegisterMachine",
      "sayssus",
      "c1",
      "0",
      "lxt",
      "container",
      "99",
      "/var/lib/lxt/c1/rootfs",
    ]);
    await assert.rejects(
      registerMachine(
        new RecordingRunner(
          failing("The name org.freedesktop.machine1 was not provided by any .service files"),
        ),
        { name: "c1", leader: 99, rootDirectory: "/r" },
      ),
      (e: unknown) =>
        e instanceof LxtError && e.code === "host" && /systemd-container/.test(e.message),
    );
    await assert.rejects(
      registerMachine(new RecordingRunner(failing("Machine 'c1' already exists")), {
        name: "c1",
        leader: 99,
        rootDirectory: "/r",
      }),
      (e: unknown) => e instanceof LxtError && e.code === "exists",
    );
  });
});
