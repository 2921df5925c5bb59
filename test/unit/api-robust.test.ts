import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { WebSocket } from "ws";
import { EventHub } from "../../src/api/events.js";
import { OperationStore } from "../../src/api/operation-store.js";
import { Operations } from "../../src/api/operations.js";
import { instanceStatePut, instancesPost, parseBody } from "../../src/api/schemas.js";
import { buildApp } from "../../src/api/server.js";
import { testDaemon } from "./support/lxtd-daemon.js";

/** The body `lxc --debug init busybox dbg` (LXD 5.0.2) showed it sends for `POST /1.0/instances`. */
const STOCK_CREATE = {
  architecture: "",
  config: {},
  devices: {},
  ephemeral: false,
  profiles: null,
  stateful: false,
  description: "",
  name: "c1",
  source: {
    type: "image",
    certificate: "",
    fingerprint: "731bc6698f4cd4afc543cfe1be975a1f53c68b499e660ef459930ae34647fbf5",
    allow_inconsistent: false,
  },
  instance_type: "",
  type: "container",
};

test("parseBody takes the stock client's full bodies; null is absence", () => {
  const body = parseBody(instancesPost, STOCK_CREATE);
  assert.equal(body.name, "c1");
  assert.equal(body.profiles, undefined, "null profiles: the default ones, as LXD reads it");
  assert.deepEqual(
    parseBody(instanceStatePut, { action: "stop", timeout: -1, force: false, stateful: false }),
    { action: "stop", timeout: -1, force: false, stateful: false },
  );
});

test("parseBody names unknown fields (nested too), wrong types, and non-objects", () => {
  assert.throws(
    () => parseBody(instancesPost, { ...STOCK_CREATE, colour: "red", source: { zz: 1 } }),
    { status: 400, message: 'Unknown field(s) in request body: "source.zz", "colour"' },
  );
  assert.throws(() => parseBody(instancesPost, { config: { "limits.cpu": 2 } }), {
    status: 400,
    message: 'Invalid value for field "config.limits.cpu": expected string, got number',
  });
  assert.throws(() => parseBody(instanceStatePut, { timeout: 1.5 }), {
    status: 400,
    message: /field "timeout"/,
  });
  for (const bad of [undefined, null, "x", 3, [1]]) {
    assert.throws(() => parseBody(instanceStatePut, bad), { status: 400, message: /JSON object/ });
  }
});

test("POST /1.0/instances: bad bodies are 400 envelopes naming the field (inject)", async () => {
  const t = testDaemon();
  const app = buildApp(t.d);
  try {
    const post = (payload: string, ct = "application/json") =>
      app.inject({
        method: "POST",
        url: "/1.0/instances",
        payload,
        headers: { "content-type": ct },
      });
    const malformed = await post('{"name": ');
    assert.equal(malformed.statusCode, 400);
    assert.equal(malformed.json().type, "error");
    assert.equal(malformed.json().error_code, 400);
    const unknown = await post(JSON.stringify({ name: "c1", bogus: true }));
    assert.equal(unknown.statusCode, 400);
    assert.equal(unknown.json().error, 'Unknown field(s) in request body: "bogus"');
    const big = await post(`"${"x".repeat(5 * 1024 * 1024)}"`);
    assert.equal(big.statusCode, 413);
    assert.equal(big.json().error_code, 413);
    assert.deepEqual(readdirSync(t.root), [".lxtd"], "nothing made");
  } finally {
    await app.close();
    t.cleanup();
  }
});

test("operation records: written on each change; a new daemon fails the unfinished ones", async () => {
  const t = testDaemon();
  try {
    const dir = join(t.root, ".lxtd", "operations");
    const ops = new Operations(new EventHub(), "none", Date.now, new OperationStore(dir));
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const slow = ops.start({ description: "Stopping instance", run: () => held });
    const quick = ops.start({ description: "Starting instance", run: async () => ({ x: 1 }) });
    await quick.done;
    await new Promise((r) => setImmediate(r));
    const rec = (id: string) => JSON.parse(readFileSync(join(dir, `${id}.json`), "utf8"));
    assert.equal(rec(slow.id).status, "Running");
    assert.equal(rec(quick.id).status, "Success");
    writeFileSync(join(dir, "junk.json.tmp.1"), "half");
    // The daemon dies here; its successor reads the records.
    const events = new EventHub();
    const seen: unknown[] = [];
    events.subscribe({ types: new Set(["operation"]), send: (e) => seen.push(e) > 0 });
    const next = new Operations(events, "none", Date.now, new OperationStore(dir));
    const failed = next.recover("lxtd restarted while the operation ran");
    assert.deepEqual(
      failed.map((o) => o.id),
      [slow.id],
    );
    const again = next.get(slow.id)?.json();
    assert.equal(again?.status, "Failure");
    assert.equal(again?.err, "lxtd restarted while the operation ran");
    assert.equal(again?.description, "Stopping instance");
    assert.equal(rec(slow.id).status, "Failure", "the record says so too");
    assert.equal(next.get(quick.id)?.json().status, "Success");
    assert.equal(seen.length, 1, "the failure is announced");
    assert.ok(!existsSync(join(dir, "junk.json.tmp.1")), "leftovers removed");
    release();
  } finally {
    t.cleanup();
  }
});

test("operation websockets: a peer that stops answering pings is dropped, a live one kept", async () => {
  const t = testDaemon({ heartbeatMs: 100 });
  const app = buildApp(t.d);
  const socket = join(t.root, "unix.socket");
  await app.listen({ path: socket });
  try {
    const served: WebSocket[] = [];
    const op = t.d.operations.start({
      class: "websocket",
      description: "Executing command",
      run: () => new Promise(() => {}),
      connect: (secret, ws) => {
        if (secret !== "s") return false;
        served.push(ws);
        return true;
      },
    });
    const url = `ws+unix://${socket}:${op.url}/websocket?secret=s`;
    const dead = new WebSocket(url, { autoPong: false });
    const live = new WebSocket(url);
    // Counted in heartbeats, not in time (a loaded host runs timers late): the silent peer
    // sees exactly one ping, then its end at the next heartbeat.
    let deadPings = 0;
    dead.on("ping", () => {
      deadPings++;
    });
    await Promise.all(
      [dead, live].map((w) => new Promise((r, j) => w.once("open", r).once("error", j))),
    );
    await new Promise((r) => dead.once("close", r));
    assert.equal(deadPings, 1, "dropped at the heartbeat after the ping it left unanswered");
    assert.equal(live.readyState, WebSocket.OPEN, "the one answering pings stays");
    assert.equal(served.length, 2);
    live.terminate();
  } finally {
    await app.close();
    t.cleanup();
  }
});
