import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { resolveConfig } from "../../src/config/model.js";
import { parseConfigText } from "../../src/config/parse.js";
import { confinementRecords } from "../../src/container/plan.js";
import { LxtError } from "../../src/core/errors.js";
import { readAppArmorHost } from "../../src/host/apparmor.js";
import {
  type AppArmorHost,
  appArmorConfig,
  appArmorProfileName,
  denyWritesExcept,
  planAppArmor,
  renderAppArmorProfile,
} from "../../src/security/apparmor.js";

const GOLDEN = resolve(import.meta.dirname, "../fixtures/apparmor");
/** Compares with a golden file; LXT_UPDATE_GOLDEN=1 rewrites it. */
function golden(name: string, text: string): void {
  const file = join(GOLDEN, name);
  if (process.env.LXT_UPDATE_GOLDEN) writeFileSync(file, text);
  assert.equal(text, readFileSync(file, "utf8"));
}

const entries = (text: string) => parseConfigText(text, "/var/lib/lxt/c1/config");
const ON: AppArmorHost = { enabled: true, mountFeature: true };
const OFF: AppArmorHost = { enabled: false, mountFeature: false };
const plan = (text: string, host: AppArmorHost, warnings: string[] = []) =>
  planAppArmor(appArmorConfig(entries(text)), host, "c1", "0123456789ab", warnings);

describe("the generated profile", () => {
  test("default profile (golden)", () => {
    golden(
      "default.profile",
      renderAppArmorProfile({
        label: "lxt-c1_0123456789ab",
        name: "c1",
        allowNesting: false,
        raw: [],
      }),
    );
  });

  test("with nesting and raw lines (golden)", () => {
    golden(
      "nesting.profile",
      renderAppArmorProfile({
        label: "lxt-c1_0123456789ab",
        name: "c1",
        allowNesting: true,
        raw: ["deny /srv/** w,", "network inet6 stream,"],
      }),
    );
  });

  test("the profile's name and structure", () => {
    assert.equal(appArmorProfileName("web-1", "abcdef012345"), "lxt-web-1_abcdef012345");
    const text = renderAppArmorProfile({
      label: "lxt-x_1",
      name: "x",
      allowNesting: false,
      raw: [],
    });
    assert.match(text, /^profile lxt-x_1 flags=\(attach_disconnected, mediate_deleted\) \{$/m);
    assert.ok(text.endsWith("}\n"));
    // Every rule line ends in a comma (AppArmor's syntax); comments aside.
    for (const line of text.split("\n").slice(4, -2)) {
      const t = line.trim();
      if (t === "" || t.startsWith("#")) continue;
      assert.match(t, /,$/, t);
    }
    assert.match(text, /^ {2}signal peer=lxt-x_1,$/m);
    assert.match(text, /^ {2}ptrace peer=lxt-x_1,$/m);
    assert.match(text, /^ {2}deny \/proc\/sysrq-trigger rwklx,$/m);
    assert.match(text, /^ {2}deny \/sys\/kernel\/security\/\*\* rwklx,$/m);
    assert.doesNotMatch(text, /pivot_root|change_profile/);
    // A mount rule listing `rw` with another option allows every new mount
    // under AppArmor 3.0 (found in a Debian 12 VM): none may.
    assert.doesNotMatch(text, /^ *mount options=\([^)]*\brw\b/m);
  });
});

/**
 * A tiny AppArmor glob matcher for the patterns denyWritesExcept emits
 * (`*`, `?`, `[^...]`, a trailing `{,/**}`), to check what they deny.
 */
function denied(rules: string[], path: string): boolean {
  return rules.some((r) => {
    const m = /^deny (\S+)\{,\/\*\*\} wklx,$/.exec(r);
    assert.ok(m, r);
    let re = "";
    const p = m[1] as string;
    for (let i = 0; i < p.length; i++) {
      const c = p[i] as string;
      if (c === "*") re += "[^/]*";
      else if (c === "?") re += "[^/]";
      else if (c === "[") {
        const end = p.indexOf("]", i + 2);
        re += `[${p.slice(i + 1, end).replace("^", "^/")}]`;
        i = end;
      } else re += c.replace(/[.+()|\\$]/g, "\\$&");
    }
    return new RegExp(`^${re}(/.*)?$`).test(path);
  });
}

describe("denyWritesExcept: the complement of allowed paths as deny rules", () => {
  const rules = denyWritesExcept("/proc/sys", [
    "kernel/hostname",
    "kernel/domainname",
    "kernel/shm*",
    "kernel/msg*",
    "kernel/sem*",
    "net",
  ]);

  test("the namespaced /proc/sys entries stay writable", () => {
    for (const ok of [
      "/proc/sys/kernel/hostname",
      "/proc/sys/kernel/domainname",
      "/proc/sys/kernel/shmmax",
      "/proc/sys/kernel/shm_rmid_forced",
      "/proc/sys/kernel/msgmnb",
      "/proc/sys/kernel/sem",
      "/proc/sys/net/ipv4/ip_forward",
      "/proc/sys/net/core/somaxconn",
    ])
      assert.ok(!denied(rules, ok), ok);
  });

  test("everything else under /proc/sys is denied", () => {
    for (const no of [
      "/proc/sys/kernel/core_pattern",
      "/proc/sys/kernel/modprobe",
      "/proc/sys/kernel/sysrq",
      "/proc/sys/kernel/hostnamex",
      "/proc/sys/kernel/host",
      "/proc/sys/kernel/hung_task_timeout_secs",
      "/proc/sys/kernel/dmesg_restrict",
      "/proc/sys/kernel/domainnamez",
      "/proc/sys/kernel/randomize_va_space",
      "/proc/sys/kernel/s",
      "/proc/sys/kernel/printk",
      "/proc/sys/fs/binfmt_misc/register",
      "/proc/sys/vm/drop_caches",
      "/proc/sys/kernelx",
      "/proc/sys/netfilter/x",
      "/proc/sys/user/max_user_namespaces",
      "/proc/sys/dev/raid/speed_limit_max",
    ])
      assert.ok(denied(rules, no), no);
  });

  test("/sys: only cgroups and the container's network devices", () => {
    const sys = denyWritesExcept("/sys", ["fs/cgroup", "devices/virtual/net"]);
    assert.ok(!denied(sys, "/sys/fs/cgroup/memory.max"));
    assert.ok(!denied(sys, "/sys/devices/virtual/net/eth0/mtu"));
    for (const no of [
      "/sys/kernel/mm/transparent_hugepage/enabled",
      "/sys/fs/ext4/vda/errors",
      "/sys/devices/system/cpu/cpu1/online",
      "/sys/devices/virtual/block/loop0/x",
      "/sys/class/net",
      "/sys/power/state",
      "/sys/module/apparmor/parameters/enabled",
    ])
      assert.ok(denied(sys, no), no);
  });
});

describe("which profile a start uses", () => {
  test("unset or generated: lxt's profile where AppArmor is on, nothing where it is off", () => {
    const p = plan("", ON);
    assert.equal(p.mode, "generated");
    assert.equal(p.mode === "generated" && p.label, "lxt-c1_0123456789ab");
    assert.deepEqual(plan("lxc.apparmor.profile = generated\n", OFF), {
      mode: "none",
      reason: "AppArmor is not enabled on this host",
    });
    assert.equal(plan("", OFF).mode, "none");
  });

  test("unconfined and unchanged apply nothing", () => {
    for (const v of ["unconfined", "unchanged"])
      assert.equal(plan(`lxc.apparmor.profile = ${v}\n`, ON).mode, "none");
  });

  test("a named profile is applied as is; with AppArmor off it is an error naming the line", () => {
    assert.deepEqual(plan("lxc.apparmor.profile = lxc-container-default-cgns\n", ON), {
      mode: "named",
      label: "lxc-container-default-cgns",
    });
    assert.throws(
      () => plan("\nlxc.apparmor.profile = my-profile\n", OFF),
      (e: unknown) =>
        e instanceof LxtError &&
        e.code === "config" &&
        /\/var\/lib\/lxt\/c1\/config:2: lxc\.apparmor\.profile = my-profile: AppArmor is not enabled/.test(
          e.message,
        ),
    );
    const w: string[] = [];
    const p = plan(
      "lxc.apparmor.profile = my-profile\nlxc.apparmor.allow_incomplete = 1\n",
      OFF,
      w,
    );
    assert.equal(p.mode, "none");
    assert.match(w.join(), /allow_incomplete = 1/);
  });

  test("no mount mediation: refused unless allow_incomplete", () => {
    const noMount: AppArmorHost = { enabled: true, mountFeature: false };
    assert.throws(() => plan("", noMount), /does not mediate mounts/);
    assert.equal(plan("lxc.apparmor.allow_incomplete = 1\n", noMount).mode, "generated");
  });

  test("allow_nesting and raw lines reach the profile; raw with a named profile warns", () => {
    const p = plan(
      "lxc.apparmor.allow_nesting = 1\nlxc.apparmor.raw = deny /srv/** w,\nlxc.apparmor.raw = mount,\n",
      ON,
    );
    assert.ok(p.mode === "generated");
    assert.match(p.text, /change_profile -> lxt-\*,/);
    assert.match(p.text, /^ {2}deny \/srv\/\*\* w,\n {2}mount,$/m);
    const cleared = plan("lxc.apparmor.raw = x,\nlxc.apparmor.raw =\n", ON);
    assert.ok(cleared.mode === "generated" && !cleared.text.includes("lxc.apparmor.raw"));
    const w: string[] = [];
    plan("lxc.apparmor.profile = other\nlxc.apparmor.raw = x,\n", ON, w);
    assert.match(w.join(), /lxc\.apparmor\.raw is ignored/);
  });

  test("the keys are implemented and validated", () => {
    const cfg = resolveConfig(
      entries("lxc.apparmor.profile = generated\nlxc.apparmor.allow_nesting = 1\n"),
      { cgroupLayout: "v2", env: {} },
    );
    assert.deepEqual(cfg.warnings, []);
    assert.throws(
      () =>
        resolveConfig(entries("lxc.apparmor.allow_nesting = 2\n"), {
          cgroupLayout: "v2",
          env: {},
        }),
      /config:1: /,
    );
  });
});

describe("the host's AppArmor and the plan record", () => {
  test("enabled needs the module flag and securityfs", () => {
    const files: Record<string, string> = { "/sys/module/apparmor/parameters/enabled": "Y\n" };
    const host = (extra: string[]) =>
      readAppArmorHost(
        (p) => files[p],
        (p) => extra.includes(p),
      );
    assert.deepEqual(host([]), {
      enabled: false,
      mountFeature: false,
      why: "/sys/kernel/security/apparmor is missing (securityfs not mounted)",
    });
    assert.equal(host(["/sys/kernel/security/apparmor"]).mountFeature, false);
    assert.equal(
      host(["/sys/kernel/security/apparmor", "/sys/kernel/security/apparmor/features/mount"])
        .mountFeature,
      true,
    );
    assert.match(
      readAppArmorHost(
        () => undefined,
        () => false,
      ).why,
      /no AppArmor module/,
    );
  });

  test("confinement carries an apparmor record after caps and no-new-privs", () => {
    assert.deepEqual(
      confinementRecords({ caps: [0, 1], noNewPrivs: false, apparmor: "lxt-c1_ab" }),
      ["caps 0,1", "no-new-privs 0", "apparmor lxt-c1_ab"],
    );
    assert.deepEqual(confinementRecords({ caps: [], noNewPrivs: true }), [
      "caps %",
      "no-new-privs 1",
    ]);
  });
});

const parserSkip = (() => {
  try {
    execFileSync("apparmor_parser", ["--version"], { stdio: "ignore" });
    return undefined;
  } catch {
    return "SKIP: apparmor_parser not installed (apt-get install apparmor)";
  }
})();
if (parserSkip) console.log(parserSkip);

describe("apparmor_parser accepts the generated profiles", { skip: parserSkip }, () => {
  for (const f of ["default.profile", "nesting.profile"]) {
    test(f, () => {
      // -Q: compile only, no kernel load; -K -T: no cache.
      execFileSync("apparmor_parser", ["-Q", "-K", "-T", join(GOLDEN, f)], { stdio: "pipe" });
    });
  }
});

describe("loading and unloading with apparmor_parser (recorded)", () => {
  test("load writes the profile beside its cache and replaces; unload removes only this container's", async () => {
    const { mkdtempSync, existsSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { RecordingRunner } = await import("../../src/host/runner.js");
    const { loadAppArmorProfile, unloadAppArmorProfile } = await import(
      "../../src/host/apparmor.js"
    );
    const dir = mkdtempSync(join(tmpdir(), "lxt-aa-"));
    try {
      const runner = new RecordingRunner();
      await loadAppArmorProfile(dir, "lxt-c1_ab", "profile lxt-c1_ab {}\n", runner);
      const file = join(dir, "apparmor", "lxt-c1_ab");
      assert.equal(readFileSync(file, "utf8"), "profile lxt-c1_ab {}\n");
      assert.deepEqual(runner.calls, [
        ["apparmor_parser", "-r", "-W", "-L", join(dir, "apparmor", "cache"), file],
      ]);
      // A profile file copied from another container is not unloaded.
      writeFileSync(join(dir, "apparmor", "lxt-other_ab"), "x");
      await unloadAppArmorProfile(dir, "lxt-c1_ab", runner, ON);
      assert.deepEqual(runner.calls.at(-1), ["apparmor_parser", "-R", file]);
      assert.equal(runner.calls.length, 2);
      assert.equal(existsSync(join(dir, "apparmor")), false);
      // AppArmor off: files removed, nothing run.
      await loadAppArmorProfile(dir, "lxt-c1_ab", "x", runner);
      await unloadAppArmorProfile(dir, "lxt-c1_ab", runner, OFF);
      assert.equal(runner.calls.length, 3);
      assert.equal(existsSync(join(dir, "apparmor")), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
