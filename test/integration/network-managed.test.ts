/**
 * Managed networks, second part: the default network of a new container,
 * `network set`, IPv6, DHCP reservations and lease listing, port forwards,
 * FORWARD-policy warnings and missing host tools. Everything runs inside
 * network namespaces of this file's own (`lxt` under `nsenter --net`): the
 * traffic goes to loopback, to the test's containers and to a client
 * namespace it made. dnsmasq has no upstream.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  hostLeftovers,
  NetnsSandbox,
  netnsSkip,
  type RunResult,
  runtimeRoot,
  skipReason,
  udhcpcOnce,
  until,
} from "./harness.js";

const skip = skipReason() ?? netnsSkip();
if (skip) console.log(skip);

describe("managed networks: default, set, IPv6, reservations, forwards", {
  skip,
  timeout: 300_000,
}, () => {
  const netns = new NetnsSandbox("nm");
  const { tag, ns: NS, box: sb, lxt, ok, links, network } = netns;
  let CLIENT = "";
  const inNs = (argv: string[], ns = NS, input?: string): RunResult =>
    netns.inNs(argv, { ns, ...(input !== undefined ? { input } : {}) });
  /** An HTTP GET with busybox nc (in namespace `ns`); the body is the server's answer. */
  const get = (ns: string, host: string, port: number): string =>
    inNs(["busybox", "nc", "-w", "3", host, String(port)], ns, "GET /cgi-bin/ip HTTP/1.0\r\n\r\n")
      .stdout;
  /** A busybox container; `network` as for `create --network` (undefined: the template's default). */
  const container = (network: string | undefined, lines: string[] = []): string => {
    const name = netns.name("m");
    ok(["create", "-t", "busybox", "-n", name, ...(network ? ["--network", network] : [])]);
    if (lines.length > 0) appendFileSync(join(sb.lxcpath, name, "config"), `${lines.join("\n")}\n`);
    return name;
  };
  const show = (net: string) => JSON.parse(ok(["network", "show", net, "--format", "json"]));
  const leaseOf = (net: string, c: string): string | undefined =>
    (show(net).leases as { container?: string; ipv4: string }[]).find((l) => l.container === c)
      ?.ipv4;
  const tables = () => inNs(["nft", "list", "tables"]).stdout;
  /** A container's first IPv4 address as `ls` shows it (read at once: no wait). */
  const addressOf = (c: string): string =>
    (JSON.parse(ok(["ls", "--format", "json"])) as { name: string; ipv4: string[] }[]).find(
      (x) => x.name === c,
    )?.ipv4[0] ?? "";

  before(() => {
    netns.open();
    CLIENT = netns.namespace("nc");
  });
  after(() => netns.dispose());

  test("a new busybox container joins lxtbr0, made on its first start; reservations and leases", async () => {
    const c = container(undefined);
    const cfg = readFileSync(join(sb.lxcpath, c, "config"), "utf8");
    assert.match(cfg, /^lxc\.net\.0\.type = veth$/m);
    assert.match(cfg, /^lxc\.net\.0\.link = lxtbr0$/m);
    assert.ok(!links().includes("lxtbr0"), "no network before the first start");
    // A fixed address on the managed network: configured, and reserved for its MAC.
    const fixed = container(undefined, [
      "lxc.net.0.ipv4.address = 10.0.3.77/24",
      "lxc.net.0.ipv4.gateway = auto",
    ]);
    ok(["start", "-n", c]);
    ok(["start", "-n", fixed]);
    assert.ok(links().includes("lxtbr0"));
    assert.match(tables(), /table inet lxt-lxtbr0/);
    // Its address is reserved and set before the init runs: there when start returns.
    const ip = addressOf(c);
    assert.match(ip, /^10\.0\.3\.\d+$/);
    // DHCP inside is given the same address: a lease, no setup.
    ok(udhcpcOnce(c));
    assert.ok(await until(() => leaseOf("lxtbr0", c) === ip, 20_000), "a DHCP lease, no setup");
    assert.match(ok(["attach", "-n", c, "--", "ip", "-4", "route"]), /default via 10\.0\.3\.1/);
    ok(["attach", "-n", c, "--", "ping", "-c", "1", "-W", "2", "10.0.3.1"]);
    // A DHCP client on the fixed container's NIC is given its reserved address (rcS runs none
    // when the NIC has a static address; `-s /bin/true` leaves the configured one alone).
    const hosts = join(runtimeRoot(sb.lxcpath), ".networks", "lxtbr0", "dhcp-hosts", `${fixed}.0`);
    assert.match(
      readFileSync(hosts, "utf8"),
      new RegExp(`^[0-9a-f:]{17},10\\.0\\.3\\.77,${fixed}$`, "m"),
    );
    ok(udhcpcOnce(fixed));
    assert.ok(
      await until(() => leaseOf("lxtbr0", fixed) === "10.0.3.77", 20_000),
      `reserved lease: ${JSON.stringify(show("lxtbr0").leases)}`,
    );
    assert.match(
      ok(["attach", "-n", fixed, "--", "ip", "-4", "addr", "show", "eth0"]),
      /10\.0\.3\.77\/24/,
    );
    const text = ok(["network", "show", "lxtbr0"]);
    assert.match(text, new RegExp(`${c} +${c} +${ip.replaceAll(".", "\\.")}`));
    for (const x of [c, fixed]) ok(["stop", "-k", "-n", x]);
    ok(["network", "delete", "lxtbr0"]);
    assert.ok(!links().includes("lxtbr0"));
    assert.doesNotMatch(tables(), /lxt/);
  });

  test("network set changes the subnet live; bad values change nothing", async () => {
    const net = network("s");
    ok(["network", "create", net, "--ipv4", "10.0.50.1/24", "--nat", "false"]);
    let r = lxt(["network", "set", net, "ipv4.address", "10.0.50.0/24"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /gateway's address/);
    r = lxt(["network", "set", net, "ipv4.bogus", "1"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown key "ipv4\.bogus"/);
    r = lxt(["network", "set", net, "ipv4.nat", "maybe"]);
    assert.equal(r.code, 2);
    assert.match(inNs(["ip", "-br", "addr", "show", net]).stdout, /10\.0\.50\.1\/24/);

    ok(["network", "set", net, "ipv4.address", "10.0.51.1/24"]);
    const addr = inNs(["ip", "-br", "addr", "show", net]).stdout;
    assert.match(addr, /10\.0\.51\.1\/24/);
    assert.doesNotMatch(addr, /10\.0\.50\.1/);
    const s = show(net);
    assert.equal(s.ipv4, "10.0.51.1/24");
    assert.deepEqual(s.dhcpRange, ["10.0.51.2", "10.0.51.251"]);
    assert.ok(s.dnsmasqPid > 0, "dnsmasq restarted");
    ok(["network", "set", net, "ipv4.nat", "true"]);
    assert.match(inNs(["nft", "list", "table", "inet", `lxt-${net}`]).stdout, /masquerade/);
    ok(["network", "unset", net, "ipv4.nat"]);
    ok(["network", "set", net, "dns.domain", "settest"]);
    const c = container(net);
    ok(["start", "-n", c]);
    assert.match(addressOf(c), /^10\.0\.51\./, "an address in the new subnet");
    assert.match(
      ok(["attach", "-n", c, "--", "nslookup", `${c}.settest`, "10.0.51.1"]),
      /10\.0\.51\./,
    );
    ok(["stop", "-k", "-n", c]);
    ok(["network", "delete", net]);
  });

  test("IPv6: router advertisements give two containers addresses; they ping each other", async () => {
    const net = network("six");
    ok(["network", "create", net, "--ipv6", "auto", "--nat", "false", "--nat6", "false"]);
    const gw6 = show(net).ipv6 as string;
    assert.match(gw6, /^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::1\/64$/);
    const [a, b] = [container(net), container(net)];
    for (const c of [a, b]) ok(["start", "-n", c]);
    // A SLAAC address is usable once duplicate address detection is over (no "tentative").
    const v6 = (c: string) =>
      /inet6 (fd[0-9a-f:]+)\/64 scope global(?![^\n]*tentative)/.exec(
        ok(["attach", "-n", c, "--", "ip", "-6", "addr", "show", "eth0"]),
      )?.[1];
    assert.ok(await until(() => !!v6(a) && !!v6(b), 20_000), "SLAAC addresses");
    const ping = (from: string, to: string) =>
      lxt(["attach", "-n", from, "--", "ping", "-c", "1", "-W", "2", to]).code === 0;
    assert.ok(await until(() => ping(a, v6(b) ?? ""), 10_000), `ping ${a} -> ${v6(b)}`);
    assert.ok(await until(() => ping(b, gw6.split("/")[0] ?? ""), 10_000), `ping ${b} -> gateway`);
    // --nat6 false: no NAT66, and IPv6 forwarding untouched.
    assert.doesNotMatch(inNs(["nft", "list", "table", "inet", `lxt-${net}`]).stdout, /ip6 saddr/);
    for (const c of [a, b]) ok(["stop", "-k", "-n", c]);
    ok(["network", "delete", net]);
  });

  test("port forwards: loopback and another host reach a server in a container; client addresses", async () => {
    const net = network("f");
    ok(["network", "create", net, "--ipv4", "10.0.60.1/24", "--nat", "false"]);
    const c = container(net);
    // Added while stopped: stored, applied at start to the container's pinned address.
    ok(["forward", "add", c, "tcp", "18080", "80"]);
    ok(["forward", "add", c, "tcp", "127.0.0.1:18081", "80"]);
    let r = lxt(["forward", "add", c, "tcp", "18080", "81"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /clashes/);
    r = lxt(["forward", "add", c, "sctp", "1", "2"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /invalid protocol/);
    assert.match(ok(["forward", "list", c]), /\*:18080 +-:80 \(stopped\)/);
    assert.doesNotMatch(inNs(["nft", "list", "table", "inet", `lxt-${net}`]).stdout, /dnat/);
    ok(["start", "-n", c]);
    ok([
      "attach",
      "-n",
      c,
      "--",
      "sh",
      "-c",
      'mkdir -p /www/cgi-bin && printf "#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho \\$REMOTE_ADDR\\n" > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && httpd -p 80 -h /www',
    ]);
    const list = JSON.parse(ok(["forward", "list", c, "--format", "json"])) as {
      address?: string;
    }[];
    const address = list[0]?.address ?? "";
    assert.match(address, /^10\.0\.60\.\d+$/);
    assert.equal(addressOf(c), address, "the container has the pinned address");

    // From the host itself through loopback: the server sees the gateway (SNAT, as 127.0.0.1 cannot leave).
    assert.match(get(NS, "127.0.0.1", 18080), /10\.0\.60\.1\b/);
    assert.match(get(NS, "127.0.0.1", 18081), /10\.0\.60\.1\b/);
    assert.equal(inNs(["cat", `/proc/sys/net/ipv4/conf/${net}/route_localnet`]).stdout.trim(), "1");
    // From another host (a client namespace over a veth): its own address is kept.
    const [h, p] = [`lxtfa${tag}`, `lxtfb${tag}`];
    assert.equal(inNs(["ip", "link", "add", h, "type", "veth", "peer", "name", p]).code, 0);
    inNs(["ip", "link", "set", p, "netns", `/run/netns/${CLIENT}`]);
    inNs(["ip", "addr", "add", "10.250.0.1/24", "dev", h]);
    inNs(["ip", "link", "set", h, "up"]);
    inNs(["ip", "addr", "add", "10.250.0.2/24", "dev", p], CLIENT);
    inNs(["ip", "link", "set", p, "up"], CLIENT);
    assert.match(get(CLIENT, "10.250.0.1", 18080), /10\.250\.0\.2\b/);
    assert.equal(
      get(CLIENT, "10.250.0.1", 18081),
      "",
      "a loopback-only forward is not reachable from outside",
    );

    ok(["forward", "remove", c, "tcp", "18080"]);
    assert.equal(get(NS, "127.0.0.1", 18080), "");
    assert.match(get(NS, "127.0.0.1", 18081), /10\.0\.60\.1\b/);
    r = lxt(["forward", "remove", c, "tcp", "18080"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no forward tcp 18080/);
    ok(["stop", "-k", "-n", c]);
    assert.doesNotMatch(inNs(["nft", "list", "table", "inet", `lxt-${net}`]).stdout, /dnat/);
    assert.equal(inNs(["cat", `/proc/sys/net/ipv4/conf/${net}/route_localnet`]).stdout.trim(), "0");
    assert.match(ok(["forward", "list"]), /127\.0\.0\.1:18081/);
    ok(["forward", "remove", c, "--all"]);
    assert.equal(ok(["forward", "list", c, "--format", "json"]).trim(), "[]");
    inNs(["ip", "link", "del", h]);
    ok(["network", "delete", net]);
  });

  test("a forward chain with policy drop in another table is reported, not changed", () => {
    const net = network("w");
    const fw = [
      "table ip filter {",
      "chain FORWARD { type filter hook forward priority 0; policy drop; }",
      "}",
    ];
    assert.equal(inNs(["nft", "-f", "-"], NS, fw.join("\n")).code, 0);
    try {
      const r = lxt(["network", "create", net, "--nat", "false"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /warning: .*"ip filter FORWARD" has policy drop/);
      assert.match(ok(["network", "show", net]), /warning: .*DOCKER-USER/);
      // A start onto a network whose traffic is routed (NAT) says so too.
      ok(["network", "set", net, "ipv4.nat", "true"]);
      const c = container(net, ["lxc.init.cmd = /bin/sleep 600"]);
      const started = lxt(["start", "-n", c]);
      assert.equal(started.code, 0, started.stderr);
      assert.match(started.stderr, /lxt: warning: .*"ip filter FORWARD" has policy drop/);
      ok(["stop", "-k", "-n", c]);
      assert.match(inNs(["nft", "list", "chain", "ip", "filter", "FORWARD"]).stdout, /policy drop/);
    } finally {
      inNs(["nft", "delete", "table", "ip", "filter"]);
    }
    assert.deepEqual(show(net).forwardWarnings, []);
    ok(["network", "delete", net]);
  });

  test("missing dnsmasq or nft: a clear error naming the package, nothing made", () => {
    // A PATH with what the launcher and `ip` need, and one of the two tools left out.
    const bin = mkdtempSync(join(tmpdir(), "lxt-path-"));
    const which = (t: string) =>
      execFileSync("sh", ["-c", `command -v ${t}`], { encoding: "utf8" }).trim();
    for (const t of ["node", "readlink", "ip", "nft", "nsenter"])
      symlinkSync(which(t), join(bin, t));
    try {
      const net = network("x");
      let r = lxt(["network", "create", net], { PATH: bin });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /dnsmasq not found on PATH \(install the Debian package dnsmasq-base/);
      rmSync(join(bin, "nft"));
      symlinkSync(which("dnsmasq"), join(bin, "dnsmasq"));
      r = lxt(["network", "create", net], { PATH: bin });
      assert.match(r.stderr, /nft not found on PATH \(install the Debian package nftables/);
      // The default network on a first start: the start fails and leaves no network behind.
      const before = new Set(links());
      const c = container(undefined);
      r = lxt(["start", "-n", c], { PATH: bin });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /nftables/);
      assert.deepEqual(
        links().filter(
          (l) => !before.has(l) && (l === "lxtbr0" || l === net || /^lxt[vp]/.test(l)),
        ),
        [],
      );
      assert.doesNotMatch(tables(), /lxt-lxtbr0|lxt-lxtx/);
      assert.equal(ok(["network", "list", "--format", "json"]).trim().startsWith("["), true);
      assert.ok(!ok(["network", "list"]).includes(net));
      assert.match(ok(["ls", "-f"]), new RegExp(`${c} +STOPPED`));
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  test("nothing of ours is left on the host outside the namespaces", () => {
    const ours = /^(link|netns|nft): |dnsmasq/;
    assert.deepEqual(
      hostLeftovers("lxt").filter((l) => ours.test(l) && !l.includes(NS) && !l.includes(CLIENT)),
      [],
    );
  });
});

describe("managed networks under concurrent commands", { skip, timeout: 300_000 }, () => {
  const netns = new NetnsSandbox("nc");
  const { box: sb, lxt, ok, run, network } = netns;
  const container = (net: string | undefined): string => {
    const name = netns.name("k");
    ok(["create", "-t", "busybox", "-n", name, ...(net ? ["--network", net] : [])]);
    return name;
  };
  /** The bridge's ports, from `ip` in the test's namespace. */
  const ports = (bridge: string): string[] =>
    (
      JSON.parse(netns.nsOk(["ip", "-j", "link", "show", "master", bridge]) || "[]") as {
        ifname: string;
      }[]
    ).map((l) => l.ifname);
  /** Running dnsmasq processes of a network of this state root. */
  const dnsmasqs = (net: string): string[] => {
    const conf = join(runtimeRoot(sb.lxcpath), ".networks", net, "dnsmasq.conf");
    return execFileSync("ps", ["-eo", "pid=,stat=,args="], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.includes(`--conf-file=${conf}`) && !/^\s*\d+\s+Z/.test(l));
  };
  /** The addresses a network's DNAT rules send `port` to (prerouting and output chains alike). */
  const dnatTargets = (net: string, port: number): string[] => [
    ...new Set(
      [
        ...netns
          .nsOk(["nft", "list", "table", "inet", `lxt-${net}`])
          .matchAll(new RegExp(`dport ${port} dnat ip to (\\S+)`, "g")),
      ].map((m) => m[1] as string),
    ),
  ];

  before(() => netns.open());
  after(() => netns.dispose());

  test("starts at once on a network made on first use: all run, one bridge, one dnsmasq", async () => {
    const cs = [container(undefined), container(undefined), container(undefined)];
    const rs = await Promise.all(cs.map((c) => run(["start", "-n", c])));
    for (const r of rs) assert.equal(r.code, 0, r.stderr);
    assert.equal(ports("lxtbr0").length, cs.length, "every container's veth on the one bridge");
    assert.equal(dnsmasqs("lxtbr0").length, 1, dnsmasqs("lxtbr0").join("\n"));
    const tables = netns.nsOk(["nft", "list", "tables"]).match(/table inet lxt-lxtbr0/g) ?? [];
    assert.equal(tables.length, 1);
    for (const c of cs) ok(["stop", "-k", "-n", c]);
  });

  test("forward adds of one port at once: exactly one wins, the other names both claimants", async () => {
    const net = network("p");
    const other = network("q");
    ok(["network", "create", net, "--ipv4", "10.0.61.1/24", "--nat", "false"]);
    ok(["network", "create", other, "--ipv4", "10.0.62.1/24", "--nat", "false"]);
    const [a, b, c] = [container(net), container(net), container(other)];
    for (const x of [a, b, c]) ok(["start", "-n", x]);
    const rs = await Promise.all(
      [a, b].map((x) => run(["forward", "add", x, "tcp", "18090", "80"])),
    );
    const won = rs.filter((r) => r.code === 0);
    assert.equal(won.length, 1, rs.map((r) => r.stderr).join("\n"));
    const [winner, loser] = rs[0]?.code === 0 ? [a, b] : [b, a];
    const lost = rs.find((r) => r.code !== 0);
    assert.equal(lost?.code, 1);
    assert.match(
      lost?.stderr ?? "",
      new RegExp(
        `forward add ${loser}: tcp 18090 80 clashes with ${winner}'s forward tcp 18090 80`,
      ),
    );
    const pinned = JSON.parse(ok(["forward", "list", winner, "--format", "json"]))[0].address;
    assert.deepEqual(dnatTargets(net, 18090), [`${pinned}:80`], "the port goes to the winner only");
    assert.equal(JSON.parse(ok(["forward", "list", loser, "--format", "json"])).length, 0);
    // A listen address within "every address", and another network's container: the same claim.
    let r = lxt(["forward", "add", loser, "tcp", "127.0.0.1:18090", "80"]);
    assert.match(r.stderr, new RegExp(`clashes with ${winner}'s forward tcp 18090 80`));
    r = lxt(["forward", "add", c, "tcp", "18090", "80"]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `forward add ${c}: tcp 18090 80 clashes with ${winner}'s forward tcp 18090 80 \\(on network ${net}\\)`,
      ),
    );
    assert.deepEqual(dnatTargets(other, 18090), []);
    // Another protocol or port is no clash.
    ok(["forward", "add", c, "udp", "18090", "80"]);
    for (const x of [a, b, c]) ok(["stop", "-k", "-n", x]);
    for (const x of [winner, c]) ok(["forward", "remove", x, "--all"]);
    ok(["network", "delete", net]);
    ok(["network", "delete", other]);
  });
});
