import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { NetConfig } from "../../src/config/model.js";
import { storedClaims, writeForwards } from "../../src/container/forward.js";
import { containerPaths } from "../../src/container/paths.js";
import { renderPlan } from "../../src/container/plan.js";
import { RecordingRunner } from "../../src/host/runner.js";
import { droppingForwardChains } from "../../src/network/firewall.js";
import {
  clashes,
  describeClash,
  findClash,
  formatForward,
  parseDhcpHost,
  parseForward,
  pickAddress,
} from "../../src/network/forward.js";
import {
  defaultDhcpRange,
  formatCidr,
  parseCidr,
  parseDhcpRange,
  pickSubnet,
  stableHwaddr,
  templateHwaddr,
} from "../../src/network/ipv4.js";
import { parseIpv6Cidr, randomUla } from "../../src/network/ipv6.js";
import { planNetwork } from "../../src/network/manage.js";
import { type NicHookContext, nicRecords, resolveNics } from "../../src/network/nic.js";
import {
  bridgeMac,
  expandIpv6,
  ipv6Prefix,
  type NetworkDef,
  parseLeases,
  renderDnsmasqConf,
  renderNftRuleset,
} from "../../src/network/render.js";
import { optionsWith } from "../../src/network/set.js";
import { testContext } from "./support/context.js";

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
  test("a bridge's MAC: from its name, locally administered unicast, one per name", () => {
    const mac = bridgeMac("lxtbr0");
    assert.match(mac, /^02(:[0-9a-f]{2}){5}$/);
    assert.equal(
      bridgeMac("lxtbr0"),
      mac,
      "the same name gives the same MAC (every cluster member)",
    );
    const others = new Set(["lxtbr1", "net", "lxtbr0 ", "o1234"].map(bridgeMac));
    assert.equal(others.size, 4);
    assert.ok(!others.has(mac));
  });

  test("the nft ruleset replaces lxt's own table in one transaction", () => {
    const text = renderNftRuleset(def);
    assert.match(
      text,
      /^table inet lxt-lxtbr0\ndelete table inet lxt-lxtbr0\ntable inet lxt-lxtbr0 \{/,
    );
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
    const auto = await planNetwork(testContext(), "lxtn", { ipv4: "auto" }, runner);
    assert.equal(auto.ipv4, "10.0.4.1/24");
    assert.equal(auto.nat, true);
    await assert.rejects(
      planNetwork(testContext(), "lxtn", { ipv4: "10.0.3.9/24" }, runner),
      /overlaps 10\.0\.3\.0\/24/,
    );
    await assert.rejects(
      planNetwork(testContext(), "lxtn", { ipv4: "10.9.0.0/24" }, runner),
      /gateway/,
    );
    await assert.rejects(planNetwork(testContext(), "bad/name", {}, runner), /network name/);
  });
});

const TOOLS = {
  ip: "/usr/sbin/ip",
  nsenter: "/usr/bin/nsenter",
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
      l2proxy: false,
      vlanTagged: [],
      rxQueues: 0,
      txQueues: 0,
    });
    const [paired] = resolveNics("c1", [net({ "veth.pair": ["vethc1"], name: ["lan0"] })], bytes);
    assert.equal(paired?.type === "veth" && paired.hostName, "vethc1");
    assert.equal(paired?.name, "lan0");
  });

  test("render as netdev and net plan records", () => {
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
    assert.deepEqual(net0.nets, [
      ["up", "lo"],
      ["veth", "lxtvabababab", "eth0", "0", nics[0]?.hwaddr ?? "", "lxtbr0", "0", "0"],
      ["up", "eth0"],
      ["addr", "eth0", "10.0.3.5/24"],
      ["route", "0.0.0.0/0", "10.0.3.1", "eth0"],
    ]);
    assert.deepEqual(net0.hooks, [], "no exec: the monitor does it all by rtnetlink");
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
    assert.match(plan, /\nnet veth lxtvabababab eth0 0 [0-9a-f:]{17} lxtbr0 0 0\nnet up eth0\n/);
    assert.doesNotMatch(plan, /host-hook/);
  });
});

describe("IPv6, forwards, firewall detection, network set", () => {
  test("IPv6 /64s: parsed, refused when not /64 or the prefix itself; ULA picked from random bytes", () => {
    assert.equal(parseIpv6Cidr("FD42:1:2:3::1/64"), "fd42:1:2:3::1/64");
    assert.throws(() => parseIpv6Cidr("fd42:1:2:3::1/48"), /must be \/64/);
    assert.throws(() => parseIpv6Cidr("fd42:1:2:3::/64"), /gateway's address/);
    assert.throws(() => parseIpv6Cidr("10.0.3.1/24"), /invalid IPv6 CIDR/);
    assert.equal(randomUla(new Uint8Array([1, 2, 3, 4, 5])), "fd01:0203:0405::1/64");
    assert.equal(ipv6Prefix("fd01:0203:0405::1/64"), "fd01:203:405:0::/64");
    assert.equal(expandIpv6("fd00::1").join(":"), "fd00:0000:0000:0000:0000:0000:0000:0001");
  });

  test("IPv6 renders RA + stateless DHCPv6 in dnsmasq and NAT66 only when asked", () => {
    const six = { ...def, ipv6: "fd01:203:405::1/64", nat6: true };
    const conf = renderDnsmasqConf(six, run);
    assert.match(conf, /^enable-ra$/m);
    assert.match(conf, /^dhcp-range=::,constructor:lxtbr0,ra-stateless,ra-names,64,1h$/m);
    assert.match(
      renderNftRuleset(six),
      /ip6 saddr fd01:203:405:0::\/64 ip6 daddr != fd01:203:405:0::\/64 masquerade/,
    );
    assert.doesNotMatch(renderNftRuleset({ ...six, nat6: false }), /ip6 saddr/);
    assert.doesNotMatch(renderDnsmasqConf(def, run), /enable-ra/);
  });

  test("forwards parse, clash and render DNAT from prerouting and output, SNAT only for loopback and hairpin", () => {
    assert.deepEqual(parseForward("tcp", "127.0.0.1:8080", "80"), {
      proto: "tcp",
      listen: "127.0.0.1",
      port: 8080,
      targetPort: 80,
    });
    assert.deepEqual(parseForward("udp", "53", "5353"), {
      proto: "udp",
      port: 53,
      targetPort: 5353,
    });
    assert.throws(() => parseForward("icmp", "1", "2"), /invalid protocol/);
    assert.throws(() => parseForward("tcp", "70000", "2"), /invalid host port/);
    assert.throws(() => parseForward("tcp", "host:1", "2"), /invalid host address/);
    assert.throws(() => parseForward("tcp", "1", "0"), /invalid container port/);
    const any = parseForward("tcp", "8080", "80");
    assert.ok(clashes(any, parseForward("tcp", "10.1.1.1:8080", "81")));
    assert.ok(!clashes(any, parseForward("udp", "8080", "80")));
    assert.ok(
      !clashes(parseForward("tcp", "10.1.1.1:80", "1"), parseForward("tcp", "10.1.1.2:80", "1")),
    );
    assert.equal(
      formatForward(parseForward("tcp", "127.0.0.1:8080", "80")),
      "tcp 127.0.0.1:8080 80",
    );
    const text = renderNftRuleset(def, [
      { ...any, container: "c1", address: "10.0.3.5" },
      { ...parseForward("udp", "127.0.0.1:53", "53"), container: "c1", address: "10.0.3.5" },
    ]);
    const rule = "meta nfproto ipv4 fib daddr type local tcp dport 8080 dnat ip to 10.0.3.5:80";
    assert.equal(text.split(rule).length - 1, 2, "prerouting and output");
    assert.match(text, /type nat hook output priority -100/);
    assert.match(text, /ip daddr 127\.0\.0\.1 udp dport 53 dnat ip to 10\.0\.3\.5:53/);
    assert.match(text, /oifname "lxtbr0" ip saddr 127\.0\.0\.0\/8 ct status dnat masquerade/);
    assert.match(text, /oifname "lxtbr0" ct status dnat accept/);
    assert.doesNotMatch(renderNftRuleset(def), /dnat/);
  });

  test("port claims: another container's claim clashes (not its own), named with its network", () => {
    const f = parseForward("tcp", "8080", "80");
    const stored = { container: "c1", forward: parseForward("tcp", "8080", "81") };
    const applied = {
      container: "c2",
      forward: parseForward("tcp", "10.1.1.1:8080", "80"),
      network: "n1",
    };
    const claims = [stored, applied];
    assert.equal(findClash(f, "c1", claims), applied);
    assert.equal(findClash(f, "c3", claims), stored);
    assert.equal(findClash(parseForward("udp", "8080", "80"), "c3", claims), undefined);
    assert.equal(describeClash(stored), "clashes with c1's forward tcp 8080 81");
    assert.equal(
      describeClash(applied),
      "clashes with c2's forward tcp 10.1.1.1:8080 80 (on network n1)",
    );
    const root = mkdtempSync(join(tmpdir(), "lxt-claims-"));
    try {
      const ctx = testContext({ lxcpath: root });
      for (const c of ["a", "b", "plain"]) mkdirSync(join(root, c));
      writeForwards(containerPaths(ctx, "a"), [parseForward("tcp", "80", "80")]);
      writeForwards(containerPaths(ctx, "b"), [parseForward("udp", "127.0.0.1:53", "53")]);
      writeFileSync(join(root, "plain", "forwards"), "not a forward\n");
      assert.deepEqual(storedClaims(ctx), [
        { container: "a", forward: parseForward("tcp", "80", "80") },
        { container: "b", forward: parseForward("udp", "127.0.0.1:53", "53") },
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("pinned addresses: kept, else the lease, else the first free one in the range", () => {
    const leases = [
      { expires: 1, hwaddr: "00:16:3e:00:00:01", ipv4: "10.0.3.2", hostname: "a" },
      { expires: 1, hwaddr: "00:16:3e:00:00:02", ipv4: "10.0.3.9", hostname: "b" },
    ];
    assert.equal(pickAddress(def, "aa", "10.0.3.50", leases, []), "10.0.3.50");
    assert.equal(pickAddress(def, "00:16:3e:00:00:02", undefined, leases, []), "10.0.3.9");
    assert.equal(pickAddress(def, "ff", undefined, leases, ["10.0.3.3"]), "10.0.3.4");
    assert.deepEqual(parseDhcpHost("00:16:3e:00:00:01,10.0.3.2,c1\n"), {
      hwaddr: "00:16:3e:00:00:01",
      ipv4: "10.0.3.2",
      hostname: "c1",
    });
    assert.deepEqual(parseDhcpHost("00:16:3e:00:00:01,c1"), {
      hwaddr: "00:16:3e:00:00:01",
      hostname: "c1",
    });
  });

  test("forward chains with policy drop in other tables are found; lxt's own and accepting ones are not", () => {
    const ruleset = JSON.stringify({
      nftables: [
        {
          chain: {
            family: "ip",
            table: "filter",
            name: "FORWARD",
            hook: "forward",
            policy: "drop",
          },
        },
        { chain: { family: "inet", table: "fw", name: "fwd", hook: "forward", policy: "accept" } },
        {
          chain: {
            family: "inet",
            table: "lxt-x",
            name: "forward",
            hook: "forward",
            policy: "drop",
          },
        },
        { chain: { family: "ip", table: "filter", name: "INPUT", hook: "input", policy: "drop" } },
        { rule: {} },
      ],
    });
    assert.deepEqual(droppingForwardChains(ruleset), ["ip filter FORWARD"]);
    assert.deepEqual(droppingForwardChains("not json"), []);
  });

  test("network set: keys map onto create's options; unknown keys and bad booleans are refused", () => {
    const o = optionsWith(def, "ipv4.address", "10.0.9.1/24");
    assert.equal(o.ipv4, "10.0.9.1/24");
    assert.equal(o.dhcpRange, undefined, "the range follows the new subnet");
    assert.equal(optionsWith(def, "ipv4.nat", "false").nat, false);
    assert.equal(
      optionsWith(def, "ipv4.dhcp.ranges", "10.0.3.10-10.0.3.20").dhcpRange,
      "10.0.3.10-10.0.3.20",
    );
    assert.equal(optionsWith(def, "ipv6.address", "auto").ipv6, "auto");
    assert.equal(optionsWith(def, "dns.domain", "x").domain, "x");
    assert.throws(() => optionsWith(def, "ipv4.nat", "maybe"), /expected true or false/);
    assert.throws(() => optionsWith(def, "bridge.mtu", "1"), /unknown key "bridge\.mtu"/);
  });
});
