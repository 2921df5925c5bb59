/**
 * A managed network spanning cluster members. Three lxtd members, each in
 * a network namespace of its own ("a machine") with its own state root,
 * wired by veths to a switch namespace (a bridge, `NetnsSwitch`) where one
 * etcd member listens; the underlay is 192.168.77.0/24 on those wires. A network made
 * with `cluster.vxlan=true` on one member appears on all three, joined by
 * VXLAN; containers on two members ping each other by address and by
 * name; a member that leaves is dropped from the others' flood lists and
 * is back when it returns; deleting the network removes every piece on
 * every member. The namespaces take whatever a failed test left with them.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { bridgeMac } from "../../src/network/render.js";
import {
  etcdSkipReason,
  memberFlags,
  NetnsEtcd,
  NetnsSwitch,
  type SwitchedHost,
} from "./etcd-harness.js";
import { netnsSkip, runtimeRoot, until } from "./harness.js";
import { lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason() ?? netnsSkip() ?? etcdSkipReason();
if (skip) console.log(skip);

/** The underlay: the switch at .254, member `i` at .`i + 1`. */
const ipOf = (i: number) => `192.168.77.${i + 1}`;

describe("a managed network spanning cluster members (VXLAN)", { skip, timeout: 400_000 }, () => {
  const sw = new NetnsSwitch("ov", "192.168.77");
  const hub = sw.hub;
  let etcd: NetnsEtcd;
  let NET = "";
  const c0 = `ov${process.pid}a`;
  const c1 = `ov${process.pid}b`;

  const m = (i: number) => sw.hosts[i] as SwitchedHost;
  const start = (i: number) =>
    m(i).box.startDaemon(
      memberFlags({ endpoints: [etcd.endpoint] }, `m${i}`, `${m(i).ip}:8443`, 2),
      {
        netns: m(i).net.ns,
      },
    );
  /** The underlay addresses member `i`'s tunnel of VNI `vni` floods to. */
  const flood = (i: number, vni: string): string[] => {
    const r = m(i).net.inNs(["bridge", "-j", "fdb", "show", "dev", `lxtvx${vni}`]);
    if (r.code !== 0) return [];
    return (JSON.parse(r.stdout || "[]") as { mac: string; dst?: string }[])
      .filter((e) => e.mac === "00:00:00:00:00:00" && e.dst)
      .map((e) => e.dst as string)
      .sort();
  };
  const others = (i: number) => [0, 1, 2].filter((j) => j !== i).map(ipOf);
  const vniOf = () => {
    const j = JSON.parse(m(0).box.lxcOk(["query", `/1.0/networks/${NET}`])) as {
      config: Record<string, string>;
    };
    return j.config["cluster.vxlan"] ?? "";
  };
  /** dnsmasq processes whose config is under member `i`'s runtime dir for NET. */
  const dnsmasqs = (i: number): number[] => {
    const dir = join(runtimeRoot(m(i).box.lxcpath), ".networks", NET);
    return readdirSync("/proc")
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, "utf8").includes(dir);
        } catch {
          return false;
        }
      })
      .map(Number);
  };
  const nftTables = (i: number): string => m(i).net.inNs(["nft", "list", "tables"]).stdout;
  /** The keys under `prefix` in etcd, sorted. */
  const etcdKeys = (prefix: string): string[] =>
    hub
      .nsOk([
        "env",
        "ETCDCTL_API=3",
        "etcdctl",
        "--endpoints",
        etcd.endpoint,
        "get",
        "--prefix",
        "--keys-only",
        prefix,
      ])
      .split("\n")
      .filter(Boolean)
      .sort();
  const addressOf = (i: number, c: string): string => {
    const out = m(i).box.lxcOk(["exec", c, "--", "ip", "-4", "-o", "addr", "show", "eth0"]);
    return /inet (\d+\.\d+\.\d+\.\d+)\//.exec(out)?.[1] ?? "";
  };

  before(async () => {
    sw.open();
    for (let i = 0; i < 3; i++) sw.plug();
    etcd = new NetnsEtcd(hub.ns, sw.ip);
    await etcd.start();
    for (let i = 0; i < 3; i++) await start(i);
    NET = m(0).net.network("o");
  });

  after(async () => {
    const left = await sw.close();
    await etcd?.close();
    assert.deepEqual(left, []);
    assert.equal(existsSync(etcd.dir), false, etcd.dir);
  });

  test("a network made on one member is on every member, joined by VXLAN", async () => {
    m(0).box.lxcOk([
      "network",
      "create",
      NET,
      "ipv4.address=10.77.0.1/24",
      "ipv4.nat=false",
      "cluster.vxlan=true",
    ]);
    const vni = vniOf();
    assert.match(vni, /^\d+$/, "the VNI picked is shown as the network's cluster.vxlan");
    for (let i = 0; i < 3; i++) {
      assert.ok(
        await until(() => flood(i, vni).join() === others(i).join(), 20_000),
        `member ${i} floods to the two others: ${flood(i, vni).join()} ${m(i).box.log.slice(-2000)}`,
      );
      const link = JSON.parse(m(i).net.nsOk(["ip", "-j", "-d", "link", "show", `lxtvx${vni}`])) as {
        master?: string;
        linkinfo?: { info_data?: { id?: number; port?: number } };
      }[];
      assert.equal(link[0]?.master, NET, "the vxlan device is a port of the network's bridge");
      assert.equal(link[0]?.linkinfo?.info_data?.id, Number(vni));
      assert.equal(link[0]?.linkinfo?.info_data?.port, 4789);
      assert.match(nftTables(i), new RegExp(`table bridge lxt-vx-${NET}\\b`));
      assert.match(nftTables(i), new RegExp(`table inet lxt-${NET}\\b`));
      assert.equal(dnsmasqs(i).length, 1, `member ${i} runs one dnsmasq for ${NET}`);
      const bridge = JSON.parse(m(i).net.nsOk(["ip", "-j", "link", "show", NET])) as {
        address: string;
      }[];
      assert.equal(bridge[0]?.address, bridgeMac(NET), "every member's gateway has one MAC");
    }
    // A create that fails on the member asked leaves nothing in etcd or there.
    const bad = m(0).net.network("x");
    const clash = m(0).box.lxc([
      "network",
      "create",
      bad,
      "ipv4.address=192.168.77.129/25",
      "cluster.vxlan=true",
    ]);
    assert.notEqual(clash.code, 0, "a subnet the underlay routes is refused");
    assert.match(clash.stderr, /overlaps/);
    assert.deepEqual(etcdKeys("/lxt/vnis/"), [`/lxt/vnis/${vni}`], "the VNI it took is free again");
    assert.deepEqual(etcdKeys("/lxt/networks/"), [`/lxt/networks/${NET}`]);
    assert.ok(!m(0).net.links().includes(bad));
    const again = m(1).box.lxc(["network", "create", NET, "cluster.vxlan=true"]);
    assert.notEqual(
      again.code,
      0,
      "the name is the cluster's: another member cannot make it again",
    );
    assert.match(again.stderr, /already exists/);
  });

  test("containers on two members reach each other by address and by name", async () => {
    m(0).box.lxcOk(["launch", "busybox", c0, "--network", NET]);
    m(1).box.lxcOk(["launch", "busybox", c1, "--network", NET]);
    const a0 = addressOf(0, c0);
    const a1 = addressOf(1, c1);
    assert.match(a0, /^10\.77\.0\.\d+$/);
    assert.match(a1, /^10\.77\.0\.\d+$/);
    assert.notEqual(a0, a1, "addresses are claimed across the cluster: no two alike");
    const ping = (i: number, c: string, to: string) =>
      m(i).box.lxc(["exec", c, "--", "ping", "-c", "1", "-W", "2", to]).code === 0;
    assert.ok(await until(() => ping(0, c0, a1), 15_000), `${c0} pings ${c1} at ${a1}`);
    assert.ok(ping(1, c1, a0), `${c1} pings ${c0} at ${a0}`);
    // Each member's dnsmasq answers for the other's container once the claim is mirrored.
    assert.ok(await until(() => ping(0, c0, c1), 15_000), `${c0} pings ${c1} by name`);
    assert.ok(await until(() => ping(1, c1, `${c0}.lxt`), 15_000), `${c1} pings ${c0}.lxt`);
    const look = m(0).box.lxcOk(["exec", c0, "--", "nslookup", c1]);
    assert.match(look, new RegExp(a1.replace(/\./g, "\\.")), look);
  });

  test("a container keeps its address when it moves to another member", async () => {
    const a0 = addressOf(0, c0);
    m(0).box.lxcOk(["stop", "-f", c0]);
    // The move by hand: exported from m0's state root, imported into m1's,
    // then deleted on m0 (which frees the name for m1 to take).
    const work = mkdtempSync(join(tmpdir(), "lxt-ovmove-"));
    try {
      const file = join(work, `${c0}.tar.zst`);
      m(0).net.ok(["export", "-q", "-n", c0, file]);
      m(1).net.ok(["import", "-q", file]);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    m(0).box.lxcOk(["delete", c0]);
    const location = () =>
      (
        JSON.parse(m(2).box.lxcOk(["query", "/1.0/instances?recursion=1"])) as {
          name: string;
          location: string;
        }[]
      ).find((i) => i.name === c0)?.location;
    assert.ok(await until(() => location() === "m1", 20_000), `${c0} is m1's: ${location()}`);
    m(1).box.lxcOk(["start", c0]);
    assert.equal(addressOf(1, c0), a0, "the address claimed in the cluster went with it");
    // m0 no longer has it, and answers for it as another member's container.
    const mirrored = join(runtimeRoot(m(0).box.lxcpath), ".networks", NET, "dns-hosts", `${c0}.0`);
    assert.ok(
      await until(
        () => existsSync(mirrored) && readFileSync(mirrored, "utf8").startsWith(`${a0} `),
        15_000,
      ),
      "m0's dnsmasq has the moved container's name",
    );
    assert.ok(
      m(1).box.lxc(["exec", c1, "--", "ping", "-c", "1", "-W", "2", c0]).code === 0,
      `${c1} pings ${c0} by name on their member`,
    );
  });

  test("a member that leaves drops out of the flood lists; it is back when it returns, after a reboot too", async () => {
    const vni = vniOf();
    await m(2).box.stopDaemon();
    for (const i of [0, 1]) {
      assert.ok(
        await until(() => !flood(i, vni).includes(ipOf(2)), 20_000),
        `member ${i} no longer floods to the member that left: ${flood(i, vni).join()}`,
      );
      assert.deepEqual(flood(i, vni), [ipOf(1 - i)]);
    }
    // m2's host "reboots": its network's runtime state is gone (links, nft
    // tables, dnsmasq, /run); its definition stays.
    const run = join(runtimeRoot(m(2).box.lxcpath), ".networks", NET);
    for (const pid of dnsmasqs(2)) process.kill(pid, "SIGTERM");
    assert.ok(await until(() => dnsmasqs(2).length === 0, 10_000));
    m(2).net.nsOk(["ip", "link", "del", `lxtvx${vni}`]);
    m(2).net.nsOk(["ip", "link", "del", NET]);
    m(2).net.nsOk(["nft", "delete", "table", "inet", `lxt-${NET}`]);
    m(2).net.nsOk(["nft", "delete", "table", "bridge", `lxt-vx-${NET}`]);
    rmSync(run, { recursive: true, force: true });
    await start(2);
    assert.deepEqual(
      flood(2, vni),
      others(2),
      "the returning member's tunnel is set up again at once",
    );
    assert.equal(dnsmasqs(2).length, 1, "its network is up again: dnsmasq");
    assert.match(nftTables(2), new RegExp(`table bridge lxt-vx-${NET}\\b`));
    for (const i of [0, 1]) {
      assert.ok(
        await until(() => flood(i, vni).join() === others(i).join(), 20_000),
        `member ${i} floods to the returning member again: ${flood(i, vni).join()}`,
      );
    }
  });

  test("deleting the network removes every piece on every member", async () => {
    const vni = vniOf();
    const inUse = m(2).box.lxc(["network", "delete", NET]);
    assert.notEqual(inUse.code, 0, "refused while containers of any member hold addresses on it");
    assert.match(inUse.stderr, /currently in use/);
    m(1).box.lxcOk(["delete", "-f", c0]);
    m(1).box.lxcOk(["delete", "-f", c1]);
    m(0).box.lxcOk(["network", "delete", NET]);
    // The other members remove their part at their next sync, piece by
    // piece: wait for the whole of it, then say which piece is left.
    const left = (i: number): string[] => {
      const out: string[] = [];
      const links = m(i).net.links();
      if (links.includes(NET)) out.push("bridge");
      if (links.includes(`lxtvx${vni}`)) out.push("vxlan");
      if (dnsmasqs(i).length > 0) out.push("dnsmasq");
      if (new RegExp(`lxt-(vx-)?${NET}\\b`).test(nftTables(i))) out.push("nft table");
      if (existsSync(join(runtimeRoot(m(i).box.lxcpath), ".networks", NET)))
        out.push("runtime dir");
      if (existsSync(join(m(i).box.lxcpath, ".networks", `${NET}.json`))) out.push("definition");
      return out;
    };
    for (let i = 0; i < 3; i++) {
      assert.ok(
        await until(() => left(i).length === 0, 30_000),
        `member ${i} kept: ${left(i).join(", ")}`,
      );
    }
  });
});
