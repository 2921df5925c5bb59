/**
 * The NIC keys beyond veth/macvlan/phys: veth queues, l2proxy (with its
 * sysctl checks and its entries gone after a stop and after a killed
 * monitor), vlan, ipvlan and a veth's VLANs on a filtering bridge. Where
 * the kernel lacks a driver (probed in this file's own namespace), the
 * start must be refused naming the key and what is missing, leaving
 * nothing. Everything runs in a network namespace of this file's own.
 */
import assert from "node:assert/strict";
import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { alive, NetnsSandbox, netnsSkip, runtimeRoot, skipReason, until } from "./harness.js";

const skip = skipReason() ?? netnsSkip(["ip", "nsenter", "bridge"]);
if (skip) console.log(skip);

describe("NIC kinds: queues, l2proxy, vlan, ipvlan, bridge VLANs", {
  skip,
  timeout: 300_000,
}, () => {
  const netns = new NetnsSandbox("nick");
  const { tag, box: sb, lxt, ok, inNs, nsOk, links } = netns;
  const parent = `dm${tag}`;
  const peer = `dp${tag}`;
  const bridge = `br${tag}`;
  const sleeper = "lxc.init.cmd = /bin/sleep 600";
  const container = (lines: string[]): string => {
    const name = netns.name("k");
    ok(["create", "--network", "empty", "-t", "busybox", "-n", name]);
    appendFileSync(join(sb.lxcpath, name, "config"), `${[...lines, sleeper].join("\n")}\n`);
    return name;
  };
  const runFile = (c: string, f: string) => join(runtimeRoot(sb.lxcpath), c, f);
  const initPid = (c: string) => Number(readFileSync(runFile(c, "state"), "utf8").split(" ")[1]);
  /** ARGV in the container's network namespace, with the host's tools. */
  const inside = (c: string, argv: string[]) =>
    nsOk(["nsenter", `--net=/proc/${initPid(c)}/ns/net`, ...argv]);
  const sysctl = (key: string, v: string) => nsOk(["sysctl", "-q", "-w", `${key}=${v}`]);
  /** Whether the kernel makes a link of this kind here (made and deleted at once). */
  const kernelHas = (args: string[]): boolean => {
    const made = inNs(["ip", "link", "add", ...args]).code === 0;
    if (made) nsOk(["ip", "link", "del", args[args.indexOf("name") + 1] ?? ""]);
    return made;
  };
  /** A refused start: exit ≠ 0, the message, and no link, container or proxy entry left. */
  const refused = (c: string, message: RegExp) => {
    const before = links();
    const r = lxt(["start", "-n", c]);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, message);
    assert.deepEqual(links(), before, "no link left");
    assert.match(ok(["info", "-n", c]), /STOPPED/);
  };

  before(() => {
    netns.open();
    // No dummy driver everywhere: a veth pair stands in for a host NIC and its switch port.
    nsOk(["ip", "link", "add", parent, "up", "type", "veth", "peer", "name", peer]);
    nsOk(["ip", "link", "set", peer, "up"]);
    nsOk(["ip", "link", "add", bridge, "up", "type", "bridge"]);
  });

  after(() => netns.dispose());

  test("veth.n_rxqueues / n_txqueues: the container's end has them, the host end mirrors them", () => {
    const c = container([
      "lxc.net.0.type = veth",
      `lxc.net.0.link = ${bridge}`,
      `lxc.net.0.veth.pair = vq${tag}`,
      "lxc.net.0.veth.n_rxqueues = 4",
      "lxc.net.0.veth.n_txqueues = 2",
    ]);
    ok(["start", "-n", c]);
    const mine = inside(c, ["ip", "-d", "link", "show", "eth0"]);
    assert.match(mine, /numtxqueues 2 numrxqueues 4/);
    assert.match(nsOk(["ip", "-d", "link", "show", `vq${tag}`]), /numtxqueues 4 numrxqueues 2/);
    ok(["stop", "-k", "-n", c]);
    assert.ok(!links().includes(`vq${tag}`), "the pair goes with the container");
  });

  test("l2proxy: refused without forwarding on the link, then proxy entries while it runs, none after stop or a killed monitor", async () => {
    const c = container([
      "lxc.net.0.type = macvlan",
      `lxc.net.0.link = ${parent}`,
      "lxc.net.0.flags = up",
      "lxc.net.0.l2proxy = 1",
      "lxc.net.0.ipv4.address = 10.56.0.2/24",
    ]);
    sysctl(`net.ipv4.conf.${parent}.forwarding`, "0");
    refused(
      c,
      new RegExp(
        `lxc\\.net\\.0\\.l2proxy: requires sysctl net\\.ipv4\\.conf\\.${parent}\\.forwarding=1 \\(it is 0\\)`,
      ),
    );
    sysctl(`net.ipv4.conf.${parent}.forwarding`, "1");
    const proxies = () => nsOk(["ip", "neigh", "show", "proxy", "dev", parent]);
    ok(["start", "-n", c]);
    assert.match(proxies(), /10\.56\.0\.2/);
    ok(["stop", "-k", "-n", c]);
    assert.doesNotMatch(proxies(), /10\.56\.0\.2/, "stop removes the entry");

    ok(["start", "-n", c]);
    assert.match(proxies(), /10\.56\.0\.2/);
    const monitor = Number(readFileSync(runFile(c, "monitor"), "utf8").split(" ")[0]);
    process.kill(monitor, "SIGKILL");
    assert.ok(await until(() => !alive(monitor), 10_000));
    // `info` repairs what the killed monitor left, its stop-hooks included.
    assert.match(ok(["info", "-n", c]), /STOPPED/);
    assert.doesNotMatch(proxies(), /10\.56\.0\.2/, "repair removes the entry");
    sysctl(`net.ipv4.conf.${parent}.forwarding`, "0");
  });

  test("vlan: an 802.1Q link on the parent, tagged on the wire (or refused naming the missing driver)", () => {
    const c = container([
      "lxc.net.0.type = vlan",
      `lxc.net.0.link = ${parent}`,
      "lxc.net.0.vlan.id = 42",
      "lxc.net.0.flags = up",
      "lxc.net.0.ipv4.address = 10.42.0.2/24",
    ]);
    if (!kernelHas(["link", parent, "name", `pv${tag}`, "type", "vlan", "id", "9"])) {
      console.log(
        "SKIP: the kernel has no 802.1Q VLANs (CONFIG_VLAN_8021Q): only the refusal is checked",
      );
      refused(
        c,
        /lxc\.net\.0\.type = vlan: the kernel has no 802\.1Q VLAN support \(CONFIG_VLAN_8021Q, module 8021q\)/,
      );
      return;
    }
    // The far end: VLAN 42 on the parent's peer.
    nsOk(["ip", "link", "add", "link", peer, "name", `pw${tag}`, "up", "type", "vlan", "id", "42"]);
    nsOk(["ip", "addr", "add", "10.42.0.1/24", "dev", `pw${tag}`]);
    ok(["start", "-n", c]);
    assert.match(inside(c, ["ip", "-d", "link", "show", "eth0"]), /vlan protocol 802\.1Q id 42/);
    ok(["attach", "-n", c, "--", "ping", "-c", "1", "-W", "5", "10.42.0.1"]);
    ok(["stop", "-k", "-n", c]);
    nsOk(["ip", "link", "del", `pw${tag}`]);
    assert.deepEqual(nsOk(["ip", "-o", "link", "show", "type", "vlan"]).trim(), "", "no vlan left");
  });

  test("ipvlan: l2 between two containers, l3s with l2proxy (or refused naming the missing driver)", () => {
    const nic = (ip: string, extra: string[] = []) => [
      "lxc.net.0.type = ipvlan",
      `lxc.net.0.link = ${parent}`,
      "lxc.net.0.flags = up",
      `lxc.net.0.ipv4.address = ${ip}/24`,
      ...extra,
    ];
    const c1 = container(nic("10.57.0.2", ["lxc.net.0.ipvlan.mode = l2"]));
    if (!kernelHas(["link", parent, "name", `pi${tag}`, "type", "ipvlan", "mode", "l2"])) {
      console.log("SKIP: the kernel has no ipvlan (CONFIG_IPVLAN): only the refusal is checked");
      refused(
        c1,
        /lxc\.net\.0\.type = ipvlan: the kernel has no ipvlan driver \(CONFIG_IPVLAN, module ipvlan\)/,
      );
      return;
    }
    const c2 = container(nic("10.57.0.3", ["lxc.net.0.ipvlan.mode = l2"]));
    ok(["start", "-n", c1]);
    ok(["start", "-n", c2]);
    assert.match(inside(c1, ["ip", "-d", "link", "show", "eth0"]), /ipvlan\s+mode l2 bridge/);
    ok(["attach", "-n", c1, "--", "ping", "-c", "1", "-W", "5", "10.57.0.3"]);
    ok(["stop", "-k", "-n", c1]);
    ok(["stop", "-k", "-n", c2]);

    const c3 = container(
      nic("10.58.0.2", [
        "lxc.net.0.ipvlan.mode = l3s",
        "lxc.net.0.ipvlan.isolation = private",
        "lxc.net.0.l2proxy = 1",
      ]),
    );
    sysctl(`net.ipv4.conf.${parent}.forwarding`, "1");
    ok(["start", "-n", c3]);
    assert.match(inside(c3, ["ip", "-d", "link", "show", "eth0"]), /ipvlan\s+mode l3s private/);
    assert.match(nsOk(["ip", "neigh", "show", "proxy", "dev", parent]), /10\.58\.0\.2/);
    assert.match(nsOk(["ip", "route", "show", "dev", "lo"]), /10\.58\.0\.2/);
    ok(["stop", "-k", "-n", c3]);
    assert.doesNotMatch(nsOk(["ip", "neigh", "show", "proxy", "dev", parent]), /10\.58\.0\.2/);
    assert.doesNotMatch(nsOk(["ip", "route", "show", "dev", "lo"]), /10\.58\.0\.2/);
    sysctl(`net.ipv4.conf.${parent}.forwarding`, "0");
  });

  test("veth.vlan.id / vlan.tagged.id: the port's VLANs on a filtering bridge (or refused as LXC)", () => {
    const routed = container([
      "lxc.net.0.type = veth",
      "lxc.net.0.veth.mode = router",
      "lxc.net.0.veth.vlan.id = 10",
    ]);
    refused(
      routed,
      /lxc\.net\.0\.veth\.vlan\.id: cannot use veth vlan\.id when not in bridge mode or no bridge link specified/,
    );
    const c = container([
      "lxc.net.0.type = veth",
      `lxc.net.0.link = ${bridge}`,
      `lxc.net.0.veth.pair = vv${tag}`,
      "lxc.net.0.veth.vlan.id = 10",
      "lxc.net.0.veth.vlan.tagged.id = 20",
      "lxc.net.0.veth.vlan.tagged.id = 30",
    ]);
    const filters = inNs(["ip", "link", "set", bridge, "type", "bridge", "vlan_filtering", "1"]);
    if (filters.code !== 0) {
      console.log(
        "SKIP: the kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING): only the refusal is checked",
      );
      refused(
        c,
        /lxc\.net\.0\.veth\.vlan\.id: the kernel has no bridge VLAN filtering \(CONFIG_BRIDGE_VLAN_FILTERING\)/,
      );
      return;
    }
    nsOk(["ip", "link", "set", bridge, "type", "bridge", "vlan_filtering", "0"]);
    refused(
      c,
      new RegExp(`lxc\\.net\\.0\\.veth\\.vlan\\.id: vlan_filtering is not enabled on "${bridge}"`),
    );
    nsOk(["ip", "link", "set", bridge, "type", "bridge", "vlan_filtering", "1"]);
    ok(["start", "-n", c]);
    const vlans = JSON.parse(nsOk(["bridge", "-j", "vlan", "show", "dev", `vv${tag}`]));
    const port = vlans.find((p: { ifname: string }) => p.ifname === `vv${tag}`);
    const byId = new Map(
      (port?.vlans ?? []).map((v: { vlan: number; flags?: string[] }) => [v.vlan, v.flags ?? []]),
    );
    assert.deepEqual([...byId.keys()].sort(), [10, 20, 30], "the default VLAN 1 is replaced");
    assert.deepEqual(byId.get(10), ["PVID", "Egress Untagged"]);
    assert.deepEqual(byId.get(20), []);
    ok(["stop", "-k", "-n", c]);
    assert.ok(!links().includes(`vv${tag}`));
  });
});
