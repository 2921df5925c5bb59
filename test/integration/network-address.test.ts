/**
 * Addresses before the init: a container on a managed network has its
 * reserved address, default route and resolv.conf when `start` returns;
 * DHCP inside gets the same address; it stays across restarts (renames:
 * test/unit/reserve.test.ts, the CLI has no rename verb),
 * is never given twice, goes on destroy; a full range fails the start
 * cleanly. Everything runs inside network namespaces of this file's own.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { NetnsSandbox, netnsSkip, runtimeRoot, skipReason, udhcpcOnce, until } from "./harness.js";

const skip = skipReason() ?? netnsSkip();
if (skip) console.log(skip);

describe("addresses on a managed network before the init runs", {
  skip,
  timeout: 300_000,
}, () => {
  const netns = new NetnsSandbox("na");
  const { box: sb, lxt, ok, run, network } = netns;
  const net = network("a");
  const small = network("s");
  const container = (on: string, lines: string[] = []): string => {
    const name = netns.name("a");
    ok(["create", "-t", "busybox", "-n", name, "--network", on]);
    if (lines.length > 0) {
      const cfg = join(sb.lxcpath, name, "config");
      writeFileSync(cfg, `${readFileSync(cfg, "utf8")}${lines.join("\n")}\n`);
    }
    return name;
  };
  /** The container's IPv4 addresses as `ls --format json` shows them. */
  const listed = (c: string): string[] =>
    (JSON.parse(ok(["ls", "--format", "json"])) as { name: string; ipv4: string[] }[]).find(
      (x) => x.name === c,
    )?.ipv4 ?? [];
  const hostsFile = (on: string, c: string, i = 0) =>
    join(runtimeRoot(sb.lxcpath), ".networks", on, "dhcp-hosts", `${c}.${i}`);
  const inside = (c: string, ...argv: string[]) => ok(["attach", "-n", c, "--", ...argv]);
  const leaseOf = (on: string, c: string): string | undefined =>
    (
      JSON.parse(ok(["network", "show", on, "--format", "json"])).leases as {
        container?: string;
        ipv4: string;
      }[]
    ).find((l) => l.container === c)?.ipv4;

  before(() => {
    netns.open();
    ok(["network", "create", net, "--ipv4", "10.0.72.1/24", "--nat", "false"]);
  });
  after(() => netns.dispose());

  test("the address, route and resolv.conf are there when start returns; DHCP inside renews the same", async () => {
    const c = container(net);
    ok(["start", "-n", c]);
    // No wait: read right after start returned.
    const ips = listed(c);
    assert.equal(ips.length, 1, `ls right after start: ${JSON.stringify(ips)}`);
    const ip = ips[0] ?? "";
    assert.match(ip, /^10\.0\.72\.\d+$/);
    assert.match(ok(["ls", "-f"]), new RegExp(`${c}\\s+RUNNING.*${ip.replaceAll(".", "\\.")}`));
    assert.match(inside(c, "ip", "-4", "route"), /default via 10\.0\.72\.1 dev eth0/);
    const resolv = inside(c, "cat", "/etc/resolv.conf");
    assert.match(resolv, /^# lxt: /);
    assert.match(resolv, /^nameserver 10\.0\.72\.1$/m);
    assert.match(resolv, /^search lxt$/m);
    const mac = inside(c, "cat", "/sys/class/net/eth0/address").trim();
    assert.equal(readFileSync(hostsFile(net, c), "utf8"), `${mac},${ip},${c}\n`);
    assert.match(
      ok(["network", "show", net]),
      new RegExp(`reservations:\n.*\n${c} +0 +${ip.replaceAll(".", "\\.")} +${mac}`),
    );
    // dnsmasq answers the container's name with the reserved address before any lease.
    assert.match(
      inside(c, "nslookup", `${c}.lxt`, "10.0.72.1"),
      new RegExp(ip.replaceAll(".", "\\.")),
    );
    // busybox's DHCP client, with the template's event script (flush, then the lease's address).
    ok(udhcpcOnce(c, "/usr/share/udhcpc/default.script"));
    assert.ok(
      await until(() => leaseOf(net, c) === ip, 20_000),
      "dnsmasq leased the reserved address",
    );
    assert.match(inside(c, "ip", "-4", "addr", "show", "eth0"), new RegExp(`inet ${ip}/24`));
    // Renewal: udhcpc again, the same.
    ok(udhcpcOnce(c, "/usr/share/udhcpc/default.script"));
    assert.deepEqual(listed(c), [ip]);
    // A restart keeps it.
    ok(["stop", "-k", "-n", c]);
    ok(["start", "-n", c]);
    assert.deepEqual(listed(c), [ip]);
    ok(["stop", "-k", "-n", c]);
  });

  test("concurrent starts never share an address; destroy releases it; a restart keeps it", async () => {
    const cs = [container(net), container(net), container(net), container(net)];
    const rs = await Promise.all(cs.map((c) => run(["start", "-n", c])));
    for (const r of rs) assert.equal(r.code, 0, r.stderr);
    const got = cs.map((c) => listed(c)[0] ?? "");
    assert.equal(new Set(got).size, cs.length, `addresses: ${got.join(" ")}`);
    for (const c of cs) ok(["stop", "-k", "-n", c]);
    const [a, b] = cs as [string, string];
    const freed = got[0] ?? "";
    ok(["destroy", "-n", a]);
    assert.ok(!existsSync(hostsFile(net, a)), "reservation gone with the container");
    // The next new container takes the freed address (the first free one).
    const d = container(net);
    ok(["start", "-n", d]);
    assert.deepEqual(listed(d), [freed]);
    ok(["stop", "-k", "-n", d]);
    // A restart of another keeps its own.
    const [, , c3] = cs as [string, string, string];
    ok(["start", "-n", c3]);
    assert.deepEqual(listed(c3), [got[2] ?? ""]);
    ok(["stop", "-k", "-n", c3]);
    assert.ok(existsSync(hostsFile(net, b)));
  });

  test("a static address wins; an image's own resolv.conf is left alone", () => {
    const s = container(net, [
      "lxc.net.0.ipv4.address = 10.0.72.200/24",
      "lxc.net.0.ipv4.gateway = auto",
    ]);
    const rootfs = join(sb.lxcpath, s, "rootfs");
    writeFileSync(join(rootfs, "etc/resolv.conf"), "nameserver 192.0.2.53\n");
    ok(["start", "-n", s]);
    assert.deepEqual(listed(s), ["10.0.72.200"]);
    assert.equal(inside(s, "cat", "/etc/resolv.conf"), "nameserver 192.0.2.53\n");
    ok(["stop", "-k", "-n", s]);
    // A symlink (systemd-resolved's stub, resolvconf) is the image's too.
    const l = container(net);
    const lroot = join(sb.lxcpath, l, "rootfs");
    rmSync(join(lroot, "etc/resolv.conf"));
    symlinkSync("../run/resolv.conf", join(lroot, "etc/resolv.conf"));
    ok(["start", "-n", l]);
    assert.equal(listed(l).length, 1);
    assert.equal(inside(l, "readlink", "/etc/resolv.conf").trim(), "../run/resolv.conf");
    ok(["stop", "-k", "-n", l]);
  });

  test("a full DHCP range: a clear error, and nothing made for the container that did not fit", () => {
    ok([
      "network",
      "create",
      small,
      "--ipv4",
      "10.0.73.1/24",
      "--dhcp-range",
      "10.0.73.2-10.0.73.3",
    ]);
    const fit = [container(small), container(small)];
    for (const c of fit) ok(["start", "-n", c]);
    const over = container(small);
    const before = netns.links();
    const r = lxt(["start", "-n", over]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      new RegExp(
        `network ${small}: no free address left in its DHCP range 10\\.0\\.73\\.2-10\\.0\\.73\\.3`,
      ),
    );
    assert.match(ok(["info", "-n", over]), /STOPPED/);
    assert.ok(!existsSync(hostsFile(small, over)), "no reservation for it");
    assert.deepEqual(netns.links(), before, "no device made for it");
    const runDir = join(runtimeRoot(sb.lxcpath), over);
    assert.ok(!existsSync(runDir), "no runtime directory");
    for (const c of fit) ok(["stop", "-k", "-n", c]);
  });
});
