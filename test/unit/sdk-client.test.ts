/**
 * The SDK (sdk/) against lxtd's handlers, without root: a daemon over the
 * fake context listening on a unix socket in a temp dir. Its endpoint table
 * against the daemon's route table (the drift check), the envelope and
 * error handling, awaited operations, the events iterator; and the pure
 * parts (paths, queries, fingerprints, error classes).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Fastify from "fastify";
import {
  BadRequestError,
  ConflictError,
  ConnectionError,
  ENDPOINTS,
  errorFor,
  ForbiddenError,
  fillPath,
  fingerprintOf,
  LxdClient,
  LxdError,
  NotFoundError,
  OperationError,
  PreconditionFailedError,
  ServerError,
  WEBSOCKETS,
} from "../../sdk/src/index.js";
import { pathWithQuery } from "../../sdk/src/transport.js";
import { ROUTES } from "../../src/api/routes/index.js";
import { buildApp } from "../../src/api/server.js";
import { fingerprintOf as daemonFingerprint, pemToDer, serverIdentity } from "../../src/api/tls.js";
import { testDaemon } from "./support/lxtd-daemon.js";

/** Waits (polling each turn of the loop, at most 5 s) until `cond` holds. */
async function eventually(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The daemon's routes as `METHOD PATH`, fastify's automatic HEADs left out. */
function daemonRoutes(): Set<string> {
  const t = testDaemon();
  try {
    const app = Fastify();
    const seen: { method: string; url: string; auto: boolean }[] = [];
    app.addHook("onRoute", (r) => {
      for (const m of [r.method].flat()) {
        // fastify adds a HEAD for each GET unless the GET says exposeHeadRoute: false.
        const auto = m === "HEAD" && (r as { isFastify?: boolean }).isFastify === true;
        seen.push({ method: m, url: r.url, auto });
      }
    });
    for (const register of ROUTES) register(app as never, t.d);
    const gets = new Set(seen.filter((r) => r.method === "GET").map((r) => r.url));
    const explicitHeads = new Set(
      seen.filter((r) => r.method === "HEAD" && !r.auto).map((r) => r.url),
    );
    return new Set(
      seen
        .filter((r) => r.method !== "HEAD" || (explicitHeads.has(r.url) && !isAutoHead(r, gets)))
        .map((r) => `${r.method} ${r.url}`),
    );
  } finally {
    t.cleanup();
  }
}

/** A HEAD fastify made for a GET (its GET exists and did not turn the automatic one off). */
function isAutoHead(r: { method: string; url: string; auto: boolean }, gets: Set<string>) {
  return r.auto && gets.has(r.url);
}

test("the SDK's endpoint table is the daemon's route table", () => {
  const daemon = daemonRoutes();
  const sdk = new Set(Object.keys(ENDPOINTS));
  const missing = [...daemon].filter((r) => !sdk.has(r) && !r.startsWith("HEAD "));
  const extra = [...sdk].filter((r) => !daemon.has(r) && !daemon.has(r.replace(/^HEAD/, "GET")));
  assert.deepEqual(missing, [], "routes the daemon serves that the SDK does not know");
  assert.deepEqual(extra, [], "endpoints in the SDK that the daemon does not serve");
  assert.ok(daemon.size > 90, `a route table of ${daemon.size} routes`);
});

test("fillPath encodes each parameter and refuses a missing one", () => {
  assert.equal(
    fillPath("/1.0/instances/:name/snapshots/:snap", { name: "c 1", snap: "a/b" }),
    "/1.0/instances/c%201/snapshots/a%2Fb",
  );
  assert.throws(() => fillPath("/1.0/instances/:name", {}), /no value for :name/);
  assert.equal(pathWithQuery("/1.0/x", { a: 1, b: undefined, c: "x y" }), "/1.0/x?a=1&c=x+y");
  assert.equal(pathWithQuery("/1.0/x"), "/1.0/x");
});

test("errorFor picks the class of LXD's status; every one is an LxdError", () => {
  const cases: [number, new (...a: never[]) => LxdError][] = [
    [400, BadRequestError],
    [403, ForbiddenError],
    [404, NotFoundError],
    [409, ConflictError],
    [412, PreconditionFailedError],
    [500, ServerError],
    [503, ServerError],
  ];
  for (const [status, Class] of cases) {
    const e = errorFor(status, "words", "GET /1.0/x");
    assert.ok(e instanceof Class, `${status}`);
    assert.ok(e instanceof LxdError);
    assert.equal(e.status, status);
    assert.equal(e.code, status);
    assert.equal(e.message, "words");
    assert.equal(e.request, "GET /1.0/x");
  }
  const other = errorFor(413, "too large", "POST /1.0/x");
  assert.equal(other.constructor, LxdError);
});

test("fingerprintOf agrees with the daemon's", async () => {
  const t = testDaemon();
  try {
    const id = await serverIdentity(join(t.root, "id"), "unit");
    assert.equal(fingerprintOf(id.cert), daemonFingerprint(pemToDer(id.cert)));
    assert.equal(fingerprintOf(id.cert), id.fingerprint);
  } finally {
    t.cleanup();
  }
});

describe("a client on a daemon's unix socket", () => {
  const t = testDaemon();
  const app = buildApp(t.d);
  const socket = join(t.root, "unix.socket");
  let client: LxdClient;
  before(async () => {
    await app.listen({ path: socket });
    client = new LxdClient({ socket });
  });
  after(async () => {
    client.close();
    await app.close();
    t.cleanup();
  });

  test("sync answers are unwrapped; the route's websockets answer", async () => {
    const server = await client.server.get();
    assert.equal(server.auth, "trusted");
    assert.equal(server.api_version, "1.0");
    assert.deepEqual(await client.request("GET /"), ["/1.0"]);
    assert.deepEqual(WEBSOCKETS, ["/1.0/events", "/1.0/operations/:id/websocket"]);
    // An operation's websocket of no operation: the daemon's 404, typed (the endpoint is there).
    const ws = client.transport.websocket(
      "/1.0/operations/00000000-0000-0000-0000-000000000000/websocket?secret=x",
    );
    await assert.rejects(ws, (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.equal(e.message, "Operation not found");
      return true;
    });
  });

  test("certificates: add, read with its ETag, a stale ETag refused, delete; events seen", async () => {
    const id = await serverIdentity(join(t.root, "client"), "unit-client");
    const fp = id.fingerprint;
    const events = client.events({ type: ["lifecycle"] });
    await events.ready;
    await client.certificates.add(id.cert, "c1");
    const { value, etag } = await client.requestWithEtag("GET /1.0/certificates/:fp", {
      params: { fp },
    });
    assert.equal(value.name, "c1");
    assert.equal(value.fingerprint, fp);
    assert.ok(etag);
    await client.request("PATCH /1.0/certificates/:fp", {
      params: { fp },
      body: { name: "c2" },
      headers: { "if-match": etag },
    });
    await assert.rejects(
      client.request("PATCH /1.0/certificates/:fp", {
        params: { fp },
        body: { name: "c3" },
        headers: { "if-match": etag },
      }),
      PreconditionFailedError,
    );
    assert.deepEqual(
      (await client.certificates.list()).map((c) => c.name),
      ["c2"],
    );
    await assert.rejects(
      client.certificates.add(id.cert, "again"),
      (e: unknown) => e instanceof ConflictError && e.status === 409,
    );
    await client.certificates.delete(fp);
    const actions: string[] = [];
    for await (const ev of events) {
      const m = ev.metadata as { action: string; source: string };
      actions.push(`${m.action} ${m.source}`);
      if (m.action === "certificate-deleted") break;
    }
    const url = `/1.0/certificates/${fp}`;
    assert.deepEqual(actions, [
      `certificate-created ${url}`,
      `certificate-updated ${url}`,
      `certificate-deleted ${url}`,
    ]);
    // The daemon unsubscribes when its end of the socket closes, a moment after ours.
    await eventually(() => t.d.events.size === 0, "leaving the loop closes the subscription");
  });

  test("errors: 404 and 400 typed, with LXD's words", async () => {
    await assert.rejects(client.instances.get("nope"), (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.equal(e.message, "Instance not found");
      assert.equal(e.request, "GET /1.0/instances/nope");
      return true;
    });
    await assert.rejects(
      client.request("PUT /1.0/instances/:name/state", {
        params: { name: "nope" },
        body: { action: "start", timeout: "x" as unknown as number },
      }),
      NotFoundError,
    );
    await assert.rejects(
      client.request("GET /1.0/instances", { query: { recursion: "x" } }),
      (e: unknown) => e instanceof BadRequestError && /Invalid recursion/.test(e.message),
    );
  });

  test("operations: a success resolves with its final state, a failure rejects typed", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const ok = t.d.operations.start({
      description: "Working",
      run: async () => {
        await gate;
        return { answer: 42 };
      },
    });
    const bad = t.d.operations.start({
      description: "Failing",
      run: async () => {
        throw new Error("it broke");
      },
    });
    const waited = client.wait(ok.id);
    release();
    const done = await waited;
    assert.equal(done.status, "Success");
    assert.deepEqual(done.metadata, { answer: 42 });
    await assert.rejects(client.wait(bad.id), (e: unknown) => {
      assert.ok(e instanceof OperationError);
      assert.equal(e.message, "it broke");
      assert.equal(e.status, 400);
      assert.equal(e.operation.description, "Failing");
      assert.equal(e.cancelled, false);
      return true;
    });
    const stuck = t.d.operations.start({
      description: "Waiting",
      mayCancel: true,
      run: (op) => new Promise((_r, reject) => op.signal.addEventListener("abort", reject)),
    });
    const cancelled = client.wait(stuck.id);
    assert.equal((await client.operations.get(stuck.id)).status, "Running");
    await client.operations.cancel(stuck.id);
    await assert.rejects(cancelled, (e: unknown) => e instanceof OperationError && e.cancelled);
    await assert.rejects(client.wait("0000"), NotFoundError);
    const listed = await client.operations.list();
    assert.ok(listed.success?.some((o) => o.id === ok.id && o.metadata?.answer === 42));
    assert.ok(listed.failure?.some((o) => o.id === bad.id && o.err === "it broke"));
  });

  test("events: close() ends a pending next(); a daemon that goes away fails it", async () => {
    const events = client.events();
    await events.ready;
    const pending = events.next();
    events.close();
    assert.deepEqual(await pending, { value: undefined, done: true });

    const other = client.events({ type: ["logging"] });
    await other.ready;
    t.d.events.log("info", "hello");
    const first = await other.next();
    assert.equal((first.value as { metadata: { message: string } }).metadata.message, "hello");
    await assert.rejects(client.events({ type: ["nonsense" as never] }).ready, BadRequestError);
    other.close();

    // A daemon that goes away ends the stream with an error, not a quiet end.
    const t2 = testDaemon();
    const app2 = buildApp(t2.d);
    const socket2 = join(t2.root, "unix.socket");
    await app2.listen({ path: socket2 });
    const c2 = new LxdClient({ socket: socket2 });
    try {
      const doomed = c2.events();
      await doomed.ready;
      const next = doomed.next();
      await app2.close();
      await assert.rejects(next, (e: unknown) => {
        assert.ok(e instanceof LxdError);
        assert.equal(e.status, 0);
        assert.match(e.message, /events stream closed by lxtd/);
        return true;
      });
    } finally {
      c2.close();
      t2.cleanup();
    }
  });

  test("a socket nobody listens on is a ConnectionError", async () => {
    const none = new LxdClient({ socket: join(t.root, "no.socket") });
    await assert.rejects(none.server.get(), (e: unknown) => {
      assert.ok(e instanceof ConnectionError);
      assert.equal(e.status, 0);
      assert.match(e.message, /GET \/1\.0 on .*no\.socket: connect ENOENT/);
      return true;
    });
    none.close();
  });
});
