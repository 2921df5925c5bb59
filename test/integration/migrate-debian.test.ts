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
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { hasCapSysResource } from "../../src/container/checkpoint-tasks.js";
import { assertBooted, buildDebianImage, debootstrapSkip } from "./debian-harness.js";
import { criuSkip, NetnsSandbox, skipReason, until } from "./harness.js";
import { LxtdSandbox } from "./lxtd-harness.js";

let skip = skipReason() ?? criuSkip([4, 2]) ?? debootstrapSkip();
if (skip) console.log(skip);

const COUNTER = `#!/bin/sh
i=0
while true; do i=$((i+1)); echo "$$ $i" > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.05; done
`;

interface Host {
  box: LxtdSandbox;
  net: NetnsSandbox;
  addr: string;
}

describe("live move of a booted Debian between two lxtd hosts", { skip, timeout: 900_000 }, () => {
  const hosts: Host[] = [];
  let a: Host;
  let b: Host;
  const open = async (prefix: string, addr: string): Promise<Host> => {
    const box = new LxtdSandbox();
    const net = new NetnsSandbox(prefix, { box, timeoutMs: 300_000 });
    const h = { box, net, addr };
    hosts.push(h);
    net.open();
    return h;
  };
  const names = (h: Host) => readdirSync(h.box.lxcpath).filter((n) => !n.startsWith("."));
  const count = (h: Host, c: string): [number, number] => {
    const [pid, n] = h.net.ok(["attach", "-n", c, "--", "cat", "/tmp/count"]).trim().split(" ");
    return [Number(pid), Number(n)];
  };

  before(async () => {
    a = await open("mda", "10.252.0.1");
    b = await open("mdb", "10.252.0.2");
    const [la, lb] = [a.net.network("wa"), b.net.network("wb")];
    execFileSync("ip", [
      "link",
      "add",
      la,
      "netns",
      a.net.ns,
      "type",
      "veth",
      "peer",
      "name",
      lb,
      "netns",
      b.net.ns,
    ]);
    for (const [h, link] of [
      [a, la],
      [b, lb],
    ] as const) {
      h.net.nsOk(["ip", "addr", "add", `${h.addr}/24`, "dev", link]);
      h.net.nsOk(["ip", "link", "set", link, "up"]);
      await h.box.startDaemon(["--https", `${h.addr}:8443`], { netns: h.net.ns });
    }
    const token = b.net.ok(["trust", "token", "from-a"]).trim();
    a.net.ok(["remote", "add", "b", `https://${b.addr}:8443`, "--token", token]);
    const out = buildDebianImage({ lxt: (args, o) => a.box.lxt(args, o) });
    if (typeof out === "string") skip = out;
  });
  after(async () => {
    for (const h of hosts) {
      for (const n of names(h)) h.net.lxt(["destroy", "-f", "-s", "-n", n]);
      await h.box.stopDaemon();
      h.net.dispose();
      await h.box.close();
    }
  });

  /** A booted Debian container on `a` without a NIC, a counter running. */
  const boot = async (prefix: string, privileged: boolean): Promise<string> => {
    const c = a.net.name(prefix);
    a.net.ok(["create", "-n", c, "-q", "-t", "debian/bookworm/minbase", "--network", "empty"]);
    const cfg = join(a.box.lxcpath, c, "config");
    if (privileged)
      writeFileSync(
        cfg,
        readFileSync(cfg, "utf8").replace(/^lxt\.privileged = 0$/m, "lxt.privileged = 1"),
      );
    writeFileSync(join(a.box.lxcpath, c, "rootfs", "counter.sh"), COUNTER, { mode: 0o755 });
    a.net.ok(["start", "-n", c]);
    await assertBooted(a.net, c);
    a.net.ok([
      "attach",
      "-n",
      c,
      "--",
      "sh",
      "-c",
      "setsid /counter.sh </dev/null >/dev/null 2>&1 &",
    ]);
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
    assert.equal(names(a).includes(c), false);
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
    const before = names(b);
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
    assert.deepEqual(names(b), before);
  });
});
