import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { NetnsSandbox, netnsSkip, skipReason } from "./harness.js";

/** `network down`: the network is taken down as by a reboot, its definition kept (the package's removal does it). */
describe("network down", { skip: skipReason() ?? netnsSkip() ?? false }, () => {
  const sb = new NetnsSandbox("ndown");
  const net = sb.network("nd");
  const name = sb.name("nd");
  before(() => sb.open());
  after(() => sb.dispose());

  test("refused while in use; then bridge, table and dnsmasq go, the definition stays, a start brings it back", () => {
    sb.ok(["network", "create", net]);
    sb.ok(["create", "-t", "busybox", "-n", name, "--network", net]);
    sb.ok(["start", "-n", name]);
    const busy = sb.lxt(["network", "down", net]);
    assert.notEqual(busy.code, 0);
    assert.match(busy.stderr, new RegExp(`network down ${net}: in use by`));
    sb.ok(["stop", "-k", "-n", name]);
    sb.ok(["network", "down", net]);
    assert.ok(!sb.links().includes(net), "the bridge is gone");
    assert.ok(!sb.nsOk(["nft", "list", "tables"]).includes(net), "the nft table is gone");
    assert.match(sb.ok(["network", "list"]), new RegExp(`^${net}\\b`, "m"), "the definition stays");
    sb.ok(["start", "-n", name]);
    assert.ok(sb.links().includes(net), "a start brings it up again");
    sb.ok(["stop", "-k", "-n", name]);
    const gone = sb.lxt(["network", "down", "lxtnosuch"]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /network down lxtnosuch: no such network/);
  });
});
