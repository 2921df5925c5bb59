import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { CgroupLayout } from "../../src/cgroups/layout.js";
import { defineEntries, visibleHierarchies } from "../../src/container/launch-input.js";
import { LxtError } from "../../src/core/errors.js";

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

describe("defineEntries", () => {
  test("-s KEY=VALUE lines parse as config; a line without = is a usage error", () => {
    assert.deepEqual(
      defineEntries(["lxc.uts.name=b"]).map((e) => [e.key, e.value]),
      [["lxc.uts.name", "b"]],
    );
    assert.throws(() => defineEntries(["novalue"]), LxtError);
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
