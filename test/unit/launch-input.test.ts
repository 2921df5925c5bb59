import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { CgroupLayout } from "../../src/cgroups/layout.js";
import {
  defineEntries,
  prepareLaunch,
  visibleHierarchies,
} from "../../src/container/launch-input.js";
import { containerPaths } from "../../src/container/paths.js";
import { LxtError } from "../../src/core/errors.js";
import { testCaller, testContext } from "./support/context.js";

const root = mkdtempSync(join(tmpdir(), "lxt-unit-launch-"));
after(() => rmSync(root, { recursive: true, force: true }));

const hybrid: CgroupLayout = {
  kind: "hybrid",
  hierarchies: [
    {
      version: 1,
      controllers: ["cpu", "cpuacct"],
      id: 2,
      mountPoint: "/sys/fs/cgroup/cpu,cpuacct",
      mountRoot: "/",
      ownPath: "/",
      ownDir: "/sys/fs/cgroup/cpu,cpuacct",
    },
    {
      version: 1,
      controllers: ["name=systemd"],
      id: 1,
      mountPoint: "/sys/fs/cgroup/systemd",
      mountRoot: "/",
      ownPath: "/",
      ownDir: "/sys/fs/cgroup/systemd",
    },
    {
      version: 2,
      controllers: [],
      id: 0,
      mountPoint: "/sys/fs/cgroup/unified",
      mountRoot: "/",
      ownPath: "/",
      ownDir: "/sys/fs/cgroup/unified",
    },
  ],
};

function container(name: string, config: string) {
  const paths = containerPaths(testContext({ lxcpath: root }), name);
  mkdirSync(paths.rootfs, { recursive: true });
  writeFileSync(paths.config, `lxc.rootfs.path = dir:${paths.rootfs}\n${config}`);
  return paths;
}

describe("prepareLaunch", () => {
  test("a busybox-like config becomes a complete launch input", async () => {
    const paths = container(
      "c1",
      "lxc.uts.name = web\nlxc.tty.max = 2\nlxc.mount.auto = proc:mixed sys:ro\nlxc.environment = FOO=bar\nlxc.prlimit.nofile = 1024:4096\nlxc.mount.entry = /srv srv none bind,ro,create=dir 0 0\n",
    );
    const p = await prepareLaunch(paths, hybrid, { caller: testCaller() });
    const input = p.build({ v2: "/u/x", v1: ["/c/x"] });
    assert.equal(input.hostname, "web");
    assert.equal(input.rootfs, paths.rootfs);
    assert.deepEqual(input.init.argv, ["/sbin/init"]);
    assert.equal(input.ttyMax, 2);
    assert.equal(input.stdio, "console");
    assert.ok(input.env.includes("FOO=bar") && input.env.includes("container=lxc"));
    assert.ok(input.env.includes("container_ttys=tty1 tty2"));
    assert.deepEqual(input.rlimits, [{ resource: 7, soft: 1024, hard: 4096 }]);
    const entry = input.mountEntries[0];
    assert.equal(entry?.target, "/srv");
    assert.ok(entry?.createDir);
    assert.equal((entry?.remountFlags ?? 0) & 1, 1, "read-only bind needs a remount");
    assert.deepEqual(input.mountAuto, { proc: "mixed", sys: "ro", cgroup: undefined });
  });

  test("execute mode: the command, inherited stdio, the init shim, no ttys", async () => {
    const paths = container("c2", "lxc.tty.max = 4\n");
    const p = await prepareLaunch(paths, hybrid, {
      caller: testCaller(),
      execute: { argv: ["sh", "-c", "true"], uid: 5 },
    });
    const input = p.build({ v1: [] });
    assert.deepEqual(input.init.argv, ["sh", "-c", "true"]);
    assert.equal(input.init.uid, 5);
    assert.equal(input.stdio, "inherit");
    assert.ok(input.initShim && input.foreground);
    assert.equal(input.ttyMax, 0);
  });

  test("-s overrides apply after the file", async () => {
    const paths = container("c3", "lxc.uts.name = a\n");
    const p = await prepareLaunch(paths, hybrid, {
      caller: testCaller(),
      defines: ["lxc.uts.name=b"],
    });
    assert.equal(p.build({ v1: [] }).hostname, "b");
    assert.throws(() => defineEntries(["novalue"]), LxtError);
  });

  test("keys of later features refuse the start, naming file and line", async () => {
    const paths = container("c4", "lxc.net.0.type = vlan\nlxc.net.0.link = br0\n");
    await assert.rejects(prepareLaunch(paths, hybrid, { caller: testCaller() }), (e: LxtError) => {
      assert.equal(e.code, "unsupported");
      assert.match(e.message, new RegExp(`${paths.config}:2: lxc\\.net\\.0\\.type`));
      return true;
    });
  });

  test("no rootfs path is refused: a container never runs on the host's root", async () => {
    const paths = containerPaths(testContext({ lxcpath: root }), "c5");
    mkdirSync(paths.dir, { recursive: true });
    writeFileSync(paths.config, "lxc.uts.name = x\n");
    await assert.rejects(
      prepareLaunch(paths, hybrid, { caller: testCaller() }),
      /lxc\.rootfs\.path is not set/,
    );
  });
});

describe("visibleHierarchies", () => {
  test("v1 comounts, named hierarchies and the unified mount", () => {
    assert.deepEqual(visibleHierarchies(hybrid), [
      { version: 1, data: "cpu,cpuacct", dirName: "cpu,cpuacct" },
      { version: 1, data: "none,name=systemd", dirName: "systemd" },
      { version: 2, data: "", dirName: "unified" },
    ]);
  });
});
