import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { resolveConfig } from "../../src/config/model.js";
import { parseConfigText } from "../../src/config/parse.js";
import {
  CAPABILITIES,
  capabilityNames,
  LXC_COMMON_DROP,
  parseCapability,
  resolveCapabilities,
} from "../../src/config/security.js";
import { type CheckHost, checkHost, kernelVersion } from "../../src/container/checkconfig.js";
import { resolveConfinement } from "../../src/container/confinement.js";
import { LxtError } from "../../src/core/errors.js";

const resolve = (text: string) =>
  resolveConfig(parseConfigText(text, "/etc/c1/config"), { cgroupLayout: "v2", env: {} });
const keptNames = (text: string) => capabilityNames(resolveCapabilities(resolve(text).security));

describe("capability names", () => {
  test("capabilities(7) names with or without CAP_, any case, or numbers", () => {
    assert.equal(parseCapability("sys_admin"), 21);
    assert.equal(parseCapability("CAP_SYS_ADMIN"), 21);
    assert.equal(parseCapability("Cap_Net_Raw"), 13);
    assert.equal(parseCapability("40"), 40);
    assert.equal(parseCapability("63"), 63);
    assert.throws(() => parseCapability("64"), /unknown capability "64"/);
    assert.throws(() => parseCapability("sys_everything"), /unknown capability/);
    assert.equal(CAPABILITIES.length, 41);
  });
});

/**
 * lxt's default set by capabilities(7) number: all 41 but dac_read_search 2,
 * sys_module 16, sys_rawio 17, sys_pacct 20, sys_time 25, audit_control 30
 * and 32-40 (mac_*, syslog, wake_alarm, block_suspend, audit_read, perfmon,
 * bpf, checkpoint_restore), as docs/security.md says.
 */
const DEFAULT_KEPT = [
  0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 18, 19, 21, 22, 23, 24, 26, 27, 28, 29, 31,
];

describe("capability set resolution", () => {
  test("by default: every capability minus LXC's common.conf drops and lxt's", () => {
    assert.deepEqual(LXC_COMMON_DROP, [
      "mac_admin",
      "mac_override",
      "sys_time",
      "sys_module",
      "sys_rawio",
    ]);
    assert.deepEqual(resolveCapabilities(resolve("").security), DEFAULT_KEPT);
  });

  test("lxc.cap.drop adds to the defaults; an empty value clears them too", () => {
    assert.ok(!keptNames("lxc.cap.drop = sys_nice NET_RAW\n").includes("sys_nice"));
    assert.ok(!keptNames("lxc.cap.drop = sys_nice NET_RAW\n").includes("net_raw"));
    assert.ok(!keptNames("lxc.cap.drop = sys_nice\n").includes("sys_module"));
    const cleared = keptNames("lxc.cap.drop = sys_nice\nlxc.cap.drop =\nlxc.cap.drop = mknod\n");
    assert.ok(cleared.includes("sys_module") && cleared.includes("sys_nice"));
    assert.deepEqual(
      resolveCapabilities(
        resolve("lxc.cap.drop = sys_nice\nlxc.cap.drop =\nlxc.cap.drop = mknod\n").security,
      ),
      [...Array(41).keys()].filter((c) => c !== 27),
    );
  });

  test("lxc.cap.keep keeps exactly its list; none keeps nothing", () => {
    assert.deepEqual(keptNames("lxc.cap.keep = kill CAP_CHOWN\nlxc.cap.keep = sys_admin\n"), [
      "chown",
      "kill",
      "sys_admin",
    ]);
    assert.deepEqual(keptNames("lxc.cap.keep = none\n"), []);
    assert.deepEqual(keptNames("lxc.cap.keep = chown\nlxc.cap.keep = none\n"), []);
    assert.deepEqual(keptNames("lxc.cap.keep = none\nlxc.cap.keep = mknod\n"), ["mknod"]);
    // An empty value leaves keep mode: the default drops apply again.
    assert.deepEqual(
      resolveCapabilities(resolve("lxc.cap.keep = chown\nlxc.cap.keep =\n").security),
      DEFAULT_KEPT,
    );
    // A capability newer than lxt is kept only by number.
    assert.deepEqual(resolveCapabilities(resolve("lxc.cap.keep = 45\n").security), [45]);
  });

  test("drop and keep together are refused, naming the drop line (as LXC)", () => {
    assert.throws(
      () => resolveCapabilities(resolve("lxc.cap.keep = chown\nlxc.cap.drop = mknod\n").security),
      (e: unknown) =>
        e instanceof LxtError &&
        e.code === "config" &&
        e.message.startsWith("/etc/c1/config:2: lxc.cap.drop and lxc.cap.keep"),
    );
    // A cleared drop list is not a conflict.
    assert.deepEqual(keptNames("lxc.cap.drop = mknod\nlxc.cap.drop =\nlxc.cap.keep = kill\n"), [
      "kill",
    ]);
  });
});

describe("confinement for a start", () => {
  test("no_new_privs, and the default seccomp profile unless one is named", () => {
    const c = resolveConfinement(resolve("lxc.no_new_privs = 1\n").security, "x86_64", () => {
      throw new Error("no file should be read");
    });
    assert.equal(c.noNewPrivs, true);
    assert.ok(c.seccomp?.rules.some((r) => r.syscall === "open_by_handle_at"));
  });

  test("lxc.seccomp.profile is read relative to the config file; its errors name the profile's line", () => {
    const read: string[] = [];
    const c = resolveConfinement(
      resolve("lxc.seccomp.profile = deny.seccomp\n").security,
      "x86_64",
      (p) => {
        read.push(p);
        return "2\ndenylist\nmkdir errno 1\n";
      },
    );
    assert.deepEqual(read, ["/etc/c1/deny.seccomp"]);
    assert.deepEqual(
      c.seccomp?.rules.map((r) => [r.syscall, r.action]),
      [["mkdir", "errno:1"]],
    );
    assert.throws(
      () =>
        resolveConfinement(
          resolve("lxc.seccomp.profile = /p\n").security,
          "x86_64",
          () => "2\nwat\n",
        ),
      /^LxtError: \/p:2: seccomp profile: expected allowlist or denylist/,
    );
    assert.throws(
      () =>
        resolveConfinement(resolve("\nlxc.seccomp.profile = /nope\n").security, "x86_64", () => {
          throw Object.assign(new Error("x"), { code: "ENOENT" });
        }),
      /\/etc\/c1\/config:2: lxc.seccomp.profile: \/nope: ENOENT/,
    );
  });
});

describe("checkconfig", () => {
  const fake = (files: Record<string, string>, over: Partial<CheckHost> = {}): CheckHost => ({
    read: (p) => files[p],
    exists: (p) => p in files,
    hasBinary: (b) => b === "nft",
    kernelRelease: "6.1.0-18-amd64",
    cgroupLayout: () => ({
      kind: "v2",
      hierarchies: [
        {
          version: 2,
          controllers: ["cpu", "memory"],
          id: 0,
          mountPoint: "/sys/fs/cgroup",
          mountRoot: "/",
          ownPath: "/",
          ownDir: "/sys/fs/cgroup",
        },
      ],
    }),
    ...over,
  });
  const find = (items: ReturnType<typeof checkHost>, name: string) => {
    const it = items.find((i) => i.name === name);
    assert.ok(it, name);
    return it;
  };

  test("reports namespaces, cgroups, seccomp, AppArmor, user namespaces, tools", () => {
    const items = checkHost(
      fake({
        "/proc/self/ns/pid": "",
        "/proc/self/ns/user": "",
        "/proc/self/status": "Name:\tx\nCapBnd:\t000001ffffffffff\nSeccomp:\t0\n",
        "/proc/sys/kernel/seccomp/actions_avail": "kill_process errno allow\n",
        "/proc/sys/kernel/cap_last_cap": "40\n",
        "/sys/module/apparmor/parameters/enabled": "Y\n",
        "/sys/kernel/security/apparmor": "",
        "/sys/kernel/security/apparmor/features/mount": "",
        "/proc/sys/user/max_user_namespaces": "0\n",
        "/proc/filesystems": "nodev\tproc\n\tbtrfs\nnodev\toverlay\n",
      }),
    );
    assert.equal(find(items, "pid").status, "enabled");
    assert.equal(find(items, "net").status, "missing");
    assert.equal(find(items, "layout").detail, "v2");
    assert.match(find(items, "cgroup2").detail, /controllers: cpu memory/);
    assert.match(find(items, "seccomp").detail, /kill_process errno allow/);
    assert.equal(find(items, "apparmor").status, "enabled");
    assert.match(find(items, "apparmor").detail, /mediates mounts.*apparmor_parser missing/);
    assert.match(find(items, "devices").detail, /cgroup2 eBPF device program/);
    assert.equal(find(items, "max_user_namespaces").status, "missing");
    assert.equal(find(items, "idmapped mounts").status, "enabled");
    assert.equal(find(items, "nftables").status, "enabled");
    assert.equal(find(items, "overlay").status, "enabled");
    // btrfs is in the kernel but the tool is missing.
    assert.equal(find(items, "btrfs").status, "missing");
    assert.match(find(items, "capabilities").detail, /kernel knows 41/);
  });

  test("a host without seccomp, AppArmor or a recent kernel says so", () => {
    const items = checkHost(
      fake({ "/proc/self/status": "Name:\tx\n" }, { kernelRelease: "5.10.0" }),
    );
    assert.equal(find(items, "seccomp").status, "missing");
    assert.match(find(items, "apparmor").detail, /not enabled/);
    assert.equal(find(items, "idmapped mounts").status, "missing");
    assert.deepEqual(kernelVersion("5.12.1-foo"), [5, 12]);
    assert.equal(kernelVersion("weird"), undefined);
  });

  test("a cgroup layout that cannot be read is reported, not thrown", () => {
    const items = checkHost(
      fake(
        {},
        {
          cgroupLayout: () => {
            throw new Error("no cgroup mounts");
          },
        },
      ),
    );
    assert.deepEqual(find(items, "layout"), {
      section: "cgroups",
      name: "layout",
      status: "missing",
      detail: "no cgroup mounts",
    });
  });
});
