/**
 * Networks spanning cluster members without root: the overlay driver's
 * commands (vxlan device, flood list, bridge table) against a recording
 * runner, and a create's refusals over a store in memory (nothing made,
 * nothing claimed).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ClusterNet } from "../../src/api/cluster-net.js";
import { containerOf, NET_KEYS, optionsOf, underlayOf } from "../../src/api/cluster-net-model.js";
import { MemoryStore } from "../../src/api/cluster-store.js";
import { ApiError } from "../../src/api/envelope.js";
import { RecordingRunner } from "../../src/host/runner.js";
import {
  detachOverlay,
  overlayPeers,
  renderOverlayTable,
  setOverlayPeers,
} from "../../src/network/overlay.js";
import { testDaemon } from "./support/daemon.js";

const root = mkdtempSync(join(tmpdir(), "lxt-api-cluster-net-"));
after(() => rmSync(root, { recursive: true, force: true }));

const FLOOD = "00:00:00:00:00:00";

describe("overlay driver", () => {
  test("the bridge table keeps the host's side of the bridge off the tunnel, in one transaction", () => {
    const t = renderOverlayTable("ov1", 1000);
    assert.match(t, /^table bridge lxt-vx-ov1\ndelete table bridge lxt-vx-ov1\n/);
    assert.match(t, /hook input priority 0; policy accept;\n\s+iifname "lxtvx1000" drop/);
    assert.match(t, /hook output priority 0; policy accept;\n\s+oifname "lxtvx1000" drop/);
  });

  test("the flood list is made exactly the peers: missing ones appended, gone ones deleted", async () => {
    const fdb = JSON.stringify([
      { mac: "56:2b:d2:00:8d:b2", master: "ov1", state: "permanent" },
      { mac: FLOOD, dst: "192.168.77.1" },
      { mac: FLOOD, dst: "192.168.77.3" },
    ]);
    const r = new RecordingRunner((argv) => (argv[2] === "fdb" && argv[3] === "show" ? fdb : ""));
    assert.deepEqual(await overlayPeers(1000, r), ["192.168.77.1", "192.168.77.3"]);
    const changed = await setOverlayPeers(1000, ["192.168.77.2", "192.168.77.3"], r);
    assert.deepEqual(changed, { added: ["192.168.77.2"], removed: ["192.168.77.1"] });
    assert.deepEqual(
      r.calls.filter((c) => c[2] !== "show" && c[3] !== "show"),
      [
        ["bridge", "fdb", "append", FLOOD, "dev", "lxtvx1000", "dst", "192.168.77.2"],
        ["bridge", "fdb", "del", FLOOD, "dev", "lxtvx1000", "dst", "192.168.77.1"],
      ],
    );
  });

  test("detaching removes only what is there", async () => {
    const d = testDaemon(root);
    const none = new RecordingRunner((argv) =>
      argv[0] === "ip" ? "[]" : JSON.stringify({ nftables: [{ metainfo: {} }] }),
    );
    await detachOverlay(d.ctx, "ov1", 1000, none);
    assert.deepEqual(
      none.calls.map((c) => c.slice(0, 3)),
      [
        ["ip", "-j", "link"],
        ["nft", "-j", "list"],
      ],
    );
    const both = new RecordingRunner((argv) =>
      argv[0] === "ip"
        ? JSON.stringify([{ ifname: "lxtvx1000" }])
        : JSON.stringify({ nftables: [{ table: { family: "bridge", name: "lxt-vx-ov1" } }] }),
    );
    await detachOverlay(d.ctx, "ov1", 1000, both);
    assert.deepEqual(both.calls.slice(1), [
      ["ip", "link", "del", "lxtvx1000"],
      ["nft", "-j", "list", "tables", "bridge"],
      ["nft", "delete", "table", "bridge", "lxt-vx-ov1"],
    ]);
  });
});

describe("cluster network create: refusals", () => {
  const make = () => {
    const d = testDaemon(root);
    const store = new MemoryStore();
    const net = new ClusterNet(d, {
      member: "m1",
      address: "https://10.0.0.1:8443",
      store,
      periodMs: 1000,
    });
    return { d, store, net };
  };
  const refused = async (p: Promise<unknown>, status: number, msg: RegExp) => {
    await assert.rejects(p, (err: unknown) => {
      assert.ok(err instanceof ApiError, String(err));
      assert.equal(err.status, status);
      assert.match(err.message, msg);
      return true;
    });
  };

  test("bad keys and values are refused before anything is claimed", async () => {
    const { store, net } = make();
    await refused(
      net.create("ov1", { "cluster.vxlan": "true", "bridge.mtu": "1400" }),
      400,
      /^Invalid option for network "ov1" option "bridge.mtu"$/,
    );
    await refused(
      net.create("ov1", { "cluster.vxlan": "0" }),
      400,
      /option "cluster.vxlan": expected true or a VNI from 1 to 16777215/,
    );
    await refused(
      net.create("ov1", { "cluster.vxlan": "yes" }),
      400,
      /option "cluster.vxlan": expected true/,
    );
    await refused(
      net.create("ov1", { "cluster.vxlan": "true", "ipv6.address": "auto" }),
      400,
      /a cluster network has no IPv6 yet/,
    );
    assert.equal(store.data.size, 0);
  });

  test("a name or VNI the cluster has is refused, and nothing is made or kept", async () => {
    const { d, store, net } = make();
    await store.put(NET_KEYS.network("ov1"), "{}");
    await refused(
      net.create("ov1", { "cluster.vxlan": "true" }),
      409,
      /^Network "ov1" already exists$/,
    );
    await store.put(NET_KEYS.vni(4242), "other");
    await refused(
      net.create("ov2", { "cluster.vxlan": "4242" }),
      409,
      /^VXLAN id 4242 is already used by network "other"$/,
    );
    assert.deepEqual([...store.data.keys()].sort(), [NET_KEYS.network("ov1"), NET_KEYS.vni(4242)]);
    assert.deepEqual(net.spanning(), []);
    assert.equal((d.ctx.host.run as RecordingRunner).calls.length, 0, "no host command ran");
  });
});

describe("cluster network records", () => {
  test("a NIC key's container, a member's tunnel endpoint, a record's options", async () => {
    assert.equal(containerOf("web.1.0"), "web.1");
    assert.equal(await underlayOf("https://192.168.77.1:8443"), "192.168.77.1");
    assert.equal(await underlayOf("https://[fd00::7]:8443"), "fd00::7");
    assert.match(
      await underlayOf("https://localhost:8443"),
      /^(127\.0\.0\.1|::1)$/,
      "a name is resolved",
    );
    assert.deepEqual(
      optionsOf({
        name: "ov1",
        vni: 1000,
        port: 4789,
        ipv4: "10.77.0.1/24",
        dhcpRange: ["10.77.0.2", "10.77.0.254"],
        nat: false,
        domain: "lxt",
        dnsUpstream: false,
        member: "m0",
      }),
      {
        "ipv4.address": "10.77.0.1/24",
        "ipv4.nat": "false",
        "ipv4.dhcp.ranges": "10.77.0.2-10.77.0.254",
        "ipv6.address": "none",
        "dns.domain": "lxt",
        "dns.upstream": "false",
      },
    );
  });
});
