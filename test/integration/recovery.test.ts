import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import {
  appendFileSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  alive,
  exitOf,
  hostLeftovers,
  LXT,
  monitorPid as monitorOf,
  NetnsSandbox,
  netnsSkip,
  printed,
  REPO,
  runtimeLeftovers,
  runtimeRoot,
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
    assert.ok(await until(() => !alive(info.pid), 60_000), "init died with its monitor");
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
    // The monitor sees its init end, cleans up and goes: STOPPED.
    assert.ok(await until(() => box.ok(["info", "-n", c, "-s"]).includes("STOPPED"), 60_000));
    const now = JSON.parse(box.ok(["info", "-n", c, "--format", "json"]));
    assert.deepEqual(now.last_exit, { signal: 9 });
    // The monitor removes the cgroups before its runtime directory, whose end is STOPPED.
    for (const dir of info.cgroups) assert.ok(!existsSync(dir), `${dir} removed`);
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
    box.ok(["start", "-n", c]);
    box.ok(["stop", "-n", c, "-k"]);
  });
});

/**
 * The CLI killed at three points of a start, each reached for certain: while
 * it waits for the container's lock (held here), while it waits for the
 * state root's id-map lock (held here) after taking the container's, and
 * after the monitor is spawned (its NIC's script.up waits for a word from
 * here). In a network namespace of its own, for the NIC.
 */
describe("the CLI killed mid-start", {
  skip: skip ?? netnsSkip(["ip", "nsenter"]),
  timeout: 180_000,
}, () => {
  const netns = new NetnsSandbox("rec");
  const SHIM = join(REPO, "native", "build", "lxt-shim");
  const lockPath = (name: string) => join(runtimeRoot(netns.lxcpath), "locks", name);
  const state = (c: string) => JSON.parse(netns.ok(["info", "-n", c, "--format", "json"])).state;
  const create = (lines: string[] = []) => {
    const c = netns.name("mid");
    netns.ok(["create", "-n", c, "-t", "busybox", "--network", "empty"]);
    appendFileSync(join(netns.lxcpath, c, "config"), lines.map((l) => `${l}\n`).join(""));
    return c;
  };
  /** Takes the flock at `path` as lxt does (the helper holds it until its stdin closes). */
  const hold = async (path: string) => {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const h = spawn(SHIM, ["lock", path], { stdio: ["pipe", "pipe", "ignore"] });
    await printed(h, "locked\n");
    return {
      release: () => {
        h.stdin.end();
        return exitOf(h);
      },
    };
  };
  /** `lxt start -n C` in the namespace, not waited for. */
  const startCli = (c: string) =>
    spawn("nsenter", [`--net=/run/netns/${netns.ns}`, LXT, "start", "-n", c], {
      env: { ...process.env, LXT_PATH: netns.lxcpath },
      stdio: "ignore",
    });
  /** Whether process `pid` has a lock helper child blocked on `path`. */
  const waitsForLock = (pid: number, path: string) =>
    readdirSync("/proc")
      .filter((p) => /^\d+$/.test(p))
      .some((p) => {
        try {
          const ppid = Number(
            readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]?.split(" ")[1],
          );
          const argv = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
          return ppid === pid && argv[1] === "lock" && argv[2] === path;
        } catch {
          return false;
        }
      });
  /** Kills the CLI with SIGKILL and checks it was still running (the kill landed mid-start). */
  const kill = async (cli: ReturnType<typeof startCli>) => {
    cli.kill("SIGKILL");
    assert.equal(await exitOf(cli), "SIGKILL", "the CLI was still in its start");
  };
  /** Nothing of container `c` on the host or in the runtime directory. */
  const nothingLeft = (c: string) => {
    assert.equal(state(c), "STOPPED");
    assert.deepEqual(runtimeLeftovers(netns.lxcpath), []);
    assert.deepEqual(hostLeftovers(c), []);
  };

  before(() => netns.open());
  after(() => netns.dispose());

  // The id-map lock is taken (for a container's first start) with the container's held.
  for (const [what, lock] of [
    ["the container's lock", (c: string) => c],
    ["the id-map lock, holding the container's", () => ".idmap"],
  ] as const) {
    test(`waiting for ${what}: nothing was made, the locks went with the CLI`, async () => {
      const c = create();
      const held = await hold(lockPath(lock(c)));
      const cli = startCli(c);
      assert.ok(
        await until(() => waitsForLock(cli.pid ?? 0, lockPath(lock(c))), 60_000),
        `the start waits for ${what}`,
      );
      await kill(cli);
      await held.release();
      nothingLeft(c);
      netns.ok(["start", "-n", c]);
      netns.ok(["stop", "-n", c, "-k"]);
    });
  }

  test("after the monitor is spawned: the monitor finishes the start alone", async () => {
    const dir = join(netns.lxcpath, "gate");
    mkdirSync(dir);
    const fifo = join(dir, "fifo");
    const script = join(dir, "up.sh");
    execFileSync("mkfifo", [fifo]);
    // Opened read-write, so the write below never blocks nor misses it.
    writeFileSync(script, `#!/bin/sh\nexec 3<>${fifo}\n: > ${dir}/ran\nread word <&3\n`, {
      mode: 0o755,
    });
    const c = create(["lxc.net.0.type = veth", `lxc.net.0.script.up = ${script}`]);
    const cli = startCli(c);
    assert.ok(await until(() => existsSync(join(dir, "ran")), 60_000), "script.up ran");
    await kill(cli);
    assert.equal(state(c), "STARTING", "its monitor is at the NIC's script.up");
    const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    writeSync(fd, "go\n");
    closeSync(fd);
    assert.ok(await until(() => state(c) !== "STARTING", 60_000), "the start went on");
    assert.equal(state(c), "RUNNING");
    assert.equal(
      netns.lxt(["attach", "-n", c, "--", "true"]).code,
      0,
      "a RUNNING container really runs",
    );
    netns.ok(["stop", "-n", c, "-k"]);
    nothingLeft(c);
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

    // Valid, but the monitor finds no such terminal for the console.
    writeFileSync(cfg, `${good}lxc.console.path = /dev/lxt-no-such-tty\n`);
    r = box.lxt(["start", "-n", c]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /\/dev\/lxt-no-such-tty/);
    assert.match(r.stderr, /ENOENT/);
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);

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
