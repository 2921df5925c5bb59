/**
 * A three-member etcd on loopback for the cluster tests: Debian's etcd
 * binary, each member with its own data dir under one temp dir and its own
 * client and peer ports (picked free). Never the package's etcd.service.
 * SIGKILL at the end: a member waits seconds on SIGTERM.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exitOf, hasCmd, LXT, NetnsSandbox, until } from "./harness.js";
import { LxtdSandbox } from "./lxtd-harness.js";

/** Why etcd tests cannot run here, or undefined when they can. */
export function etcdSkipReason(): string | undefined {
  if (!hasCmd("etcd") || !hasCmd("etcdctl")) {
    return "SKIP: etcd is not installed (apt-get install etcd-server etcd-client)";
  }
  return undefined;
}

/** `n` ports free on 127.0.0.1 now (all held together, then let go). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve) => {
          const s = createServer();
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export class EtcdCluster {
  readonly dir = mkdtempSync(join(tmpdir(), "lxt-etcd-"));
  readonly members: ChildProcess[] = [];
  /** The client URLs, one per member. */
  endpoints: string[] = [];
  log = "";

  /**
   * Starts `size` members and resolves once every one is healthy. `netns`:
   * in that network namespace (`/run/netns/NAME`), clients served on
   * `host` there (an address of the namespace's), peers on its loopback.
   */
  async start(size = 3, at: { netns?: string; host?: string } = {}): Promise<void> {
    // Ports picked free here are free in a fresh namespace too.
    const ports = await freePorts(size * 2);
    const peer = (i: number) => `http://127.0.0.1:${ports[size + i]}`;
    const host = at.host ?? "127.0.0.1";
    this.endpoints = Array.from({ length: size }, (_, i) => `http://${host}:${ports[i]}`);
    const inNs = (argv: string[]): [string, string[]] =>
      at.netns
        ? ["nsenter", [`--net=/run/netns/${at.netns}`, ...argv]]
        : [argv[0] ?? "", argv.slice(1)];
    this.nsenter = at.netns ? [`--net=/run/netns/${at.netns}`] : undefined;
    const initial = Array.from({ length: size }, (_, i) => `e${i}=${peer(i)}`).join(",");
    for (let i = 0; i < size; i++) {
      const child = spawn(
        ...inNs([
          "etcd",
          "--name",
          `e${i}`,
          "--data-dir",
          join(this.dir, `e${i}`),
          "--listen-client-urls",
          this.endpoints[i] ?? "",
          "--advertise-client-urls",
          this.endpoints[i] ?? "",
          "--listen-peer-urls",
          peer(i),
          "--initial-advertise-peer-urls",
          peer(i),
          "--initial-cluster",
          initial,
          "--initial-cluster-token",
          `lxt-test-${process.pid}`,
          "--initial-cluster-state",
          "new",
        ]),
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      child.stderr?.on("data", (b: Buffer) => {
        this.log = (this.log + b.toString()).slice(-8000);
      });
      this.members.push(child);
    }
    const healthy = await until(() => this.healthy(this.endpoints), 30_000);
    if (!healthy) throw new Error(`etcd did not become healthy:\n${this.log}`);
  }

  /** nsenter's arguments when the members run in a namespace. */
  nsenter?: string[];

  /** Whether `etcdctl endpoint health` passes for `endpoints` (from the members' namespace). */
  healthy(endpoints: readonly string[]): boolean {
    const argv = ["etcdctl", "--endpoints", endpoints.join(","), "endpoint", "health"];
    const [cmd, args] = this.nsenter
      ? ["nsenter", [...this.nsenter, ...argv]]
      : [argv[0] as string, argv.slice(1)];
    return (
      spawnSync(cmd, args, {
        env: { ...process.env, ETCDCTL_API: "3" },
        encoding: "utf8",
        timeout: 5000,
      }).status === 0
    );
  }

  /** SIGKILL to every member, waited for; then the data dirs go. */
  async close(): Promise<void> {
    await Promise.all(
      this.members.map((c) => {
        if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
        return exitOf(c);
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** SIGKILLs etcd member `i` of `etcd` and waits for its exit (its data dir stays). */
export async function killEtcdMember(etcd: EtcdCluster, i: number): Promise<void> {
  const c = etcd.members[i];
  if (!c) throw new Error(`no etcd member ${i}`);
  if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await exitOf(c);
}

/**
 * Starts killed member `i` again on its data dir, with the arguments it
 * first ran with (a member with data ignores the initial-cluster flags),
 * and resolves once its endpoint is healthy (the cluster has a leader).
 */
export async function restartEtcdMember(etcd: EtcdCluster, i: number): Promise<void> {
  const old = etcd.members[i];
  if (!old) throw new Error(`no etcd member ${i}`);
  const child = spawn(old.spawnargs[0] ?? "etcd", old.spawnargs.slice(1), {
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr?.on("data", (b: Buffer) => {
    etcd.log = (etcd.log + b.toString()).slice(-8000);
  });
  etcd.members[i] = child;
  const healthy = await until(() => etcd.healthy([etcd.endpoints[i] ?? ""]), 30_000);
  if (!healthy) throw new Error(`etcd member ${i} did not become healthy again:\n${etcd.log}`);
}

/**
 * One etcd member in network namespace `ns`, listening on `ip` (client
 * port 2379, peer port 2380: the namespace is the test's own), for members
 * that run in other namespaces. SIGKILL at the end, as `EtcdCluster`.
 */
export class NetnsEtcd {
  readonly dir = mkdtempSync(join(tmpdir(), "lxt-etcd-"));
  readonly endpoint: string;
  private child?: ChildProcess;
  log = "";

  constructor(
    readonly ns: string,
    readonly ip: string,
  ) {
    this.endpoint = `http://${ip}:2379`;
  }

  /** Starts the member; resolves once it is healthy. */
  async start(): Promise<void> {
    const peer = `http://${this.ip}:2380`;
    const child = spawn(
      "nsenter",
      [
        `--net=/run/netns/${this.ns}`,
        "etcd",
        "--name",
        "e0",
        "--data-dir",
        join(this.dir, "e0"),
        "--listen-client-urls",
        this.endpoint,
        "--advertise-client-urls",
        this.endpoint,
        "--listen-peer-urls",
        peer,
        "--initial-advertise-peer-urls",
        peer,
        "--initial-cluster",
        `e0=${peer}`,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    child.stderr?.on("data", (b: Buffer) => {
      this.log = (this.log + b.toString()).slice(-8000);
    });
    this.child = child;
    const healthy = await until(
      () =>
        spawnSync(
          "nsenter",
          [
            `--net=/run/netns/${this.ns}`,
            "etcdctl",
            "--endpoints",
            this.endpoint,
            "endpoint",
            "health",
          ],
          { env: { ...process.env, ETCDCTL_API: "3" }, encoding: "utf8", timeout: 5000 },
        ).status === 0,
      30_000,
    );
    if (!healthy) throw new Error(`etcd did not become healthy:\n${this.log}`);
  }

  /** SIGKILL (nsenter execs etcd: the child is etcd), waited for; then the data dir goes. */
  async close(): Promise<void> {
    const c = this.child;
    if (c && c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    if (c) await exitOf(c);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A join token for member `name`, issued by the lxtd of `issuer` (`lxt cluster add`). */
export function joinToken(issuer: LxtdSandbox, name: string): string {
  const r = spawnSync(LXT, ["cluster", "add", name, "-P", issuer.lxcpath], { encoding: "utf8" });
  const m = /join token:\n([A-Za-z0-9+/=]+)\n$/.exec(r.stdout);
  if (r.status !== 0 || !m) throw new Error(`lxt cluster add ${name}: ${r.stdout}${r.stderr}`);
  return m[1] as string;
}

/** Polls `probe` until it gives a value or `ms` pass; its last answer (undefined: it never did). */
export async function waitFor<T>(probe: () => T | undefined, ms: number): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Three etcd members and lxtd members named `names` on loopback, each lxtd
 * with its own state root and HTTPS on 127.0.0.1 (its `--address`), with a
 * lease of `ttl` seconds. `close()` kills and removes everything.
 */
export class LoopbackMembers {
  readonly etcd = new EtcdCluster();
  readonly boxes: LxtdSandbox[] = [];
  readonly ports: number[] = [];

  /** `roots`: a state root of the test's own for member i (a btrfs mount), kept by `close`. */
  constructor(
    readonly names: string[],
    readonly ttl: number,
    readonly roots: (string | undefined)[] = [],
  ) {}

  /** Starts etcd and the first `members` lxtds (all by default). */
  async start(members = this.names.length): Promise<void> {
    await this.etcd.start(3);
    this.ports.push(...(await freePorts(this.names.length)));
    for (const [i] of this.names.entries()) this.boxes.push(new LxtdSandbox(this.roots[i]));
    for (let i = 0; i < members; i++) await this.startMember(i);
  }

  box(i: number): LxtdSandbox {
    return this.boxes[i] as LxtdSandbox;
  }

  /** Starts member `i`'s lxtd (again), with `extra` flags. */
  startMember(i: number, extra: string[] = []): Promise<void> {
    return this.box(i).startDaemon([
      ...memberFlags(this.etcd, this.names[i] ?? "", `127.0.0.1:${this.ports[i]}`, this.ttl),
      ...extra,
    ]);
  }

  /** Stops every lxtd and etcd member; the paths that are still there (none when all went). */
  async close(): Promise<string[]> {
    for (const b of this.boxes) await b.close();
    await this.etcd.close();
    return [...this.boxes.map((b) => b.lxcpath), this.etcd.dir].filter(
      (p) => existsSync(p) && !this.roots.includes(p),
    );
  }
}

/**
 * lxtd's flags for cluster member `member` serving HTTPS on `at` (HOST:PORT,
 * also its `--address`) with a lease of `ttl` seconds, on `etcd`'s members.
 */
export function memberFlags(
  etcd: { endpoints: string[] },
  member: string,
  at: string,
  ttl: number,
): string[] {
  return [
    ...["--https", at, "--cluster", etcd.endpoints.join(",")],
    ...["--member", member, "--address", `https://${at}`],
    ...["--cluster-ttl", String(ttl)],
  ];
}

/** A "machine" on a `NetnsSwitch`: its own state root and network namespace, wired to the switch. */
export interface SwitchedHost {
  box: LxtdSandbox;
  net: NetnsSandbox;
  /** Its address on the switch's segment. */
  ip: string;
  /** Its end of the wire (in `net.ns`): set it down to cut the host off. */
  wire: string;
}

/**
 * A switch for hosts on separate "machines": a hub namespace with a bridge
 * (`ip`, `.254` of `subnet`, a /24), and hosts plugged into it, each an
 * `LxtdSandbox` in a namespace of its own joined to the bridge by a veth,
 * at `.1`, `.2`, ... in plugging order. `close()` stops every host's
 * lxtd, removes its containers, state root and namespace (the links and
 * nft tables go with the namespaces), then the hub.
 */
export class NetnsSwitch {
  readonly hub: NetnsSandbox;
  readonly hosts: SwitchedHost[] = [];
  /** The hub's address on the segment (etcd listens there). */
  readonly ip: string;
  private readonly bridge: string;

  /** `prefix`: of the namespaces' names (`lxt-PREFIXhub-TAG`, `lxt-PREFIXN-TAG`); `subnet`: the first three octets. */
  constructor(
    readonly prefix: string,
    readonly subnet = "10.251.0",
  ) {
    this.hub = new NetnsSandbox(`${prefix}hub`);
    this.ip = `${subnet}.254`;
    this.bridge = this.hub.network("sw");
  }

  /** Creates the hub namespace and its bridge; call in `before`, after the skip check. */
  open(): void {
    this.hub.open();
    this.hub.nsOk(["ip", "link", "add", this.bridge, "type", "bridge"]);
    this.hub.nsOk(["ip", "addr", "add", `${this.ip}/24`, "dev", this.bridge]);
    this.hub.nsOk(["ip", "link", "set", this.bridge, "up"]);
  }

  /** A new host, wired to the bridge and addressed, its lxtd not started. */
  plug(): SwitchedHost {
    const n = this.hosts.length;
    const box = new LxtdSandbox();
    const net = new NetnsSandbox(`${this.prefix}${n}`, { box });
    const host = { box, net, ip: `${this.subnet}.${n + 1}`, wire: net.network("w") };
    this.hosts.push(host);
    net.open();
    const port = this.hub.network(`p${n}`);
    execFileSync("ip", [
      ...["link", "add", host.wire, "netns", net.ns],
      ...["type", "veth", "peer", "name", port, "netns", this.hub.ns],
    ]);
    this.hub.nsOk(["ip", "link", "set", port, "master", this.bridge, "up"]);
    net.nsOk(["ip", "addr", "add", `${host.ip}/24`, "dev", host.wire]);
    net.nsOk(["ip", "link", "set", host.wire, "up"]);
    return host;
  }

  /** Undoes everything; the paths still there (none when all went). */
  async close(): Promise<string[]> {
    for (const h of this.hosts) await h.box.stopDaemon();
    for (const h of this.hosts) {
      // The box's cleanup destroys every container left in its root, whatever its name.
      h.net.dispose();
      await h.box.close();
    }
    this.hub.dispose();
    return this.hosts.map((h) => h.box.lxcpath).filter((p) => existsSync(p));
  }
}

/**
 * The namespaced counterpart of `LoopbackMembers`: three etcd members in a
 * `NetnsSwitch`'s hub (clients on the hub's address, peers on its
 * loopback) and lxtd members named `names`, each on a host of the switch
 * (its own namespace and state root) with HTTPS on its address, port 8443
 * (its `--address`), with a lease of `ttl` seconds. Members reach etcd and
 * one another only over the wires. `close()` kills and removes everything.
 */
export class NetnsMembers {
  readonly etcd = new EtcdCluster();
  readonly net = new NetnsSwitch("cm");

  constructor(
    readonly names: string[],
    readonly ttl: number,
  ) {}

  /** Plugs the hosts, starts etcd and the first `members` lxtds (all by default). */
  async start(members = this.names.length): Promise<void> {
    this.net.open();
    for (const _ of this.names) this.net.plug();
    await this.etcd.start(3, { netns: this.net.hub.ns, host: this.net.ip });
    for (let i = 0; i < members; i++) await this.startMember(i);
  }

  host(i: number): SwitchedHost {
    const h = this.net.hosts[i];
    if (!h) throw new Error(`no host ${i}`);
    return h;
  }

  box(i: number): LxtdSandbox {
    return this.host(i).box;
  }

  get boxes(): LxtdSandbox[] {
    return this.net.hosts.map((h) => h.box);
  }

  /** The lxtd flags of member `member` on host `h`, with `extra`. */
  flags(h: SwitchedHost, member: string, extra: string[] = []): string[] {
    return [...memberFlags(this.etcd, member, `${h.ip}:8443`, this.ttl), ...extra];
  }

  /** Starts member `i`'s lxtd (again) in its namespace, with `extra` flags. */
  startMember(i: number, extra: string[] = []): Promise<void> {
    const h = this.host(i);
    return h.box.startDaemon(this.flags(h, this.names[i] ?? "", extra), { netns: h.net.ns });
  }

  /** Stops every lxtd and etcd member, removes the hosts; the paths still there (none when all went). */
  async close(): Promise<string[]> {
    for (const h of this.net.hosts) await h.box.stopDaemon();
    await this.etcd.close();
    const left = await this.net.close();
    return [...left, this.etcd.dir].filter((p) => existsSync(p));
  }
}
