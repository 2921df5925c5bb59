/**
 * Managed networks end to end. Everything runs in a network namespace of
 * this file's own (`lxt` is run under `nsenter --net`), so bridges, veths,
 * nft tables and dnsmasq see only that namespace: traffic goes to the test's
 * containers and bridge, never anywhere else. dnsmasq has no upstream.
 */
import assert from "node:assert/strict";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { bridgeMac } from "../../src/network/render.js";
import {
  alive,
  hostLeftovers,
  NetnsSandbox,
  netnsSkip,
  runtimeRoot,
  skipReason,
  udhcpcOnce,
  until,
} from "./harness.js";

const skip = skipReason() ?? netnsSkip();
if (skip) console.log(skip);

describe("managed networks", { skip, timeout: 180_000 }, () => {
  const netns = new NetnsSandbox("nt");
  const { tag, ns: NS, box: sb, lxt, ok, inNs, links, network } = netns;
  const container = (lines: string[]): string => {
    const name = netns.name("n");
    ok(["create", "-t", "busybox", "--network", "empty", "-n", name]);
    appendFileSync(join(sb.lxcpath, name, "config"), `${lines.join("\n")}\n`);
    return name;
  };
  const ipv4Of = (name: string): string | undefined => {
    const rows = JSON.parse(ok(["ls", "--format", "json"])) as { name: string; ipv4: string[] }[];
    return rows.find((r) => r.name === name)?.ipv4[0];
  };

  before(() => netns.open());
  after(() => netns.dispose());

  test("two containers get DHCP addresses, reach each other and the host, resolve names", async () => {
    const net = network("a");
    ok(["network", "create", net, "--nat", "false", "--domain", "lxttest"]);
    const show = JSON.parse(ok(["network", "show", net, "--format", "json"]));
    assert.equal(show.ipv4, "10.0.3.1/24", "auto picks the first unused 10.x/24");
    assert.ok(show.dnsmasqPid > 0);
    const nic = ["lxc.net.0.type = veth", `lxc.net.0.link = ${net}`, "lxc.net.0.flags = up"];
    const c1 = container(nic);
    const c2 = container([...nic, "lxc.net.0.hwaddr = 4a:49:43:xx:xx:xx", "lxc.net.0.mtu = 1400"]);
    const st = container([
      ...nic,
      "lxc.net.0.ipv4.address = 10.0.3.200/24",
      "lxc.net.0.ipv4.gateway = auto",
      "lxc.init.cmd = /bin/sleep 600",
    ]);
    const bridgeAddr = () =>
      (JSON.parse(inNs(["ip", "-j", "link", "show", net]).stdout) as { address: string }[])[0]
        ?.address;
    assert.equal(bridgeAddr(), bridgeMac(net), "the bridge is made with its network's MAC");
    for (const c of [c1, c2, st]) ok(["start", "-n", c]);
    // Its ports (one veth per container) never change it: the gateway's ARP entries stay true.
    assert.equal(bridgeAddr(), bridgeMac(net), "the bridge's MAC after three ports came");

    // Addresses reserved on the network and set before the init: there at once.
    assert.ok(!!ipv4Of(c1) && !!ipv4Of(c2), "addresses when start returns");
    const [ip1, ip2] = [ipv4Of(c1) ?? "", ipv4Of(c2) ?? ""];
    assert.match(ip1, /^10\.0\.3\.\d+$/);
    assert.equal(ipv4Of(st), "10.0.3.200");

    const link2 = ok(["attach", "-n", c2, "--", "ip", "link", "show", "eth0"]);
    assert.match(link2, /mtu 1400/);
    assert.match(link2, /link\/ether 4a:49:43:/);
    const route = ok(["attach", "-n", st, "--", "ip", "-4", "route"]);
    assert.match(route, /default via 10\.0\.3\.1 dev eth0/);

    for (const [from, to] of [
      [c1, ip2],
      [c2, ip1],
      [c1, "10.0.3.1"],
      [st, "10.0.3.1"],
      [st, ip1],
    ] as const) {
      ok(["attach", "-n", from, "--", "ping", "-c", "1", "-W", "2", to]);
    }
    // The host (this test's namespace) reaches the containers through the bridge.
    for (const ip of [ip1, "10.0.3.200"]) {
      const r = inNs(["busybox", "ping", "-c", "1", "-W", "2", ip]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    }
    // Names from DHCP reservations and from static addresses, through the network's dnsmasq.
    assert.match(
      ok(["attach", "-n", c1, "--", "nslookup", `${c2}.lxttest`]),
      new RegExp(ip2.replaceAll(".", "\\.")),
    );
    assert.match(ok(["attach", "-n", c2, "--", "nslookup", `${st}.lxttest`]), /10\.0\.3\.200/);

    // Their addresses were set before the init (rcS runs no DHCP then); a DHCP
    // client inside is leased the same ones, under the containers' names.
    for (const c of [c1, c2]) ok(udhcpcOnce(c));
    const leases = JSON.parse(ok(["network", "show", net, "--format", "json"])).leases as {
      hostname: string;
      ipv4: string;
    }[];
    assert.deepEqual(
      leases.map((l) => `${l.hostname} ${l.ipv4}`).sort(),
      [`${c1} ${ip1}`, `${c2} ${ip2}`].sort(),
    );

    const busy = lxt(["network", "delete", net]);
    assert.notEqual(busy.code, 0);
    assert.match(busy.stderr, /in use/);

    // A SIGKILLed monitor: the next command repairs the container, its veth goes.
    const hostEnds = links().filter((l) => l.startsWith("lxtv"));
    assert.equal(hostEnds.length, 3);
    const monitorFile = join(runtimeRoot(sb.lxcpath), c1, "monitor");
    const mon = Number(readFileSync(monitorFile, "utf8").split(" ")[0]);
    process.kill(mon, "SIGKILL");
    assert.ok(await until(() => !alive(mon), 60_000), "the monitor ended");
    // ls repairs c1 before it answers (its veth deleted); stop returns once c2's and st's are gone.
    assert.match(ok(["ls", "-f"]), new RegExp(`${c1} +STOPPED`));
    for (const c of [c2, st]) ok(["stop", "-k", "-n", c]);
    assert.deepEqual(
      links().filter((l) => l.startsWith("lxtv") || l.startsWith("lxtp")),
      [],
      "veths left",
    );

    ok(["network", "delete", net]);
    assert.deepEqual(
      links().filter((l) => l.includes("lxt")),
      [],
    );
    assert.doesNotMatch(inNs(["nft", "list", "tables"]).stdout, /lxt/);
    assert.deepEqual(ok(["network", "list", "--format", "json"]).trim(), "[]");
  });

  test("failures are clear and leave nothing: route conflict, bad address, non-bridge, missing bridge", async () => {
    // A non-bridge link holding a route (no dummy module everywhere: a veth pair).
    const dummy = `lxtd${tag}`;
    const peer = `lxte${tag}`;
    const mine = (l: string) => l.includes("lxt") && l !== dummy && l !== peer;
    assert.equal(inNs(["ip", "link", "add", dummy, "type", "veth", "peer", "name", peer]).code, 0);
    inNs(["ip", "addr", "add", "10.79.0.1/24", "dev", dummy]);
    inNs(["ip", "link", "set", dummy, "up"]);
    const net = network("b");

    let r = lxt(["network", "create", net, "--ipv4", "10.79.0.5/24"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /overlaps 10\.79\.0\.0\/24/);
    r = lxt(["network", "create", net, "--ipv4", "10.79.300.1/24"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /invalid IPv4 CIDR/);
    r = lxt(["network", "create", dummy]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not a bridge/);
    assert.deepEqual(
      links().filter((l) => mine(l)),
      [],
    );
    assert.doesNotMatch(inNs(["nft", "list", "tables"]).stdout, /lxt/);
    for (const n of [net, dummy]) {
      const dir = join(runtimeRoot(sb.lxcpath), ".networks", n);
      assert.ok(!existsSync(dir), `no runtime files left: ${dir}`);
    }

    const bad = container(["lxc.net.0.type = veth", "lxc.net.0.ipv4.address = 10.1.2.3/99"]);
    r = lxt(["start", "-n", bad]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /ipv4\.address/);
    const lost = container(["lxc.net.0.type = veth", `lxc.net.0.link = lxtnope${tag}`]);
    r = lxt(["start", "-n", lost]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /does not exist/);
    const notBridge = container(["lxc.net.0.type = veth", `lxc.net.0.link = ${dummy}`]);
    r = lxt(["start", "-n", notBridge]);
    assert.match(r.stderr, /is not a bridge/);
    assert.deepEqual(
      links().filter((l) => mine(l)),
      [],
    );

    // The default network is made on first use.
    const dflt = container([
      "lxc.net.0.type = veth",
      "lxc.net.0.link = lxtbr0",
      "lxc.net.0.flags = up",
      "lxc.net.0.ipv4.address = 10.0.3.9/24",
      "lxc.init.cmd = /bin/sleep 600",
    ]);
    ok(["start", "-n", dflt]);
    assert.match(ok(["network", "list"]), /lxtbr0 +10\.0\.3\.1\/24 +yes/);
    ok(["attach", "-n", dflt, "--", "ping", "-c", "1", "-W", "2", "10.0.3.1"]);
    ok(["stop", "-k", "-n", dflt]);
    ok(["network", "delete", "lxtbr0"]);
    inNs(["ip", "link", "del", dummy]);
    assert.deepEqual(
      links().filter((l) => l.includes("lxt")),
      [],
    );
  });

  test("nothing of ours is left on the host outside the namespace", () => {
    // Links, namespaces, nft tables and dnsmasq only: mounts and cgroups may
    // belong to other suites running at the same time.
    const ours = /^(link|netns|nft): |dnsmasq/;
    assert.deepEqual(
      hostLeftovers("lxt").filter((l) => ours.test(l) && !l.includes(NS)),
      [],
    );
  });
});
