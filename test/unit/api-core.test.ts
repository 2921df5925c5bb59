/**
 * lxtd's skeleton without root: envelopes, errors, operations and their
 * events, filters, ETags and the server config, through fastify's inject.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { Daemon } from "../../src/api/daemon.js";
import { errorOf } from "../../src/api/envelope.js";
import type { LxdEvent } from "../../src/api/events.js";
import { matchesFilter, parseFilter } from "../../src/api/instance-filter.js";
import { lxdView } from "../../src/api/lxd-config.js";
import { buildApp } from "../../src/api/server.js";
import { LxtError } from "../../src/core/errors.js";
import { testDaemon } from "./support/daemon.js";

const root = mkdtempSync(join(tmpdir(), "lxt-api-unit-"));
after(() => rmSync(root, { recursive: true, force: true }));

const daemon = (): Daemon => testDaemon(root);

function collect(d: Daemon, types: LxdEvent["type"][]): LxdEvent[] {
  const seen: LxdEvent[] = [];
  d.events.subscribe({
    types: new Set(types),
    send: (e) => {
      seen.push(e);
      return true;
    },
  });
  return seen;
}

describe("lxtd envelopes and errors", () => {
  test("GET /1.0 is a sync envelope; untrusted clients see only the public part", async () => {
    const d = daemon();
    const trusted = buildApp(d);
    const r = await trusted.inject({ method: "GET", url: "/1.0" });
    assert.equal(r.statusCode, 200);
    const body = r.json();
    assert.equal(body.type, "sync");
    assert.equal(body.status_code, 200);
    assert.equal(body.metadata.auth, "trusted");
    assert.ok(body.metadata.api_extensions.includes("instances"));
    assert.equal(body.metadata.environment.server_name, "unit");

    const stranger = buildApp(d, { trusted: () => false });
    const pub = (await stranger.inject({ method: "GET", url: "/1.0" })).json();
    assert.equal(pub.metadata.auth, "untrusted");
    // As LXD: the extensions are public (a client picks its paths by them before it is trusted).
    assert.ok(pub.metadata.api_extensions.includes("instances"));
    assert.equal(pub.metadata.environment, undefined);
    const denied = await stranger.inject({ method: "GET", url: "/1.0/instances" });
    assert.equal(denied.statusCode, 403);
    assert.equal(denied.json().type, "error");
    assert.equal(denied.json().error_code, 403);
  });

  test("unknown paths, other projects, bad JSON and huge bodies get LXD's error envelope", async () => {
    const app = buildApp(daemon());
    const missing = await app.inject({ method: "GET", url: "/1.0/nothing-here" });
    assert.equal(missing.statusCode, 404);
    assert.deepEqual([missing.json().type, missing.json().error_code], ["error", 404]);
    const project = await app.inject({ method: "GET", url: "/1.0/instances?project=other" });
    assert.equal(project.statusCode, 404);
    assert.match(project.json().error, /Project not found/);
    const bad = await app.inject({
      method: "POST",
      url: "/1.0/instances",
      headers: { "content-type": "application/json" },
      payload: "{not json",
    });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().type, "error");
    const huge = await app.inject({
      method: "PATCH",
      url: "/1.0",
      headers: { "content-type": "application/json" },
      payload: JSON.stringify({ config: { x: "y".repeat(5 * 1024 * 1024) } }),
    });
    assert.equal(huge.statusCode, 413);
    assert.equal(huge.json().type, "error");
  });

  test("an LxtError answers with its category's status and its own words", () => {
    assert.deepEqual(errorOf(new LxtError("not-found", "no container c1")), {
      status: 404,
      message: "no container c1",
    });
    assert.equal(errorOf(new LxtError("exists", "c1 exists")).status, 409);
    assert.equal(errorOf(new Error("boom")).status, 500);
  });

  test("a missing instance is LXD's 404; recursion must be a digit", async () => {
    const app = buildApp(daemon());
    const r = await app.inject({ method: "GET", url: "/1.0/instances/nope" });
    assert.equal(r.statusCode, 404);
    assert.equal(r.json().error, "Instance not found");
    const bad = await app.inject({ method: "GET", url: "/1.0/instances?recursion=x" });
    assert.equal(bad.statusCode, 400);
    const empty = await app.inject({ method: "GET", url: "/1.0/instances" });
    assert.deepEqual(empty.json().metadata, []);
  });
});

describe("lxtd operations", () => {
  test("an operation goes Pending → Running → Success, each change an event, its result in the metadata", async () => {
    const d = daemon();
    const seen = collect(d, ["operation"]);
    const op = d.operations.start({
      description: "unit",
      resources: { instances: ["/1.0/instances/x"] },
      run: async () => ({ answer: 42 }),
    });
    await op.done;
    const states = seen.map((e) => (e.metadata as { status: string }).status);
    assert.deepEqual(states, ["Pending", "Running", "Success"]);
    assert.deepEqual(op.json().metadata, { answer: 42 });
    assert.equal(op.json().status_code, 200);
    const app = buildApp(d);
    const got = (await app.inject({ method: "GET", url: op.url })).json();
    assert.equal(got.metadata.status, "Success");
    const waited = (await app.inject({ method: "GET", url: `${op.url}/wait?timeout=1` })).json();
    assert.equal(waited.metadata.id, op.id);
    const list = (await app.inject({ method: "GET", url: "/1.0/operations" })).json();
    assert.deepEqual(list.metadata.success, [op.url]);
  });

  test("a failing operation carries the error; a cancellable one is cancelled by DELETE", async () => {
    const d = daemon();
    const failed = d.operations.start({
      description: "fails",
      run: async () => {
        throw new LxtError("state", "it is not running");
      },
    });
    await failed.done;
    assert.deepEqual([failed.status, failed.err], ["Failure", "it is not running"]);

    const app = buildApp(d);
    let aborted = false;
    let running!: () => void;
    const started = new Promise<void>((r) => {
      running = r;
    });
    const long = d.operations.start({
      description: "waits",
      mayCancel: true,
      run: (op) =>
        new Promise((_, reject) => {
          op.signal.addEventListener("abort", () => {
            aborted = true;
            reject(new Error("stopped waiting"));
          });
          running();
        }),
    });
    await started;
    const refused = await app.inject({ method: "DELETE", url: failed.url });
    assert.equal(refused.statusCode, 400);
    const del = await app.inject({ method: "DELETE", url: long.url });
    assert.equal(del.statusCode, 200);
    await long.done;
    assert.equal(aborted, true);
    assert.equal(long.status, "Cancelled");
  });

  test("an operation cancelled before its work began never runs it", async () => {
    const d = daemon();
    let ran = false;
    const op = d.operations.start({
      description: "never",
      mayCancel: true,
      run: async () => {
        ran = true;
      },
    });
    assert.equal(d.operations.cancel(op), true);
    await op.done;
    assert.deepEqual([op.status, ran], ["Cancelled", false]);
  });

  test("wait with a timeout returns the running operation when time is up", async () => {
    const d = daemon();
    let finish!: () => void;
    let running!: () => void;
    const started = new Promise<void>((r) => {
      running = r;
    });
    const op = d.operations.start({
      description: "slow",
      run: () =>
        new Promise<void>((r) => {
          finish = r;
          running();
        }),
    });
    // The work begins on a later turn: wait for it, so `finish` exists whatever the load.
    await started;
    const app = buildApp(d);
    const r = (await app.inject({ method: "GET", url: `${op.url}/wait?timeout=0` })).json();
    assert.equal(r.metadata.status, "Running");
    finish();
    await op.done;
    assert.equal(op.status, "Success");
  });
});

describe("lxtd filters, ETags, server config, LXD view", () => {
  test("filters: eq/ne, and/or, not, quoted values, dotted config keys", () => {
    const inst = {
      name: "c1",
      status: "Running",
      config: { "limits.memory": "64MiB", "user.a": "x y" },
    };
    const m = (f: string) => matchesFilter(parseFilter(f), inst);
    assert.equal(m("name eq c1"), true);
    assert.equal(m("name ne c1"), false);
    assert.equal(m("status eq Stopped or name eq c1"), true);
    assert.equal(m("status eq Running and name eq c2"), false);
    assert.equal(m("not name eq c2"), true);
    assert.equal(m("config.limits.memory eq 64MiB"), true);
    assert.equal(m('config.user.a eq "x y"'), true);
    assert.throws(() => parseFilter("name is c1"), /expected FIELD eq\|ne VALUE/);
    assert.throws(() => parseFilter("name eq c1 and"), /ends with and/);
  });

  test("PATCH /1.0 takes known keys, refuses others and changes nothing then", async () => {
    const d = daemon();
    const app = buildApp(d);
    const ok = await app.inject({
      method: "PATCH",
      url: "/1.0",
      payload: { config: { "core.https_address": "127.0.0.1:8443" } },
    });
    assert.equal(ok.statusCode, 200);
    assert.equal(d.config.get("core.https_address"), "127.0.0.1:8443");
    const bad = await app.inject({
      method: "PATCH",
      url: "/1.0",
      payload: { config: { "core.https_address": "", "no.such.key": "1" } },
    });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().error, /unknown key "no\.such\.key"/);
    assert.equal(d.config.get("core.https_address"), "127.0.0.1:8443", "all or nothing");
    const badValue = await app.inject({
      method: "PATCH",
      url: "/1.0",
      payload: { config: { "core.https_address": "nonsense" } },
    });
    assert.equal(badValue.statusCode, 400);
  });

  test("the LXD view of an LXC config: limits as LXD keys, NICs as devices, the rest as raw.lxc", () => {
    const view = lxdView([
      { key: "lxc.uts.name", value: "c1" },
      { key: "lxt.limits.memory", value: "64M" },
      { key: "lxc.net.0.type", value: "veth" },
      { key: "lxc.net.0.link", value: "lxtbr0" },
      { key: "lxc.net.0.name", value: "eth0" },
      { key: "lxc.net.0.hwaddr", value: "00:16:3e:00:00:01" },
    ]);
    assert.equal(view.config["limits.memory"], "64M");
    assert.equal(view.config["raw.lxc"], "lxc.uts.name = c1\n");
    assert.deepEqual(view.devices.eth0, {
      type: "nic",
      name: "eth0",
      nictype: "bridged",
      parent: "lxtbr0",
      hwaddr: "00:16:3e:00:00:01",
    });
    assert.equal(view.devices.root?.path, "/");
  });

  test("GET of an instance has an ETag; images list the built-in busybox with its alias", async () => {
    const d = daemon();
    const dir = join(d.ctx.lxcpath, "c1");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "config"), "lxc.uts.name = c1\n");
    const app = buildApp(d);
    const r = await app.inject({ method: "GET", url: "/1.0/images/aliases/busybox" });
    assert.equal(r.statusCode, 200);
    assert.match(r.headers.etag as string, /^"[0-9a-f]{64}"$/);
    const img = (
      await app.inject({ method: "GET", url: `/1.0/images/${r.json().metadata.target}` })
    ).json();
    assert.equal(img.metadata.properties.os, "busybox");
    const none = await app.inject({ method: "GET", url: "/1.0/images/aliases/nope" });
    assert.equal(none.statusCode, 404);
  });
});
