/**
 * A live move between two lxtd hosts on one LAN (docs/migrate.md, "Two
 * hosts on one LAN"; the hosts, the LAN and the counter client are
 * lan-hosts.ts'). Moved to b, the container keeps its MAC and address
 * (reserved again there), the connection survives and the counter has no
 * gap. Failures during a live move (b's network has another subnet, b's
 * lxtd killed during the freeze, b's criu restore fails) leave the
 * container running on a (same process, the connection still served) and
 * nothing on b.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { criuSkip, exitWithin, skipReason, until } from "./harness.js";
import { LanHosts } from "./lan-hosts.js";

const skip = skipReason() ?? criuSkip([4, 2]);
if (skip) console.log(skip);

describe("a live move between two hosts on one LAN", { skip, timeout: 600_000 }, () => {
  const two = new LanHosts();
  before(() => two.open("lan"));
  after(() => two.close());

  test("moved live: same MAC and address on b, reserved there; the connection survives, no gap", async () => {
    const made = await two.startServer("live");
    const { c, addr } = made;
    const here = two.eth0(two.a, c);
    const pid = two.serverPid(two.a, c);
    const conn = await two.connect(addr);
    const r = two.a.net.lxt(["move", "-v", c, "b:"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /stopped for \d+ ms/);
    assert.equal(two.names(two.a).includes(c), false);
    assert.match(two.b.net.ok(["ls", "-f"]), new RegExp(`${c}\\s+RUNNING`));
    assert.deepEqual(two.eth0(two.b, c), here);
    assert.equal(two.serverPid(two.b, c), pid);
    const n = two.check(conn).last;
    await two.goesOn(conn, n);
    const { gapMs } = two.check(conn);
    console.log(`# longest gap between replies across the move: ${gapMs} ms`);
    // b reserves the address the container has, not one of its own range.
    const shown = JSON.parse(two.b.net.ok(["network", "show", two.lan, "--format", "json"])) as {
      reservations: { container: string; ipv4: string }[];
    };
    assert.deepEqual(
      shown.reservations.filter((x) => x.container === c).map((x) => x.ipv4),
      [addr],
    );
    two.stop(conn);
    two.b.net.ok(["destroy", "-f", "-n", c]);
  });

  test("b's network has another subnet: refused by b, the container runs on here, the connection too", async () => {
    const s = await two.served("subn");
    const { c, conn } = s;
    two.b.net.ok(["network", "set", two.lan, "ipv4.address", "10.78.0.254/24"]);
    try {
      const r = two.a.net.lxt(["move", c, "b:"]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /outside network .* subnet here \(10\.78\.0\.254\/24\)/);
      await two.stayed(s);
    } finally {
      two.b.net.ok(["network", "set", two.lan, "ipv4.address", "10.77.0.254/24"]);
    }
    two.stop(conn);
  });

  test("b's lxtd killed during the freeze: the container runs on here, the connection too; nothing on b", async () => {
    const s = await two.served("cut");
    const { c, conn } = s;
    const moving = two.a.net.run(["move", c, "b:"]);
    const spool = join(two.b.box.lxcpath, ".lxtd", "uploads");
    assert.ok(
      await until(
        () => two.uploads(two.b).some((f) => existsSync(join(spool, f, "delta"))),
        120_000,
      ),
      "no delta arrived",
    );
    const daemon = two.b.box.daemon;
    daemon?.kill("SIGKILL");
    if (daemon) await exitWithin(daemon, 10_000);
    two.b.box.daemon = undefined;
    const r = await moving;
    assert.equal(r.code, 1, r.stdout + r.stderr);
    // Cut in a request (the remote named) or between two (its URL unreachable).
    assert.match(r.stderr, /remote b|cannot reach https:\/\/10\.253\.0\.2:8443/);
    // Its next start removes what the killed one spooled and unpacked.
    await two.startDaemon(two.b);
    await two.stayed(s);
    two.stop(conn);
  });

  test("b's criu restore fails: the container runs on here, the connection too; nothing on b", async () => {
    await two.restartB(true);
    try {
      const s = await two.served("rfail");
      const { c, conn } = s;
      const r = two.a.net.lxt(["move", c, "b:"]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /remote b: .*restore/);
      await two.stayed(s);
      two.stop(conn);
    } finally {
      await two.restartB(false);
    }
  });
});
