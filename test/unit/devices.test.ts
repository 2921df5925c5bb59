import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { describe, test } from "node:test";
import {
  DEFAULT_DEVICE_LINES,
  type DeviceList,
  deviceAllowed,
  deviceProgramArgs,
  deviceRules,
  formatDeviceRule,
  parseDeviceRule,
  planDevices,
  replayDeviceRules,
} from "../../src/cgroups/devices.js";
import type { CgroupLayout } from "../../src/cgroups/layout.js";
import { resolveConfig } from "../../src/config/model.js";
import { parseConfigText } from "../../src/config/parse.js";
import { LxtError } from "../../src/core/errors.js";

const entries = (text: string) => parseConfigText(text, "/etc/c1/config");
const rule = (v: string, allow = true) => parseDeviceRule(v, allow);

describe("device rule syntax (LXC's, as devices.allow takes it)", () => {
  test("type, numbers, wildcards and access", () => {
    assert.deepEqual(rule("c 1:3 rwm"), {
      allow: true,
      type: "c",
      major: 1,
      minor: 3,
      access: "rwm",
    });
    assert.deepEqual(rule("b *:* m", false), {
      allow: false,
      type: "b",
      major: -1,
      minor: -1,
      access: "m",
    });
    assert.deepEqual(rule("c 136:* wr"), {
      allow: true,
      type: "c",
      major: 136,
      minor: -1,
      access: "rw",
    });
    assert.equal(rule("a").type, "a");
    assert.equal(rule("a *:* rwm").type, "a");
    assert.equal(formatDeviceRule(rule("c  10:200   mwr")), "c 10:200 rwm");
    assert.equal(formatDeviceRule(rule("a *:* rwm")), "a");
  });

  test("bad rules are refused, saying why", () => {
    const bad: [string, RegExp][] = [
      ["x 1:3 rwm", /TYPE a, b or c/],
      ["c 1:3", /TYPE MAJOR:MINOR ACCESS/],
      ["c 1 rwm", /expected MAJOR:MINOR/],
      ["c 1:3:4 rwm", /expected MAJOR:MINOR/],
      ["c 4096:0 r", /major "4096"/],
      ["c 1:1048576 r", /minor "1048576"/],
      ["c -1:3 r", /major "-1"/],
      ["c 01:3 r", /major "01"/],
      ["c 1:3 rx", /access "rx"/],
      ["c 1:3 rr", /access "rr"/],
      ["c 1:3 rwm extra", /TYPE MAJOR:MINOR ACCESS/],
      ["a 1:3 rwm", /type a \(all devices\)/],
      ["", /TYPE a, b or c/],
    ];
    for (const [v, re] of bad) assert.throws(() => rule(v), re, v);
  });

  test("config lines with bad rules or unknown device files fail naming file and line", () => {
    const cfg = (text: string) => resolveConfig(entries(text), { cgroupLayout: "hybrid", env: {} });
    assert.throws(
      () => cfg("lxc.uts.name = x\nlxc.cgroup.devices.allow = c 1:x rwm\n"),
      (e: unknown) =>
        e instanceof LxtError &&
        e.code === "config" &&
        /\/etc\/c1\/config:2: .*lxc\.cgroup\.devices\.allow.*minor "x"/.test(e.message),
    );
    assert.throws(
      () => cfg("lxc.cgroup.devices.list = a\n"),
      /\/etc\/c1\/config:1: .*unknown device key lxc\.cgroup\.devices\.list/,
    );
    assert.throws(
      () =>
        resolveConfig(entries("\n\nlxc.cgroup2.devices.deny = q\n"), {
          cgroupLayout: "v2",
          env: {},
        }),
      /\/etc\/c1\/config:3: /,
    );
  });

  test("the keys are implemented where LXC applies them", () => {
    const v1 = resolveConfig(entries("lxc.cgroup.devices.allow = c 1:1 r\n"), {
      cgroupLayout: "hybrid",
      env: {},
    });
    assert.deepEqual(
      v1.cgroup.v1.map((s) => [s.file, s.value]),
      [["devices.allow", "c 1:1 r"]],
    );
    assert.deepEqual(v1.warnings, []);
    const v2 = resolveConfig(entries("lxc.cgroup2.devices.allow = c 1:1 r\n"), {
      cgroupLayout: "hybrid",
      env: {},
    });
    assert.match(v2.warnings.join("\n"), /not cgroup2-only/);
  });
});

describe("the rules of a config", () => {
  test("lxt's defaults (LXC's common.conf set) first, then the config's lines in order", () => {
    const rules = deviceRules(
      entries("lxc.cgroup.devices.allow = c 1:1 r\nlxc.cgroup.devices.deny = c 1:3 w\n"),
      1,
    );
    assert.equal(rules.length, DEFAULT_DEVICE_LINES.length + 2);
    assert.deepEqual(formatDeviceRule(rules[0] as never), "a");
    assert.equal(rules[0]?.allow, false, "deny all comes first");
    const last = rules.slice(-2);
    assert.deepEqual(
      last.map((r) => [r.key, formatDeviceRule(r), r.file, r.line]),
      [
        ["lxc.cgroup.devices.allow", "c 1:1 r", "/etc/c1/config", 1],
        ["lxc.cgroup.devices.deny", "c 1:3 w", "/etc/c1/config", 2],
      ],
    );
    // v2 lines are not v1's.
    assert.equal(deviceRules(entries("lxc.cgroup.devices.allow = c 1:1 r\n"), 2).length, 14);
  });

  test("empty values clear as LXC: the key's lines (defaults included), or the family", () => {
    const allowCleared = deviceRules(
      entries("lxc.cgroup.devices.allow =\nlxc.cgroup.devices.allow = c 1:3 rw\n"),
      1,
    );
    assert.deepEqual(allowCleared.map(formatDeviceRule), ["a", "c 1:3 rw"]);
    assert.deepEqual(deviceRules(entries("lxc.cgroup =\n"), 1), []);
    assert.equal(deviceRules(entries("lxc.cgroup2 =\n"), 1).length, 14, "other family kept");
  });
});

const layout = (kind: CgroupLayout["kind"], v1Devices: boolean): CgroupLayout => ({
  kind,
  hierarchies: [
    ...(v1Devices
      ? [
          {
            version: 1 as const,
            controllers: ["devices"],
            id: 3,
            mountPoint: "/sys/fs/cgroup/devices",
            mountRoot: "/",
            ownPath: "/",
            ownDir: "/sys/fs/cgroup/devices",
          },
        ]
      : []),
    {
      version: 2,
      controllers: [],
      id: 0,
      mountPoint: "/sys/fs/cgroup",
      mountRoot: "/",
      ownPath: "/",
      ownDir: "/sys/fs/cgroup",
    },
  ],
});

describe("the mechanism per host", () => {
  test("v1 devices controller: the rules as writes, in order", () => {
    const plan = planDevices(
      entries("lxc.cgroup.devices.allow = b 8:0 r\n"),
      layout("hybrid", true),
    );
    assert.equal(plan.kind, "v1");
    if (plan.kind !== "v1") return;
    assert.deepEqual(plan.writes[0], {
      file: "devices.deny",
      value: "a",
      origin: plan.writes[0]?.origin,
    });
    assert.deepEqual(plan.writes.at(-1)?.file, "devices.allow");
    assert.deepEqual(plan.writes.at(-1)?.value, "b 8:0 r");
  });

  test("cgroup2-only: the replayed list as the helper's arguments", () => {
    const plan = planDevices(entries("lxc.cgroup2.devices.deny = c 1:7 w\n"), layout("v2", false));
    assert.deepEqual(plan, {
      kind: "v2",
      args: [
        "deny",
        "c:*:*:m",
        "b:*:*:m",
        "c:1:3:rwm",
        "c:1:5:rwm",
        "c:1:7:rm",
        "c:5:0:rwm",
        "c:5:1:rwm",
        "c:5:2:rwm",
        "c:1:8:rwm",
        "c:1:9:rwm",
        "c:136:*:rwm",
        "c:10:229:rwm",
        "c:10:200:rwm",
      ],
    });
    assert.equal(planDevices(entries("lxc.cgroup2 =\n"), layout("v2", false)).kind, "none");
  });

  test("hybrid without a v1 devices controller: none, and the start drops CAP_MKNOD", () => {
    const plan = planDevices([], layout("hybrid", false));
    assert.equal(plan.kind, "none");
  });
});

describe("v1 semantics replayed for the v2 program", () => {
  const list = (text: string): DeviceList => replayDeviceRules(deviceRules(entries(text), 2));
  const can = (l: DeviceList, t: "c" | "b", ma: number, mi: number, acc: string) =>
    deviceAllowed(l, t, ma, mi, acc);

  test("the default list: memory devices and ptys usable, disks only mknod", () => {
    const l = list("");
    assert.equal(l.defaultAllow, false);
    assert.ok(can(l, "c", 1, 3, "rw"));
    assert.ok(can(l, "c", 136, 7, "rw"));
    assert.ok(can(l, "c", 10, 200, "rw"));
    assert.ok(can(l, "b", 8, 0, "m"), "mknod of any node");
    assert.ok(!can(l, "b", 8, 0, "r"), "but not reading a disk");
    assert.ok(!can(l, "c", 1, 1, "r"), "/dev/mem");
    assert.ok(can(l, "c", 5, 2, "rwm"), "ptmx");
  });

  test("allow adds, deny takes access away from the same device, a resets", () => {
    let l = list("lxc.cgroup2.devices.allow = b 8:0 r\n");
    assert.ok(can(l, "b", 8, 0, "r"));
    assert.ok(!can(l, "b", 8, 0, "w"));
    l = list("lxc.cgroup2.devices.deny = c 1:3 w\n");
    assert.ok(can(l, "c", 1, 3, "r"));
    assert.ok(!can(l, "c", 1, 3, "w"));
    assert.ok(!can(l, "c", 1, 3, "rw"));
    l = list("lxc.cgroup2.devices.deny = c 1:3 rwm\n");
    assert.ok(!can(l, "c", 1, 3, "r"));
    l = list("lxc.cgroup2.devices.allow = a\n");
    assert.deepEqual(l, { defaultAllow: true, exceptions: [] });
    l = list("lxc.cgroup2.devices.allow = a\nlxc.cgroup2.devices.deny = b *:* rw\n");
    assert.ok(!can(l, "b", 8, 0, "r"));
    assert.ok(can(l, "b", 8, 0, "m"));
    assert.ok(can(l, "c", 1, 1, "r"));
    assert.deepEqual(deviceProgramArgs(l), ["allow", "b:*:*:rw"]);
  });
});

const SHIM = resolve(import.meta.dirname, "../../native/build/lxt-shim");
const shimSkip = existsSync(SHIM) ? undefined : "SKIP: helper not built (npm run build)";
if (shimSkip) console.log(shimSkip);

/** Instructions as `lxt-shim devices dump` prints them: CODE DST SRC OFF IMM. */
const dump = (...args: string[]) =>
  execFileSync(SHIM, ["devices", "dump", ...args], { encoding: "utf8" })
    .trim()
    .split("\n");

describe("the eBPF device program (lxt-shim devices dump)", { skip: shimSkip }, () => {
  const PROLOGUE = [
    "61 2 1 0 0", // r2 = ctx->access_type
    "54 2 0 0 65535", // w2 &= 0xffff: the device type
    "61 3 1 0 0", // r3 = ctx->access_type
    "74 3 0 0 16", // w3 >>= 16: the access
    "61 4 1 4 0", // r4 = ctx->major
    "61 5 1 8 0", // r5 = ctx->minor
  ];

  test("no rules: the default verdict only", () => {
    assert.deepEqual(dump("deny"), [...PROLOGUE, "b7 0 0 0 0", "95 0 0 0 0"]);
    assert.deepEqual(dump("allow"), [...PROLOGUE, "b7 0 0 0 1", "95 0 0 0 0"]);
  });

  test("deny default: an exact rwm device skips the access test", () => {
    assert.deepEqual(dump("deny", "c:1:3:rwm"), [
      ...PROLOGUE,
      "55 2 0 4 2", // if type != char goto next (4 ahead)
      "55 4 0 3 1", // if major != 1
      "55 5 0 2 3", // if minor != 3
      "b7 0 0 0 1", // allow
      "95 0 0 0 0",
      "b7 0 0 0 0",
      "95 0 0 0 0",
    ]);
  });

  test("deny default: partial access must cover every requested bit; wildcards skip tests", () => {
    assert.deepEqual(dump("deny", "b:*:*:m", "a:8:*:r"), [
      ...PROLOGUE,
      "55 2 0 5 1", // if type != block
      "bc 1 3 0 0", // w1 = w3
      "54 1 0 0 6", // w1 &= ~m (r|w)
      "55 1 0 2 0", // if w1 != 0: asks more than m
      "b7 0 0 0 1",
      "95 0 0 0 0",
      "bc 1 3 0 0", // type a: no type test
      "54 1 0 0 5", // w1 &= ~r (w|m)
      "55 1 0 3 0",
      "55 4 0 2 8", // if major != 8
      "b7 0 0 0 1",
      "95 0 0 0 0",
      "b7 0 0 0 0",
      "95 0 0 0 0",
    ]);
  });

  test("allow default: any requested bit the rule names denies", () => {
    assert.deepEqual(dump("allow", "c:1:1:w"), [
      ...PROLOGUE,
      "55 2 0 7 2",
      "bc 1 3 0 0",
      "54 1 0 0 4", // w1 &= w
      "15 1 0 4 0", // if w1 == 0 goto next
      "55 4 0 3 1",
      "55 5 0 2 1",
      "b7 0 0 0 0", // deny
      "95 0 0 0 0",
      "b7 0 0 0 1",
      "95 0 0 0 0",
    ]);
  });

  test("bad arguments are an error line, exit 1", () => {
    for (const args of [["deny", "c:1:3"], ["deny", "x:1:3:r"], ["deny", "c:1:3:rr"], ["maybe"]]) {
      let stderr = "";
      try {
        execFileSync(SHIM, ["devices", "dump", ...args], { stdio: "pipe" });
        assert.fail(`accepted ${args.join(" ")}`);
      } catch (err) {
        stderr = String((err as { stderr: Buffer }).stderr);
      }
      assert.match(stderr, /^error devices (rule|usage) \S+ 22$/m, args.join(" "));
    }
  });

  test("the default list's program loads (BPF_PROG_LOAD, root only)", {
    skip: process.getuid?.() === 0 ? undefined : "SKIP: BPF_PROG_LOAD needs root",
  }, () => {
    const args = deviceProgramArgs(replayDeviceRules(deviceRules([], 2)));
    const out = execFileSync(SHIM, ["devices", "load", ...args], { encoding: "utf8" });
    assert.match(out, /^ok \d+\n$/);
    const allow = execFileSync(SHIM, ["devices", "load", "allow", "b:*:*:rw", "c:1:1:rwm"], {
      encoding: "utf8",
    });
    assert.match(allow, /^ok \d+\n$/);
  });
});

describe("applying the plan (fake cgroupfs and helper)", () => {
  const dirs = {
    v1: ["/sys/fs/cgroup/devices/lxt.payload.c1"],
    v2: "/sys/fs/cgroup/lxt.payload.c1",
  };
  const fakeFs = (failOn?: string) => {
    const writes: [string, string][] = [];
    const fs = {
      readFile: () => "",
      writeFile: (p: string, d: string) => {
        if (failOn && d === failOn) throw Object.assign(new Error("EINVAL"), { code: "EINVAL" });
        writes.push([p, d]);
      },
      mkdir: () => {},
      rmdir: () => {},
      readdir: () => [],
      exists: () => true,
    };
    return { fs, writes };
  };

  test("v1: every rule written in order to the container's devices files", async () => {
    const { applyDevicePlan } = await import("../../src/cgroups/devices-apply.js");
    const { fs, writes } = fakeFs();
    const plan = planDevices(
      entries("lxc.cgroup.devices.allow = c 10:237 r\n"),
      layout("hybrid", true),
    );
    await applyDevicePlan(plan, dirs, layout("hybrid", true), fs, async () =>
      assert.fail("no helper on v1"),
    );
    assert.deepEqual(writes[0], ["/sys/fs/cgroup/devices/lxt.payload.c1/devices.deny", "a"]);
    assert.deepEqual(writes.at(-1), [
      "/sys/fs/cgroup/devices/lxt.payload.c1/devices.allow",
      "c 10:237 r",
    ]);
    assert.equal(writes.length, DEFAULT_DEVICE_LINES.length + 1);
  });

  test("v1: a refused write names the config line and the file", async () => {
    const { applyDevicePlan } = await import("../../src/cgroups/devices-apply.js");
    const { fs } = fakeFs("c 10:237 r");
    const plan = planDevices(
      entries("\nlxc.cgroup.devices.allow = c 10:237 r\n"),
      layout("hybrid", true),
    );
    await assert.rejects(
      applyDevicePlan(plan, dirs, layout("hybrid", true), fs, async () => {}),
      /devices: \/etc\/c1\/config:2: lxc\.cgroup\.devices\.allow = c 10:237 r: write \/sys\/fs\/cgroup\/devices\/lxt\.payload\.c1\/devices\.allow: EINVAL/,
    );
  });

  test("v2: the helper attaches the program to the container's cgroup; its error is kept", async () => {
    const { applyDevicePlan } = await import("../../src/cgroups/devices-apply.js");
    const { fs, writes } = fakeFs();
    const calls: string[][] = [];
    const plan = planDevices([], layout("v2", false));
    await applyDevicePlan(plan, dirs, layout("v2", false), fs, async (a) => {
      calls.push(a);
    });
    assert.equal(writes.length, 0);
    assert.deepEqual(calls[0]?.slice(0, 4), ["attach", dirs.v2, "deny", "c:*:*:m"]);
    await assert.rejects(
      applyDevicePlan(plan, dirs, layout("v2", false), fs, async () => {
        throw new Error("error devices bpf-prog-attach /x 1");
      }),
      /attach the device program to \/sys\/fs\/cgroup\/lxt\.payload\.c1: error devices bpf-prog-attach/,
    );
    await applyDevicePlan({ kind: "none", reason: "x" }, dirs, layout("v2", false), fs, async () =>
      assert.fail("nothing to apply"),
    );
  });
});
