/**
 * A booted Debian container (systemd as init) moved live between two lxtd
 * hosts on this machine (docs/migrate.md), each a network namespace with
 * its own state root, HTTPS over a veth between them: unprivileged (every
 * service running), systemd is running there with no failed unit, `attach`
 * works and a counter goes on in the same process. Privileged, where this
 * host's root lacks CAP_SYS_RESOURCE, the move is refused before anything
 * is sent (criu could not read its services' limits) and the source runs on.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { hasCapSysResource } from "../../src/container/checkpoint-tasks.js";
import { assertBooted, buildDebianImage, debootstrapSkip } from "./debian-harness.js";
import { criuSkip, skipReason, until } from "./harness.js";
import { background, COUNTER, type Host, makePrivileged, TwoHosts } from "./two-hosts.js";

let skip = skipReason() ?? criuSkip([4, 2]) ?? debootstrapSkip();
if (skip) console.log(skip);

describe("live move of a booted Debian between two lxtd hosts", { skip, timeout: 900_000 }, () => {
  const two = new TwoHosts();
  let a: Host;
  let b: Host;
  const count = (h: Host, c: string): [number, number] => {
    const [pid, n] = h.net.ok(["attach", "-n", c, "--", "cat", "/tmp/count"]).trim().split(" ");
    return [Number(pid), Number(n)];
  };

  before(async () => {
    await two.open("md", { subnet: "10.252.0", timeoutMs: 300_000 });
    ({ a, b } = two);
    const out = buildDebianImage({ lxt: (args, o) => a.box.lxt(args, o) });
    if (typeof out === "string") skip = out;
  });
  after(() => two.close());

  /** A booted Debian container on `a` without a NIC, a counter running. */
  const boot = async (prefix: string, privileged: boolean): Promise<string> => {
    const c = a.net.name(prefix);
    a.net.ok(["create", "-n", c, "-q", "-t", "debian/bookworm/minbase", "--network", "empty"]);
    if (privileged) makePrivileged(a, c);
    writeFileSync(join(a.box.lxcpath, c, "rootfs", "counter.sh"), COUNTER, { mode: 0o755 });
    a.net.ok(["start", "-n", c]);
    await assertBooted(a.net, c);
    background(a, c, "/counter.sh");
    assert.ok(await until(() => count(a, c)[1] > 5, 10_000), "the counter never ran");
    return c;
  };

  test("unprivileged, every service running: running there, systemd running, the counter goes on", async (t) => {
    if (skip) return t.skip(skip);
    const c = await boot("mdu", false);
    const [pid, n] = count(a, c);
    const r = a.net.lxt(["move", "-v", c, "b:"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /moved .* \(\d+ bytes sent, stopped for \d+ ms; \d+ bytes sent while stopped\)/,
    );
    console.log(r.stdout.trim());
    assert.equal(two.names(a).includes(c), false);
    assert.match(b.net.ok(["ls", "-f"]), new RegExp(`${c}\\s+RUNNING`));
    await assertBooted(b.net, c, 30_000);
    const [pid2, n2] = count(b, c);
    assert.equal(pid2, pid, "the same counter process");
    assert.ok(n2 >= n, `counter went back: ${n} -> ${n2}`);
    assert.ok(await until(() => count(b, c)[1] > n2, 10_000), "the counter stopped there");
    b.net.ok(["stop", "-n", c, "-t", "30"]);
  });

  test("privileged: moved, or refused up front where root lacks CAP_SYS_RESOURCE", async (t) => {
    if (skip) return t.skip(skip);
    const c = await boot("mdp", true);
    const [pid] = count(a, c);
    const before = two.names(b);
    const r = a.net.lxt(["move", c, "b:"]);
    if (hasCapSysResource(readFileSync("/proc/self/status", "utf8"))) {
      assert.equal(r.code, 0, r.stdout + r.stderr);
      await assertBooted(b.net, c, 30_000);
      assert.equal(count(b, c)[0], pid);
      return;
    }
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /lacks CAP_SYS_RESOURCE: .*"Can't get rlimit 0: Operation not permitted"/,
    );
    assert.match(a.net.ok(["ls", "-f"]), new RegExp(`${c}\\s+RUNNING`));
    assert.equal(count(a, c)[0], pid);
    assert.deepEqual(two.names(b), before);
  });
});
