import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { hostLeftovers, runtimeLeftovers, Sandbox, skipReason } from "./harness.js";

const skip = skipReason();
if (skip) console.log(skip);

/** `start` and `stop` on several containers in one command (`-n A -n B`, names, `--all`). */
describe("bulk start and stop", { skip, timeout: 180_000 }, () => {
  let box: Sandbox;
  let a: string;
  let b: string;
  let c: string;
  /** NAME → state, from `ls -f`. */
  const states = (): Record<string, string> =>
    Object.fromEntries(
      box
        .ok(["ls", "-f"])
        .trim()
        .split("\n")
        .slice(1)
        .map((l) => l.split(/\s+/).slice(0, 2)),
    );
  before(() => {
    box = new Sandbox();
    [a, b, c] = [box.name("bulk"), box.name("bulk"), box.name("bulk")];
    for (const n of [a, b, c]) box.ok(["create", "-n", n, "-t", "busybox"]);
  });
  after(() => box.cleanup());

  test("-n A -n B and a positional name: all started, then all stopped with -k", () => {
    box.ok(["start", "-n", a, "-n", b, c]);
    assert.deepEqual(states(), { [a]: "RUNNING", [b]: "RUNNING", [c]: "RUNNING" });
    box.ok(["stop", "-k", "-n", a, b, "-n", c]);
    assert.deepEqual(states(), { [a]: "STOPPED", [b]: "STOPPED", [c]: "STOPPED" });
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
  });

  test("a failure is reported with its name, the others still run, the exit is non-zero", () => {
    const missing = box.name("gone");
    const r = box.lxt(["start", "-n", a, "-n", missing, "-n", b]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^lxt: start ${missing}: no such container`, "m"));
    assert.deepEqual(states(), { [a]: "RUNNING", [b]: "RUNNING", [c]: "STOPPED" });
    const again = box.lxt(["start", a, c, b]);
    assert.equal(again.code, 1, again.stderr);
    assert.match(again.stderr, new RegExp(`^lxt: start ${a}: container is RUNNING`, "m"));
    assert.match(again.stderr, new RegExp(`^lxt: start ${b}: container is RUNNING`, "m"));
    assert.doesNotMatch(again.stderr, new RegExp(`start ${c}:`));
    assert.equal(states()[c], "RUNNING", "the one in the middle was started");
  });

  test("--all: stop takes the running ones, start the stopped ones; none is no error", () => {
    box.ok(["stop", "--all", "-k"]);
    assert.deepEqual(states(), { [a]: "STOPPED", [b]: "STOPPED", [c]: "STOPPED" });
    const none = box.lxt(["stop", "--all", "-k"]);
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stderr, "");
    box.ok(["start", "-n", b]);
    box.ok(["start", "--all"]);
    assert.deepEqual(states(), { [a]: "RUNNING", [b]: "RUNNING", [c]: "RUNNING" });
  });

  test("a clean stop of several reads each one's halt signal", () => {
    box.ok(["stop", "-n", a, "-n", b, "-t", "20"]);
    assert.deepEqual(states(), { [a]: "STOPPED", [b]: "STOPPED", [c]: "RUNNING" });
    box.ok(["stop", "-k", c]);
    // busybox init halts on SIGUSR1 (lxc.signal.halt); a halt in a PID namespace ends its init
    // with SIGINT (reboot(2)), where -k would have been SIGKILL (9).
    for (const n of [a, b, c]) {
      const info = JSON.parse(box.ok(["info", "-n", n, "--format", "json"]));
      assert.deepEqual(info.last_exit, { signal: n === c ? 9 : 2 }, n);
    }
  });

  test("refused before anything is touched: -F with several, --all with names, a bad name", () => {
    for (const args of [
      ["start", "-F", "-n", a, "-n", b],
      ["start", "--all", a],
      ["stop", "--all", "-k", b],
      ["start", "-n", a, "-n", "not a name"],
      ["start"],
    ]) {
      const r = box.lxt(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^lxt: /, args.join(" "));
      assert.deepEqual(states(), { [a]: "STOPPED", [b]: "STOPPED", [c]: "STOPPED" });
    }
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
    // hostLeftovers lists every helper on the host: other state roots' containers are not ours.
    const mine = hostLeftovers("lxtbulk-").filter((l) => [a, b, c].some((n) => l.includes(n)));
    assert.deepEqual(mine, []);
  });
});
