/**
 * `PUT /1.0/instances/NAME/state` without root: the operation's work starts
 * before the 202 is written (the state read, then a start's lock request,
 * overlap the client's wait), and a refusal found by that work still ends
 * the operation with LXD's words, after Pending and Running events.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import type { Daemon } from "../../src/api/daemon.js";
import { buildApp } from "../../src/api/server.js";
import { daemonAt } from "./support/lxtd-daemon.js";

describe("instance state changes", () => {
  let root: string;
  let d: Daemon;
  let app: FastifyInstance;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), "lxt-api-state-"));
    mkdirSync(join(root, "c1"));
    writeFileSync(join(root, "c1", "config"), "lxc.uts.name = c1\n");
    d = daemonAt(root);
    app = buildApp(d);
    await app.ready();
  });
  after(async () => {
    await app.close();
    rmSync(root, { recursive: true, force: true });
  });

  const put = async (action: string) => {
    const r = await app.inject({
      method: "PUT",
      url: "/1.0/instances/c1/state",
      payload: { action },
    });
    return { status: r.statusCode, json: JSON.parse(r.body) };
  };
  const wait = async (url: string) =>
    JSON.parse((await app.inject({ method: "GET", url: `${url}/wait?timeout=10` })).body);

  test("the 202 shows the operation Running; the wait gives the refusal", async () => {
    const seen: string[] = [];
    const unsubscribe = d.events.subscribe({
      types: new Set(["operation"]),
      send: (e) => {
        seen.push((e.metadata as { status: string }).status);
        return true;
      },
    });
    try {
      const refusals: [string, string][] = [
        ["unfreeze", "The instance isn't frozen"],
        ["stop", "The instance is already stopped"],
        ["restart", "The instance isn't running"],
      ];
      for (const [action, words] of refusals) {
        seen.length = 0;
        const r = await put(action);
        assert.equal(r.status, 202, action);
        assert.equal(r.json.type, "async");
        assert.equal(r.json.metadata.status, "Running", `${action}: started before the answer`);
        const done = await wait(r.json.operation);
        assert.equal(done.metadata.status, "Failure", action);
        assert.equal(done.metadata.err, words);
        assert.deepEqual(seen, ["Pending", "Running", "Failure"], action);
      }
    } finally {
      unsubscribe();
    }
  });

  test("an unknown action is refused before any operation", async () => {
    const r = await put("pause");
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'Unknown action "pause"');
  });
});
