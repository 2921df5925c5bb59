/**
 * lxtd's execs through its kept attach server (a fork of a zygote already
 * in the container's cgroups, no helper spawned per exec): confined exactly
 * as `lxt attach` confines (ids, capabilities, no_new_privs, seccomp,
 * cgroups, LSM label), with the request's user, group, cwd and environment,
 * exit codes and signals, a restarted container, and a killed server (the
 * exec then spawns its own helper, and the server comes back).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason();
if (skip) console.log(skip);

/** What a process says about its confinement, from inside the container. */
const PROBE = [
  "grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters):' /proc/self/status",
  "echo cgroup; cat /proc/self/cgroup",
  "echo lsm; cat /proc/self/attr/current 2>/dev/null || echo none",
].join("; ");

/** Host pids whose command line (their title) is `title`. */
function processesTitled(title: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0")[0] === title) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The parent of a host pid. */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

describe("lxtd: execs through the attach server", { skip, timeout: 300_000 }, () => {
  let box: LxtdSandbox;
  let c: string;
  /** The daemon's attach server (a child of the daemon). */
  const server = () =>
    processesTitled("[lxt attach server]").filter((p) => parentOf(p) === box.daemon?.pid);
  before(async () => {
    box = new LxtdSandbox();
    await box.startDaemon();
    c = box.name("fx");
    box.lxcOk(["launch", "busybox", c]);
  });
  after(async () => {
    await box.close();
  });

  test("an exec is confined exactly as lxt attach confines", () => {
    const viaApi = box.lxcOk(["exec", c, "--", "sh", "-c", PROBE]);
    const viaAttach = box.ok(["attach", "-n", c, "--", "sh", "-c", PROBE]);
    assert.match(viaApi, /^Seccomp:\s+2$/m, "a seccomp filter");
    assert.match(viaApi, /^cgroup$/m);
    assert.equal(viaApi, viaAttach);
    // It went through the server: its zygote for this container is in the container's cgroups.
    const [srv] = server();
    assert.ok(srv, "the daemon has an attach server");
    const zygotes = processesTitled("[lxt attach zygote]").filter((p) => parentOf(p) === srv);
    assert.equal(zygotes.length, 1);
    const init = JSON.parse(box.ok(["info", "-n", c, "--format", "json"])).pid as number;
    assert.equal(
      readFileSync(`/proc/${zygotes[0]}/cgroup`, "utf8"),
      readFileSync(`/proc/${init}/cgroup`, "utf8"),
    );
  });

  test("user, group, cwd and environment as asked", () => {
    const out = box.lxcOk([
      "exec",
      c,
      "--user",
      "1000",
      "--group",
      "1001",
      "--cwd",
      "/tmp",
      "--env",
      "A=b c",
      "--",
      "sh",
      "-c",
      'id -u; id -g; pwd; echo "$A"; grep -E "^(CapEff|NoNewPrivs):" /proc/self/status',
    ]);
    const viaAttach = box.ok([
      "attach",
      "-n",
      c,
      "-u",
      "1000",
      "-g",
      "1001",
      "--",
      "grep",
      "-E",
      "^(CapEff|NoNewPrivs):",
      "/proc/self/status",
    ]);
    assert.equal(out, `1000\n1001\n/tmp\nb c\n${viaAttach}`);
  });

  test("exit codes and signals", () => {
    assert.equal(box.lxc(["exec", c, "--", "sh", "-c", "exit 7"]).code, 7);
    assert.equal(box.lxc(["exec", c, "--", "sh", "-c", "kill -9 $$"]).code, 137);
    assert.equal(box.lxc(["exec", c, "--", "true"]).code, 0);
  });

  test("a restarted container gets a zygote in its new cgroups", () => {
    box.lxcOk(["restart", "--force", c]);
    const viaApi = box.lxcOk(["exec", c, "--", "sh", "-c", PROBE]);
    assert.equal(viaApi, box.ok(["attach", "-n", c, "--", "sh", "-c", PROBE]));
    const [srv] = server();
    const init = JSON.parse(box.ok(["info", "-n", c, "--format", "json"])).pid as number;
    const zygotes = processesTitled("[lxt attach zygote]").filter((p) => parentOf(p) === srv);
    assert.equal(zygotes.length, 1, "the old one ended with its init");
    assert.equal(
      readFileSync(`/proc/${zygotes[0]}/cgroup`, "utf8"),
      readFileSync(`/proc/${init}/cgroup`, "utf8"),
    );
  });

  test("a killed server: execs spawn their own helper, and the server comes back", async () => {
    const [srv] = server();
    assert.ok(srv);
    process.kill(srv, "SIGKILL");
    // Gone from /proc once the daemon reaped it, which is when it stops sending execs there.
    for (let i = 0; i < 250 && existsSync(`/proc/${srv}`); i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.ok(!existsSync(`/proc/${srv}`), "the daemon reaped its server");
    assert.equal(box.lxcOk(["exec", c, "--", "echo", "spawned"]), "spawned\n");
    let back: number[] = [];
    for (let i = 0; i < 250 && back.length === 0; i++) {
      back = server();
      if (back.length === 0) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(back.length, 1, "a new server");
    assert.notEqual(back[0], srv);
    const viaApi = box.lxcOk(["exec", c, "--", "sh", "-c", PROBE]);
    assert.equal(viaApi, box.ok(["attach", "-n", c, "--", "sh", "-c", PROBE]));
  });
});
