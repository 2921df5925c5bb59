import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { CgroupLayout } from "../../src/cgroups/layout.js";
import {
  cgroupRootArgs,
  cgroupRoots,
  withCgroupRoots,
} from "../../src/container/checkpoint-cgroups.js";

/** A hybrid host: cgroup2 beside a comounted cpu,cpuacct, memory under a subtree mount, and name=systemd. */
const LAYOUT: CgroupLayout = {
  kind: "hybrid",
  hierarchies: [
    {
      version: 2,
      controllers: [],
      id: 0,
      mountPoint: "/sys/fs/cgroup/unified",
      mountRoot: "/",
      ownPath: "/a",
      ownDir: "/sys/fs/cgroup/unified/a",
    },
    {
      version: 1,
      controllers: ["cpu", "cpuacct"],
      id: 2,
      mountPoint: "/sys/fs/cgroup/cpu,cpuacct",
      mountRoot: "/",
      ownPath: "/a",
      ownDir: "/sys/fs/cgroup/cpu,cpuacct/a",
    },
    {
      version: 1,
      controllers: ["memory"],
      id: 4,
      mountPoint: "/sys/fs/cgroup/memory",
      mountRoot: "/top",
      ownPath: "/top/a",
      ownDir: "/sys/fs/cgroup/memory/a",
    },
    {
      version: 1,
      controllers: ["name=systemd"],
      id: 9,
      mountPoint: "/sys/fs/cgroup/systemd",
      mountRoot: "/",
      ownPath: "/a",
      ownDir: "/sys/fs/cgroup/systemd/a",
    },
  ],
};

describe("checkpoint cgroups", () => {
  test("each hierarchy's root as CRIU names it: controllers, the unified one by none; subtree mounts taken into account", () => {
    const roots = cgroupRoots(LAYOUT, {
      v2: "/sys/fs/cgroup/unified/a/lxt.payload.c1",
      v1: [
        "/sys/fs/cgroup/cpu,cpuacct/a/lxt.payload.c1",
        "/sys/fs/cgroup/memory/a/lxt.payload.c1",
        "/sys/fs/cgroup/systemd/a/lxt.payload.c1",
        "/elsewhere/lxt.payload.c1",
      ],
    });
    assert.deepEqual(roots, [
      "/a/lxt.payload.c1",
      "cpu,cpuacct:/a/lxt.payload.c1",
      "memory:/top/a/lxt.payload.c1",
      "name=systemd:/a/lxt.payload.c1",
    ]);
  });

  test("only roots that moved are named; one that extends the dumped root is refused", () => {
    const dumped = ["/a/lxt.payload.c1", "memory:/top/a/lxt.payload.c1"];
    assert.deepEqual(cgroupRootArgs(dumped, dumped), { args: [] });
    assert.deepEqual(
      cgroupRootArgs(dumped, ["/b/lxt.payload.c1", "memory:/top/a/lxt.payload.c1"]),
      {
        args: ["--cgroup-root", "/b/lxt.payload.c1"],
      },
    );
    const r = cgroupRootArgs(dumped, ["/a/lxt.payload.c1-1"]);
    assert.ok("refusal" in r);
    assert.match(
      r.refusal,
      /\/a\/lxt\.payload\.c1-1, whose path begins with the dumped \/a\/lxt\.payload\.c1/,
    );
  });

  test("a restore's command line gets its roots made again", () => {
    const cmd = ["criu", "restore", "--cgroup-root", "/old", "--root", "/r"];
    assert.deepEqual(withCgroupRoots(cmd, ["/x/c"], ["/y/c"]), {
      args: ["criu", "restore", "--root", "/r", "--cgroup-root", "/y/c"],
    });
  });
});
