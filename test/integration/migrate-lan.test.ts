/**
 * A live move between two lxtd hosts on one LAN (docs/migrate.md, "Two
 * hosts on one LAN"): each host a network namespace with its own state
 * root and lxtd (HTTPS between them over a link of their own), and a
 * managed network of one name and subnet on each, their bridges joined at
 * layer 2 by a veth "wire" (host a: gateway .1 and DHCP range .2-.99;
 * host b: .254 and .100-.199). A client in a third namespace, plugged into
 * a's bridge, holds a TCP connection to a counter server in the container
 * (busybox nc: one shell per connection, replying 1, 2, 3, ...). Moved to
 * b, the container keeps its MAC and address (reserved again there), the
 * connection survives and the counter has no gap. Failures during a live
 * move (b's network has another subnet, b's lxtd killed during the freeze,
 * b's criu restore fails) leave the container running on a (same process,
 * the connection still served) and nothing on b.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { criuSkip, eth0Of, exitWithin, NetnsSandbox, skipReason, until } from "./harness.js";
import { LxtdSandbox } from "./lxtd-harness.js";

const skip = skipReason() ?? criuSkip([4, 2]);
if (skip) console.log(skip);

const CLIENT = join(import.meta.dirname, "lan-client.cjs");
const PORT = 7000;
/** The counter: one shell per connection (nc -e), its count in its memory. */
const SERVE = "#!/bin/sh\ni=0\nwhile read -r _; do i=$((i+1)); echo $i; done\n";

interface Host {
  box: LxtdSandbox;
  net: NetnsSandbox;
  /** Its address on the hosts' own link (HTTPS). */
  addr: string;
}

/** A client's connection: the replies it printed so far. */
interface Conn {
  child: ChildProcess;
  lines: string[];
}

describe("a live move between two hosts on one LAN", { skip, timeout: 600_000 }, () => {
  let a: Host;
  let b: Host;
  const hosts: Host[] = [];
  let clientNs = "";
  /** The managed network, one name on both hosts. */
  let lan = "";
  const conns: Conn[] = [];
  let fakeCriu = "";

  const openHost = (prefix: string, addr: string): Host => {
    const box = new LxtdSandbox();
    const net = new NetnsSandbox(prefix, { box });
    const h = { box, net, addr };
    hosts.push(h);
    net.open();
    return h;
  };
  const startDaemon = (h: Host, env: NodeJS.ProcessEnv = {}) =>
    h.box.startDaemon(["--https", `${h.addr}:8443`], { netns: h.net.ns, env });
  const names = (h: Host) => readdirSync(h.box.lxcpath).filter((n) => !n.startsWith("."));
  const hidden = (h: Host) => readdirSync(h.box.lxcpath).filter((n) => n.startsWith(".lxt-"));
  const uploads = (h: Host) => {
    const dir = join(h.box.lxcpath, ".lxtd", "uploads");
    return existsSync(dir) ? readdirSync(dir) : [];
  };
  /** Cgroup directories named after `c` (other helpers' cgroups may go while find walks: its status is theirs). */
  const cgroups = (c: string) =>
    spawnSync("find", ["/sys/fs/cgroup", "-name", `*${c}*`], { encoding: "utf8" }).stdout.trim();
  /** A veth pair between namespaces, each end up (and on `master` when given). */
  const wire = (ends: [[string, string, string?], [string, string, string?]]) => {
    const [[n1, ns1], [n2, ns2]] = ends;
    execFileSync("ip", [
      "link",
      "add",
      n1,
      "netns",
      ns1,
      "type",
      "veth",
      "peer",
      "name",
      n2,
      "netns",
      ns2,
    ]);
    for (const [name, ns, master] of ends) {
      if (master) a.net.nsOk(["ip", "link", "set", name, "master", master], ns);
      a.net.nsOk(["ip", "link", "set", name, "up"], ns);
    }
  };

  before(async () => {
    a = openHost("lana", "10.253.0.1");
    b = openHost("lanb", "10.253.0.2");
    clientNs = a.net.namespace("lanc");
    lan = `lxtlan${a.net.tag}`;
    // The hosts' own link, for HTTPS.
    wire([
      [a.net.network("ha"), a.net.ns, undefined],
      [b.net.network("hb"), b.net.ns, undefined],
    ]);
    for (const [h, link] of [
      [a, a.net.network("ha")],
      [b, b.net.network("hb")],
    ] as const)
      h.net.nsOk(["ip", "addr", "add", `${h.addr}/24`, "dev", link]);
    // One subnet, a gateway and a DHCP range of each host's own.
    a.net.ok([
      "network",
      "create",
      lan,
      "--ipv4",
      "10.77.0.1/24",
      "--dhcp-range",
      "10.77.0.2-10.77.0.99",
      "--nat",
      "false",
    ]);
    b.net.ok([
      "network",
      "create",
      lan,
      "--ipv4",
      "10.77.0.254/24",
      "--dhcp-range",
      "10.77.0.100-10.77.0.199",
      "--nat",
      "false",
    ]);
    // The LAN: a's bridge to b's, and the client on a's.
    wire([
      [a.net.network("la"), a.net.ns, lan],
      [b.net.network("lb"), b.net.ns, lan],
    ]);
    wire([
      [a.net.network("lc"), a.net.ns, lan],
      ["eth0", clientNs, undefined],
    ]);
    a.net.nsOk(["ip", "addr", "add", "10.77.0.250/24", "dev", "eth0"], clientNs);
    await startDaemon(a);
    await startDaemon(b);
    const token = b.net.ok(["trust", "token", "from-a"]).trim();
    a.net.ok(["remote", "add", "b", `https://${b.addr}:8443`, "--token", token]);
    // A criu whose restore fails, for b's daemon in one test.
    fakeCriu = mkdtempSync("/tmp/lxt-test-fakecriu-");
    chmodSync(fakeCriu, 0o755);
    const real = execFileSync("sh", ["-c", "command -v criu"], { encoding: "utf8" }).trim();
    writeFileSync(
      join(fakeCriu, "criu"),
      `#!/bin/sh\nif [ "$1" = restore ]; then echo "Error (injected): restore refused" >&2; exit 1; fi\nexec ${real} "$@"\n`,
      { mode: 0o755 },
    );
  });

  after(async () => {
    for (const c of conns) {
      c.child.stdin?.end();
      c.child.kill();
    }
    for (const h of hosts) {
      for (const n of names(h)) h.net.lxt(["destroy", "-f", "-s", "-n", n]);
      await h.box.stopDaemon();
      h.net.dispose();
      await h.box.close();
    }
    if (fakeCriu) rmSync(fakeCriu, { recursive: true, force: true });
  });

  const eth0 = (h: Host, c: string) => eth0Of(h.net.ok, c);
  /** The pid (on this machine) of the container's nc server, by its command line. */
  const serverPid = (h: Host, c: string): number => {
    const out = h.net.ok(["attach", "-n", c, "--", "sh", "-c", "cat /tmp/nc.pid"]).trim();
    return Number(out);
  };
  /** A privileged busybox container on a's LAN network, serving the counter; its address. */
  const startServer = async (prefix: string): Promise<{ c: string; addr: string }> => {
    const c = a.net.name(prefix);
    a.net.ok(["create", "-n", c, "-t", "busybox", "--network", lan]);
    const cfg = join(a.box.lxcpath, c, "config");
    execFileSync("sed", ["-i", "s/^lxt.privileged = 0$/lxt.privileged = 1/", cfg]);
    writeFileSync(join(a.box.lxcpath, c, "rootfs", "serve.sh"), SERVE, { mode: 0o755 });
    a.net.ok(["start", "-n", c]);
    a.net.ok([
      "attach",
      "-n",
      c,
      "--",
      "sh",
      "-c",
      `setsid sh -c 'echo $$ > /tmp/nc.pid; exec nc -l -p ${PORT} -e /serve.sh' </dev/null >/dev/null 2>&1 &`,
    ]);
    const addr = eth0(a, c).addr;
    assert.match(addr, /^10\.77\.0\.\d+\/24$/);
    return { c, addr: addr.split("/")[0] ?? "" };
  };
  /** The client, connected from its namespace; resolves once it has replies. */
  const connect = async (ip: string): Promise<Conn> => {
    // A container of an earlier test may have had the address (a's range
    // hands it out again once that one left): the client asks afresh.
    a.net.nsOk(["ip", "neigh", "flush", "all"], clientNs);
    const argv = [`--net=/run/netns/${clientNs}`, process.execPath, CLIENT, ip, String(PORT)];
    const child = spawn("nsenter", argv, { stdio: ["pipe", "pipe", "inherit"] });
    const c: Conn = { child, lines: [] };
    conns.push(c);
    let part = "";
    child.stdout?.on("data", (d: Buffer) => {
      part += d.toString();
      const all = part.split("\n");
      part = all.pop() ?? "";
      c.lines.push(...all);
    });
    await until(() => c.lines.length >= 5 || child.exitCode !== null, 20_000);
    assert.ok(c.lines.length >= 5, `the client got: ${c.lines.join(" | ")}`);
    return c;
  };
  /** The replies so far: each `n` one more than the last, no end; the longest gap between two (ms). */
  const check = (c: Conn): { last: number; gapMs: number } => {
    let prev = 0;
    let prevT = 0;
    let gapMs = 0;
    for (const l of c.lines) {
      const [t, n] = l.split(" ");
      assert.ok(t && /^\d+$/.test(t) && n && /^\d+$/.test(n), `the connection broke: ${l}`);
      assert.equal(Number(n), prev + 1, `a gap in the counter: ${prev} then ${n}`);
      if (prevT) gapMs = Math.max(gapMs, Number(t) - prevT);
      prev = Number(n);
      prevT = Number(t);
    }
    return { last: prev, gapMs };
  };
  /** Waits until the client has had `more` replies beyond `n`. */
  const goesOn = async (c: Conn, n: number, more = 5) => {
    assert.ok(
      await until(() => check(c).last >= n + more || c.child.exitCode !== null, 30_000),
      "the counter stopped",
    );
    assert.ok(check(c).last >= n + more, `the connection ended: ${c.lines.slice(-3).join(" | ")}`);
  };
  const stop = (c: Conn) => {
    c.child.stdin?.end();
  };
  /** A serving container with its client connected, and what b and the cgroups were before its move. */
  interface Served {
    c: string;
    pid: number;
    conn: Conn;
    linksB: string[];
    cgBefore: string;
  }
  const served = async (prefix: string): Promise<Served> => {
    const made = await startServer(prefix);
    const { c, addr } = made;
    const pid = serverPid(a, c);
    const conn = await connect(addr);
    return { c, pid, conn, linksB: b.net.links(), cgBefore: cgroups(c) };
  };
  /**
   * Asserts the container runs on a with the same server, its connection
   * served, and nothing of it is on b: no container, spool, staging, link
   * or cgroup.
   */
  const stayed = async ({ c, pid, conn, linksB, cgBefore }: Served) => {
    assert.match(a.net.ok(["ls", "-f"]), new RegExp(`${c}\\s+RUNNING`));
    assert.equal(serverPid(a, c), pid);
    await goesOn(conn, check(conn).last);
    assert.equal(names(b).includes(c), false);
    assert.ok(
      await until(() => uploads(b).length === 0 && hidden(b).length === 0, 20_000),
      `b kept ${[...uploads(b), ...hidden(b)]}`,
    );
    assert.deepEqual(b.net.links(), linksB);
    // Both hosts share this machine's cgroup tree: the container's cgroups are a's, as before.
    assert.deepEqual(cgroups(c), cgBefore);
  };

  test("moved live: same MAC and address on b, reserved there; the connection survives, no gap", async () => {
    const made = await startServer("live");
    const { c, addr } = made;
    const here = eth0(a, c);
    const pid = serverPid(a, c);
    const conn = await connect(addr);
    const r = a.net.lxt(["move", "-v", c, "b:"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /stopped for \d+ ms/);
    assert.equal(names(a).includes(c), false);
    assert.match(b.net.ok(["ls", "-f"]), new RegExp(`${c}\\s+RUNNING`));
    assert.deepEqual(eth0(b, c), here);
    assert.equal(serverPid(b, c), pid);
    const n = check(conn).last;
    await goesOn(conn, n);
    const { gapMs } = check(conn);
    console.log(`# longest gap between replies across the move: ${gapMs} ms`);
    // b reserves the address the container has, not one of its own range.
    const shown = JSON.parse(b.net.ok(["network", "show", lan, "--format", "json"])) as {
      reservations: { container: string; ipv4: string }[];
    };
    assert.deepEqual(
      shown.reservations.filter((x) => x.container === c).map((x) => x.ipv4),
      [addr],
    );
    stop(conn);
    b.net.ok(["destroy", "-f", "-n", c]);
  });

  test("b's network has another subnet: refused by b, the container runs on here, the connection too", async () => {
    const s = await served("subn");
    const { c, conn } = s;
    b.net.ok(["network", "set", lan, "ipv4.address", "10.78.0.254/24"]);
    try {
      const r = a.net.lxt(["move", c, "b:"]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /outside network .* subnet here \(10\.78\.0\.254\/24\)/);
      await stayed(s);
    } finally {
      b.net.ok(["network", "set", lan, "ipv4.address", "10.77.0.254/24"]);
    }
    stop(conn);
  });

  test("b's lxtd killed during the freeze: the container runs on here, the connection too; nothing on b", async () => {
    const s = await served("cut");
    const { c, conn } = s;
    const moving = a.net.run(["move", c, "b:"]);
    const spool = join(b.box.lxcpath, ".lxtd", "uploads");
    assert.ok(
      await until(() => uploads(b).some((f) => existsSync(join(spool, f, "delta"))), 120_000),
      "no delta arrived",
    );
    const daemon = b.box.daemon;
    daemon?.kill("SIGKILL");
    if (daemon) await exitWithin(daemon, 10_000);
    b.box.daemon = undefined;
    const r = await moving;
    assert.equal(r.code, 1, r.stdout + r.stderr);
    // Cut in a request (the remote named) or between two (its URL unreachable).
    assert.match(r.stderr, /remote b|cannot reach https:\/\/10\.253\.0\.2:8443/);
    // Its next start removes what the killed one spooled and unpacked.
    await startDaemon(b);
    await stayed(s);
    stop(conn);
  });

  test("b's criu restore fails: the container runs on here, the connection too; nothing on b", async () => {
    await b.box.stopDaemon();
    await startDaemon(b, { PATH: `${fakeCriu}:${process.env.PATH ?? ""}` });
    try {
      const s = await served("rfail");
      const { c, conn } = s;
      const r = a.net.lxt(["move", c, "b:"]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /remote b: .*restore/);
      await stayed(s);
      stop(conn);
    } finally {
      await b.box.stopDaemon();
      await startDaemon(b);
    }
  });
});
