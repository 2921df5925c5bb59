import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  keptAddresses,
  refuseRestoreNics,
  vethRestoreArgs,
  vethsOf,
} from "../../src/container/checkpoint-net.js";
import type { NicPlan, VethNic } from "../../src/network/nic-resolve.js";

const veth = (o: Partial<VethNic> = {}): VethNic => ({
  type: "veth",
  index: 0,
  name: "eth0",
  peerName: "lxtp0a1b2c3d",
  link: "lxtbr0",
  up: true,
  ipv4: [],
  ipv6: [],
  l2proxy: false,
  hostName: "lxtv0a1b2c3d",
  mode: "bridge",
  routes4: [],
  routes6: [],
  vlanTagged: [],
  rxQueues: 0,
  txQueues: 0,
  ...o,
});

describe("checkpoint NICs", () => {
  test("the veths of a plan's net records, for the manifest", () => {
    assert.deepEqual(
      vethsOf([
        ["up", "lo"],
        ["veth", "lxtv1", "eth0", "0", "00:16:3e:00:00:01", "lxtbr0", "0", "0"],
        ["addr", "eth0", "10.0.3.2/24"],
      ]),
      [{ name: "eth0", bridge: "lxtbr0", mac: "00:16:3e:00:00:01", ipv4: ["10.0.3.2/24"] }],
    );
  });

  test("restore: a NIC keeps the address it was dumped with, unless it has a static one; a network may refuse it", () => {
    const then = [{ name: "eth0", bridge: "lxtbr0", mac: "-", ipv4: ["10.0.3.7/24"] }];
    const asked: string[] = [];
    const kept = keptAddresses("c", [veth()], then, (net, key, cidr) => {
      asked.push(`${net} ${key} ${cidr}`);
      return undefined;
    });
    assert.deepEqual(
      (kept as NicPlan[]).map((n) => n.ipv4),
      [["10.0.3.7/24"]],
    );
    assert.deepEqual(asked, ["lxtbr0 c.0 10.0.3.7/24"]);
    const own = keptAddresses("c", [veth({ ipv4: ["10.0.3.9/24"] })], then, () => "no");
    assert.deepEqual(
      (own as NicPlan[]).map((n) => n.ipv4),
      [["10.0.3.9/24"]],
    );
    assert.equal(
      keptAddresses("c", [veth()], then, () => "outside the subnet"),
      "eth0: outside the subnet",
    );
    // A checkpoint made before addresses were recorded: the network reserves one as at a start.
    const old = keptAddresses(
      "c",
      [veth()],
      [{ name: "eth0", bridge: "lxtbr0", mac: "-" }],
      () => "no",
    );
    assert.deepEqual(
      (old as NicPlan[]).map((n) => n.ipv4),
      [[]],
    );
  });

  test("restore: each veth made again on its bridge under the new plan's host name", () => {
    assert.deepEqual(vethRestoreArgs([veth()]), ["--external", "veth[eth0]:lxtv0a1b2c3d@lxtbr0"]);
  });

  test("restore refuses NICs it would not set up, and NICs that changed since the dump", () => {
    const then = [{ name: "eth0", bridge: "lxtbr0", mac: "-" }];
    assert.equal(refuseRestoreNics([veth()], then), undefined);
    assert.equal(refuseRestoreNics([], []), undefined);
    const macvlan = { ...veth(), type: "macvlan", mode: "bridge" } as unknown as NicPlan;
    assert.match(refuseRestoreNics([macvlan], then) ?? "", /macvlan NICs are not restored/);
    assert.match(refuseRestoreNics([veth({ mode: "router" })], then) ?? "", /without a bridge/);
    assert.match(refuseRestoreNics([veth({ vlanId: 5 })], then) ?? "", /VLANs or host routes/);
    assert.match(refuseRestoreNics([veth({ scriptUp: "/up" })], then) ?? "", /script\.up/);
    assert.match(refuseRestoreNics([veth({ rxQueues: 2 })], then) ?? "", /queue counts/);
    assert.match(
      refuseRestoreNics([veth({ link: "br1" })], then) ?? "",
      /NICs changed since the checkpoint \(checkpoint: eth0@lxtbr0; config: eth0@br1\)/,
    );
    assert.match(refuseRestoreNics([], then) ?? "", /config: none/);
  });
});
