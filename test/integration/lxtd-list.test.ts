/**
 * `lxc list` (GET /1.0/instances?recursion=2) stays true while the list
 * reads each container's state once and keeps each instance's view and
 * each profile per file version: a stop, start, freeze or config change
 * made beside the daemon (the CLI) and a profile edit are seen by the next
 * list.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason();
if (skip) console.log(skip);

interface Listed {
  name: string;
  status: string;
  expanded_config: Record<string, string>;
  config: Record<string, string>;
  state: { status: string; pid: number; processes: number } | null;
}

describe("lxtd: the instance list is never stale", { skip, timeout: 300_000 }, () => {
  let box: LxtdSandbox;
  let a: string;
  let b: string;
  const list = () => {
    const all = JSON.parse(box.lxcOk(["list", "--format", "json"])) as Listed[];
    return new Map(all.map((i) => [i.name, i]));
  };
  before(async () => {
    box = new LxtdSandbox();
    await box.startDaemon();
    a = box.name("la");
    b = box.name("lb");
    box.lxcOk(["launch", "busybox", a]);
    box.lxcOk(["launch", "busybox", b]);
  });
  after(async () => {
    await box.close();
  });

  test("a stop and a freeze beside the daemon, then the next list", () => {
    let seen = list();
    assert.equal(seen.get(a)?.status, "Running");
    assert.equal(seen.get(a)?.state?.status, "Running");
    assert.ok((seen.get(a)?.state?.pid ?? 0) > 0);
    assert.equal(seen.get(b)?.status, "Running");
    box.ok(["stop", "-n", a, "-k"]);
    box.lxcOk(["pause", b]);
    seen = list();
    assert.equal(seen.get(a)?.status, "Stopped");
    assert.equal(seen.get(a)?.state?.pid, 0);
    assert.equal(seen.get(b)?.status, "Frozen");
    box.lxcOk(["start", a]);
    box.lxcOk(["start", b]); // LXD's unfreeze
    seen = list();
    assert.equal(seen.get(a)?.status, "Running");
    assert.equal(seen.get(b)?.status, "Running");
  });

  test("a profile edit is in the next list's expanded config", () => {
    assert.equal(list().get(a)?.expanded_config["user.fresh"], undefined);
    box.lxcOk(["profile", "set", "default", "user.fresh", "one"]);
    assert.equal(list().get(a)?.expanded_config["user.fresh"], "one");
    box.lxcOk(["profile", "set", "default", "user.fresh", "two"]);
    assert.equal(list().get(b)?.expanded_config["user.fresh"], "two");
    box.lxcOk(["profile", "set", "default", "user.fresh", "three"]);
    assert.equal(list().get(a)?.expanded_config["user.fresh"], "three");
  });

  test("a config change, a stop and a start by the CLI are in the next list", () => {
    const before = list().get(a);
    assert.equal(before?.status, "Running");
    assert.equal(before?.config["limits.processes"], undefined);
    box.ok(["config", "set", a, "lxt.limits.processes", "77"]);
    assert.equal(list().get(a)?.config["limits.processes"], "77");
    // The same size at once after: a new version all the same.
    box.ok(["config", "set", a, "lxt.limits.processes", "78"]);
    assert.equal(list().get(a)?.config["limits.processes"], "78");
    box.ok(["config", "unset", a, "lxt.limits.processes"]);
    assert.equal(list().get(a)?.config["limits.processes"], undefined);
    box.ok(["stop", "-n", a, "-k"]);
    const stopped = list().get(a);
    assert.equal(stopped?.status, "Stopped");
    assert.equal(stopped?.state?.pid, 0);
    box.ok(["start", "-n", a]);
    const started = list().get(a);
    assert.equal(started?.status, "Running");
    assert.ok((started?.state?.pid ?? 0) > 0);
    assert.notEqual(started?.state?.pid, before?.state?.pid);
  });
});
