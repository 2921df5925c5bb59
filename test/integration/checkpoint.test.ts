/**
 * `lxt checkpoint` / `lxt restore` with CRIU (docs/checkpoint.md): a
 * privileged busybox container running a counter is dumped, left running
 * or stopped (-s), restored into a container its monitor owns again, and
 * the counter goes on from where it was. A restore that fails leaves
 * nothing behind; unprivileged containers are refused with the reason.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  alive,
  cgroupDirsOf,
  criuSkip,
  hostLeftovers,
  monitorPid,
  runtimeLeftovers,
  Sandbox,
  skipReason,
  until,
} from "./harness.js";

const skip = skipReason() ?? criuSkip();
if (skip) console.log(skip);

const COUNTER = `#!/bin/sh
i=0
while true; do i=$((i+1)); echo "$$ $i" > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.05; done
`;

describe("checkpoint and restore", { skip, timeout: 240_000 }, () => {
  let box: Sandbox;
  let c: string;
  let dirs: string;
  before(() => {
    box = new Sandbox();
    dirs = mkdtempSync(join(tmpdir(), "lxt-ckpt-"));
    c = box.name("ckpt");
    box.ok(["create", "-n", c, "-t", "busybox"]);
    const cfg = join(box.lxcpath, c, "config");
    writeFileSync(
      cfg,
      readFileSync(cfg, "utf8").replace(/^lxt\.privileged = 0$/m, "lxt.privileged = 1"),
    );
    writeFileSync(join(box.lxcpath, c, "rootfs", "counter.sh"), COUNTER, { mode: 0o755 });
    box.ok(["start", "-n", c]);
    box.ok([
      "attach",
      "-n",
      c,
      "--",
      "sh",
      "-c",
      "setsid /counter.sh </dev/null >/dev/null 2>&1 &",
    ]);
  });
  after(() => {
    box.cleanup();
    rmSync(dirs, { recursive: true, force: true });
  });

  const count = (): [number, number] => {
    const [pid, n] = box.ok(["attach", "-n", c, "--", "cat", "/tmp/count"]).trim().split(" ");
    return [Number(pid), Number(n)];
  };
  const state = () => JSON.parse(box.ok(["info", "-n", c, "--format", "json"])).state as string;

  test("a dump without -s leaves the container running, the counter going", async () => {
    assert.ok(await until(() => count()[1] > 0, 10_000), "counter started");
    const init = JSON.parse(box.ok(["info", "-n", c, "--format", "json"])).pid;
    const out = box.ok(["checkpoint", "-n", c, "-D", join(dirs, "live"), "-v"]);
    assert.match(out, /dumped .* in \d+ ms/);
    assert.ok(readdirSync(join(dirs, "live")).includes("inventory.img"));
    assert.equal(state(), "RUNNING");
    assert.equal(JSON.parse(box.ok(["info", "-n", c, "--format", "json"])).pid, init);
    const [, before] = count();
    assert.ok(await until(() => count()[1] > before, 10_000), "counter still counting");
  });

  test("a directory that holds a checkpoint is refused", () => {
    const r = box.lxt(["checkpoint", "-n", c, "-D", join(dirs, "live")]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /already holds a checkpoint/);
    assert.equal(state(), "RUNNING");
  });

  test("-s stops it; restore brings it back, monitored, and the counter continues", async () => {
    const [pid0] = count();
    const out = box.ok(["checkpoint", "-n", c, "-D", join(dirs, "stop"), "-s", "-v"]);
    const dumpMs = Number(/in (\d+) ms/.exec(out)?.[1]);
    assert.equal(state(), "STOPPED");
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
    // The value on disk when it stopped: the counter's last write.
    const dumped = Number(
      execFileSync("cat", [join(box.lxcpath, c, "rootfs", "tmp", "count")], { encoding: "utf8" })
        .trim()
        .split(" ")[1],
    );
    const r = box.ok(["restore", "-n", c, "-D", join(dirs, "stop"), "-v"]);
    const restoreMs = Number(/in (\d+) ms/.exec(r)?.[1]);
    console.log(`dump ${dumpMs} ms, restore ${restoreMs} ms (lxt's own timing)`);
    assert.equal(state(), "RUNNING");
    // The same process (its pid inside the container) goes on counting: no reset.
    assert.ok(await until(() => count()[1] > dumped, 10_000), "counter continues");
    const [pid1, n1] = count();
    assert.equal(pid1, pid0);
    assert.ok(n1 > dumped, `${n1} > ${dumped}`);
    // Owned by a monitor, in the container's own cgroups.
    const info = JSON.parse(box.ok(["info", "-n", c, "--format", "json"]));
    const mon = monitorPid(box.lxcpath, c);
    assert.ok(alive(mon));
    assert.equal(
      Number(execFileSync("ps", ["-o", "ppid=", "-p", String(info.pid)], { encoding: "utf8" })),
      mon,
    );
    assert.ok(cgroupDirsOf(info.pid).some((d) => d.includes(`lxt.payload.${c}`)));
    // The init's console is the new monitor's pty: what it writes reaches the console log.
    const marker = `restored-${Date.now()}`;
    box.ok(["attach", "-n", c, "--", "sh", "-c", `echo ${marker} > /proc/1/fd/1`]);
    const log = join(box.lxcpath, c, "console.log");
    assert.ok(
      await until(() => readFileSync(log, "utf8").includes(marker), 10_000),
      "console output after restore",
    );
    box.ok(["stop", "-n", c]);
    assert.equal(state(), "STOPPED");
    assert.deepEqual(hostLeftovers(c), []);
  });

  test("checkpoint -r is restore; restoring a running container is refused", () => {
    box.ok(["checkpoint", "-r", "-n", c, "-D", join(dirs, "stop")]);
    assert.equal(state(), "RUNNING");
    const r = box.lxt(["restore", "-n", c, "-D", join(dirs, "stop")]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /RUNNING/);
    box.ok(["stop", "-n", c]);
  });

  test("a restore that fails leaves no cgroups, mounts, processes or runtime files", () => {
    const broken = join(dirs, "broken");
    execFileSync("cp", ["-a", join(dirs, "stop"), broken]);
    for (const f of readdirSync(broken)) if (f.startsWith("pages-")) unlinkSync(join(broken, f));
    const r = box.lxt(["restore", "-n", c, "-D", broken]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /restore .*: criu restore failed: .*log: .*restore\.log/);
    assert.equal(state(), "STOPPED");
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
    assert.deepEqual(hostLeftovers(c), []);
  });

  test("no checkpoint in the directory: a clear error", () => {
    const r = box.lxt(["restore", "-n", c, "-D", join(dirs, "nothing")]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /holds no lxt checkpoint/);
  });

  test("unprivileged containers are refused up front, with the reason", () => {
    const u = box.name("ckptu");
    box.ok(["create", "-n", u, "-t", "busybox"]);
    box.ok(["start", "-n", u]);
    const r = box.lxt(["checkpoint", "-n", u, "-D", join(dirs, "unpriv")]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unprivileged containers .* not checkpointed/);
    assert.equal(JSON.parse(box.ok(["info", "-n", u, "--format", "json"])).state, "RUNNING");
    box.ok(["stop", "-k", "-n", u]);
  });
});
