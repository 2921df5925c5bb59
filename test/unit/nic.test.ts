import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { loadConfig } from "../../src/config/index.js";
import type { NetConfig } from "../../src/config/model.js";
import { parseIpAddrJson } from "../../src/host/netinfo.js";
import {
  type NicHookContext,
  netFailure,
  nicRecords,
  resolveNics,
  sharesHostNet,
  summarizeNics,
} from "../../src/network/nic.js";

const TOOLS = {
  ip: "/ip",
  nsenter: "/nsenter",
  umount: "/umount",
  sysctl: "/sysctl",
  env: "/env",
  sh: "/sh",
};
const ctx = (over: Partial<NicHookContext> = {}): NicHookContext => ({
  container: "c1",
  configFile: "/l/c1/config",
  rootfs: "/l/c1/rootfs",
  netnsPin: "/run/x/netns",
  autoGateways: new Map(),
  physOriginal: new Map(),
  ...over,
});
const net = (index: number, type: string, keys: Record<string, string[]>): NetConfig => ({
  index,
  type,
  up: keys.flags?.[0] === "up",
  keys,
  file: "config",
  line: 1,
});
function loadConfigText(text: string) {
  const dir = mkdtempSync(join(tmpdir(), "lxt-nic-"));
  try {
    writeFileSync(join(dir, "config"), `${text}\n`);
    return loadConfig(join(dir, "config"), { cgroupLayout: "v2", env: {}, arch: "x86_64" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const bytes = (n: number) => Buffer.alloc(n, 0xab);

describe("NIC resolution", () => {
  test("macvlan, phys and ipv6 keys", () => {
    const [mv, ph] = resolveNics(
      "c1",
      [
        net(0, "macvlan", {
          link: ["eth9"],
          "macvlan.mode": ["bridge"],
          "ipv6.address": ["FD00::2", "fd01::2/80"],
          "ipv6.gateway": ["fd00::1"],
        }),
        net(1, "phys", { link: ["eth8"], name: ["lan0"] }),
      ],
      bytes,
    );
    assert.equal(mv?.type, "macvlan");
    assert.equal(mv?.type === "macvlan" && mv.mode, "bridge");
    assert.deepEqual(mv?.ipv6, ["fd00::2/64", "fd01::2/80"]);
    assert.equal(mv?.gateway6, "fd00::1");
    assert.equal(ph?.type, "phys");
    assert.equal(ph?.peerName, "eth8", "a phys device moves in under its own name");
    assert.equal(ph?.hwaddr, undefined, "phys keeps its MAC unless hwaddr is set");
    const [def] = resolveNics("c1", [net(0, "macvlan", { link: ["eth9"] })], bytes);
    assert.equal(def?.type === "macvlan" && def.mode, "private", "LXC's default mode");
  });

  test("combinations no single key can check are refused, naming the key", () => {
    const r = (nets: NetConfig[]) => () => resolveNics("c1", nets, bytes);
    assert.throws(r([net(0, "macvlan", {})]), /lxc\.net\.0\.link: a macvlan network needs/);
    assert.throws(r([net(0, "phys", {})]), /lxc\.net\.0\.link: a phys network needs/);
    assert.throws(
      r([net(0, "none", {}), net(1, "veth", {})]),
      /lxc\.net\.0\.type = none .* cannot be combined/,
    );
    assert.throws(
      r([net(0, "veth", {}), net(1, "macvlan", { link: ["e"], name: ["eth0"] })]),
      /lxc\.net\.1\.name: eth0 is also the name of lxc\.net\.0/,
    );
    assert.throws(
      r([net(0, "phys", { link: ["e"] }), net(1, "phys", { link: ["e"] })]),
      /lxc\.net\.1\.link: e is already moved in by lxc\.net\.0/,
    );
    assert.throws(
      r([net(0, "veth", { "veth.mode": ["router"], link: ["br0"] })]),
      /router mode is not attached to a bridge/,
    );
    assert.throws(
      r([net(0, "veth", { "script.up": ["rel/x"] })]),
      /script\.up: rel\/x is not an absolute/,
    );
    assert.ok(sharesHostNet([net(0, "none", {})]));
    assert.deepEqual(resolveNics("c1", [net(0, "none", {})]), []);
  });

  test("config: every type and its keys are accepted", () => {
    const cfg = loadConfigText(
      [
        "lxc.net.0.type = phys",
        "lxc.net.0.link = eth1",
        "lxc.net.0.ipv6.address = fd00::2/64",
        "lxc.net.0.script.up = /bin/true",
        "lxc.net.1.type = veth",
        "lxc.net.1.veth.mode = router",
        "lxc.net.1.veth.ipv4.route = 10.1.0.0/24",
        "lxc.net.2.type = macvlan",
        "lxc.net.2.macvlan.mode = vepa",
        "lxc.net.3.type = vlan",
        "lxc.net.3.vlan.id = 5",
        "lxc.net.3.link = eth1",
        "lxc.net.4.type = ipvlan",
        "lxc.net.4.ipvlan.mode = l2",
      ].join("\n"),
    );
    assert.deepEqual(
      cfg.nets.map((n) => n.type),
      ["phys", "veth", "macvlan", "vlan", "ipvlan"],
    );
    assert.throws(
      () => loadConfigText("lxc.net.0.type = veth\nlxc.net.0.ipv6.address = fd00::g/64"),
      /invalid value "fd00::g\/64": expected an ipv6 address/,
    );
  });
});

describe("NIC records", () => {
  test("phys: pin, move in, configure, and take back out on stop", () => {
    const nics = resolveNics(
      "c1",
      [
        net(0, "phys", {
          link: ["eth8"],
          name: ["lan0"],
          mtu: ["1300"],
          hwaddr: ["02:00:00:00:00:42"],
          flags: ["up"],
          "ipv6.address": ["fd00::2/64"],
          "ipv6.gateway": ["dev"],
        }),
      ],
      bytes,
    );
    const r = nicRecords(
      nics,
      TOOLS,
      ctx({ physOriginal: new Map([[0, { mtu: 1500, address: "aa:bb:cc:dd:ee:ff" }]]) }),
    );
    assert.deepEqual(r.netdevs, [], "a phys device is never deleted");
    assert.deepEqual(r.nets, [
      ["pin", "/run/x/netns"],
      ["up", "lo"],
      ["move", "eth8"],
      ["link", "eth8", "lan0", "1300", "02:00:00:00:00:42"],
      ["up", "lan0"],
      ["addr", "lan0", "fd00::2/64"],
      ["route", "::/0", "-", "lan0"],
    ]);
    assert.deepEqual(r.hooks, [], "no exec to bring a phys device in");
    assert.equal(r.stopHooks.length, 2);
    const back = r.stopHooks[0] ?? [];
    assert.equal(back[0], "/env");
    for (const v of [
      "PIN=/run/x/netns",
      "INSIDE=lan0",
      "ORIG=eth8",
      "TMP=lxtqabababab",
      "MTU=1500",
    ]) {
      assert.ok(back.includes(v), v);
    }
    assert.ok(back.includes("MAC=aa:bb:cc:dd:ee:ff"));
    assert.deepEqual(back.slice(-2), ["sh", "{monitor}"]);
    assert.deepEqual(r.stopHooks[1], ["/umount", "/run/x/netns"]);
  });

  test("veth router mode: host routes, proxy ARP/NDP; a macvlan made inside", () => {
    const nics = resolveNics(
      "c1",
      [
        net(0, "veth", {
          "veth.mode": ["router"],
          "veth.pair": ["vr0"],
          "ipv4.address": ["10.1.1.2/32"],
          "ipv4.gateway": ["10.1.0.1"],
          "ipv6.address": ["fd00::2/128"],
          "ipv6.gateway": ["fe80::1"],
          "veth.ipv6.route": ["fd01::/64"],
        }),
        net(1, "macvlan", { link: ["eth9"], "macvlan.mode": ["bridge"] }),
      ],
      bytes,
    );
    const r = nicRecords(nics, TOOLS, ctx());
    assert.deepEqual(r.netdevs, ["vr0"], "a macvlan is made inside the container's namespace");
    assert.deepEqual(r.nets, [
      ["up", "lo"],
      ["veth", "vr0", "eth0", "0", nics[0]?.hwaddr ?? "", "-", "0", "0"],
      ["addr", "eth0", "10.1.1.2/32"],
      ["addr", "eth0", "fd00::2/128"],
      ["route", "0.0.0.0/0", "10.1.0.1", "eth0"],
      ["route", "::/0", "fe80::1", "eth0"],
      ["macvlan", "eth9", "eth1", "bridge", "0", nics[1]?.hwaddr ?? ""],
      ["host-route", "10.1.1.2/32", "vr0"],
      ["host-route", "fd00::2/128", "vr0"],
      ["host-proxy", "10.1.0.1", "vr0"],
      ["host-proxy", "fe80::1", "vr0"],
      ["host-route", "fd01::/64", "vr0"],
    ]);
    assert.deepEqual(r.hooks, [["/sysctl", "-q", "-w", "net.ipv6.conf.vr0.proxy_ndp=1"]]);
    assert.deepEqual(r.stopHooks, [], "no phys: no pin, nothing to do on stop");
    assert.deepEqual(
      summarizeNics(nics).map((s) => [s.type, s.hostName, s.mode]),
      [
        ["veth", "vr0", "router"],
        ["macvlan", null, "bridge"],
      ],
    );
  });

  test("scripts: LXC's arguments and environment, up as a host-hook, down as a stop-hook", () => {
    const nics = resolveNics(
      "c1",
      [
        net(0, "veth", {
          link: ["br0"],
          "veth.pair": ["v0"],
          "script.up": ["/s"],
          "script.down": ["/s"],
        }),
      ],
      bytes,
    );
    const r = nicRecords(nics, TOOLS, ctx());
    const env = [
      "/env",
      "-i",
      "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
      "LXC_NAME=c1",
      "LXC_CONFIG_FILE=/l/c1/config",
      "LXC_ROOTFS_PATH=/l/c1/rootfs",
      "LXC_ROOTFS_MOUNT=/l/c1/rootfs",
      "LXC_HOOK_VERSION=0",
    ];
    const tail = [
      "LXC_HOOK_SECTION=net",
      "LXC_NET_TYPE=veth",
      "LXC_NET_PARENT=br0",
      "LXC_NET_PEER=v0",
      "/s",
      "c1",
      "net",
    ];
    assert.deepEqual(r.hooks.at(-1), [
      ...env,
      "LXC_HOOK_TYPE=up",
      ...tail,
      "up",
      "veth",
      "br0",
      "v0",
    ]);
    assert.deepEqual(r.stopHooks, [
      [...env, "LXC_HOOK_TYPE=down", ...tail, "down", "veth", "br0", "v0"],
    ]);
    // lxc.hook.version = 1: no arguments, the version in the variables.
    const v1 = nicRecords(nics, TOOLS, ctx({ hookVersion: 1 })).hooks.at(-1) ?? [];
    assert.ok(v1.includes("LXC_HOOK_VERSION=1"));
    assert.equal(v1.at(-1), "/s");
  });

  test("gateway auto takes the link's address; none there is an error naming the key", () => {
    const nics = resolveNics(
      "c1",
      [net(0, "macvlan", { link: ["eth9"], "ipv6.gateway": ["auto"] })],
      bytes,
    );
    const r = nicRecords(nics, TOOLS, ctx({ autoGateways: new Map([[0, { ipv6: "fd00::1" }]]) }));
    assert.deepEqual(r.nets.at(-1), ["route", "::/0", "fd00::1", "eth0"]);
    assert.throws(
      () => nicRecords(nics, TOOLS, ctx()),
      /lxc\.net\.0\.ipv6\.gateway = auto: eth9 has no global IPv6 address/,
    );
  });
});

test("ip -j addr: global addresses per interface, loopback left out", () => {
  const nics = parseIpAddrJson(
    JSON.stringify([
      {
        ifname: "lo",
        link_type: "loopback",
        addr_info: [{ family: "inet", local: "127.0.0.1", scope: "host" }],
      },
      {
        ifname: "eth0",
        address: "00:16:3e:00:00:01",
        link_type: "ether",
        addr_info: [
          { family: "inet", local: "10.0.3.5", scope: "global" },
          { family: "inet6", local: "fd00::5", scope: "global" },
          { family: "inet6", local: "fe80::1", scope: "link" },
        ],
      },
    ]),
  );
  assert.deepEqual(nics, [
    { name: "eth0", hwaddr: "00:16:3e:00:00:01", ipv4: ["10.0.3.5"], ipv6: ["fd00::5"] },
  ]);
});

describe("the monitor's net failures, named by key", () => {
  const nics = resolveNics(
    "c1",
    [
      net(0, "veth", { link: ["br0"], "veth.pair": ["v0"], "ipv4.address": ["10.0.0.5/24"] }),
      net(1, "macvlan", { link: ["eth9"] }),
    ],
    bytes,
  );
  const f = (op: string, path: string, errno: number) => ({ stage: "net", op, path, errno });
  test("missing link, non-bridge, host end taken, an address refused", () => {
    assert.match(
      netFailure(f("no-link", "br0", 19), nics)?.message ?? "",
      /^lxc\.net\.0\.link: br0 does not exist \(create it with `lxt network create`\)$/,
    );
    assert.equal(netFailure(f("no-link", "eth9", 19), nics)?.code, "config");
    assert.match(
      netFailure(f("no-link", "eth9", 19), nics)?.message ?? "",
      /^lxc\.net\.1\.link: eth9 does not exist$/,
    );
    assert.match(
      netFailure(f("not-bridge", "br0", 0), nics)?.message ?? "",
      /^lxc\.net\.0\.link: br0 is not a bridge$/,
    );
    const taken = netFailure(f("veth", "v0", 17), nics);
    assert.equal(taken?.code, "exists");
    assert.match(taken?.message ?? "", /^lxc\.net\.0\.veth\.pair: a link named v0 already exists$/);
    assert.match(
      netFailure(f("addr", "10.0.0.5/24", 17), nics)?.message ?? "",
      /^lxc\.net\.0: addr 10\.0\.0\.5\/24: EEXIST/,
    );
    assert.equal(netFailure({ ...f("mount", "/x", 1), stage: "mount" }, nics), undefined);
    const filtering = netFailure(f("vlan-filtering", "br0", 1), nics);
    assert.equal(filtering?.code, "config");
    assert.match(
      filtering?.message ?? "",
      /^lxc\.net\.0\.veth\.vlan\.id: vlan_filtering is not enabled on "br0"$/,
    );
    assert.match(
      netFailure(f("vlan-filtering", "br0", 95), nics)?.message ?? "",
      /^lxc\.net\.0\.veth\.vlan\.id: the kernel has no bridge VLAN filtering \(CONFIG_BRIDGE_VLAN_FILTERING\)$/,
    );
  });
});

describe("vlan, ipvlan, veth VLANs and queues, l2proxy", () => {
  const r = (nets: NetConfig[]) => () => resolveNics("c1", nets, bytes);

  test("LXC's checks, each naming the key", () => {
    assert.throws(
      r([net(0, "vlan", { "vlan.id": ["5"] })]),
      /lxc\.net\.0\.link: a vlan network needs/,
    );
    assert.throws(
      r([net(0, "vlan", { link: ["e"] })]),
      /lxc\.net\.0\.vlan\.id: a vlan network needs its VLAN id/,
    );
    assert.throws(r([net(0, "ipvlan", {})]), /lxc\.net\.0\.link: a ipvlan network needs/);
    assert.throws(
      r([net(0, "ipvlan", { link: ["e"], hwaddr: ["02:00:00:00:00:01"] })]),
      /lxc\.net\.0\.hwaddr: an ipvlan has its parent's MAC/,
    );
    assert.throws(
      r([net(0, "ipvlan", { link: ["e"], l2proxy: ["1"] })]),
      /lxc\.net\.0\.l2proxy: requires ipvlan mode on dev "e" be l3s when used with l2proxy/,
    );
    assert.throws(
      r([net(0, "veth", { "veth.vlan.id": ["10"] })]),
      /lxc\.net\.0\.veth\.vlan\.id: cannot use veth vlan\.id when not in bridge mode or no bridge link/,
    );
    assert.throws(
      r([net(0, "veth", { "veth.mode": ["router"], "veth.vlan.tagged.id": ["10"] })]),
      /lxc\.net\.0\.veth\.vlan\.tagged\.id: cannot use veth vlan\.id when not in bridge mode/,
    );
    assert.throws(
      r([
        net(0, "veth", {
          link: ["br0"],
          "veth.vlan.id": ["10"],
          "veth.vlan.tagged.id": ["20", "10"],
        }),
      ]),
      /lxc\.net\.0\.veth\.vlan\.tagged\.id: cannot use same veth vlan\.id "10" in vlan\.tagged\.id/,
    );
  });

  test("records: devices made inside, the port's VLANs, queues, proxy entries undone on stop", () => {
    const nics = resolveNics(
      "c1",
      [
        net(0, "veth", {
          link: ["br0"],
          "veth.pair": ["vb0"],
          "veth.vlan.id": ["none"],
          "veth.vlan.tagged.id": ["20", "30", "20"],
          "veth.n_rxqueues": ["4"],
          "veth.n_txqueues": ["2"],
        }),
        net(1, "vlan", { link: ["eth1"], "vlan.id": ["7"], name: ["v7"], mtu: ["1400"] }),
        net(2, "ipvlan", {
          link: ["eth2"],
          "ipvlan.mode": ["l3s"],
          "ipvlan.isolation": ["vepa"],
          l2proxy: ["1"],
          "ipv4.address": ["10.9.0.2/24"],
          "ipv6.address": ["fd09::2/64"],
        }),
        net(3, "veth", { link: ["br1"], "veth.pair": ["vb3"], "veth.vlan.id": ["12"] }),
      ],
      bytes,
    );
    assert.equal(nics[1]?.hwaddr, undefined, "a vlan keeps its parent's MAC, as in LXC");
    assert.equal(nics[2]?.hwaddr, undefined);
    const rec = nicRecords(nics, TOOLS, ctx());
    assert.deepEqual(rec.nets, [
      ["up", "lo"],
      ["veth", "vb0", "eth0", "0", nics[0]?.hwaddr ?? "", "br0", "4", "2"],
      ["bridge-vlan", "vb0", "br0", "none", "20,30"],
      ["vlan", "eth1", "v7", "7", "1400", "-"],
      ["ipvlan", "eth2", "eth2", "l3s", "vepa", "0"],
      ["addr", "eth2", "10.9.0.2/24"],
      ["addr", "eth2", "fd09::2/64"],
      ["veth", "vb3", "eth3", "0", nics[3]?.hwaddr ?? "", "br1", "0", "0"],
      ["bridge-vlan", "vb3", "br1", "12", "-"],
      ["host-proxy", "10.9.0.2", "eth2"],
      ["host-route", "10.9.0.2/32", "lo"],
      ["host-proxy", "fd09::2", "eth2"],
      ["host-route", "fd09::2/128", "lo"],
    ]);
    assert.deepEqual(rec.stopHooks, [
      ["/ip", "neigh", "del", "proxy", "10.9.0.2", "dev", "eth2"],
      ["/ip", "route", "del", "10.9.0.2/32", "dev", "lo"],
      ["/ip", "neigh", "del", "proxy", "fd09::2", "dev", "eth2"],
      ["/ip", "route", "del", "fd09::2/128", "dev", "lo"],
    ]);
    assert.deepEqual(
      summarizeNics(nics).map((s) => [s.type, s.mode]),
      [
        ["veth", "bridge"],
        ["vlan", "7"],
        ["ipvlan", "l3s"],
        ["veth", "bridge"],
      ],
    );
  });

  test("a kernel without the driver: refused naming the key and what is missing", () => {
    const nics = resolveNics(
      "c1",
      [net(0, "vlan", { link: ["eth1"], "vlan.id": ["7"] }), net(1, "ipvlan", { link: ["eth1"] })],
      bytes,
    );
    const f = (op: string, path: string) => ({ stage: "net", op, path, errno: 95 });
    const v = netFailure(f("vlan", "eth0"), nics);
    assert.equal(v?.code, "host");
    assert.equal(
      v?.message,
      "lxc.net.0.type = vlan: the kernel has no 802.1Q VLAN support (CONFIG_VLAN_8021Q, module 8021q)",
    );
    assert.equal(
      netFailure(f("ipvlan", "eth1"), nics)?.message,
      "lxc.net.1.type = ipvlan: the kernel has no ipvlan driver (CONFIG_IPVLAN, module ipvlan)",
    );
  });

  test("l2proxy without a link adds nothing (as LXC)", () => {
    const nics = resolveNics(
      "c1",
      [net(0, "veth", { l2proxy: ["1"], "ipv4.address": ["10.0.0.2/24"] })],
      bytes,
    );
    const rec = nicRecords(nics, TOOLS, ctx());
    assert.ok(!rec.nets.some((n) => n[0] === "host-proxy"));
    assert.deepEqual(rec.stopHooks, []);
  });
});
