/**
 * A Debian minbase built by debootstrap from the host's Debian mirror (the
 * only traffic that leaves the machine), cached in /var/cache/lxt/images
 * (outside the clone, verified by sha256 before use, so only the first run
 * on a machine pays for debootstrap), then booted per backend: systemd
 * reaches running (no unit failed), `attach -- cat /etc/os-release` works, the
 * container has its own hostname, and `stop` halts it cleanly. The boot
 * tests use `empty` networking (the harness's `--network empty`); one
 * container joins a managed network in a network namespace of the test's own
 * (`lxt` under `nsenter --net`, dnsmasq without upstream) and gets a DHCP
 * lease from systemd-networkd with no setup. Skipped loudly when the mirror
 * is unreachable.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { assertBooted, buildDebianImage, debootstrapSkip } from "./debian-harness.js";
import {
  BtrfsLoop,
  btrfsSkip,
  kernelFs,
  NetnsSandbox,
  netnsSkip,
  Sandbox,
  skipReason,
  until,
} from "./harness.js";

let skip = skipReason() ?? debootstrapSkip();
if (skip) console.log(skip);

const BACKENDS = [
  { name: "dir", skip: undefined as string | undefined },
  { name: "overlay", skip: kernelFs("overlay") ? undefined : "SKIP: no overlayfs" },
];

describe("debian by debootstrap", { skip, timeout: 1_800_000 }, () => {
  let box: Sandbox;
  let image = "";
  before(() => {
    box = new Sandbox();
    const out = buildDebianImage(box);
    if (typeof out === "string") {
      skip = out;
      return;
    }
    image = out.meta.fingerprint;
    assert.match(out.meta.description, /^Debian bookworm minbase/);
    assert.ok(out.meta.aliases.includes("debian/bookworm/minbase"));
  });
  after(() => box?.cleanup());

  test("building again uses the verified cache", (t) => {
    if (!image) return t.skip(skip);
    const r = box.lxt(["image", "build", "debian", "-q"], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /image already stored \(from cache\)/);
  });

  test("boots on btrfs: the image a subvolume, the container its snapshot", async (t) => {
    if (!image) return t.skip(skip);
    const why = btrfsSkip();
    if (why) return t.skip(why);
    const loop = new BtrfsLoop();
    let bbox: Sandbox | undefined;
    try {
      loop.open("1500M");
      bbox = new Sandbox(loop.mnt);
      const c = bbox.name("debbt");
      // From the verified machine cache: no debootstrap, no network.
      bbox.ok(["create", "-n", c, "-q", "-t", "debian"]);
      assert.match(
        readFileSync(join(loop.mnt, c, "config"), "utf8"),
        /^lxc\.rootfs\.path = btrfs:/m,
      );
      const info = execFileSync("btrfs", ["subvolume", "show", join(loop.mnt, c, "rootfs")], {
        encoding: "utf8",
      });
      assert.match(info, /Parent UUID:\s+[0-9a-f-]{36}/, "a snapshot of the image's subvolume");
      bbox.ok(["start", "-n", c]);
      await assertBooted(bbox, c);
      assert.match(
        bbox.ok(["attach", "-n", c, "--", "cat", "/etc/os-release"]),
        /Debian GNU\/Linux/,
      );
      bbox.ok(["stop", "-n", c, "-t", "30"]);
      bbox.ok(["destroy", "-n", c]);
    } finally {
      bbox?.cleanup();
      loop.close();
    }
  });

  for (const backend of BACKENDS) {
    test(`boots on ${backend.name}: systemd running, attach works`, async (t) => {
      if (!image) return t.skip(skip);
      if (backend.skip) return t.skip(backend.skip);
      const c = box.name(`deb${backend.name.slice(0, 2)}`);
      const create =
        backend.name === "dir"
          ? ["create", "-n", c, "-B", "dir", "-q", "-t", "debian", "--", "--suite", "bookworm"]
          : ["create", "-n", c, "-B", backend.name, "-t", "debian/bookworm/minbase"];
      box.ok(create);
      box.ok(["start", "-n", c]);
      await assertBooted(box, c);
      const osr = box.ok(["attach", "-n", c, "--", "cat", "/etc/os-release"]);
      assert.match(osr, /^PRETTY_NAME="Debian GNU\/Linux 12 \(bookworm\)"/m);
      assert.equal(box.ok(["attach", "-n", c, "--", "hostname"]).trim(), c);
      assert.match(
        box.ok(["attach", "-n", c, "--", "cat", "/etc/hosts"]),
        new RegExp(`127\\.0\\.1\\.1\\s+${c}`),
      );
      // No getty on tty1-6: only the console's.
      const gettys = box.ok([
        "attach",
        "-n",
        c,
        "--",
        "systemctl",
        "list-units",
        "--no-legend",
        "*getty*",
      ]);
      assert.match(gettys, /console-getty\.service/);
      assert.doesNotMatch(gettys, /getty@tty/);
      const ls = box.ok(["attach", "-n", c, "--", "ip", "-br", "link"]);
      assert.deepEqual(
        ls
          .trim()
          .split("\n")
          .map((l) => l.split(/\s+/)[0]),
        ["lo"],
      );
      box.ok(["stop", "-n", c, "-t", "30"]);
      box.ok(["destroy", "-n", c]);
    });
  }

  test("a veth on lxtbr0 by default; the reserved address at start and a DHCP lease of it on a managed network (own netns)", async (t) => {
    if (!image) return t.skip(skip);
    const missing = netnsSkip();
    if (missing) return t.skip(missing);
    // Everything below runs in the test's own namespace, without the harness's --network empty.
    const netns = new NetnsSandbox("dn", { box, timeoutMs: 120_000 });
    const { lxt, ok } = netns;
    const net = netns.network("dn");
    const c = netns.name("debnet");
    try {
      netns.open();
      ok(["network", "create", net, "--ipv4", "10.0.71.1/24", "--nat", "false"]);
      // The image's default NIC: a veth on lxtbr0 (not started: that would make lxtbr0).
      const d = box.name("debdef");
      ok(["create", "-n", d, "-q", "-t", "debian/bookworm/minbase"]);
      const dcfg = readFileSync(join(box.lxcpath, d, "config"), "utf8");
      assert.match(dcfg, /^lxc\.net\.0\.type = veth$/m);
      assert.match(dcfg, /^lxc\.net\.0\.link = lxtbr0$/m);
      ok(["destroy", "-n", d]);
      // --network names this test's network instead.
      ok(["create", "-n", c, "-q", "-t", "debian/bookworm/minbase", "--network", net]);
      const cfg = readFileSync(join(box.lxcpath, c, "config"), "utf8");
      assert.match(cfg, /^lxc\.net\.0\.type = veth$/m);
      assert.match(cfg, new RegExp(`^lxc\\.net\\.0\\.link = ${net}$`, "m"));
      assert.match(cfg, /^lxc\.signal\.halt = SIGRTMIN\+3$/m);
      ok(["start", "-n", c]);
      // The reserved address is on eth0 when start returns (set before systemd runs).
      const rows = JSON.parse(ok(["ls", "--format", "json"])) as { name: string; ipv4: string[] }[];
      const ip = rows.find((r) => r.name === c)?.ipv4[0] ?? "";
      assert.match(ip, /^10\.0\.71\.\d+$/, "an address when start returns");
      let leases: Array<{ container?: string; ipv4: string }> = [];
      assert.ok(
        await until(() => {
          leases = JSON.parse(ok(["network", "show", net, "--format", "json"])).leases;
          return leases.some((l) => l.container === c && l.ipv4 === ip);
        }, 20_000),
        `lease of ${c} (${ip}) in network show: ${JSON.stringify(leases)}`,
      );
      // networkd kept it beside its lease of the same address (KeepConfiguration=static).
      assert.match(
        ok(["attach", "-n", c, "--", "ip", "-4", "addr", "show", "eth0"]),
        new RegExp(`inet ${ip.replaceAll(".", "\\.")}/24`),
      );
      assert.match(
        ok(["network", "show", net]),
        new RegExp(`${c}\\b.*${ip.replaceAll(".", "\\.")}`),
      );
      assert.match(ok(["attach", "-n", c, "--", "ip", "-4", "route"]), /default via 10\.0\.71\.1/);
      // Names go to systemd-resolved's stub, which forwards to the DNS server DHCP gave.
      assert.match(
        ok(["attach", "-n", c, "--", "readlink", "/etc/resolv.conf"]),
        /stub-resolv\.conf/,
      );
      let dns = "";
      assert.ok(
        await until(() => {
          dns = lxt(["attach", "-n", c, "--", "resolvectl", "dns", "eth0"]).stdout;
          return /10\.0\.71\.1\b/.test(dns);
        }, 30_000),
        `resolved's DNS server for eth0: ${dns}`,
      );
      ok(["stop", "-n", c, "-t", "30"]);
      ok(["destroy", "-n", c]);
      ok(["network", "delete", net]);
    } finally {
      netns.dispose();
    }
  });
});
