/**
 * Two lxtd hosts on one LAN, for live-move tests (docs/migrate.md, "Two
 * hosts on one LAN"): each host a network namespace with its own state
 * root and lxtd (HTTPS between them over a link of their own), and a
 * managed network of one name and subnet on each, their bridges joined at
 * layer 2 by a veth "wire" (host a: gateway .1 and DHCP range .2-.99;
 * host b: .254 and .100-.199). A client in a third namespace, plugged into
 * a's bridge, holds a TCP connection to a counter server in a container
 * (busybox nc: one shell per connection, replying 1, 2, 3, ...).
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eth0Of, until } from "./harness.js";
import { background, type Host, makePrivileged, TwoHosts } from "./two-hosts.js";

export type { Host } from "./two-hosts.js";

const CLIENT = join(import.meta.dirname, "lan-client.cjs");
const PORT = 7000;
/** The counter: one shell per connection (nc -e), its count in its memory. */
const SERVE = "#!/bin/sh\ni=0\nwhile read -r _; do i=$((i+1)); echo $i; done\n";

/** A client's connection: the replies it printed so far. */
export interface Conn {
  child: ChildProcess;
  lines: string[];
}

/** A serving container with its client connected, and what b and the cgroups were before its move. */
export interface Served {
  c: string;
  pid: number;
  conn: Conn;
  linksB: string[];
  cgBefore: string;
}

/** Cgroup directories named after `c` (other helpers' cgroups may go while find walks: its status is theirs). */
export const cgroups = (c: string) =>
  spawnSync("find", ["/sys/fs/cgroup", "-name", `*${c}*`], { encoding: "utf8" }).stdout.trim();

/** The two hosts (two-hosts.ts), the LAN, the client's namespace and the helpers the tests share; `open()` in `before`, `close()` in `after`. */
export class LanHosts extends TwoHosts {
  clientNs = "";
  /** The managed network, one name on both hosts. */
  lan = "";
  readonly conns: Conn[] = [];
  /** A directory whose `criu` fails every restore and runs the real one otherwise (`restartB(true)`). */
  fakeCriu = "";

  /** b's lxtd again, with a criu whose restore fails when `failing`. */
  async restartB(failing: boolean): Promise<void> {
    await this.b.box.stopDaemon();
    await this.startDaemon(
      this.b,
      failing ? { PATH: `${this.fakeCriu}:${process.env.PATH ?? ""}` } : {},
    );
  }

  override async open(prefix: string): Promise<void> {
    await super.open(prefix, { subnet: "10.253.0", setup: () => this.lanSetup(prefix) });
    this.fakeCriu = mkdtempSync("/tmp/lxt-test-fakecriu-");
    chmodSync(this.fakeCriu, 0o755);
    const real = execFileSync("sh", ["-c", "command -v criu"], { encoding: "utf8" }).trim();
    writeFileSync(
      join(this.fakeCriu, "criu"),
      `#!/bin/sh\nif [ "$1" = restore ]; then echo "Error (injected): restore refused" >&2; exit 1; fi\nexec ${real} "$@"\n`,
      { mode: 0o755 },
    );
  }

  /** One subnet on both hosts' bridges, a gateway and a DHCP range of each host's own, joined; the client on a's. */
  private lanSetup(prefix: string): void {
    const { a, b } = this;
    this.clientNs = a.net.namespace(`${prefix}c`);
    const lan = `lxtlan${a.net.tag}`;
    this.lan = lan;
    for (const [h, gw, range] of [
      [a, "10.77.0.1/24", "10.77.0.2-10.77.0.99"],
      [b, "10.77.0.254/24", "10.77.0.100-10.77.0.199"],
    ] as const)
      h.net.ok(["network", "create", lan, "--ipv4", gw, "--dhcp-range", range, "--nat", "false"]);
    this.wire([
      [a.net.network("la"), a.net.ns, lan],
      [b.net.network("lb"), b.net.ns, lan],
    ]);
    this.wire([
      [a.net.network("lc"), a.net.ns, lan],
      ["eth0", this.clientNs, undefined],
    ]);
    a.net.nsOk(["ip", "addr", "add", "10.77.0.250/24", "dev", "eth0"], this.clientNs);
  }

  override async close(): Promise<void> {
    for (const c of this.conns) {
      c.child.stdin?.end();
      c.child.kill();
    }
    await super.close();
    if (this.fakeCriu) rmSync(this.fakeCriu, { recursive: true, force: true });
  }

  eth0(h: Host, c: string) {
    return eth0Of(h.net.ok, c);
  }

  /** The pid (on this machine) of the container's nc server, by its command line. */
  serverPid(h: Host, c: string): number {
    const out = h.net.ok(["attach", "-n", c, "--", "sh", "-c", "cat /tmp/nc.pid"]).trim();
    return Number(out);
  }

  /** A privileged busybox container on a's LAN network, serving the counter; its address. */
  async startServer(prefix: string): Promise<{ c: string; addr: string }> {
    const { a, lan } = this;
    const c = a.net.name(prefix);
    a.net.ok(["create", "-n", c, "-t", "busybox", "--network", lan]);
    makePrivileged(a, c);
    writeFileSync(join(a.box.lxcpath, c, "rootfs", "serve.sh"), SERVE, { mode: 0o755 });
    a.net.ok(["start", "-n", c]);
    background(a, c, `sh -c 'echo $$ > /tmp/nc.pid; exec nc -l -p ${PORT} -e /serve.sh'`);
    const addr = this.eth0(a, c).addr;
    assert.match(addr, /^10\.77\.0\.\d+\/24$/);
    return { c, addr: addr.split("/")[0] ?? "" };
  }

  /** The client, connected from its namespace; resolves once it has replies. */
  async connect(ip: string): Promise<Conn> {
    // A container of an earlier test may have had the address (a's range
    // hands it out again once that one left): the client asks afresh.
    this.a.net.nsOk(["ip", "neigh", "flush", "all"], this.clientNs);
    const argv = [`--net=/run/netns/${this.clientNs}`, process.execPath, CLIENT, ip, String(PORT)];
    const child = spawn("nsenter", argv, { stdio: ["pipe", "pipe", "inherit"] });
    const c: Conn = { child, lines: [] };
    this.conns.push(c);
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
  }

  /** The replies so far: each `n` one more than the last, no end; the longest gap between two (ms). */
  check(c: Conn): { last: number; gapMs: number } {
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
  }

  /** Waits until the client has had `more` replies beyond `n`. */
  async goesOn(c: Conn, n: number, more = 5): Promise<void> {
    assert.ok(
      await until(() => this.check(c).last >= n + more || c.child.exitCode !== null, 30_000),
      "the counter stopped",
    );
    assert.ok(
      this.check(c).last >= n + more,
      `the connection ended: ${c.lines.slice(-3).join(" | ")}`,
    );
  }

  stop(c: Conn): void {
    c.child.stdin?.end();
  }

  async served(prefix: string): Promise<Served> {
    const { c, addr } = await this.startServer(prefix);
    const pid = this.serverPid(this.a, c);
    const conn = await this.connect(addr);
    return { c, pid, conn, linksB: this.b.net.links(), cgBefore: cgroups(c) };
  }

  /**
   * Asserts the container runs on a with the same server, its connection
   * served (unless `connection` is false), and nothing of it is on b: no
   * container, spool, staging, link or cgroup.
   */
  async stayed({ c, pid, conn, linksB, cgBefore }: Served, connection = true): Promise<void> {
    const { a, b } = this;
    assert.match(a.net.ok(["ls", "-f"]), new RegExp(`${c}\\s+RUNNING`));
    assert.equal(this.serverPid(a, c), pid);
    if (connection) await this.goesOn(conn, this.check(conn).last);
    assert.equal(this.names(b).includes(c), false);
    assert.ok(
      await until(() => this.uploads(b).length === 0 && this.hidden(b).length === 0, 20_000),
      `b kept ${[...this.uploads(b), ...this.hidden(b)]}`,
    );
    assert.deepEqual(b.net.links(), linksB);
    // Both hosts share this machine's cgroup tree: the container's cgroups are a's, as before.
    assert.deepEqual(cgroups(c), cgBefore);
  }
}
