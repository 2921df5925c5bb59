/**
 * LXD's migration protocol against lxtd (docs/migrate.md): refused at once
 * with an error naming lxt's own form, on the source side (`POST
 * /1.0/instances/NAME` with `migration: true`) and on the target side (a
 * `migration` source), so the stock `lxc move c1 remote:` gets an answer.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { pageServer } from "../../src/api/routes/migrations.js";
import { buildApp } from "../../src/api/server.js";
import { testDaemon } from "./support/daemon.js";

const root = mkdtempSync(join(tmpdir(), "lxt-api-mig-"));
after(() => rmSync(root, { recursive: true, force: true }));

describe("LXD's migration protocol", () => {
  test("the source side: migration: true is refused naming lxt move and /1.0/migrations", async () => {
    const d = testDaemon(root);
    mkdirSync(join(d.ctx.lxcpath, "c1"));
    writeFileSync(join(d.ctx.lxcpath, "c1", "config"), "lxc.uts.name = c1\n");
    const app = buildApp(d);
    const r = await app.inject({
      method: "POST",
      url: "/1.0/instances/c1",
      payload: { name: "c1", migration: true, live: true },
    });
    assert.equal(r.statusCode, 501);
    const body = r.json();
    assert.equal(body.type, "error");
    assert.match(body.error, /not supported by lxt: move it with "lxt move NAME REMOTE:"/);
    assert.match(body.error, /POST \/1\.0\/migrations .*docs\/migrate\.md/);
  });

  test("the target side: a migration source is refused before any operation", async () => {
    const d = testDaemon(root);
    const app = buildApp(d);
    const r = await app.inject({
      method: "POST",
      url: "/1.0/instances",
      payload: {
        name: "c2",
        source: {
          type: "migration",
          mode: "pull",
          operation: "https://x/1.0/operations/1",
          secrets: {},
        },
      },
    });
    assert.equal(r.statusCode, 501);
    assert.match(r.json().error, /Migration over LXD's protocol is not supported by lxt/);
    assert.deepEqual(d.operations.list(), []);
  });
});

describe("lxt's /1.0/migrations: a post-copy's page server header", () => {
  test("X-LXT-Page-Server: ADDRESS:PORT (IPv6 in brackets); anything else is a 400 naming it", () => {
    assert.equal(pageServer(undefined), undefined);
    assert.deepEqual(pageServer("10.253.0.1:41234"), { address: "10.253.0.1", port: 41234 });
    assert.deepEqual(pageServer("[fd00::1]:80"), { address: "fd00::1", port: 80 });
    for (const bad of ["10.253.0.1", "10.253.0.1:0", "10.253.0.1:65536", "host:80", ":80", ["a"]]) {
      assert.throws(
        () => pageServer(bad),
        (err: Error & { status?: number }) =>
          /Invalid X-LXT-Page-Server/.test(err.message) && err.status === 400,
        String(bad),
      );
    }
  });
});

describe("lxt's /1.0/migrations: what this host receives", () => {
  test("GET says archive on a state root that is not on btrfs, and a btrfs stream is refused there", async () => {
    const d = testDaemon(root);
    const app = buildApp(d);
    const r = await app.inject({ method: "GET", url: "/1.0/migrations" });
    assert.equal(r.statusCode, 200);
    // tmpfs or ext4 under the test's tmpdir: no btrfs here.
    assert.deepEqual(r.json().metadata, { receive: ["archive"] });
    const post = await app.inject({
      method: "POST",
      url: "/1.0/migrations",
      headers: {
        "content-type": "application/octet-stream",
        "x-lxd-name": "c3",
        "x-lxt-transport": "btrfs",
      },
      payload: Buffer.from("not a tar"),
    });
    assert.equal(post.statusCode, 400);
    assert.match(post.json().error, /receive c3: this host cannot receive a btrfs stream/);
    // Nothing stays: no spool, no staging, no container.
    assert.deepEqual(
      readdirSync(d.ctx.lxcpath).filter((n) => n !== ".lxtd"),
      [],
    );
    const uploads = join(d.stateDir, "uploads");
    assert.deepEqual(existsSync(uploads) ? readdirSync(uploads) : [], []);
  });
});
