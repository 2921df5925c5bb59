/**
 * The process and namespace keys: resolved by the model (config/process.ts)
 * and decided at start (container/process-opts.ts) into the namespaces made
 * and the helper's `opt` records, with LXC's rules and lxt's refusals, each
 * naming the key, file and line.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parseConfigText, resolveConfig } from "../../src/config/index.js";
import { containerPaths } from "../../src/container/paths.js";
import {
  type ProcessInput,
  planProcess,
  processFailure,
  seccompProxyRecords,
} from "../../src/container/process-opts.js";
import { LxtError } from "../../src/core/errors.js";
import { testContext } from "./support/context.js";

const root = mkdtempSync(join(tmpdir(), "lxt-unit-procopts-"));
after(() => rmSync(root, { recursive: true, force: true }));
const ctx = testContext({ lxcpath: join(root, "lib"), runDir: join(root, "run") });
const paths = containerPaths(ctx, "c1");

function cfgOf(text: string) {
  return resolveConfig(parseConfigText(text, "c1.conf"), {
    cgroupLayout: "hybrid",
    env: {},
    arch: "x86_64",
  });
}

function decide(text: string, more: Partial<ProcessInput> = {}, c = ctx) {
  return planProcess(c, {
    paths,
    config: cfgOf(text),
    sharesHostNet: false,
    nicTypes: [],
    idmap: "slice",
    ...more,
  });
}

/** `text` is refused with `code`, naming line `line` of c1.conf and `substring`. */
function refused(text: string, code: string, line: number, substring: string, more = {}) {
  assert.throws(
    () => decide(text, more),
    (err: unknown) => {
      assert.ok(err instanceof LxtError, String(err));
      assert.equal(err.code, code, err.message);
      assert.ok(err.message.startsWith(`c1.conf:${line}: `), err.message);
      assert.ok(err.message.includes(substring), `"${substring}" not in: ${err.message}`);
      return true;
    },
  );
}

describe("process keys in the model", () => {
  it("time offsets are normalised to seconds and nanoseconds in [0, 1e9)", () => {
    const p = cfgOf("lxc.time.offset.boot = 10h\nlxc.time.offset.monotonic = -1500ms\n").process;
    assert.deepEqual(p.timeOffset.boot?.value, { sec: 36000n, nsec: 0 });
    assert.deepEqual(p.timeOffset.monotonic?.value, { sec: -2n, nsec: 500_000_000 });
  });

  it("lxc.proc.* keeps file order, a later value replaces, lxc.proc = clears", () => {
    const p = cfgOf(
      "lxc.proc.oom_score_adj = 10\nlxc.proc.setgroups = deny\nlxc.proc.oom_score_adj = 20\n",
    ).process;
    assert.deepEqual(
      p.proc.map((s) => [s.value.file, s.value.value, s.line]),
      [
        ["setgroups", "deny", 2],
        ["oom_score_adj", "20", 3],
      ],
    );
    assert.deepEqual(cfgOf("lxc.proc.oom_score_adj = 10\nlxc.proc =\n").process.proc, []);
  });

  it("lxc.namespace.clone and .keep together are refused at the second, as LXC", () => {
    assert.throws(
      () => cfgOf("lxc.namespace.clone = mnt pid\nlxc.namespace.keep = net\n"),
      /c1.conf:2: lxc.namespace.keep: cannot be set together with lxc.namespace.clone \(c1.conf:1\)/,
    );
  });

  it("lxc.keyring.session defaults to a new keyring", () => {
    assert.equal(cfgOf("").process.keyringSession, true);
    assert.equal(cfgOf("lxc.keyring.session = 0\n").process.keyringSession, false);
  });
});

describe("planProcess", () => {
  it("by default makes what lxt always made, and a new session keyring", () => {
    const d = decide("");
    assert.deepEqual(d.namespaces, ["pid", "mnt", "uts", "ipc", "net", "cgroup"]);
    assert.equal(d.userns, true);
    assert.equal(d.ownUts, true);
    assert.deepEqual(d.records, [["keyring", "new"]]);
    assert.deepEqual(decide("lxc.keyring.session = 0\n").records, []);
  });

  it("time offsets make a time namespace; lxc.namespace.clone = time makes one at 0", () => {
    assert.deepEqual(decide("lxc.keyring.session = 0\nlxc.time.offset.boot = -5m\n").records, [
      ["timens", "-300", "0", "0", "0"],
    ]);
    assert.deepEqual(
      decide("lxc.keyring.session = 0\nlxc.namespace.clone = user mnt pid time\n").records,
      [["timens", "0", "0", "0", "0"]],
    );
  });

  it("clone and keep choose the namespaces", () => {
    assert.deepEqual(decide("lxc.namespace.clone = user mount pid\n").namespaces, ["pid", "mnt"]);
    const kept = decide("lxc.namespace.keep = net ipc\n");
    assert.deepEqual(kept.namespaces, ["pid", "mnt", "uts", "cgroup"]);
    assert.equal(
      kept.records.some((r) => r[0] === "timens"),
      true,
      "keep makes every other, time too",
    );
    assert.equal(decide("lxc.namespace.keep = uts\n").ownUts, false);
  });

  it("refuses what LXC refuses, and what lxt cannot do, naming key, file and line", () => {
    refused("lxc.namespace.keep = user\n", "config", 1, "keeps user");
    refused("lxc.namespace.clone = mnt pid\n", "config", 1, "leaves out user");
    refused("lxc.namespace.clone = user mnt\n", "config", 1, "no id map", { idmap: "privileged" });
    refused(
      "lxc.namespace.keep = time user\nlxc.time.offset.boot = 1s\n",
      "config",
      1,
      "lxc.time.offset.boot asks for a time namespace",
      { idmap: "privileged" },
    );
    refused("lxc.namespace.clone = user pid\n", "unsupported", 1, "mnt cannot be kept");
    refused("lxc.namespace.share.mnt = 1\n", "unsupported", 1, "cannot be shared");
    refused("lxc.namespace.keep = pid\nlxc.sched.core = 1\n", "config", 2, "pid namespace");
    refused("lxc.monitor.signal.pdeath = 0\n", "unsupported", 1, "belongs to its monitor");
    refused("lxc.monitor.unshare = 1\n", "unsupported", 1, "phys NIC", { nicTypes: ["phys"] });
    refused("lxc.namespace.keep = net\n", "config", 1, "no veth NIC", { nicTypes: ["veth"] });
    refused("lxc.uts.name = x\nlxc.namespace.keep = uts\n", "config", 2, "lxc.uts.name");
    refused("lxc.namespace.share.net = c1/x\n", "config", 1, "expected a pid");
    refused(
      "lxc.namespace.keep = net\nlxc.sysctl.net.ipv4.ip_forward = 1\n",
      "config",
      2,
      "the net namespace is not the container's own (c1.conf:1: lxc.namespace.keep)",
    );
    refused("lxc.namespace.share.net = 999999999\n", "config", 1, "no process 999999999");
  });

  it("shares a namespace of a pid, of a namespace file, and refuses a stopped container", () => {
    const d = decide(
      `lxc.namespace.share.net = ${process.pid}\nlxc.namespace.share.ipc = /proc/self/ns/ipc\n`,
    );
    assert.deepEqual(d.namespaces, ["pid", "mnt", "uts", "cgroup"]);
    assert.deepEqual(d.records.slice(0, 2), [
      ["ns-share", "net", `/proc/${process.pid}/ns/net`],
      ["ns-share", "ipc", "/proc/self/ns/ipc"],
    ]);
    mkdirSync(join(root, "lib", "c2"), { recursive: true });
    writeFileSync(join(root, "lib", "c2", "config"), "");
    refused("lxc.namespace.share.pid = c2\n", "state", 1, "container c2");
    refused(`lxc.namespace.share.pid = ${join(root, "lib", "c2")}\n`, "state", 1, "is not running");
    refused("lxc.namespace.share.pid = c1\n", "config", 1, "its own namespace");
  });

  it("sharing a user namespace needs the container's lxc.idmap to be its map", () => {
    refused(`lxc.namespace.share.user = ${process.pid}\n`, "config", 1, "lxc.idmap lines");
    refused(
      `lxc.idmap = u 0 1000000 65536\nlxc.idmap = g 0 1000000 65536\nlxc.namespace.share.user = ${process.pid}\n`,
      "config",
      3,
      "is not the shared user namespace's",
      { idmap: "config" },
    );
  });

  it("groups, /proc files, core scheduling, the pdeath signal and a 32-bit personality", () => {
    const d = decide(
      [
        "lxc.keyring.session = 0",
        "lxc.init.groups = 10, 20",
        "lxc.proc.oom_score_adj = -500",
        "lxc.sched.core = 1",
        "lxc.monitor.signal.pdeath = SIGTERM",
        "lxc.arch = i686",
        "lxc.monitor.unshare = 1",
      ].join("\n"),
    );
    assert.deepEqual(d.records, [
      ["proc", "oom_score_adj", "-500"],
      ["groups", "10,20"],
      ["sched-core", "create"],
      ["pdeath", "15"],
      ["personality", "8"],
      ["monitor-unshare", "mnt"],
    ]);
    assert.deepEqual(
      decide("lxc.keyring.session = 0\nlxc.monitor.signal.pdeath = KILL\n").records,
      [],
    );
  });

  it("SELinux contexts: unconfined_t runs; any other is refused where the host has none", () => {
    assert.ok(decide("lxc.selinux.context = unconfined_t\n"));
    refused(
      "lxc.selinux.context = system_u:system_r:lxc_t:s0:c22\n",
      "host",
      1,
      "the host has no SELinux",
    );
    refused("lxc.selinux.context.keyring = system_u:object_r:lxc_t:s0\n", "host", 1, "no SELinux");
    const withSelinux = testContext({
      lxcpath: ctx.lxcpath,
      host: { facts: { ...ctx.host.facts, selinux: () => true } },
    });
    assert.throws(
      () => decide("lxc.selinux.context = lxc_t\n", {}, withSelinux),
      /c1.conf:1: lxc.selinux.context = lxc_t: lxt does not apply SELinux contexts/,
    );
  });

  it("notify rules go to lxc.seccomp.notify.proxy with the cookie; without a proxy they are refused", () => {
    const filter = { rules: [{ action: "notify" }] };
    const cfg = cfgOf(
      "lxc.seccomp.profile = p.seccomp\nlxc.seccomp.notify.proxy = unix:@proxy\nlxc.seccomp.notify.cookie = c 1\n",
    );
    assert.deepEqual(seccompProxyRecords(cfg, filter), [["seccomp-proxy", "@proxy", "c 1"]]);
    assert.deepEqual(seccompProxyRecords(cfg, { rules: [{ action: "errno:1" }] }), []);
    assert.throws(
      () => seccompProxyRecords(cfgOf("lxc.seccomp.profile = p.seccomp\n"), filter),
      /c1.conf:1: lxc.seccomp.profile: notify rules need lxc.seccomp.notify.proxy/,
    );
  });

  it("a helper failure of an opt record is told as the key's", () => {
    const cfg = cfgOf("lxc.sched.core = 1\nlxc.proc.oom_score_adj = -2000\n");
    const sched = processFailure({ stage: "sched-core", op: "prctl", path: "", errno: 22 }, cfg);
    assert.equal(sched?.code, "host");
    assert.match(
      sched?.message ?? "",
      /^c1.conf:1: lxc.sched.core: the kernel has no core scheduling/,
    );
    const proc = processFailure(
      { stage: "proc", op: "write", path: "/proc/42/oom_score_adj", errno: 22 },
      cfg,
    );
    assert.match(
      proc?.message ?? "",
      /^c1.conf:2: lxc.proc.oom_score_adj: write "-2000" to \/proc\/42\/oom_score_adj: EINVAL/,
    );
    assert.equal(
      processFailure({ stage: "mount", op: "mount", path: "/x", errno: 1 }, cfg),
      undefined,
    );
  });
});
