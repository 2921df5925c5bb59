import assert from "node:assert/strict";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { mayWriteResolv, RESOLV_MARK, writeResolvConf } from "../../src/container/resolv-conf.js";
import { networkRunPaths, saveNetwork } from "../../src/network/manage.js";
import { type NicPlan, registerNics, withAssigned } from "../../src/network/nic.js";
import type { NetworkDef } from "../../src/network/render.js";
import { chooseAddress, releaseHosts, renameHosts } from "../../src/network/reserve.js";
import { testContext } from "./support/context.js";

const tmp = mkdtempSync(join(tmpdir(), "lxt-reserve-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const def: NetworkDef = {
  name: "n1",
  ipv4: "10.0.9.1/24",
  nat: false,
  dhcpRange: ["10.0.9.2", "10.0.9.4"],
  domain: "lxt",
  dnsUpstream: false,
};

function veth(index: number, hwaddr: string, extra: Partial<NicPlan> = {}): NicPlan {
  return {
    type: "veth",
    index,
    name: `eth${index}`,
    peerName: "lxtp0",
    hwaddr,
    link: "n1",
    up: true,
    ipv4: [],
    ipv6: [],
    hostName: `lxtv${index}`,
    mode: "bridge",
    routes4: [],
    routes6: [],
    ...extra,
  } as NicPlan;
}

describe("reservations on a managed network", () => {
  const root = mkdtempSync(join(tmp, "root-"));
  const ctx = testContext({ lxcpath: join(root, "lxc"), runDir: join(root, "run") });
  saveNetwork(ctx, def);
  const run = networkRunPaths(ctx, def.name);
  mkdirSync(run.dhcpHosts, { recursive: true });
  mkdirSync(run.dnsHosts, { recursive: true });
  const managed = new Map([[0, def]]);
  const hosts = (key: string) => readFileSync(join(run.dhcpHosts, key), "utf8");

  test("a NIC without a static address gets the first free one, kept across registrations", () => {
    const a = registerNics(ctx, "a", [veth(0, "00:16:3e:00:00:0a")], managed);
    assert.deepEqual(a.get(0), {
      ipv4: "10.0.9.2/24",
      gateway: "10.0.9.1",
      domain: "lxt",
      network: "n1",
    });
    assert.equal(hosts("a.0"), "00:16:3e:00:00:0a,10.0.9.2,a\n");
    assert.equal(readFileSync(join(run.dnsHosts, "a.0"), "utf8"), "10.0.9.2 a.lxt a\n");
    const b = registerNics(ctx, "b", [veth(0, "00:16:3e:00:00:0b")], managed);
    assert.equal(b.get(0)?.ipv4, "10.0.9.3/24");
    // Again (a restart), and with a new MAC (a templated hwaddr): the same address.
    assert.equal(
      registerNics(ctx, "a", [veth(0, "00:16:3e:00:00:0a")], managed).get(0)?.ipv4,
      "10.0.9.2/24",
    );
    assert.equal(chooseAddress(run, def, "a.0", "00:16:3e:00:00:ff"), "10.0.9.2");
  });

  test("a static address in the subnet is the reservation; one elsewhere gets none", () => {
    const s = registerNics(
      ctx,
      "s",
      [veth(0, "00:16:3e:00:00:05", { ipv4: ["10.0.9.50/24"] })],
      managed,
    );
    assert.equal(s.size, 0);
    assert.equal(hosts("s.0"), "00:16:3e:00:00:05,10.0.9.50,s\n");
    const o = registerNics(
      ctx,
      "o",
      [veth(0, "00:16:3e:00:00:06", { ipv4: ["192.0.2.5/24"] })],
      managed,
    );
    assert.equal(o.size, 0);
    assert.equal(hosts("o.0"), "00:16:3e:00:00:06,o\n");
  });

  test("a full range: a state error naming the range, nothing written for that NIC", () => {
    registerNics(ctx, "c", [veth(0, "00:16:3e:00:00:0c")], managed);
    assert.throws(
      () => registerNics(ctx, "d", [veth(0, "00:16:3e:00:00:0d")], managed),
      (e: Error & { code?: string }) =>
        e.code === "state" &&
        /no free address left in its DHCP range 10\.0\.9\.2-10\.0\.9\.4/.test(e.message),
    );
    assert.ok(!existsSync(join(run.dhcpHosts, "d.0")));
  });

  test("rename moves the reservation and its DNS name; destroy releases it", async () => {
    await renameHosts(ctx, "b", "b2");
    assert.ok(!existsSync(join(run.dhcpHosts, "b.0")));
    assert.ok(!existsSync(join(run.dnsHosts, "b.0")));
    assert.equal(hosts("b2.0"), "00:16:3e:00:00:0b,10.0.9.3,b2\n");
    assert.equal(readFileSync(join(run.dnsHosts, "b2.0"), "utf8"), "10.0.9.3 b2.lxt b2\n");
    await releaseHosts(ctx, "b2");
    assert.ok(!existsSync(join(run.dhcpHosts, "b2.0")));
    assert.ok(!existsSync(join(run.dnsHosts, "b2.0")));
    // A name that merely starts the same is someone else's.
    assert.ok(existsSync(join(run.dhcpHosts, "a.0")));
    await releaseHosts(ctx, "nobody");
    assert.equal(
      registerNics(ctx, "e", [veth(0, "00:16:3e:00:00:0e")], managed).get(0)?.ipv4,
      "10.0.9.3/24",
    );
  });

  test("the NICs get the assigned address and the gateway unless they name one", () => {
    const assigned = new Map([
      [0, { ipv4: "10.0.9.2/24", gateway: "10.0.9.1", domain: "lxt", network: "n1" }],
    ]);
    const [plain, other] = withAssigned(
      [veth(0, "00:16:3e:00:00:0a"), veth(1, "00:16:3e:00:00:0f")],
      assigned,
    );
    assert.deepEqual([plain?.ipv4, plain?.gateway4], [["10.0.9.2/24"], "10.0.9.1"]);
    assert.deepEqual([other?.ipv4, other?.gateway4], [[], undefined]);
    const [dev] = withAssigned([veth(0, "00:16:3e:00:00:0a", { gateway4: "dev" })], assigned);
    assert.equal(dev?.gateway4, "dev");
  });
});

describe("resolv.conf before the init", () => {
  const a = { ipv4: "10.0.9.2/24", gateway: "10.0.9.1", domain: "lxt", network: "n1" };
  const tree = (name: string) => {
    const dir = join(tmp, name);
    mkdirSync(join(dir, "etc"), { recursive: true });
    return dir;
  };
  const ref = (path: string) => ({ dir: path, spec: { backend: "dir" as const, path } });

  test("the rule: absent, empty or lxt's own is written; anything else is the image's", () => {
    assert.equal(mayWriteResolv({ kind: "absent" }), true);
    assert.equal(mayWriteResolv({ kind: "file", text: "\n" }), true);
    assert.equal(
      mayWriteResolv({ kind: "file", text: `${RESOLV_MARK} x\nnameserver 1.2.3.4\n` }),
      true,
    );
    assert.equal(mayWriteResolv({ kind: "file", text: "nameserver 192.0.2.53\n" }), false);
    assert.equal(mayWriteResolv({ kind: "other" }), false);
  });

  test("written in a directory tree where allowed, with etc's owner; kept otherwise", () => {
    const empty = tree("empty");
    writeFileSync(join(empty, "etc/resolv.conf"), "");
    assert.equal(writeResolvConf(ref(empty), a), true);
    const text = readFileSync(join(empty, "etc/resolv.conf"), "utf8");
    assert.match(text, /^# lxt: .* n1 /);
    assert.match(text, /^search lxt\nnameserver 10\.0\.9\.1\n$/m);
    assert.equal(lstatSync(join(empty, "etc/resolv.conf")).mode & 0o777, 0o644);
    // Ours again: rewritten.
    assert.equal(writeResolvConf(ref(empty), { ...a, gateway: "10.0.9.9" }), true);
    assert.match(readFileSync(join(empty, "etc/resolv.conf"), "utf8"), /nameserver 10\.0\.9\.9/);
    const own = tree("own");
    writeFileSync(join(own, "etc/resolv.conf"), "nameserver 192.0.2.53\n");
    assert.equal(writeResolvConf(ref(own), a), false);
    assert.equal(readFileSync(join(own, "etc/resolv.conf"), "utf8"), "nameserver 192.0.2.53\n");
    const link = tree("link");
    symlinkSync("../run/systemd/resolve/stub-resolv.conf", join(link, "etc/resolv.conf"));
    assert.equal(writeResolvConf(ref(link), a), false);
    assert.equal(
      readlinkSync(join(link, "etc/resolv.conf")),
      "../run/systemd/resolve/stub-resolv.conf",
    );
    // etc itself a symlink (out of the tree): nothing is followed.
    const out = join(tmp, "outside");
    mkdirSync(out);
    const evil = join(tmp, "evil");
    mkdirSync(evil);
    symlinkSync(out, join(evil, "etc"));
    assert.equal(writeResolvConf(ref(evil), a), false);
    assert.ok(!existsSync(join(out, "resolv.conf")));
  });

  test("an overlay: read through upper then lower, written in the upper", () => {
    const lower = tree("lower");
    writeFileSync(join(lower, "etc/resolv.conf"), "");
    const upper = join(tmp, "upper");
    mkdirSync(upper);
    const r = { dir: tmp, spec: { backend: "overlay" as const, lower, upper } };
    assert.equal(writeResolvConf(r, a), true);
    assert.match(readFileSync(join(upper, "etc/resolv.conf"), "utf8"), /nameserver 10\.0\.9\.1/);
    assert.equal(readFileSync(join(lower, "etc/resolv.conf"), "utf8"), "");
    const lower2 = tree("lower2");
    writeFileSync(join(lower2, "etc/resolv.conf"), "nameserver 192.0.2.1\n");
    const upper2 = join(tmp, "upper2");
    mkdirSync(upper2);
    assert.equal(
      writeResolvConf({ dir: tmp, spec: { backend: "overlay", lower: lower2, upper: upper2 } }, a),
      false,
    );
    assert.ok(!existsSync(join(upper2, "etc")));
  });
});
