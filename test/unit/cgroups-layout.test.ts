import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  hierarchyOf,
  hierarchyOfDir,
  parseCgroupLayout,
  readCgroupLayout,
  v1DirWith,
} from "../../src/cgroups/layout.js";
import { LxtError } from "../../src/core/errors.js";
import type { CgroupFs } from "../../src/host/cgroup-fs.js";
import { nodeCgroupFs } from "../../src/host/cgroup-fs.js";

// This development host (cgroup v1/v2 hybrid, memory cgroup not the root).
const HOST_MOUNTINFO = `21 26 0:20 / /proc rw,relatime - proc proc rw
22 26 0:21 / /sys rw,relatime - sysfs sysfs rw
23 26 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334416k,nr_inodes=3083604,mode=755
26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
35 30 0:32 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
37 30 0:34 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const HOST_CGROUP = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/e50141d5fe78b598b33c5635ef84f822
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`;

// Pure v2, systemd (Debian 12, Fedora): one cgroup2 mount at /sys/fs/cgroup.
const V2_MOUNTINFO = `22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
25 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const V2_CGROUP = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/vte-spawn-1.scope\n";

// Pure v1 (CentOS 7): comounted cpu,cpuacct, named systemd hierarchy, devices
// listed but not mounted, memory bind-mounted a second time.
const V1_MOUNTINFO = `25 21 0:21 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
26 25 0:22 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
30 25 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
31 25 0:27 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,cpuset
32 25 0:28 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,pids
33 25 0:29 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,net_cls,net_prio
90 21 0:26 / /mnt/memory\\040copy rw,relatime shared:11 - cgroup cgroup rw,memory
`;
const V1_CGROUP = `11:pids:/user.slice
10:cpuset:/
9:net_cls,net_prio:/
6:devices:/user.slice
5:memory:/user.slice
3:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/user-1000.slice/session-1.scope
`;

// Hybrid (Ubuntu 20.04): v1 controllers plus cgroup2 at /sys/fs/cgroup/unified.
const HYBRID_MOUNTINFO = `25 21 0:21 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:22 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
31 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
33 25 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,cpu,cpuacct
`;
const HYBRID_CGROUP = `12:memory:/user.slice/user-1000.slice/session-2.scope
4:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/user-1000.slice/session-2.scope
0::/user.slice/user-1000.slice/session-2.scope
`;

// Inside an LXC container without a cgroup namespace (lxc.mount.auto =
// cgroup:mixed): each hierarchy is mounted from the container's subtree.
const NS_MOUNTINFO = `100 90 0:30 /lxc.payload.c1 /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory
101 90 0:31 /lxc.payload.c1 /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu,cpuacct
102 90 0:32 /lxc.payload.c1 /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,name=systemd
103 90 0:33 /lxc.payload.c1 /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw
`;
const NS_CGROUP = `4:memory:/lxc.payload.c1/init.scope
3:cpu,cpuacct:/lxc.payload.c1
1:name=systemd:/lxc.payload.c1/init.scope
0::/lxc.payload.c1/init.scope
`;

describe("parseCgroupLayout", () => {
  it("reads this hybrid host", () => {
    const layout = parseCgroupLayout(HOST_MOUNTINFO, HOST_CGROUP);
    assert.equal(layout.kind, "hybrid");
    assert.equal(layout.hierarchies.length, 10);
    const memory = hierarchyOf(layout, "memory");
    assert.deepEqual(memory, {
      version: 1,
      controllers: ["memory"],
      id: 4,
      mountPoint: "/sys/fs/cgroup/memory",
      mountRoot: "/",
      ownPath: "/process_api/e50141d5fe78b598b33c5635ef84f822",
      ownDir: "/sys/fs/cgroup/memory/process_api/e50141d5fe78b598b33c5635ef84f822",
    });
    assert.equal(hierarchyOf(layout, "cpu")?.ownDir, "/sys/fs/cgroup/cpu");
    assert.equal(hierarchyOf(layout, "name=systemd")?.mountPoint, "/sys/fs/cgroup/systemd");
    const v2 = layout.hierarchies.find((h) => h.version === 2);
    assert.equal(v2?.ownDir, "/sys/fs/cgroup/unified");
    assert.deepEqual(v2?.controllers, []);
  });

  it("reads a pure v2 host", () => {
    const layout = parseCgroupLayout(V2_MOUNTINFO, V2_CGROUP);
    assert.equal(layout.kind, "v2");
    assert.equal(layout.hierarchies.length, 1);
    assert.equal(
      layout.hierarchies[0]?.ownDir,
      "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/vte-spawn-1.scope",
    );
  });

  it("reads a pure v1 host with comounts, a named hierarchy and a double mount", () => {
    const layout = parseCgroupLayout(V1_MOUNTINFO, V1_CGROUP);
    assert.equal(layout.kind, "v1");
    assert.deepEqual(
      layout.hierarchies.map((h) => [h.controllers.join(","), h.ownDir]),
      [
        ["name=systemd", "/sys/fs/cgroup/systemd/user.slice/user-1000.slice/session-1.scope"],
        ["cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct/user.slice"],
        ["memory", "/sys/fs/cgroup/memory/user.slice"],
        ["cpuset", "/sys/fs/cgroup/cpuset"],
        ["pids", "/sys/fs/cgroup/pids/user.slice"],
        ["net_cls,net_prio", "/sys/fs/cgroup/net_cls,net_prio"],
      ],
    );
    assert.equal(hierarchyOf(layout, "devices"), undefined, "unmounted hierarchy left out");
  });

  it("undoes octal escapes in mount points", () => {
    const mi = "90 21 0:26 / /mnt/memory\\040copy rw - cgroup cgroup rw,memory\n";
    const layout = parseCgroupLayout(mi, "5:memory:/a\n");
    assert.equal(layout.hierarchies[0]?.ownDir, "/mnt/memory copy/a");
  });

  it("reads a hybrid host", () => {
    const layout = parseCgroupLayout(HYBRID_MOUNTINFO, HYBRID_CGROUP);
    assert.equal(layout.kind, "hybrid");
    assert.deepEqual(
      layout.hierarchies.map((h) => [h.version, h.ownDir]),
      [
        [2, "/sys/fs/cgroup/unified/user.slice/user-1000.slice/session-2.scope"],
        [1, "/sys/fs/cgroup/systemd/user.slice/user-1000.slice/session-2.scope"],
        [1, "/sys/fs/cgroup/memory/user.slice/user-1000.slice/session-2.scope"],
        [1, "/sys/fs/cgroup/cpu,cpuacct/user.slice"],
      ],
    );
  });

  it("counts a named-only v1 hierarchy beside cgroup2 as v2", () => {
    const mi = `${V2_MOUNTINFO}40 25 0:40 / /run/systemd-v1 rw - cgroup cgroup rw,name=systemd\n`;
    const layout = parseCgroupLayout(mi, `1:name=systemd:/x\n${V2_CGROUP}`);
    assert.equal(layout.kind, "v2");
    assert.equal(layout.hierarchies.length, 2);
  });

  it("resolves own cgroups through mounts of a subtree", () => {
    const layout = parseCgroupLayout(NS_MOUNTINFO, NS_CGROUP);
    assert.equal(layout.kind, "hybrid");
    assert.deepEqual(
      layout.hierarchies.map((h) => [h.mountRoot, h.ownDir]),
      [
        ["/lxc.payload.c1", "/sys/fs/cgroup/memory/init.scope"],
        ["/lxc.payload.c1", "/sys/fs/cgroup/cpu,cpuacct"],
        ["/lxc.payload.c1", "/sys/fs/cgroup/systemd/init.scope"],
        ["/lxc.payload.c1", "/sys/fs/cgroup/unified/init.scope"],
      ],
    );
  });

  it("of several mounts of one hierarchy, picks one that shows the own cgroup", () => {
    const mi = `50 1 0:30 /other /mnt/a rw - cgroup cgroup rw,memory
51 1 0:30 /lxc /mnt/b rw - cgroup cgroup rw,memory
52 1 0:30 / /mnt/c rw - cgroup cgroup rw,memory
`;
    const layout = parseCgroupLayout(mi, "4:memory:/lxc/c1\n");
    assert.equal(layout.hierarchies.length, 1);
    assert.equal(layout.hierarchies[0]?.ownDir, "/mnt/c/lxc/c1");
  });

  it("refuses a hierarchy whose mounts do not show the own cgroup", () => {
    const mi = "50 1 0:30 /lxc.payload.c1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
    assert.throws(
      () => parseCgroupLayout(mi, "4:memory:/elsewhere\n"),
      (err: unknown) =>
        err instanceof LxtError && err.code === "host" && /memory hierarchy/.test(err.message),
    );
    // A cgroup namespace whose root lies below the mount shows the root as "/..".
    const up = "50 1 0:31 /.. /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
    assert.throws(() => parseCgroupLayout(up, "0::/\n"), /cgroup2 hierarchy/);
  });

  it("gives none without cgroup mounts", () => {
    const layout = parseCgroupLayout("26 1 254:0 / / rw - ext4 /dev/vda rw\n", "0::/\n");
    assert.deepEqual(layout, { kind: "none", hierarchies: [] });
    assert.equal(parseCgroupLayout("", "").kind, "none");
  });

  it("ignores a cgroup2 mount when /proc/self/cgroup has no 0:: line", () => {
    const layout = parseCgroupLayout(V2_MOUNTINFO, "");
    assert.equal(layout.kind, "none");
  });
});

describe("a container's dir in a hierarchy", () => {
  it("is found wherever beneath the mount it lies (caller's cgroup, lxc.cgroup.dir, a scope)", () => {
    const layout = parseCgroupLayout(HYBRID_MOUNTINFO, HYBRID_CGROUP);
    const mem = hierarchyOf(layout, "memory");
    assert.ok(mem);
    const deep = `${mem.mountPoint}/machine.slice/lxt-c1.scope/lxt.payload.c1`;
    const other = layout.hierarchies.find((h) => h !== mem && h.version === 1);
    assert.ok(other);
    const dirs = [`${other.mountPoint}/x/lxt.payload.c1`, deep];
    assert.equal(v1DirWith(dirs, layout, "memory"), deep);
    assert.equal(hierarchyOfDir(layout, deep), mem);
    assert.equal(hierarchyOfDir(layout, "/elsewhere/lxt.payload.c1"), undefined);
    assert.equal(v1DirWith(dirs, layout, "no-such-controller"), undefined);
  });
});

describe("readCgroupLayout", () => {
  function fakeFs(files: Record<string, string>): CgroupFs {
    const read = (p: string) => {
      const v = files[p];
      if (v === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
      return v;
    };
    const unused = () => {
      throw new Error("not used");
    };
    return {
      readFile: read,
      writeFile: unused,
      mkdir: unused,
      rmdir: unused,
      readdir: unused,
      exists: (p) => p in files,
    };
  }

  it("reads v2 controllers from the own cgroup", () => {
    const own =
      "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/vte-spawn-1.scope";
    const layout = readCgroupLayout(
      fakeFs({
        "/proc/self/mountinfo": V2_MOUNTINFO,
        "/proc/self/cgroup": V2_CGROUP,
        [`${own}/cgroup.controllers`]: "cpu memory pids\n",
      }),
    );
    assert.deepEqual(layout.hierarchies[0]?.controllers, ["cpu", "memory", "pids"]);
    assert.equal(hierarchyOf(layout, "memory")?.version, 2);
  });

  it("the same layout read again is the same object; a changed one is a new one", () => {
    const own =
      "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/vte-spawn-1.scope";
    const files = {
      "/proc/self/mountinfo": V2_MOUNTINFO,
      "/proc/self/cgroup": V2_CGROUP,
      [`${own}/cgroup.controllers`]: "cpu memory pids\n",
    };
    const first = readCgroupLayout(fakeFs(files));
    assert.equal(readCgroupLayout(fakeFs(files)), first);
    const fewer = { ...files, [`${own}/cgroup.controllers`]: "memory\n" };
    const changed = readCgroupLayout(fakeFs(fewer));
    assert.notEqual(changed, first);
    assert.deepEqual(changed.hierarchies[0]?.controllers, ["memory"]);
    assert.deepEqual(first.hierarchies[0]?.controllers, ["cpu", "memory", "pids"]);
  });

  it("keeps no v2 controllers when cgroup.controllers is missing", () => {
    const layout = readCgroupLayout(
      fakeFs({ "/proc/self/mountinfo": HYBRID_MOUNTINFO, "/proc/self/cgroup": HYBRID_CGROUP }),
    );
    assert.deepEqual(layout.hierarchies[0]?.controllers, []);
  });

  it("finds the hierarchies through PID 1's mounts when its own namespace has none (ip netns exec)", () => {
    const own =
      "/proc/1/root/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/vte-spawn-1.scope";
    // A private sysfs on /sys, as `ip netns exec` mounts it: no cgroup mount under it.
    const privateSys = "22 28 0:40 / /sys rw,relatime - sysfs sysfs rw\n";
    const layout = readCgroupLayout(
      fakeFs({
        "/proc/self/mountinfo": privateSys,
        "/proc/self/cgroup": V2_CGROUP,
        "/proc/1/mountinfo": V2_MOUNTINFO,
        [own]: "",
        [`${own}/cgroup.controllers`]: "memory pids\n",
      }),
    );
    assert.equal(layout.kind, "v2");
    assert.equal(layout.hierarchies[0]?.mountPoint, "/proc/1/root/sys/fs/cgroup");
    assert.equal(layout.hierarchies[0]?.ownDir, own);
    assert.deepEqual(layout.hierarchies[0]?.controllers, ["memory", "pids"]);
  });

  it("stays none when PID 1's root cannot be reached (no ptrace access to PID 1)", () => {
    const privateSys = "22 28 0:40 / /sys rw,relatime - sysfs sysfs rw\n";
    const layout = readCgroupLayout(
      fakeFs({
        "/proc/self/mountinfo": privateSys,
        "/proc/self/cgroup": V2_CGROUP,
        "/proc/1/mountinfo": V2_MOUNTINFO,
      }),
    );
    assert.equal(layout.kind, "none");
  });

  it("stays none when PID 1 shows no hierarchy either", () => {
    const none = "22 28 0:40 / /sys rw,relatime - sysfs sysfs rw\n";
    const layout = readCgroupLayout(
      fakeFs({
        "/proc/self/mountinfo": none,
        "/proc/self/cgroup": V2_CGROUP,
        "/proc/1/mountinfo": none,
      }),
    );
    assert.equal(layout.kind, "none");
  });

  it("names the operation when proc files are missing", () => {
    assert.throws(
      () => readCgroupLayout(fakeFs({})),
      (err: unknown) => err instanceof LxtError && /^read cgroup layout: ENOENT/.test(err.message),
    );
  });

  it("reads the real host without throwing", () => {
    const layout = readCgroupLayout(nodeCgroupFs);
    assert.ok(["v1", "hybrid", "v2", "none"].includes(layout.kind));
    for (const h of layout.hierarchies) assert.ok(nodeCgroupFs.exists(h.ownDir), h.ownDir);
  });
});
