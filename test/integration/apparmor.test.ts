/**
 * AppArmor as lxt sees this host. Where AppArmor is off (as on the build
 * machine): a generated profile is skipped, a named one refused unless
 * lxc.apparmor.allow_incomplete, and checkconfig and info say so. Where it
 * is on: the init and attached commands run under lxt's generated profile,
 * which refuses a mount that nothing else in the container refuses, and
 * which destroy unloads.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { EACCES, installProbe } from "./confinement.js";
import { hasCmd, Sandbox, skipReason } from "./harness.js";

const skip = skipReason();
if (skip) console.log(skip);

// The host's AppArmor, read here from the kernel's own files.
const AA_FS = "/sys/kernel/security/apparmor";
const flag = (() => {
  try {
    return readFileSync("/sys/module/apparmor/parameters/enabled", "utf8").trim();
  } catch {
    return undefined;
  }
})();
const enabled = flag === "Y" && existsSync(AA_FS);
const mediatesMounts = enabled && existsSync(`${AA_FS}/features/mount`);

/** Why AppArmor is off on this host, as lxt must say it (undefined: on). */
const offBecause =
  flag === undefined
    ? "no AppArmor module in this kernel"
    : flag !== "Y"
      ? "the AppArmor module is disabled"
      : !enabled
        ? `${AA_FS} is missing (securityfs not mounted)`
        : undefined;

/** What checkconfig must say about AppArmor on a host in this state. */
function expectedCheck(): { status: string; detail: string } {
  if (offBecause)
    return {
      status: "missing",
      detail: `not enabled on this host (${offBecause}): containers run without an AppArmor profile`,
    };
  const parser = hasCmd("apparmor_parser") ? "" : " (apparmor_parser missing: install apparmor)";
  return {
    status: "enabled",
    detail: `${mediatesMounts ? "enabled, mediates mounts" : "enabled, but the kernel does not mediate mounts"}; lxt generates and loads a profile per container${parser}`,
  };
}

describe("AppArmor", { skip, timeout: 240_000 }, () => {
  let box: Sandbox;
  let c: string;
  /** The probe's errno for a new FSTYPE filesystem on /mnt in container `name` (0: mounted). */
  const mountErrno = (name: string, fstype: string) =>
    Number(box.ok(["attach", "-n", name, "--", "/usr/local/bin/lxt-probe", "mount", fstype]));
  before(() => {
    box = new Sandbox();
    c = box.name("aa");
    box.ok(["create", "-n", c, "-t", "busybox"]);
  });
  after(() => box.cleanup());

  test("checkconfig reports whether AppArmor is enabled", () => {
    const items = JSON.parse(box.ok(["checkconfig", "--format", "json"])) as {
      name: string;
      status: string;
      detail: string;
    }[];
    const aa = items.find((i) => i.name === "apparmor");
    assert.deepEqual({ status: aa?.status, detail: aa?.detail }, expectedCheck());
  });

  test("without AppArmor: the default (generated) profile is skipped and info says why", {
    skip: enabled ? "SKIP: AppArmor is enabled here" : undefined,
  }, () => {
    installProbe(box, c);
    box.ok(["start", "-n", c]);
    assert.match(box.ok(["info", "-n", c]), /^AppArmor: +none: /m);
    const info = JSON.parse(box.ok(["info", "-n", c, "--format", "json"])) as { apparmor: string };
    assert.equal(info.apparmor, `none: ${offBecause}`);
    assert.equal(existsSync(join(box.lxcpath, c, "apparmor")), false, "no profile written");
    // What the generated profile would refuse (a ramfs), nothing else refuses.
    assert.equal(mountErrno(c, "ramfs"), 0);
    box.ok(["stop", "-n", c, "-k"]);
  });

  test("without AppArmor: a named profile refuses the start unless allow_incomplete", {
    skip: enabled ? "SKIP: AppArmor is enabled here" : undefined,
  }, () => {
    const r = box.lxt(["start", "-n", c, "-s", "lxc.apparmor.profile=lxc-container-default"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /-s #1:1: lxc\.apparmor\.profile = lxc-container-default: AppArmor is not enabled on this host/,
    );
    assert.match(box.ok(["info", "-n", c, "-s"]), /STOPPED/);
    const ok = box.lxt([
      "start",
      "-n",
      c,
      "-s",
      "lxc.apparmor.profile=lxc-container-default",
      "-s",
      "lxc.apparmor.allow_incomplete=1",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /allow_incomplete = 1/);
    box.ok(["stop", "-n", c, "-k"]);
  });

  test("with AppArmor: init and attach run under the generated profile, which refuses a ramfs; destroy unloads it", {
    skip: mediatesMounts
      ? undefined
      : "SKIP: AppArmor is not enabled here, or does not mediate mounts",
  }, () => {
    const n = box.name("aaon");
    box.ok(["create", "-n", n, "-t", "busybox"]);
    installProbe(box, n);
    box.ok(["start", "-n", n]);
    const label = JSON.parse(box.ok(["info", "-n", n, "--format", "json"])).apparmor as string;
    assert.match(label, /^lxt-lxtaaon-[0-9a-f]+_[0-9a-f]{12}$/);
    const current = box.ok(["attach", "-n", n, "--", "cat", "/proc/self/attr/current"]);
    assert.match(current, new RegExp(`^${label} \\(enforce\\)`));
    const init = box.ok(["attach", "-n", n, "--", "cat", "/proc/1/attr/current"]);
    assert.match(init, new RegExp(`^${label} \\(enforce\\)`));
    // The same container unconfined mounts a ramfs (its user namespace allows
    // it, lxt's seccomp filter and capabilities do too); the profile, which
    // lists the filesystem types a system boots with, refuses it, not a tmpfs.
    installProbe(box, c);
    box.ok(["start", "-n", c, "-s", "lxc.apparmor.profile=unconfined"]);
    assert.match(
      box.ok(["attach", "-n", c, "--", "cat", "/proc/self/attr/current"]),
      /^unconfined/,
    );
    assert.equal(mountErrno(c, "ramfs"), 0, "ramfs unconfined");
    box.ok(["stop", "-n", c, "-k"]);
    assert.equal(mountErrno(n, "ramfs"), EACCES, "ramfs under the generated profile");
    assert.equal(mountErrno(n, "tmpfs"), 0, "tmpfs under the generated profile");
    box.ok(["destroy", "-f", "-n", n]);
    assert.doesNotMatch(readFileSync(`${AA_FS}/profiles`, "utf8"), new RegExp(label));
  });
});
