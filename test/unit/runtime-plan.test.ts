import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { containerPaths } from "../../src/container/paths.js";
import {
  PLAN_CACHE,
  parseRuntimePlan,
  planCgroups,
  readRuntimePlan,
  runtimeAppArmor,
  runtimeCgroups,
  runtimeNetdevs,
  runtimeStopHooks,
} from "../../src/container/runtime-cgroups.js";
import { usernsInfo } from "../../src/container/userns-info.js";
import { BoundedCache } from "../../src/core/cache.js";
import { decodeField } from "../../src/core/encode.js";
import { canIdmap, probeKey, probeVerdictText } from "../../src/host/subid.js";
import { testContext } from "./support/context.js";

const PLAN = [
  "lxt-plan 1",
  "name c1",
  "cgroup1 /sys/fs/cgroup/cpu/lxt.payload.c1",
  "cgroup1 /sys/fs/cgroup/memory/lxt.payload.c1",
  "cgroup2 /sys/fs/cgroup/lxt.payload.c1",
  "netdev vethA1",
  "netdev vethB2",
  "apparmor lxt-c1_%3C%2Fvar%2Flib%2Flxt%3E",
  "stop-hook /bin/sh -c echo%20bye",
  "idmap u 0 1000000 65536",
  "idmap g 0 1000000 65536",
  "idmapped-mount /var/lib/lxt/c1/rootfs",
  "no-new-privs",
  "",
].join("\n");

describe("runtime plan", () => {
  test("decoded once into records by op, in plan order", () => {
    const p = parseRuntimePlan(PLAN);
    assert.deepEqual(p.records.get("netdev"), [["vethA1"], ["vethB2"]]);
    assert.deepEqual(p.records.get("stop-hook"), [["/bin/sh", "-c", "echo bye"]]);
    assert.equal(p.records.has("no-new-privs"), false, "records without fields are left out");
    assert.deepEqual(planCgroups(PLAN), {
      v1: ["/sys/fs/cgroup/cpu/lxt.payload.c1", "/sys/fs/cgroup/memory/lxt.payload.c1"],
      v2: "/sys/fs/cgroup/lxt.payload.c1",
    });
  });

  test("read from the runtime directory, again only when the file was replaced", () => {
    const root = mkdtempSync(join(tmpdir(), "lxt-plan-"));
    const ctx = testContext({ lxcpath: join(root, "lib"), runDir: join(root, "run") });
    try {
      const paths = containerPaths(ctx, "c1");
      assert.equal(readRuntimePlan(ctx, paths), undefined);
      assert.deepEqual(runtimeCgroups(ctx, paths), { v1: [] });
      mkdirSync(paths.runtimeDir, { recursive: true });
      writeFileSync(join(paths.runtimeDir, "plan"), PLAN);
      const first = readRuntimePlan(ctx, paths);
      assert.ok(first);
      assert.equal(
        readRuntimePlan(ctx, paths),
        first,
        "the same decoded plan while the file is unchanged",
      );
      assert.deepEqual(runtimeNetdevs(ctx, paths), ["vethA1", "vethB2"]);
      assert.equal(runtimeAppArmor(ctx, paths), "lxt-c1_</var/lib/lxt>");
      assert.deepEqual(runtimeStopHooks(ctx, paths), [["/bin/sh", "-c", "echo bye"]]);
      assert.deepEqual(usernsInfo(paths, first), {
        idmap: "u 0 1000000 65536, g 0 1000000 65536",
        ownership: "idmapped",
      });
      // Replaced (as writeFileAtomic does: a new file renamed over): read again.
      writeFileSync(join(paths.runtimeDir, "plan.new"), "lxt-plan 1\nnetdev vethC3\n");
      renameSync(join(paths.runtimeDir, "plan.new"), join(paths.runtimeDir, "plan"));
      assert.deepEqual(runtimeNetdevs(ctx, paths), ["vethC3"]);
      assert.deepEqual(usernsInfo(paths, readRuntimePlan(ctx, paths)), {
        idmap: "privileged",
        ownership: "host",
      });
      rmSync(paths.runtimeDir, { recursive: true });
      assert.equal(readRuntimePlan(ctx, paths), undefined, "gone with the runtime directory");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("many containers' plans are kept at once, per context", () => {
    const root = mkdtempSync(join(tmpdir(), "lxt-plan-"));
    const ctx = testContext({ lxcpath: join(root, "lib"), runDir: join(root, "run") });
    try {
      const names = ["a", "b", "c"];
      for (const n of names) {
        const paths = containerPaths(ctx, n);
        mkdirSync(paths.runtimeDir, { recursive: true });
        writeFileSync(join(paths.runtimeDir, "plan"), `lxt-plan 1\nnetdev veth-${n}\n`);
      }
      const first = names.map((n) => readRuntimePlan(ctx, containerPaths(ctx, n)));
      const again = names.map((n) => readRuntimePlan(ctx, containerPaths(ctx, n)));
      for (const [i, p] of first.entries()) assert.equal(again[i], p, "each decoded once");
      assert.equal(ctx.caches.of(PLAN_CACHE).size, 3);
      // Another context (another front-end process) has caches of its own.
      const other = testContext({ lxcpath: ctx.lxcpath, runDir: ctx.runDir });
      assert.notEqual(readRuntimePlan(other, containerPaths(other, "a")), first[0]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("decodeField: plain ASCII fields come back as they are, escapes still decode", () => {
    assert.equal(decodeField("/sys/fs/cgroup/x"), "/sys/fs/cgroup/x");
    assert.equal(decodeField("%C3%A9t%C3%A9"), "été");
    assert.equal(decodeField("%"), "");
    assert.throws(() => decodeField("a%2"));
  });
});

describe("idmap probe cache", () => {
  test("only the answer to the question is kept, not a failure on the way", () => {
    assert.equal(probeVerdictText({ ok: true, line: "ok" }), "ok\n");
    const refused = "error idmap mount_setattr /var/lib/lxt/c1/rootfs 22";
    assert.equal(probeVerdictText({ ok: false, line: refused }), `no ${refused}\n`);
    assert.equal(
      probeVerdictText({ ok: false, line: "error idmap open_tree /x 1" }),
      "no error idmap open_tree /x 1\n",
    );
    assert.equal(probeVerdictText({ ok: false, line: "error idmap fork - 11" }), undefined);
    assert.equal(probeVerdictText({ ok: false, line: "error idmap unshare - 1" }), undefined);
  });

  test("a cached verdict answers without running the helper", async () => {
    const root = mkdtempSync(join(tmpdir(), "lxt-probe-"));
    try {
      // Were the helper run, this path would make canIdmap throw.
      const helper = join(root, "no-such-helper");
      const cache = join(root, "cache");
      mkdirSync(cache);
      const key = probeKey(root);
      assert.match(key, /^[0-9a-f]+-[0-9a-f]+$/);
      writeFileSync(join(cache, key), "ok\n");
      assert.equal(await canIdmap(helper, root, cache), true);
      writeFileSync(join(cache, key), "no error idmap mount_setattr /x 22\n");
      assert.equal(await canIdmap(helper, root, cache), false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("bounded cache", () => {
  test("keeps at most its size, forgetting the least recently used", () => {
    const c = new BoundedCache<number>(2);
    c.set("a", 1);
    c.set("b", 2);
    assert.equal(c.get("a"), 1, "a is now the most recently used");
    c.set("c", 3);
    assert.equal(c.get("b"), undefined, "b went");
    assert.equal(c.get("a"), 1);
    assert.equal(c.get("c"), 3);
    assert.equal(c.size, 2);
    c.delete("a");
    assert.equal(c.get("a"), undefined);
    assert.throws(() => new BoundedCache(0), RangeError);
  });
});
