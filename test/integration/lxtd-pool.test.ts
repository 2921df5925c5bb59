/**
 * lxtd's monitor pool (src/host/helper-pool.ts, native/src/pool.c): a start
 * through the API takes a monitor made ahead of demand, and the container it
 * gives is the one `lxt start` gives (cgroups, id map, runtime files, monitor
 * title); a taken member outlives a SIGKILLed daemon, untaken ones end with
 * the daemon, and one killed by hand is replaced.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { alive, cgroupDirsOf, exitOf, monitorPid, runtimeRoot, until } from "./harness.js";
import { LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason();
if (skip) console.log(skip);

/**
 * Pids of the daemon's untaken pool members: its children titled `[lxt
 * pool]` (monitors), or with `lock -` (lock helpers).
 */
function poolPids(daemonPid: number, kind: "monitor" | "lock" = "monitor"): number[] {
  const pids: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8");
      const member =
        kind === "monitor" ? cmd.startsWith("[lxt pool]") : cmd.endsWith("\0lock\0-\0");
      if (ppid === daemonPid && member) pids.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return pids.sort((a, b) => a - b);
}

/** What makes a running container what it is, as seen from the host. */
function runningShape(box: LxtdSandbox, name: string) {
  const info = JSON.parse(box.ok(["info", "-n", name, "--format", "json"]));
  const init = info.pid as number;
  const monitor = monitorPid(box.lxcpath, name);
  return {
    init,
    monitor,
    cgroups: cgroupDirsOf(init),
    monitorCgroups: cgroupDirsOf(monitor),
    uidMap: readFileSync(`/proc/${init}/uid_map`, "utf8").trim().split(/\s+/).join(" "),
    gidMap: readFileSync(`/proc/${init}/gid_map`, "utf8").trim().split(/\s+/).join(" "),
    title: readFileSync(`/proc/${monitor}/cmdline`, "utf8").split("\0")[0],
    files: readdirSync(join(runtimeRoot(box.lxcpath), name)).sort(),
    // Which namespaces the init has of its own (not the host's).
    ns: ["pid", "mnt", "net", "uts", "ipc", "user", "cgroup"].filter(
      (n) => readlinkSync(`/proc/${init}/ns/${n}`) !== readlinkSync(`/proc/self/ns/${n}`),
    ),
  };
}

describe("lxtd monitor pool", { skip }, () => {
  let box: LxtdSandbox;
  before(async () => {
    box = new LxtdSandbox();
    await box.startDaemon(["--helper-pool", "2"]);
  });
  after(async () => {
    await box?.close();
  });

  const daemonPid = () => {
    const pid = box.daemon?.pid;
    assert.ok(pid, "a daemon runs");
    return pid;
  };
  const poolOf = async (n: number) => {
    assert.ok(await until(() => poolPids(daemonPid()).length === n), `${n} pool members`);
    return poolPids(daemonPid());
  };

  test("a start through the API takes a member and gives the container `lxt start` gives", async () => {
    const c = box.name("pool");
    box.lxcOk(["init", "busybox", c]);
    const members = await poolOf(2);
    box.lxcOk(["start", c]);
    const pooled = runningShape(box, c);
    assert.ok(members.includes(pooled.monitor), `monitor ${pooled.monitor} is one of ${members}`);
    assert.equal(pooled.title, `[lxt monitor] ${c}`);
    // The member taken is replaced.
    const refilled = await poolOf(2);
    assert.ok(!refilled.includes(pooled.monitor));
    box.lxcOk(["stop", c, "--force"]);

    box.ok(["start", "-n", c]);
    const cli = runningShape(box, c);
    assert.ok(!members.includes(cli.monitor));
    const bare = (dirs: string[]) => dirs.map((d) => d.replace(/-\d+$/, ""));
    assert.deepEqual(bare(pooled.cgroups), bare(cli.cgroups));
    assert.ok(
      pooled.cgroups.every((d) => d.includes(`lxt.payload.${c}`)),
      pooled.cgroups.join(),
    );
    assert.deepEqual(pooled.uidMap, cli.uidMap);
    assert.deepEqual(pooled.gidMap, cli.gidMap);
    assert.notEqual(pooled.uidMap, "0 0 4294967295", "a user namespace with the container's map");
    assert.deepEqual(pooled.files, cli.files);
    assert.deepEqual(pooled.ns, cli.ns);
    assert.equal(pooled.ns.length, 7, pooled.ns.join());
    assert.equal(cli.title, pooled.title);
    box.ok(["stop", "-k", "-n", c]);
    box.lxcOk(["delete", c]);
  });

  test("a member killed by hand is replaced, and the next start takes a member", async () => {
    const [victim] = await poolOf(2);
    assert.ok(victim);
    process.kill(victim, "SIGKILL");
    assert.ok(
      await until(() => {
        const now = poolPids(daemonPid());
        return now.length === 2 && !now.includes(victim);
      }),
      "a new member replaces the killed one",
    );
    const members = poolPids(daemonPid());
    const c = box.name("repl");
    box.lxcOk(["launch", "busybox", c]);
    const m = monitorPid(box.lxcpath, c);
    assert.ok(members.includes(m), `monitor ${m} is one of ${members}`);
    box.lxcOk(["delete", c, "--force"]);
  });

  test("a SIGKILLed daemon: the container stays, untaken members end and leave nothing", async () => {
    const c = box.name("kill");
    box.lxcOk(["launch", "busybox", c]);
    const before = runningShape(box, c);
    const members = await poolOf(2);
    assert.ok(await until(() => poolPids(daemonPid(), "lock").length === 2), "2 lock helpers");
    const lockers = poolPids(daemonPid(), "lock");
    const daemon = box.daemon;
    assert.ok(daemon);
    daemon.kill("SIGKILL");
    await exitOf(daemon);
    box.daemon = undefined;
    assert.ok(
      await until(() => [...members, ...lockers].every((p) => !alive(p))),
      "untaken members ended",
    );
    assert.ok(alive(before.monitor) && alive(before.init), "the container outlives the daemon");
    const info = JSON.parse(box.ok(["info", "-n", c, "--format", "json"]));
    assert.equal(info.state, "RUNNING");
    assert.equal(info.pid, before.init);
    // A member makes nothing before it is taken (pool.c): ended, it leaves nothing behind.
    assert.ok(
      readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .every((l) => !l.includes("lxt pool")),
    );
    box.ok(["stop", "-k", "-n", c]);
    box.ok(["destroy", "-n", c]);
    await box.startDaemon(["--helper-pool", "2"]);
  });

  test("a daemon that exits ends its untaken members first", async () => {
    const members = await poolOf(2);
    assert.ok(await until(() => poolPids(daemonPid(), "lock").length === 2), "2 lock helpers");
    const lockers = poolPids(daemonPid(), "lock");
    assert.equal(await box.stopDaemon(), 0);
    for (const p of members) assert.ok(!alive(p), `member ${p} ended with the daemon`);
    for (const p of lockers) assert.ok(!alive(p), `lock helper ${p} ended with the daemon`);
    await box.startDaemon(["--helper-pool", "0"]);
    assert.deepEqual(poolPids(daemonPid()), [], "--helper-pool 0 keeps no monitor");
    assert.deepEqual(poolPids(daemonPid(), "lock"), [], "--helper-pool 0 keeps no lock helper");
    const c = box.name("cold");
    box.lxcOk(["launch", "busybox", c]);
    assert.equal(JSON.parse(box.ok(["info", "-n", c, "--format", "json"])).state, "RUNNING");
    box.lxcOk(["delete", c, "--force"]);
  });
});
