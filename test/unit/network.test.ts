import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { NetConfig } from "../../src/config/model.js";
import { renderPlan } from "../../src/container/plan.js";
import {
  defaultDhcpRange,
  formatCidr,
  parseCidr,
  parseDhcpRange,
  pickSubnet,
  stableHwaddr,
  templateHwaddr,
} from "../../src/network/ipv4.js";
import { planNetwork } from "../../src/network/manage.js";
import { type NicHookContext, nicRecords, resolveNics } from "../../src/network/nic.js";
import {
  type NetworkDef,
  parseLeases,
  renderDnsmasqConf,
  renderNftRuleset,
} from "../../src/network/render.js";
import { RecordingRunner } from "../../src/storage/runner.js";

const def: NetworkDef = {
  name: "lxtbr0",
  ipv4: "10.0.3.1/24",
  nat: true,
  dhcpRange: ["10.0.3.2", "10.0.3.251"],
  domain: "lxt",
  dnsUpstream: false,
};

const run = {
  dir: "/run/n",
  conf: "/run/n/dnsmasq.conf",
  pidFile: "/run/n/dnsmasq.pid",
  leases: "/run/n/leases",
  dhcpHosts: "/run/n/dhcp-hosts",
  dnsHosts: "/run/n/dns-hosts",
  ruleset: "/run/n/ruleset.nft",
};

describe("ipv4", () => {
  test("parses and formats CIDRs, refusing malformed ones", () => {
    assert.equal(formatCidr(parseCidr("10.0.3.7/24"), "network"), "10.0.3.0/24");
    assert.equal(formatCidr(parseCidr("10.0.3.7", 24)), "10.0.3.7/24");
    for (const bad of ["10.0.300.1/24", "10.0.3.1/33", "10.0.3.1/024", "x/8", "10.0.3.1"]) {
      assert.throws(() => parseCidr(bad), /invalid IPv4 CIDR/, bad);
    }
  });

  test("picks the first 10.x/24 that overlaps no route", () => {
    assert.equal(formatCidr(pickSubnet([]) ?? parseCidr("0.0.0.0/0")), "10.0.3.1/24");
    const used = ["10.0.0.0/22", "10.0.4.0/23", "192.0.2.0/24"].map((c) => parseCidr(c));
    assert.equal(formatCidr(pickSubnet(used) ?? parseCidr("0.0.0.0/0")), "10.0.6.1/24");
    assert.equal(pickSubnet([parseCidr("10.0.0.0/8")]), undefined);
  });

  test("DHCP ranges stay inside the subnet and off the gateway", () => {
    assert.deepEqual(defaultDhcpRange(parseCidr("10.0.3.1/24")), ["10.0.3.2", "10.0.3.251"]);
    assert.deepEqual(defaultDhcpRange(parseCidr("10.0.3.1/28")), ["10.0.3.2", "10.0.3.14"]);
    const c = parseCidr("10.0.3.1/24");
    assert.deepEqual(parseDhcpRange("10.0.3.100-10.0.3.200", c), ["10.0.3.100", "10.0.3.200"]);
    assert.throws(() => parseDhcpRange("10.0.4.1-10.0.4.9", c), /must lie inside/);
    assert.throws(() => parseDhcpRange("10.0.3.1-10.0.3.9", c), /exclude the gateway/);
    assert.throws(() => parseDhcpRange("10.0.3.9", c), /invalid DHCP range/);
  });

  test("hwaddr templating as LXC: x digits random, a templated first byte unicast and local", () => {
    assert.equal(
      templateHwaddr("4a:49:43:49:79:xx", () => 15),
      "4a:49:43:49:79:ff",
    );
    assert.equal(
      templateHwaddr("xx:16:3E:00:00:01", () => 15),
      "fe:16:3e:00:00:01",
    );
    assert.equal(
      templateHwaddr("00:16:3e:00:00:01", () => 3),
      "00:16:3e:00:00:01",
    );
    assert.match(stableHwaddr("c1/0"), /^00:16:3e(:[0-9a-f]{2}){3}$/);
    assert.equal(stableHwaddr("c1/0"), stableHwaddr("c1/0"));
    assert.notEqual(stableHwaddr("c1/0"), stableHwaddr("c2/0"));
  });
});

describe("network rendering", () => {
  test("the nft ruleset replaces lxt's own table in one transaction", () => {
    const text = renderNftRuleset(def);
    assert.match(text, /^table ip lxt-lxtbr0\ndelete table ip lxt-lxtbr0\ntable ip lxt-lxtbr0 \{/);
    assert.match(text, /ip saddr 10\.0\.3\.0\/24 ip daddr != 10\.0\.3\.0\/24 masquerade/);
    assert.match(text, /iifname "lxtbr0" udp dport \{ 53, 67 \} accept/);
    assert.doesNotMatch(text, /flush ruleset|table inet filter|table ip filter/);
    const noNat = renderNftRuleset({ ...def, nat: false });
    assert.doesNotMatch(noNat, /masquerade|hook forward/);
  });

  test("dnsmasq binds only the bridge and has no upstream unless asked", () => {
    const conf = renderDnsmasqConf(def, run).split("\n");
    for (const l of [
      "interface=lxtbr0",
      "bind-interfaces",
      "except-interface=lo",
      "listen-address=10.0.3.1",
      "no-resolv",
      "pid-file=/run/n/dnsmasq.pid",
      "dhcp-range=10.0.3.2,10.0.3.251,1h",
      "domain=lxt",
      "local=/lxt/",
      "dhcp-hostsdir=/run/n/dhcp-hosts",
    ]) {
      assert.ok(conf.includes(l), l);
    }
    assert.ok(!conf.some((l) => l.startsWith("server=")));
    assert.ok(!renderDnsmasqConf({ ...def, dnsUpstream: true }, run).includes("no-resolv"));
  });

  test("leases parse", () => {
    const l = parseLeases(
      "1795906703 00:16:3e:af:b7:f8 10.0.3.5 c1 01:00:16:3e:af:b7:f8\nbad\n1 aa 10.0.3.6 * *\n",
    );
    assert.deepEqual(l, [
      { expires: 1795906703, hwaddr: "00:16:3e:af:b7:f8", ipv4: "10.0.3.5", hostname: "c1" },
      { expires: 1, hwaddr: "aa", ipv4: "10.0.3.6", hostname: "" },
    ]);
  });

  test("planNetwork refuses subnets overlapping routes and takes auto past them", async () => {
    const runner = new RecordingRunner(() =>
      JSON.stringify([
        { dst: "default" },
        { dst: "10.0.3.0/24" },
        { dst: "127.0.0.1", type: "local" },
      ]),
    );
    const auto = await planNetwork("/nonexistent", "lxtn", { ipv4: "auto" }, runner);
    assert.equal(auto.ipv4, "10.0.4.1/24");
    assert.equal(auto.nat, true);
    await assert.rejects(
      planNetwork("/nonexistent", "lxtn", { ipv4: "10.0.3.9/24" }, runner),
      /overlaps 10\.0\.3\.0\/24/,
    );
    await assert.rejects(
      planNetwork("/nonexistent", "lxtn", { ipv4: "10.9.0.0/24" }, runner),
      /gateway/,
    );
    await assert.rejects(planNetwork("/nonexistent", "bad/name", {}, runner), /network name/);
  });
});

const TOOLS = {
  ip: "/usr/sbin/ip",
  nsenter: "/usr/bin/nsenter",
  mount: "/usr/bin/mount",
  umount: "/usr/bin/umount",
  sysctl: "/usr/sbin/sysctl",
  env: "/usr/bin/env",
  sh: "/bin/sh",
};

function ctx(over: Partial<NicHookContext> = {}): NicHookContext {
  return {
    container: "c1",
    configFile: "/l/c1/config",
    rootfs: "/l/c1/rootfs",
    netnsPin: "/run/x/netns",
    autoGateways: new Map(),
    physOriginal: new Map(),
    ...over,
  };
}

describe("NICs", () => {
  const net = (keys: Record<string, string[]>, up = true): NetConfig => ({
    index: 0,
    type: "veth",
    up,
    keys,
    file: "config",
    line: 1,
  });
  const bytes = (n: number) => Buffer.alloc(n, 0xab);

  test("resolve from lxc.net keys", () => {
    const [nic] = resolveNics(
      "c1",
      [
        net({
          link: ["lxtbr0"],
          hwaddr: ["4a:49:43:49:79:xx"],
          mtu: ["1400"],
          "ipv4.address": ["10.0.3.5/24", "10.0.3.6"],
          "ipv4.gateway": ["auto"],
        }),
      ],
      bytes,
    );
    assert.deepEqual(nic, {
      index: 0,
      type: "veth",
      hostName: "lxtvabababab",
      peerName: "lxtpabababab",
      name: "eth0",
      hwaddr: "4a:49:43:49:79:bb",
      mtu: 1400,
      link: "lxtbr0",
      mode: "bridge",
      up: true,
      ipv4: ["10.0.3.5/24", "10.0.3.6/24"],
      ipv6: [],
      gateway4: "auto",
      routes4: [],
      routes6: [],
    });
    const [paired] = resolveNics("c1", [net({ "veth.pair": ["vethc1"], name: ["lan0"] })], bytes);
    assert.equal(paired?.type === "veth" && paired.hostName, "vethc1");
    assert.equal(paired?.name, "lan0");
  });

  test("render as netdev and host-hook plan records", () => {
    const nics = resolveNics(
      "c1",
      [net({ link: ["lxtbr0"], "ipv4.address": ["10.0.3.5/24"], "ipv4.gateway": ["auto"] })],
      bytes,
    );
    const net0 = nicRecords(
      nics,
      TOOLS,
      ctx({ autoGateways: new Map([[0, { ipv4: "10.0.3.1" }]]) }),
    );
    assert.deepEqual(net0.netdevs, ["lxtvabababab"]);
    const ns = ["/usr/bin/nsenter", "-t", "{pid}", "-n", "/usr/sbin/ip"];
    assert.deepEqual(net0.hooks, [
      [...ns, "link", "set", "dev", "lo", "up"],
      ["/usr/sbin/ip", "link", "set", "dev", "lxtpabababab", "netns", "{pid}"],
      [...ns, "link", "set", "dev", "lxtpabababab", "name", "eth0"],
      [...ns, "link", "set", "dev", "eth0", "up"],
      [...ns, "addr", "add", "10.0.3.5/24", "broadcast", "+", "dev", "eth0"],
      [...ns, "route", "add", "default", "via", "10.0.3.1", "dev", "eth0", "onlink"],
    ]);
    assert.deepEqual(net0.stopHooks, []);
    assert.throws(
      () => nicRecords(nics, TOOLS, ctx()),
      /ipv4\.gateway = auto: lxtbr0 has no global IPv4 address/,
    );

    const plan = renderPlan({
      name: "c1",
      hostname: "c1",
      rootfs: "/r",
      runtimeDir: "/run/x",
      exitFile: "/x/last-exit",
      cgroups: { v1: [] },
      namespaces: ["net"],
      hierarchies: [],
      mountAuto: {},
      autodev: false,
      autodevTmpfsSize: 0,
      ttyMax: 0,
      ptyMax: 0,
      mountEntries: [],
      sysctls: [],
      rlimits: [],
      init: { argv: ["/sbin/init"], cwd: "/", uid: 0, gid: 0 },
      env: [],
      stdio: "null",
      foreground: false,
      initShim: false,
      net: net0,
    });
    assert.match(plan, /\nnetdev lxtvabababab\n/);
    assert.match(plan, /\nhost-hook \/usr\/sbin\/ip link set dev lxtpabababab netns %7Bpid%7D\n/);
  });
});
