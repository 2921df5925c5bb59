/**
 * `GET /1.0/instances` over more instances than one slice of the list
 * (inject, a temp state root of stopped containers): every one listed once,
 * in name order, with its status.
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { buildApp } from "../../src/api/server.js";
import { testDaemon } from "./support/lxtd-daemon.js";

const COUNT = 230; // more than two of the list's slices of 100

test("a list of 230, past two slices: each once, in name order", async () => {
  const t = testDaemon();
  const app = buildApp(t.d);
  try {
    const names = Array.from({ length: COUNT }, (_, i) => `c${String(i).padStart(3, "0")}`);
    for (const n of names) {
      mkdirSync(join(t.root, n, "rootfs"), { recursive: true });
      writeFileSync(join(t.root, n, "config"), `lxc.uts.name = ${n}\n`);
    }
    const listed = await app.inject({ method: "GET", url: "/1.0/instances?recursion=1" });
    assert.equal(listed.statusCode, 200, listed.body);
    const got = listed.json().metadata as { name: string; status: string }[];
    assert.deepEqual(
      got.map((i) => i.name),
      names,
    );
    assert.ok(got.every((i) => i.status === "Stopped"));
    const urls = (await app.inject({ method: "GET", url: "/1.0/instances" })).json().metadata;
    assert.equal(urls.length, COUNT);
  } finally {
    await app.close();
    t.cleanup();
  }
});
