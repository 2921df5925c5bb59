import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { LxtError } from "../../src/core/errors.js";
import { DEFAULT_SECCOMP_PROFILE } from "../../src/seccomp/default-profile.js";
import { parseSeccompProfile, type SeccompFilter } from "../../src/seccomp/profile.js";

const parse = (text: string, arch = "x86_64"): SeccompFilter =>
  parseSeccompProfile(text, "p.seccomp", arch);

/** Asserts that parsing fails with a config error naming the line. */
function failsAt(text: string, line: number, message: RegExp | string): void {
  assert.throws(
    () => parse(text),
    (err: unknown) => {
      assert.ok(err instanceof LxtError, String(err));
      assert.equal(err.code, "config");
      assert.ok(
        err.message.startsWith(`p.seccomp:${line}: seccomp profile: `),
        `line ${line} in: ${err.message}`,
      );
      if (typeof message === "string") assert.ok(err.message.includes(message), err.message);
      else assert.match(err.message, message);
      return true;
    },
  );
}

describe("seccomp profiles, version 1", () => {
  test("an allowlist of native syscall numbers, kill for the rest", () => {
    const f = parse("1\nallowlist\n0\n# comment\n\n1\n60\n");
    assert.equal(f.defaultAction, "kill");
    assert.deepEqual(f.arches, ["x86_64", "x86", "x32"]);
    assert.deepEqual(
      f.rules.map((r) => [r.arch, r.action, r.syscall, r.line]),
      [
        ["x86_64", "allow", "0", 3],
        ["x86_64", "allow", "1", 6],
        ["x86_64", "allow", "60", 7],
      ],
    );
  });

  test("whitelist is the old spelling", () =>
    assert.equal(parse("1\nwhitelist\n").rules.length, 0));

  test("refuses denylists, names and trailing words", () => {
    failsAt("1\ndenylist\n", 2, "version 1 profiles are allowlists");
    failsAt("1\nallowlist\n0\nread\n", 4, "syscall numbers");
    failsAt("1\nallowlist kill\n", 2, "unexpected");
  });
});

describe("seccomp profiles, version 2", () => {
  test("LXC's common.seccomp, as lxt's default embeds it", () => {
    const f = parse(DEFAULT_SECCOMP_PROFILE);
    assert.equal(f.defaultAction, "allow");
    const byName = new Map(f.rules.map((r) => [r.syscall, r]));
    for (const s of [
      "kexec_load",
      "open_by_handle_at",
      "init_module",
      "finit_module",
      "delete_module",
    ])
      assert.equal(byName.get(s)?.action, "errno:1", s);
    assert.equal(byName.get("keyctl")?.action, "errno:38");
    assert.deepEqual(byName.get("umount2"), {
      arch: "all",
      action: "errno:13",
      syscall: "umount2",
      conditions: [{ arg: 1, op: "masked_eq", a: "1", b: "1" }],
      line: 4,
    });
  });

  test("LXC's installed common.seccomp parses", (t) => {
    const file = "/usr/share/lxc/config/common.seccomp";
    if (!existsSync(file)) {
      t.skip(`SKIP: ${file} not found (install lxc)`);
      return;
    }
    const f = parseSeccompProfile(readFileSync(file, "utf8"), file, "x86_64");
    assert.ok(f.rules.some((r) => r.syscall === "open_by_handle_at"));
  });

  test("default actions: denylist kills listed calls, allowlist allows them", () => {
    const deny = parse("2\ndenylist\nmkdir\nrmdir errno 2\n");
    assert.equal(deny.defaultAction, "allow");
    assert.deepEqual(
      deny.rules.map((r) => [r.syscall, r.action]),
      [
        ["mkdir", "kill"],
        ["rmdir", "errno:2"],
      ],
    );
    const allow = parse("2\nallowlist errno 38\nread\nwrite\nreboot trap\nptrace log\n");
    assert.equal(allow.defaultAction, "errno:38");
    assert.deepEqual(
      allow.rules.map((r) => r.action),
      ["allow", "allow", "trap", "log"],
    );
    assert.equal(parse("2\nblacklist\n").defaultAction, "allow");
  });

  test("notify rules, as LXC writes them, with and without conditions", () => {
    const f = parse(
      "2\ndenylist\nmknod notify [1,8192,SCMP_CMP_MASKED_EQ,61440]\nsetxattr notify\n",
    );
    assert.deepEqual(
      f.rules.map((r) => [r.syscall, r.action, r.conditions.length]),
      [
        ["mknod", "notify", 1],
        ["setxattr", "notify", 0],
      ],
    );
  });

  test("a rule with the default action is a no-op and left out", () => {
    assert.deepEqual(parse("2\ndenylist\nmkdir allow\n").rules, []);
  });

  test("[arch] sections: relevant ones kept with their arch, others checked and skipped", () => {
    const text =
      "2\ndenylist\nmkdir errno 1\n[x86]\nsocketcall errno 1\n[ARM64]\nbpf errno 1\n[X86_64]\nbpf errno 1\n[all]\nkeyctl errno 1\n";
    const f = parse(text);
    assert.deepEqual(
      f.rules.map((r) => [r.arch, r.syscall]),
      [
        ["all", "mkdir"],
        ["x86", "socketcall"],
        ["x86_64", "bpf"],
        ["all", "keyctl"],
      ],
    );
    const arm = parse(text, "aarch64");
    assert.deepEqual(arm.arches, ["aarch64", "arm"]);
    assert.deepEqual(
      arm.rules.map((r) => [r.arch, r.syscall]),
      [
        ["all", "mkdir"],
        ["aarch64", "bpf"],
        ["all", "keyctl"],
      ],
    );
    failsAt("2\ndenylist\n[vax]\n", 3, "unknown architecture section [vax]");
    failsAt("2\ndenylist\n[Arm]\n", 3, "unknown architecture section");
    // Rules under a skipped section are still checked.
    failsAt("2\ndenylist\n[arm]\nbpf frobnicate\n", 4, 'unknown action "frobnicate"');
  });

  test("argument conditions, as LXC writes them", () => {
    const f = parse(
      "2\ndenylist\nclone errno 1 [0,0x10000000,SCMP_CMP_MASKED_EQ,0x10000000]\nkill errno 1 [0, 1, ==] [1,010,>=]\nioctl errno 1 [1,21505,!=]\n",
    );
    assert.deepEqual(
      f.rules.map((r) => r.conditions),
      [
        [{ arg: 0, op: "masked_eq", a: "268435456", b: "268435456" }],
        [
          { arg: 0, op: "eq", a: "1" },
          { arg: 1, op: "ge", a: "8" },
        ],
        [{ arg: 1, op: "ne", a: "21505" }],
      ],
    );
    assert.equal(
      parse("2\ndenylist\nx errno 1 [5,18446744073709551615,<]\n").rules[0]?.conditions[0]?.a,
      "18446744073709551615",
    );
  });

  test("bad input names the line", () => {
    failsAt("3\ndenylist\n", 1, "version, 1 or 2");
    failsAt("", 1, "version");
    failsAt("2\ngreylist\n", 2, "expected allowlist or denylist");
    failsAt("2\nallowlist notify\n", 2, "not a default");
    failsAt("2\ndenylist errno\n", 2, "errno needs a number");
    failsAt("2\ndenylist\n\nmkdir errno 4096\n", 4, "0 to 4095");
    failsAt("2\ndenylist\nMkdir\n", 3, "not a syscall name");
    failsAt("2\ndenylist\nmkdir errno 1 extra\n", 3, 'unexpected "extra"');
    failsAt("2\ndenylist\nmkdir [0,1,==]\n", 3, "need an action");
    failsAt("2\ndenylist\nmkdir errno 1 [6,1,==]\n", 3, "index must be 0 to 5");
    failsAt("2\ndenylist\nmkdir errno 1 [0,1,=~]\n", 3, 'unknown operator "=~"');
    failsAt("2\ndenylist\nmkdir errno 1 [0,x,==]\n", 3, "not a number");
    failsAt("2\ndenylist\nmkdir errno 1 [0,18446744073709551616,==]\n", 3, "64 bits");
    failsAt("2\ndenylist\nmkdir errno 1 [0,1,==,2]\n", 3, "only SCMP_CMP_MASKED_EQ takes a mask");
    failsAt("2\ndenylist\nmkdir errno 1 [0,1,==] [0,2,==]\n", 3, "compared twice");
    failsAt("2\ndenylist\nmkdir errno 1 [0,1,==] junk\n", 3, "malformed arguments");
    failsAt("2\ndenylist\nreject_force_umount errno 1\n", 3, "takes nothing after it");
  });

  test("an unsupported host architecture is a plain error", () => {
    assert.throws(() => parse("2\ndenylist\n", "vax"), /architecture vax is not supported/);
  });
});
