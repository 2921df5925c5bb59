import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parseConfigText, type ResolveOptions, resolveConfig } from "../../src/config/index.js";
import { type HookFacts, hookArgv, hookEnv, launchHooks } from "../../src/container/hooks.js";
import { containerPaths } from "../../src/container/paths.js";
import { type LaunchInput, renderPlan } from "../../src/container/plan.js";
import { decodeRecord } from "../../src/core/encode.js";
import { describeFailure } from "../../src/host/monitor-client.js";
import { testContext as fakeContext } from "./support/context.js";

const OPTS: ResolveOptions = { cgroupLayout: "v2", env: { HOME: "/home/u" }, arch: "x86_64" };
const resolve = (text: string) => resolveConfig(parseConfigText(text, "c.conf"), OPTS);

const FACTS: HookFacts = {
  name: "c1",
  configFile: "/var/lib/lxt/c1/config",
  rootfsMount: "/var/lib/lxt/c1/rootfs",
  rootfsPath: "dir:/var/lib/lxt/c1/rootfs",
  logLevel: 5,
  version: 0,
  environment: ["A=1", "LXC_NAME=spoofed"],
};

describe("hook arguments (LXC's run_script_argv)", () => {
  test("version 0: NAME lxc TYPE, then the extra arguments, after the hook's own words", () => {
    assert.deepEqual(hookArgv("/usr/share/x/hook a b", 0, "c1", "stop", ["{ns}"]), [
      "/bin/sh",
      "-c",
      'exec /usr/share/x/hook a b "$@"',
      "/usr/share/x/hook a b",
      "c1",
      "lxc",
      "stop",
      "{ns}",
    ]);
  });
  test("version 1: only the extra arguments (clone's)", () => {
    assert.deepEqual(hookArgv("/h", 1, "c1", "clone", ["x y"]).slice(3), ["/h", "x y"]);
    assert.deepEqual(hookArgv("/h", 1, "c1", "mount").slice(4), []);
  });
});

describe("hook environment", () => {
  test("version 0: LXC's variables win over the config's; no LXC_HOOK_TYPE", () => {
    const env = hookEnv(FACTS, "mount");
    assert.deepEqual(env, [
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "A=1",
      "LXC_NAME=c1",
      "LXC_CONFIG_FILE=/var/lib/lxt/c1/config",
      "LXC_ROOTFS_MOUNT=/var/lib/lxt/c1/rootfs",
      "LXC_ROOTFS_PATH=dir:/var/lib/lxt/c1/rootfs",
      "LXC_CGNS_AWARE=1",
      "LXC_LOG_LEVEL=ERROR",
      "LXC_HOOK_VERSION=0",
    ]);
  });
  test("version 1: LXC_HOOK_TYPE and LXC_HOOK_SECTION; console paths when set; extras last", () => {
    const env = hookEnv(
      { ...FACTS, version: 1, console: "none", consoleLog: "/l", environment: [] },
      "clone",
      { LXC_SRC_NAME: "base" },
    );
    for (const e of [
      "LXC_HOOK_VERSION=1",
      "LXC_HOOK_TYPE=clone",
      "LXC_HOOK_SECTION=lxc",
      "LXC_CONSOLE=none",
      "LXC_CONSOLE_LOGPATH=/l",
      "LXC_SRC_NAME=base",
    ])
      assert.ok(env.includes(e), e);
  });
});

test("a failing start hook's error line names its type and command", () => {
  const f = { stage: "hook", op: "lxc.hook.mount:exit:3", path: "/usr/bin/x a", errno: 0 };
  assert.equal(describeFailure(f), "lxc.hook.mount /usr/bin/x a failed (exit 3)");
  const s = { ...f, op: "lxc.hook.start-host:signal:9" };
  assert.equal(describeFailure(s), "lxc.hook.start-host /usr/bin/x a failed (signal 9)");
  assert.equal(describeFailure({ ...f, op: "exit:1" }), "host hook /usr/bin/x a failed (exit 1)");
});

describe("the start's hooks in the plan", () => {
  const ctx = fakeContext();
  const paths = containerPaths(ctx, "c1");
  test("none: no hook records at all", () => {
    assert.equal(launchHooks(resolve(""), paths, "/r"), undefined);
  });
  test("per type: stop gets {ns} (v0) or {ns-env} (v1); start-host, stop, post-stop get LXC_PID", () => {
    const text = [
      "lxc.hook.stop = /s",
      "lxc.hook.start-host = /h",
      "lxc.hook.post-stop = /p",
      "lxc.hook.clone = /c",
      "lxc.log.file = /var/log/c1.log",
    ].join("\n");
    const v0 = launchHooks(resolve(text), paths, "/r");
    assert.ok(v0);
    assert.deepEqual(Object.keys(v0.argv).sort(), ["post-stop", "start-host", "stop"]);
    assert.deepEqual(v0.argv.stop?.[0]?.slice(4), ["c1", "lxc", "stop", "{ns}"]);
    assert.ok(v0.env["start-host"]?.includes("LXC_PID={pid}"));
    assert.ok(v0.env.stop?.includes("LXC_TARGET=stop"));
    assert.ok(!v0.env.stop?.includes("{ns-env}"));
    assert.equal(v0.log, "/var/log/c1.log");
    const v1 = launchHooks(resolve(`${text}\nlxc.hook.version = 1\n`), paths, "/r");
    assert.deepEqual(v1?.argv.stop?.[0]?.slice(4), []);
    assert.equal(v1?.env.stop?.at(-1), "{ns-env}");
  });
});

const FIXTURES = join(import.meta.dirname, "../fixtures/plans");

/** A small plan with one hook of every start type (golden; parsed by native/test too). */
function hooksInput(): LaunchInput {
  const cfg = resolve(
    ["pre-start", "pre-mount", "mount", "autodev", "start-host", "start", "stop", "post-stop"]
      .map((t) => `lxc.hook.${t} = /usr/local/bin/${t}`)
      .join("\n"),
  );
  const paths = containerPaths(fakeContext(), "c1");
  return {
    name: "c1",
    hostname: "c1",
    rootfs: "/var/lib/lxt/c1/rootfs",
    runtimeDir: "/run/lxt/abc/c1",
    exitFile: "/var/lib/lxt/c1/last-exit",
    cgroups: { v1: [] },
    namespaces: ["pid", "mnt", "uts", "ipc", "net", "cgroup"],
    hierarchies: [],
    mountAuto: { proc: "mixed" },
    autodev: true,
    autodevTmpfsSize: 500000,
    ttyMax: 0,
    ptyMax: 0,
    mountEntries: [],
    sysctls: [],
    rlimits: [],
    init: { argv: ["/sbin/init"], cwd: "/", uid: 0, gid: 0 },
    env: [],
    stdio: "null",
    foreground: false,
    initShim: false,
    hooks: launchHooks(
      cfg,
      { ...paths, config: "/var/lib/lxt/c1/config", dir: "/var/lib/lxt/c1" },
      "/var/lib/lxt/c1/rootfs",
    ),
  };
}

test("hooks plan (golden): pre-mount before the rootfs, mount after the mounts, autodev before /dev's nodes", () => {
  const text = renderPlan(hooksInput());
  const file = join(FIXTURES, "hooks.plan");
  if (process.env.LXT_UPDATE_GOLDEN) writeFileSync(file, text);
  assert.equal(text, readFileSync(file, "utf8"));
  const ops = text
    .trim()
    .split("\n")
    .slice(1)
    .map((l) => {
      const { op, fields } = decodeRecord(l);
      return [op, ...fields];
    });
  const at = (pred: (r: string[]) => boolean) => ops.findIndex(pred);
  const hook = (t: string) => at((r) => r[0] === "lxc-hook" && r[1] === t);
  assert.ok(hook("pre-mount") < at((r) => r[0] === "rootfs"));
  const devTmpfs = at((r) => r[0] === "mount" && r[2] === "/dev");
  const firstNode = at((r) => r[0] === "mknod");
  assert.ok(devTmpfs < hook("mount") && hook("mount") < hook("autodev"));
  assert.ok(hook("autodev") < firstNode && firstNode < at((r) => r[0] === "pivot"));
});
