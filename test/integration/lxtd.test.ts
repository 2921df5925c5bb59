import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason();
if (skip) console.log(skip);

describe("lxtd driven by the stock LXD client", { skip, timeout: 180_000 }, () => {
  let box: LxtdSandbox;
  before(async () => {
    box = new LxtdSandbox();
    await box.startDaemon();
  });
  after(async () => {
    await box.close();
  });

  test("lxc info: the server, trusted over the unix socket", () => {
    const out = box.lxcOk(["info"]);
    assert.match(out, /^auth: trusted$/m);
    assert.match(out, /^\s+server: lxt$/m);
    assert.match(out, /^- instances$/m);
  });

  test("launch busybox, list, stop, start, delete; the CLI sees each step", () => {
    const c = box.name("api");
    box.lxcOk(["launch", "busybox", c]);
    const list = JSON.parse(box.lxcOk(["list", "--format", "json"])) as {
      name: string;
      status: string;
    }[];
    assert.deepEqual(
      list.filter((i) => i.name === c).map((i) => i.status),
      ["Running"],
    );
    assert.match(box.ok(["ls", "-f"]), new RegExp(`^${c}\\s+RUNNING`, "m"));
    box.lxcOk(["stop", c, "--force"]);
    assert.match(box.ok(["ls", "-f"]), new RegExp(`^${c}\\s+STOPPED`, "m"));
    box.lxcOk(["start", c]);
    assert.match(
      box.lxcOk(["list", c, "--format", "csv", "-c", "ns"]),
      new RegExp(`^${c},RUNNING$`, "m"),
    );
    const del = box.lxc(["delete", c]);
    assert.notEqual(del.code, 0, "a running instance is not deleted without -f");
    assert.match(del.stderr, /running/i);
    box.lxcOk(["delete", "-f", c]);
    assert.doesNotMatch(box.ok(["ls", "-1"]), new RegExp(`^${c}$`, "m"));
  });

  test("a container the CLI made is an instance; one lxtd made is a container", () => {
    const a = box.name("cli");
    box.ok(["create", "-n", a, "-t", "busybox"]);
    const inst = JSON.parse(box.lxcOk(["list", a, "--format", "json"])) as {
      name: string;
      status: string;
    }[];
    assert.deepEqual(
      inst.map((i) => [i.name, i.status]),
      [[a, "Stopped"]],
    );
    box.lxcOk(["start", a]);
    assert.match(box.ok(["ls", "-f", "--running"]), new RegExp(`^${a}\\s+RUNNING`, "m"));
    box.ok(["stop", "-k", "-n", a]);
    assert.match(
      box.lxcOk(["list", a, "--format", "csv", "-c", "ns"]),
      new RegExp(`^${a},STOPPED$`, "m"),
    );
    box.ok(["destroy", "-n", a]);
  });

  test("errors are LXD's: a missing instance, a missing image", () => {
    const none = box.lxc(["start", "no-such-instance"]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /not found/i);
    const c = box.name("noimg");
    const r = box.lxc(["launch", "no-such-image", c]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not found/i);
    assert.doesNotMatch(box.ok(["ls", "-1"]), new RegExp(`^${c}$`, "m"));
  });
});
