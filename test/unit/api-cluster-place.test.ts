import assert from "node:assert/strict";
import { test } from "node:test";
import { leastLoaded } from "../../src/api/cluster-place.js";
import type { MemberView } from "../../src/api/types.js";

const GiB = 1024 ** 3;

function member(name: string, running: number, free: number, online = true): MemberView {
  return {
    name,
    address: `https://${name}:8443`,
    fingerprint: name,
    architecture: "x86_64",
    online,
    heartbeat: "2026-01-01T00:00:00Z",
    load: {
      containers: running,
      running,
      cpus: 2,
      load1: 0,
      memory_free: free,
      memory_total: 8 * GiB,
    },
  };
}

test("fewer running containers wins, whatever the memory", () => {
  const pick = leastLoaded([member("a", 3, 7 * GiB), member("b", 1, 1 * GiB)], "a");
  assert.equal(pick?.name, "b");
});

test("at equal running, clearly more free memory wins; close readings tie to the member asked", () => {
  assert.equal(leastLoaded([member("a", 1, 2 * GiB), member("b", 1, 4 * GiB)], "a")?.name, "b");
  assert.equal(leastLoaded([member("a", 1, 4.0 * GiB), member("b", 1, 4.2 * GiB)], "a")?.name, "a");
  // Neither is the member asked: the first name.
  assert.equal(leastLoaded([member("c", 0, 4.2 * GiB), member("b", 0, 4.0 * GiB)], "x")?.name, "b");
});

test("offline members are never chosen; none online gives undefined", () => {
  assert.equal(leastLoaded([member("a", 0, 8 * GiB, false), member("b", 5, GiB)], "a")?.name, "b");
  assert.equal(leastLoaded([member("a", 0, GiB, false)], "a"), undefined);
});
