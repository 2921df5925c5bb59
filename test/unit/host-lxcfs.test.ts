import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { lxcfsMounts } from "../../src/container/launch-input.js";
import { lxcfsMountPoints } from "../../src/host/lxcfs.js";

describe("lxcfs", () => {
  it("finds fuse.lxcfs mounts in mountinfo, with escapes undone", () => {
    const text = [
      "25 1 0:22 / /proc rw,nosuid - proc proc rw",
      "90 25 0:50 / /var/lib/lxcfs rw,nosuid,nodev,relatime shared:40 - fuse.lxcfs lxcfs rw,user_id=0",
      "91 25 0:51 / /tmp/my\\040dir rw - fuse.lxcfs lxcfs rw",
      "92 25 0:52 / /mnt/fuse rw - fuse.sshfs x rw",
    ].join("\n");
    assert.deepEqual(lxcfsMountPoints(text), ["/var/lib/lxcfs", "/tmp/my dir"]);
  });
  it("binds each file it serves over /proc and the cpu dir over /sys, optionally", () => {
    const m = lxcfsMounts({
      dir: "/var/lib/lxcfs",
      procFiles: ["meminfo", "uptime"],
      sysCpu: true,
    });
    assert.deepEqual(
      m.map((x) => [x.source, x.target, x.optional]),
      [
        ["/var/lib/lxcfs/proc/meminfo", "/proc/meminfo", true],
        ["/var/lib/lxcfs/proc/uptime", "/proc/uptime", true],
        ["/var/lib/lxcfs/sys/devices/system/cpu", "/sys/devices/system/cpu", true],
      ],
    );
    assert.deepEqual(lxcfsMounts(undefined), []);
  });
});
