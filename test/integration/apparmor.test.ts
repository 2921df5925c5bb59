/**
 * AppArmor as lxt sees this host. Where AppArmor is off (as on the build
 * machine): a generated profile is skipped, a named one refused unless
 * lxc.apparmor.allow_incomplete, and checkconfig and info say so. Where it
 * is on: the init and attached commands run under lxt's generated profile,
 * which destroy unloads.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readAppArmorHost } from "../../src/host/apparmor.js";
import { Sandbox, skipReason } from "./harness.js";

const skip = skipReason();
if (skip) console.log(skip);
const host = readAppArmorHost();

describe("AppArmor", { skip, timeout: 120_000 }, () => {
  let box: Sandbox;
  let c: string;
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
    assert.equal(aa?.status, host.enabled ? "enabled" : "missing");
    if (!host.enabled) assert.match(aa?.detail ?? "", /not enabled on this host/);
  });

  test("without AppArmor: the default (generated) profile is skipped and info says why", {
    skip: host.enabled ? "SKIP: AppArmor is enabled here" : undefined,
  }, () => {
    box.ok(["start", "-n", c]);
    assert.match(box.ok(["info", "-n", c]), /^AppArmor: +none: /m);
    const info = JSON.parse(box.ok(["info", "-n", c, "--format", "json"])) as { apparmor: string };
    assert.match(info.apparmor, /^none: /);
    assert.equal(existsSync(join(box.lxcpath, c, "apparmor")), false, "no profile written");
    box.ok(["stop", "-n", c, "-k"]);
  });

  test("without AppArmor: a named profile refuses the start unless allow_incomplete", {
    skip: host.enabled ? "SKIP: AppArmor is enabled here" : undefined,
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

  test("with AppArmor: init and attach run under the generated profile; destroy unloads it", {
    skip: host.enabled && host.mountFeature ? undefined : "SKIP: AppArmor is not enabled here",
  }, () => {
    const n = box.name("aaon");
    box.ok(["create", "-n", n, "-t", "busybox"]);
    box.ok(["start", "-n", n]);
    const label = JSON.parse(box.ok(["info", "-n", n, "--format", "json"])).apparmor as string;
    assert.match(label, /^lxt-lxtaaon-[0-9a-f]+_[0-9a-f]{12}$/);
    const current = box.ok(["attach", "-n", n, "--", "cat", "/proc/self/attr/current"]);
    assert.match(current, new RegExp(`^${label} \\(enforce\\)`));
    const init = box.ok(["attach", "-n", n, "--", "cat", "/proc/1/attr/current"]);
    assert.match(init, new RegExp(`^${label} \\(enforce\\)`));
    const w = box.lxt(["attach", "-n", n, "--", "sh", "-c", "echo 1 > /proc/sys/kernel/sysrq"]);
    assert.notEqual(w.code, 0);
    box.ok(["destroy", "-f", "-n", n]);
    assert.doesNotMatch(
      readFileSync("/sys/kernel/security/apparmor/profiles", "utf8"),
      new RegExp(label),
    );
  });
});
