import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  alive,
  monitorPid as monitorOf,
  runtimeLeftovers,
  Sandbox,
  skipReason,
  until,
} from "./harness.js";

const monitorPid = (box: Sandbox, c: string) => monitorOf(box.lxcpath, c);

const skip = skipReason();
if (skip) console.log(skip);

describe("SIGKILL recovery", { skip, timeout: 120_000 }, () => {
  let box: Sandbox;
  let c: string;
  before(() => {
    box = new Sandbox();
    c = box.name("kill");
    box.ok(["create", "-n", c, "-t", "busybox"]);
  });
  after(() => box.cleanup());

  test("monitor killed: the container dies with it, ls says STOPPED, start works again", async () => {
    box.ok(["start", "-n", c]);
    const info = JSON.parse(box.ok(["info", "-n", c, "--format", "json"]));
    const mon = monitorPid(box, c);
    process.kill(mon, "SIGKILL");
    assert.ok(await until(() => !alive(info.pid)), "init died with its monitor");
    assert.match(box.ok(["ls", "-f"]), new RegExp(`^${c}\\s+STOPPED`, "m"));
    // ls repaired the stale state: cgroups and runtime files are gone.
    for (const dir of info.cgroups) assert.ok(!existsSync(dir), `${dir} removed`);
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
    box.ok(["start", "-n", c]);
    assert.equal(JSON.parse(box.ok(["info", "-n", c, "--format", "json"])).state, "RUNNING");
  });

  test("init killed: the monitor records it and cleans up", async () => {
    const info = JSON.parse(box.ok(["info", "-n", c, "--format", "json"]));
    assert.equal(info.state, "RUNNING");
    process.kill(info.pid, "SIGKILL");
    assert.ok(await until(() => box.ok(["info", "-n", c, "-s"]).includes("STOPPED")));
    const now = JSON.parse(box.ok(["info", "-n", c, "--format", "json"]));
    assert.deepEqual(now.last_exit, { signal: 9 });
    for (const dir of info.cgroups)
      assert.ok(await until(() => !existsSync(dir)), `${dir} removed`);
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
    box.ok(["start", "-n", c]);
    box.ok(["stop", "-n", c, "-k"]);
  });

  test("CLI killed mid-start: state stays truthful and the container starts again", async () => {
    for (const delayMs of [5, 30, 80]) {
      const child = box.spawn(["start", "-n", c]);
      await new Promise((r) => setTimeout(r, delayMs));
      child.kill("SIGKILL");
      await new Promise((r) => child.on("exit", r));
      await new Promise((r) => setTimeout(r, 300));
      const state = JSON.parse(box.ok(["info", "-n", c, "--format", "json"])).state;
      assert.ok(
        ["RUNNING", "STOPPED"].includes(state),
        `state after kill at ${delayMs} ms: ${state}`,
      );
      if (state === "RUNNING") {
        const r = box.lxt(["attach", "-n", c, "--", "true"]);
        assert.equal(r.code, 0, "a RUNNING container really runs");
        box.ok(["stop", "-n", c, "-k"]);
      }
      assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
      box.ok(["start", "-n", c]);
      box.ok(["stop", "-n", c, "-k"]);
    }
  });
});

describe("bad input: a clear error, non-zero exit, nothing left", {
  skip,
  timeout: 120_000,
}, () => {
  let box: Sandbox;
  before(() => {
    box = new Sandbox();
  });
  after(() => box.cleanup());

  test("bad names", () => {
    for (const bad of ["../evil", "a/b", "-x", "x".repeat(65), "with space"]) {
      const r = box.lxt(["create", "-n", bad, "-t", "busybox"]);
      assert.notEqual(r.code, 0, bad);
      assert.match(r.stderr, /container name|missing/, bad);
    }
    assert.equal(box.ok(["ls"]).trim(), "");
  });

  test("the suite's guard: no managed network is made in the host's namespace", {
    skip: existsSync("/sys/class/net/lxtbr0") ? "SKIP: the host already has an lxtbr0" : false,
  }, () => {
    const linksBefore = execFileSync("ip", ["-br", "link"], { encoding: "utf8" });
    const net = box.name("g");
    let r = box.lxt(["network", "create", net]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not created in the host's network namespace \(LXT_NO_HOST_NETWORK=1\)/);
    // The busybox default, a veth on lxtbr0 created on first start.
    const c = box.name("guard");
    box.ok(["create", "-n", c, "-t", "busybox", "--network", "lxtbr0"]);
    r = box.lxt(["start", "-n", c]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /network lxtbr0: not created in the host's network namespace/);
    assert.match(box.ok(["info", "-n", c, "-s"]), /STOPPED/);
    assert.equal(execFileSync("ip", ["-br", "link"], { encoding: "utf8" }), linksBefore);
    assert.doesNotMatch(execFileSync("nft", ["list", "tables"], { encoding: "utf8" }), /lxt-/);
    box.ok(["destroy", "-n", c]);
  });

  test("unknown template, missing container, missing rootfs tree", () => {
    const c = box.name("bad");
    let r = box.lxt(["create", "-n", c, "-t", "nosuch"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unknown template "nosuch"/);
    for (const verb of ["start", "stop", "attach", "console", "info", "destroy"]) {
      r = box.lxt([verb, "-n", c]);
      assert.notEqual(r.code, 0, verb);
      assert.match(r.stderr, new RegExp(`${verb} ${c}: no such container`), verb);
    }
    r = box.lxt(["create", "-n", c, "--rootfs", "/no/such/dir"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /\/no\/such\/dir/);
    assert.ok(!existsSync(join(box.lxcpath, c)), "no half-made container");
  });

  test("a rootfs that disappeared, a missing init, a config error: start fails and undoes", () => {
    const c = box.name("bad");
    box.ok(["create", "-n", c, "-t", "busybox"]);
    const cfg = join(box.lxcpath, c, "config");
    const good = readFileSync(cfg, "utf8");

    writeFileSync(cfg, `${good}lxc.init.cmd = /sbin/nosuch-init\n`);
    let r = box.lxt(["start", "-n", c]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /nosuch-init/);
    assert.match(r.stderr, /ENOENT/);
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);

    writeFileSync(cfg, `${good}lxc.bogus.key = 1\n`);
    r = box.lxt(["start", "-n", c]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`${cfg}:\\d+: .*lxc\\.bogus\\.key`));

    // A network type not implemented yet (never one that would touch the host's network).
    writeFileSync(cfg, `${good}lxc.net.0.type = vlan\nlxc.net.0.link = lxtnosuch0\n`);
    r = box.lxt(["start", "-n", c]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /vlan/);
    assert.match(r.stderr, /not (yet )?(implemented|supported)/);

    writeFileSync(
      cfg,
      good.replace(/lxc\.rootfs\.path = .*/, "lxc.rootfs.path = dir:/no/such/rootfs"),
    );
    r = box.lxt(["start", "-n", c]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /\/no\/such\/rootfs/);

    writeFileSync(cfg, good);
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
    assert.match(box.ok(["ls", "-f"]), new RegExp(`^${c}\\s+STOPPED`, "m"));
  });
});

describe("create -f", { skip, timeout: 120_000 }, () => {
  let box: Sandbox;
  before(() => {
    box = new Sandbox();
  });
  after(() => box.cleanup());

  test("copies a config file's entries; a bad one fails before anything is made", () => {
    const file = join(box.lxcpath, "extra.conf");
    writeFileSync(file, "# extra\nlxc.environment = FROM_FILE=yes\n");
    const c = box.name("cf");
    box.ok(["create", "-n", c, "-t", "busybox", "-f", file]);
    const cfg = readFileSync(join(box.lxcpath, c, "config"), "utf8");
    assert.match(cfg, /^lxc\.environment = FROM_FILE=yes$/m);
    box.ok(["start", "-n", c]);
    assert.match(box.ok(["attach", "-n", c, "--", "cat", "/proc/1/environ"]), /FROM_FILE=yes/);
    box.ok(["stop", "-n", c, "-k"]);

    writeFileSync(file, "lxc.tty.max = lots\n");
    const bad = box.name("cf");
    const r = box.lxt(["create", "-n", bad, "-t", "busybox", "-f", file]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`${file}:1: .*lxc\\.tty\\.max`));
    assert.ok(!existsSync(join(box.lxcpath, bad)));
  });
});
