import assert from "node:assert/strict";
import { appendFileSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { monitorPid, REPO, runtimeLeftovers, runtimeRoot, Sandbox, skipReason } from "./harness.js";

const skip = skipReason();
if (skip) console.log(skip);

/** The arguments of the unit's `KEY=/usr/local/bin/lxt ARGS` line. */
function unitArgs(key: "ExecStart" | "ExecStop"): string[] {
  const unit = readFileSync(join(REPO, "scripts", "lxt-autostart.service"), "utf8");
  const line = unit.split("\n").find((l) => l.startsWith(`${key}=`));
  assert.ok(line, `the unit has ${key}`);
  const [bin, ...args] = line.slice(key.length + 1).split(" ");
  assert.equal(bin, "/usr/local/bin/lxt");
  return args;
}

/** lxc-autostart(1) as `lxt autostart`: order, delays, groups, -L, -s, -k, -r. */
describe("autostart", { skip, timeout: 300_000 }, () => {
  let box: Sandbox;
  // first (order 1, delay 1 s), second (order 2): the NULL group.
  // web (group web, order 3), boot (groups onboot and web, order 4), off (auto 0).
  const n: Record<string, string> = {};
  const state = (name: string) => box.ok(["info", "-n", name, "-s"]).trim().split(/\s+/).pop();
  /** When the container's monitor reported it running (its state file's mtime, ns). */
  const runningAt = (name: string) =>
    statSync(join(runtimeRoot(box.lxcpath), name, "state"), { bigint: true }).mtimeNs;
  const exitedAt = (name: string) =>
    statSync(join(box.lxcpath, name, "last-exit"), { bigint: true }).mtimeNs;
  const lines = (out: string) => out.trim().split("\n").filter(Boolean);

  before(() => {
    box = new Sandbox();
    const conf: Record<string, string[]> = {
      first: ["lxc.start.auto = 1", "lxc.start.order = 1", "lxc.start.delay = 1"],
      second: ["lxc.start.auto = 1", "lxc.start.order = 2"],
      web: ["lxc.start.auto = 1", "lxc.start.order = 3", "lxc.group = web"],
      boot: ["lxc.start.auto = 1", "lxc.start.order = 4", "lxc.group = onboot", "lxc.group = web"],
      off: ["lxc.start.auto = 0"],
    };
    for (const [k, c] of Object.entries(conf)) {
      n[k] = box.name("auto");
      box.ok(["create", "-n", n[k] as string, "-t", "busybox"]);
      appendFileSync(join(box.lxcpath, n[k] as string, "config"), `${c.join("\n")}\n`);
    }
  });
  after(() => box.cleanup());

  test("-L lists by group and order with the delays, and does nothing", () => {
    assert.deepEqual(lines(box.ok(["autostart", "-L"])), [`${n.first} 1`, `${n.second} 0`]);
    assert.deepEqual(lines(box.ok(["autostart", "-L", "-g", "onboot,"])), [
      `${n.boot} 0`,
      `${n.first} 1`,
      `${n.second} 0`,
    ]);
    assert.deepEqual(lines(box.ok(["autostart", "-L", "-g", "web", "-g", ""])), [
      `${n.web} 0`,
      `${n.boot} 0`,
      `${n.first} 1`,
      `${n.second} 0`,
    ]);
    assert.deepEqual(
      lines(box.ok(["autostart", "-L", "-a"])).map((l) => l.split(" ")[0]),
      [n.first, n.second, n.web, n.boot],
    );
    assert.deepEqual(
      lines(box.ok(["autostart", "-L", "-a", "-A"])).map((l) => l.split(" ")[0]),
      [n.off, n.first, n.second, n.web, n.boot],
      "-A: lxc.start.auto ignored (off has order 0)",
    );
    for (const k of Object.keys(n)) assert.equal(state(n[k] as string), "STOPPED");
  });

  test("start: the NULL group only, in order, with the delay after each", () => {
    box.ok(["autostart"]);
    assert.equal(state(n.first as string), "RUNNING");
    assert.equal(state(n.second as string), "RUNNING");
    for (const k of ["web", "boot", "off"]) assert.equal(state(n[k] as string), "STOPPED", k);
    const gap = runningAt(n.second as string) - runningAt(n.first as string);
    assert.ok(gap >= 1_000_000_000n, `second started ${gap} ns after first (delay 1 s)`);
    // Running ones are not started again.
    assert.deepEqual(lines(box.ok(["autostart", "-L"])), []);
  });

  test("-r reboots the running ones (new monitors), -L -s lists them in reverse", () => {
    const before = [
      monitorPid(box.lxcpath, n.first as string),
      monitorPid(box.lxcpath, n.second as string),
    ];
    box.ok(["autostart", "-r", "-t", "10"]);
    const now = [
      monitorPid(box.lxcpath, n.first as string),
      monitorPid(box.lxcpath, n.second as string),
    ];
    assert.notEqual(now[0], before[0]);
    assert.notEqual(now[1], before[1]);
    assert.deepEqual(lines(box.ok(["autostart", "-L", "-s"])), [n.second, n.first]);
  });

  test("-s stops in reverse order; -g web and -k", () => {
    box.ok(["autostart", "-s", "-t", "10"]);
    assert.equal(state(n.first as string), "STOPPED");
    assert.equal(state(n.second as string), "STOPPED");
    assert.ok(exitedAt(n.second as string) < exitedAt(n.first as string), "second stopped first");
    const exit = readFileSync(join(box.lxcpath, n.first as string, "last-exit"), "utf8");
    assert.notEqual(exit, "signaled 9\n", "halted cleanly, not killed after -t");
    box.ok(["autostart", "-g", "web"]);
    assert.equal(state(n.web as string), "RUNNING");
    assert.equal(state(n.boot as string), "RUNNING", "boot is in web too");
    assert.deepEqual(lines(box.ok(["autostart", "-L", "-k", "-g", "web"])), [n.boot, n.web]);
    box.ok(["autostart", "-k", "-g", "web"]);
    assert.equal(state(n.web as string), "STOPPED");
    assert.equal(state(n.boot as string), "STOPPED");
    assert.match(
      readFileSync(join(box.lxcpath, n.web as string, "last-exit"), "utf8"),
      /signaled 9/,
    );
  });

  test("the systemd unit's commands: onboot then the NULL group at boot, everything stopped at shutdown", () => {
    box.ok(["start", "-n", n.off as string]);
    box.ok(unitArgs("ExecStart"));
    for (const k of ["boot", "first", "second", "off"])
      assert.equal(state(n[k] as string), "RUNNING", k);
    assert.equal(state(n.web as string), "STOPPED");
    assert.ok(runningAt(n.boot as string) < runningAt(n.first as string), "onboot first");
    box.ok(unitArgs("ExecStop"));
    for (const k of Object.keys(n)) assert.equal(state(n[k] as string), "STOPPED", k);
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
  });

  test("bad usage and a failing start: named, exit 1 or 2 as lxc-autostart", () => {
    const both = box.lxt(["autostart", "-s", "-k"]);
    assert.equal(both.code, 2, both.stderr);
    assert.match(both.stderr, /choose one of -r, -s, -k/);
    appendFileSync(
      join(box.lxcpath, n.second as string, "config"),
      "lxc.init.cmd = /no/such/init\n",
    );
    const r = box.lxt(["autostart"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`autostart ${n.second}: `));
    assert.equal(state(n.first as string), "RUNNING");
    assert.equal(state(n.second as string), "STOPPED");
    box.ok(["autostart", "-k"]);
    assert.equal(state(n.first as string), "STOPPED");
  });
});
