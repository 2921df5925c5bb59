/**
 * Networks and forwards through lxtd with the stock `lxc`. The daemon runs
 * in a network namespace of this file's own (its unix socket works from
 * the host's), so every bridge, nft table and dnsmasq it makes lives and
 * dies with that namespace; dnsmasq has no upstream. A container launched
 * on a new network gets a lease; a forward made by `lxc network forward`
 * is the container's own forward (`lxt forward list`) and its DNAT rule.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { NetnsSandbox, netnsSkip, until } from "./harness.js";
import { LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason() ?? netnsSkip();
if (skip) console.log(skip);

interface NetJson {
  name: string;
  type: string;
  managed: boolean;
  config: Record<string, string>;
  used_by: string[] | null;
  description: string;
}

describe("lxtd networks and forwards in a namespace of the test's own", {
  skip,
  timeout: 240_000,
}, () => {
  let box: LxtdSandbox;
  let netns: NetnsSandbox;
  let net = "";
  const list = () => JSON.parse(box.lxcOk(["network", "list", "--format", "json"])) as NetJson[];
  const leases = (n: string) =>
    JSON.parse(box.lxcOk(["query", `/1.0/networks/${n}/leases`])) as {
      hostname: string;
      address: string;
    }[];

  before(async () => {
    box = new LxtdSandbox();
    netns = new NetnsSandbox("lxtdnet", { box });
    netns.open();
    net = netns.network("a");
    await box.startDaemon([], { netns: netns.ns });
  });
  after(async () => {
    try {
      await box?.stopDaemon();
      netns?.dispose();
    } finally {
      await box?.close();
    }
  });

  test("list, create, show, edit, set, refusals", () => {
    const before0 = list();
    assert.ok(
      before0.some((n) => n.name === "lo" && !n.managed),
      "the namespace's own links are listed, unmanaged",
    );
    assert.ok(!before0.some((n) => n.managed), "no managed network yet");

    box.lxcOk(["network", "create", net, "ipv4.address=10.231.7.1/24", "dns.domain=lxdtest"]);
    assert.ok(netns.links().includes(net), "the bridge is in the test's namespace");
    const made = list().find((n) => n.name === net);
    assert.equal(made?.managed, true);
    assert.equal(made?.type, "bridge");
    assert.equal(made?.config["ipv4.address"], "10.231.7.1/24");
    // The CLI sees the same network.
    assert.match(netns.ok(["network", "list"]), new RegExp(`^${net}\\s`, "m"));

    const shown = box.lxcOk(["network", "show", net]);
    assert.match(shown, /^ {2}dns\.domain: lxdtest$/m);
    box.lxcOk(["network", "edit", net], {
      input: shown
        .replace('description: ""', "description: edited by lxc")
        .replace('ipv4.nat: "true"', 'ipv4.nat: "false"'),
    });
    const edited = list().find((n) => n.name === net);
    assert.equal(edited?.description, "edited by lxc");
    assert.equal(edited?.config["ipv4.nat"], "false");
    assert.match(netns.ok(["network", "show", net, "--format", "json"]), /"nat": false/);
    box.lxcOk(["network", "set", net, "ipv4.nat=true"]);
    assert.equal(box.lxcOk(["network", "get", net, "ipv4.nat"]).trim(), "true");

    const unknown = box.lxc(["network", "set", net, "bridge.stp=true"]);
    assert.notEqual(unknown.code, 0);
    assert.match(
      unknown.stderr,
      new RegExp(`Invalid option for network "${net}" option "bridge.stp"`),
    );
    const other = netns.network("b");
    const bad = box.lxc(["network", "create", other, "ipv4.routes=10.0.0.0/8"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Invalid option for network/);
    assert.ok(!netns.links().includes(other), "nothing made");
    const ren = box.lxc(["network", "rename", net, other]);
    assert.notEqual(ren.code, 0);
    assert.match(ren.stderr, /Renaming a network is not supported/);
    const lo = box.lxc(["network", "delete", "lo"]);
    assert.notEqual(lo.code, 0);
    assert.match(lo.stderr, /Only managed networks/);
    const state = JSON.parse(box.lxcOk(["query", `/1.0/networks/${net}/state`]));
    assert.equal(state.state, "up");
    assert.ok(state.addresses.some((a: { address: string }) => a.address === "10.231.7.1"));
  });

  test("a container on it gets a lease; a forward made through lxc is lxt's", async () => {
    const c = netns.name("nc");
    box.lxcOk(["launch", "busybox", c, "--network", net]);
    assert.ok(
      await until(() => leases(net).some((l) => l.hostname === c), 15_000),
      `${c} leased an address on ${net}`,
    );
    const addr = leases(net).find((l) => l.hostname === c)?.address ?? "";
    assert.match(box.lxcOk(["network", "list-leases", net]), new RegExp(`${c}.*${addr}`));
    assert.deepEqual(list().find((n) => n.name === net)?.used_by, [`/1.0/instances/${c}`]);
    const inUse = box.lxc(["network", "delete", net]);
    assert.notEqual(inUse.code, 0);
    assert.match(inUse.stderr, /in use/);

    box.lxcOk(["network", "forward", "create", net, "10.231.7.1"]);
    box.lxcOk(["network", "forward", "port", "add", net, "10.231.7.1", "tcp", "8080", addr, "80"]);
    assert.match(
      netns.ok(["forward", "list"]),
      new RegExp(
        `^${c}\\s+tcp\\s+10\\.231\\.7\\.1:8080\\s+${addr.replace(/\./g, "\\.")}:80\\s+${net}`,
        "m",
      ),
    );
    assert.match(
      netns.nsOk(["nft", "list", "ruleset"]),
      new RegExp(`dport 8080 dnat ip to ${addr}:80`),
    );
    // A forward on every local address, from YAML on stdin, port ranges expanded.
    box.lxcOk(["network", "forward", "create", net, "0.0.0.0"], {
      input: `description: any\nports:\n- protocol: udp\n  listen_port: "5300-5301"\n  target_address: ${addr}\n  target_port: "53"\n`,
    });
    const rows = netns.ok(["forward", "list"]);
    assert.match(rows, new RegExp(`^${c}\\s+udp\\s+\\*:5300\\s`, "m"));
    assert.match(rows, new RegExp(`^${c}\\s+udp\\s+\\*:5301\\s`, "m"));
    const fwd = JSON.parse(box.lxcOk(["query", `/1.0/networks/${net}/forwards?recursion=1`])) as {
      listen_address: string;
      ports: { listen_port: string; target_address: string }[];
    }[];
    assert.deepEqual(
      fwd.map((f) => [
        f.listen_address,
        f.ports.map((p) => `${p.listen_port}>${p.target_address}`),
      ]),
      [
        ["0.0.0.0", [`5300>${addr}`, `5301>${addr}`]],
        ["10.231.7.1", [`8080>${addr}`]],
      ],
    );
    const nobody = box.lxc([
      "network",
      "forward",
      "port",
      "add",
      net,
      "10.231.7.1",
      "tcp",
      "9090",
      "10.231.7.250",
      "80",
    ]);
    assert.notEqual(nobody.code, 0);
    assert.match(nobody.stderr, /not the address of an instance/);

    box.lxcOk(["network", "forward", "delete", net, "0.0.0.0"]);
    box.lxcOk(["network", "forward", "port", "remove", net, "10.231.7.1", "tcp", "8080"]);
    assert.doesNotMatch(netns.ok(["forward", "list"]), new RegExp(`^${c}\\s`, "m"));
    assert.doesNotMatch(netns.nsOk(["nft", "list", "ruleset"]), /dport 8080 dnat/);
    box.lxcOk(["network", "forward", "delete", net, "10.231.7.1"]);

    box.lxcOk(["delete", "-f", c]);
    box.lxcOk(["network", "delete", net]);
    assert.ok(!netns.links().includes(net), "the bridge is gone");
    assert.ok(!list().some((n) => n.name === net));
  });
});
