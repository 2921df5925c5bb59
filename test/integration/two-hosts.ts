/**
 * Two lxtd hosts on this machine, for tests of moves between hosts
 * (docs/migrate.md): each host a network namespace with its own state root
 * and lxtd, HTTPS between them over a veth link of their own (host a at
 * SUBNET.1, host b at SUBNET.2), and a's remote `b` trusted by token.
 * lan-hosts.ts adds a LAN between their containers.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NetnsSandbox } from "./harness.js";
import { LxtdSandbox } from "./lxtd-harness.js";

export interface Host {
  box: LxtdSandbox;
  net: NetnsSandbox;
  /** Its address on the hosts' own link (HTTPS). */
  addr: string;
}

/** A counter for a container's `/counter.sh`: `PID N` in /tmp/count every 50 ms, N counting up. */
export const COUNTER = `#!/bin/sh
i=0
while true; do i=$((i+1)); echo "$$ $i" > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.05; done
`;

/** Makes container `c` of host `h` privileged (before its start). */
export function makePrivileged(h: Host, c: string): void {
  const cfg = join(h.box.lxcpath, c, "config");
  writeFileSync(
    cfg,
    readFileSync(cfg, "utf8").replace(/^lxt\.privileged = 0$/m, "lxt.privileged = 1"),
  );
}

/** Runs shell `command` detached in running container `c` of host `h` (its own session, no stdio). */
export function background(h: Host, c: string, command: string): void {
  h.net.ok(["attach", "-n", c, "--", "sh", "-c", `setsid ${command} </dev/null >/dev/null 2>&1 &`]);
}

export interface TwoHostsOptions {
  /** The first three bytes of the hosts' link addresses (`10.251.0`). */
  subnet: string;
  /** Also b's remote `a` (a's `b` is always made). */
  both?: boolean;
  /** The sandboxes' command timeout (NetnsSandbox's `timeoutMs`). */
  timeoutMs?: number;
  /** Run once the hosts and their link exist, before their daemons start. */
  setup?: () => void;
}

/** The two hosts; `open()` in `before`, `close()` in `after`. */
export class TwoHosts {
  a!: Host;
  b!: Host;
  readonly hosts: Host[] = [];

  private openHost(prefix: string, addr: string, timeoutMs?: number): Host {
    const box = new LxtdSandbox();
    const net = new NetnsSandbox(prefix, timeoutMs ? { box, timeoutMs } : { box });
    const h = { box, net, addr };
    this.hosts.push(h);
    net.open();
    return h;
  }

  /** Hosts `${prefix}a` and `${prefix}b`, their link, their daemons and the remotes. */
  async open(prefix: string, o: TwoHostsOptions): Promise<void> {
    this.a = this.openHost(`${prefix}a`, `${o.subnet}.1`, o.timeoutMs);
    this.b = this.openHost(`${prefix}b`, `${o.subnet}.2`, o.timeoutMs);
    const { a, b } = this;
    this.wire([
      [a.net.network("ha"), a.net.ns, undefined],
      [b.net.network("hb"), b.net.ns, undefined],
    ]);
    for (const [h, link] of [
      [a, a.net.network("ha")],
      [b, b.net.network("hb")],
    ] as const)
      h.net.nsOk(["ip", "addr", "add", `${h.addr}/24`, "dev", link]);
    o.setup?.();
    await this.startDaemon(a);
    await this.startDaemon(b);
    this.addRemote(a, b, "b");
    if (o.both) this.addRemote(b, a, "a");
  }

  startDaemon(h: Host, env: NodeJS.ProcessEnv = {}) {
    return h.box.startDaemon(["--https", `${h.addr}:8443`], { netns: h.net.ns, env });
  }

  /** `to` as remote `name` of `from`, trusted by a one-time token. */
  addRemote(from: Host, to: Host, name: string): void {
    const token = to.net.ok(["trust", "token", `from-${name}`]).trim();
    from.net.ok(["remote", "add", name, `https://${to.addr}:8443`, "--token", token]);
  }

  /** The containers (directories) of a host's state root. */
  names(h: Host) {
    return readdirSync(h.box.lxcpath).filter((n) => !n.startsWith("."));
  }
  hidden(h: Host) {
    return readdirSync(h.box.lxcpath).filter((n) => n.startsWith(".lxt-"));
  }
  uploads(h: Host) {
    const dir = join(h.box.lxcpath, ".lxtd", "uploads");
    return existsSync(dir) ? readdirSync(dir) : [];
  }

  /** A veth pair between namespaces, each end up (and on `master` when given). */
  wire(ends: [[string, string, string?], [string, string, string?]]) {
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
      if (master) this.a.net.nsOk(["ip", "link", "set", name, "master", master], ns);
      this.a.net.nsOk(["ip", "link", "set", name, "up"], ns);
    }
  }

  async close(): Promise<void> {
    for (const h of this.hosts) {
      for (const n of this.names(h)) h.net.lxt(["destroy", "-f", "-s", "-n", n]);
      await h.box.stopDaemon();
      h.net.dispose();
      await h.box.close();
    }
  }
}
