import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { resolveCapabilities } from "../../src/config/security.js";
import { reapCommand } from "../../src/container/ephemeral.js";
import { containerPaths } from "../../src/container/paths.js";
import { type LaunchInput, renderPlan } from "../../src/container/plan.js";
import { decodeRecord, encodeField } from "../../src/core/encode.js";
import { DEFAULT_SECCOMP_PROFILE } from "../../src/seccomp/default-profile.js";
import { parseSeccompProfile } from "../../src/seccomp/profile.js";

const FIXTURES = join(import.meta.dirname, "../fixtures/plans");

function input(over: Partial<LaunchInput> = {}): LaunchInput {
  return {
    name: "c1",
    hostname: "c1",
    rootfs: "/var/lib/lxt/c1/rootfs",
    runtimeDir: "/run/lxt/abc/c1",
    exitFile: "/var/lib/lxt/c1/last-exit",
    consoleLog: "/var/lib/lxt/c1/console.log",
    cgroups: {
      v2: "/sys/fs/cgroup/unified/lxt.payload.c1",
      v1: ["/sys/fs/cgroup/memory/lxt.payload.c1"],
    },
    namespaces: ["pid", "mnt", "uts", "ipc", "net", "cgroup"],
    hierarchies: [
      { version: 1, data: "memory", dirName: "memory" },
      { version: 2, data: "", dirName: "unified" },
    ],
    mountAuto: { proc: "mixed", sys: "ro" },
    autodev: true,
    autodevTmpfsSize: 500000,
    ttyMax: 1,
    ptyMax: 1024,
    mountEntries: [
      {
        source: "/srv/data",
        target: "/mnt/data",
        fstype: "",
        flags: 4096,
        data: "",
        remountFlags: 1,
        createDir: true,
      },
    ],
    sysctls: [{ key: "net.ipv4.ip_forward", value: "1" }],
    rlimits: [{ resource: 7, soft: 1024, hard: -1 }],
    init: { argv: ["/sbin/init"], cwd: "/", uid: 0, gid: 0 },
    env: ["container=lxc", "PATH=/usr/bin:/bin"],
    stdio: "console",
    foreground: false,
    initShim: false,
    confinement: {
      caps: resolveCapabilities({ capDrop: [], dropCleared: false, noNewPrivs: false, idmap: [] }),
      noNewPrivs: false,
      seccomp: parseSeccompProfile(DEFAULT_SECCOMP_PROFILE, "default", "x86_64"),
    },
    ...over,
  };
}

/** Compares with a golden file; LXT_UPDATE_GOLDEN=1 rewrites it. */
function golden(name: string, text: string): void {
  const file = join(FIXTURES, name);
  if (process.env.LXT_UPDATE_GOLDEN) writeFileSync(file, text);
  assert.equal(text, readFileSync(file, "utf8"));
}

describe("renderPlan", () => {
  test("a busybox system container (golden)", () => golden("system.plan", renderPlan(input())));

  test("unprivileged: user namespace, id map and idmapped rootfs (golden)", () =>
    golden(
      "unprivileged.plan",
      renderPlan(
        input({
          userns: {
            idmap: [
              { kind: "u", nsid: 0, hostid: 1065536, range: 65536 },
              { kind: "g", nsid: 0, hostid: 1065536, range: 65536 },
            ],
            idmappedMounts: ["/var/lib/lxt/c1/rootfs"],
          },
        }),
      ),
    ));

  test("execute: inherited stdio, the init shim, no console (golden)", () =>
    golden(
      "execute.plan",
      renderPlan(
        input({
          stdio: "inherit",
          foreground: true,
          initShim: true,
          ttyMax: 0,
          consoleLog: undefined,
          init: { argv: ["sh", "-c", "exit 3"], cwd: "/", uid: 0, gid: 0 },
        }),
      ),
    ));

  test("order: rootfs, /dev, proc, sysctls before /proc/sys goes read-only, sys, entries, console, pivot, exec", () => {
    const ops = renderPlan(input())
      .trim()
      .split("\n")
      .slice(1)
      .map((l) => decodeRecord(l));
    const idx = (pred: (r: { op: string; fields: string[] }) => boolean) => ops.findIndex(pred);
    const rootfs = idx((r) => r.op === "rootfs");
    const dev = idx((r) => r.op === "mount" && r.fields[1] === "/dev");
    const proc = idx((r) => r.op === "mount" && r.fields[1] === "/proc");
    const sysctl = idx((r) => r.op === "sysctl");
    const procRo = idx((r) => r.op === "mount" && r.fields[1] === "/proc/sys");
    const sys = idx((r) => r.op === "mount" && r.fields[1] === "/sys");
    const entry = idx((r) => r.op === "mount" && r.fields[1] === "/mnt/data");
    const cons = idx((r) => r.op === "console");
    const pivot = idx((r) => r.op === "pivot");
    const exec = idx((r) => r.op === "exec");
    const order = [rootfs, dev, proc, sysctl, procRo, sys, entry, cons, pivot, exec];
    assert.ok(
      order.every((v) => v >= 0),
      `all present: ${order}`,
    );
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      order,
    );
    assert.equal(exec, ops.length - 1, "exec is last");
  });

  test("fields with spaces and odd bytes survive the encoding", () => {
    const text = renderPlan(
      input({ init: { argv: ["sh", "-c", "echo 'a b' % \n done"], cwd: "/", uid: 0, gid: 0 } }),
    );
    const exec = text.trim().split("\n").at(-1) ?? "";
    assert.deepEqual(decodeRecord(exec).fields, ["sh", "-c", "echo 'a b' % \n done"]);
    assert.ok(!exec.slice(5).includes(" %\n"), "no raw newline in a record");
    assert.equal(encodeField(""), "%");
  });

  test("cgroup automount is skipped under a cgroup namespace unless forced (as LXC)", () => {
    const plain = renderPlan(input({ mountAuto: { cgroup: { mode: "rw", force: false } } }));
    assert.ok(!/^mount .* \/sys\/fs\/cgroup/m.test(plain), "no cgroup mounts");
    const forced = renderPlan(
      input({ mountAuto: { sys: "ro", cgroup: { mode: "ro", force: true } } }),
    );
    assert.match(forced, /^mount cgroup \/sys\/fs\/cgroup\/memory cgroup \d+ memory /m);
    assert.match(forced, /^mount cgroup2 \/sys\/fs\/cgroup\/unified cgroup2 /m);
  });

  test("masked paths: proc:mixed hides host kernel files, sys:ro and sys:mixed hide /sys/firmware", () => {
    const text = renderPlan(input({ mountAuto: { proc: "mixed", sys: "mixed" } }));
    for (const f of ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"])
      assert.match(text, new RegExp(`^mount /dev/null ${f} % 4096 % 0 optional$`, "m"));
    for (const d of ["/proc/acpi", "/proc/scsi", "/sys/firmware"])
      assert.match(text, new RegExp(`^mount tmpfs ${d} tmpfs 15 mode=555 0 optional$`, "m"));
    const open = renderPlan(input({ mountAuto: { proc: "rw", sys: "rw" } }));
    assert.ok(!/\/proc\/kcore|\/sys\/firmware/.test(open), "proc:rw and sys:rw mask nothing");
  });

  test("confinement: caps, no-new-privs and seccomp come after the mounts, before the ids", () => {
    const text = renderPlan(
      input({
        confinement: {
          caps: [0, 21],
          noNewPrivs: true,
          seccomp: parseSeccompProfile(
            "2\nallowlist errno 1\n[x86_64]\nmkdir\nwrite kill [0,2,SCMP_CMP_GE]\numount2 errno 5 [1,1,&=,3]\n",
            "p",
            "x86_64",
          ),
        },
      }),
    );
    const tail = text.slice(text.indexOf("\npivot\n"));
    assert.ok(tail.indexOf("caps ") < tail.indexOf("\ncwd "));
    assert.match(text, /^caps 0,21\nno-new-privs 1\nseccomp errno:1 x86_64,x86,x32\n/m);
    assert.match(text, /^seccomp-rule x86_64 allow mkdir$/m);
    assert.match(text, /^seccomp-rule x86_64 kill write 0,ge,2$/m);
    assert.match(text, /^seccomp-rule x86_64 errno:5 umount2 1,masked_eq,3,1$/m);
    const none = renderPlan(input({ confinement: undefined }));
    assert.ok(!/^(caps|no-new-privs|seccomp)/m.test(none), "no records without confinement");
    const keepNone = renderPlan(input({ confinement: { caps: [], noNewPrivs: false } }));
    assert.match(keepNone, /^caps %$/m);
  });

  test("process options: a shared user namespace (its map, not cloned), opt records, no hostname (golden)", () =>
    golden(
      "options.plan",
      renderPlan(
        input({
          hostname: undefined,
          namespaces: ["pid", "mnt", "ipc", "cgroup"],
          userShared: true,
          userns: {
            idmap: [
              { kind: "u", nsid: 0, hostid: 3000000000, range: 65536 },
              { kind: "g", nsid: 0, hostid: 3000000000, range: 65536 },
            ],
            idmappedMounts: [],
          },
          opts: [
            ["ns-share", "user", "/proc/42/ns/user"],
            ["ns-share", "net", "/proc/42/ns/net"],
            ["ns-share", "uts", "/run/utsns/x"],
            ["timens", "36000", "0", "-5", "500000000"],
            ["proc", "oom_score_adj", "-500"],
            ["groups", "10,20"],
            ["keyring", "new"],
            ["pdeath", "15"],
            ["personality", "8"],
            ["seccomp-proxy", "@lxd/seccomp", "a cookie"],
          ],
        }),
      ),
    ));

  test("a block-device rootfs: its block-mount record before the rootfs; lxc.rootfs.options flags on the bind", () => {
    const blockMount = {
      kind: "loop" as const,
      source: "/i m g",
      fstype: "ext4",
      target: "/var/lib/lxt/c1/rootfs",
      flags: 3,
      data: [],
    };
    const text = renderPlan(input({ blockMount }));
    assert.match(text, /\nblock-mount loop \/i%20m%20g ext4 \/var\/lib\/lxt\/c1\/rootfs 3 %\n/);
    assert.ok(text.indexOf("\nblock-mount ") < text.indexOf("\nrootfs "));
    assert.match(renderPlan(input({ rootfsFlags: 5 })), /\nrootfs \/var\/lib\/lxt\/c1\/rootfs 5\n/);
    assert.match(renderPlan(input()), /\nrootfs \/var\/lib\/lxt\/c1\/rootfs\n/);
    assert.doesNotMatch(text, /\nstop-hook /);
  });

  test("an attached nbd or rbd device: a block-mount of the device and a stop-hook that releases it", () => {
    const blockMount = {
      kind: "dev" as const,
      source: "/dev/nbd3p1",
      fstype: "ext4",
      target: "/var/lib/lxt/c1/rootfs",
      flags: 0,
      data: [],
      detach: ["/usr/bin/qemu-nbd", "-d", "/dev/nbd3"],
    };
    const text = renderPlan(input({ blockMount }));
    assert.match(text, /\nblock-mount dev \/dev\/nbd3p1 ext4 \/var\/lib\/lxt\/c1\/rootfs 0 %\n/);
    assert.match(text, /\nstop-hook \/usr\/bin\/qemu-nbd -d \/dev\/nbd3\n/);
  });

  test("lxc.tty.dir puts ttys in a subdirectory with links", () => {
    const text = renderPlan(input({ ttyMax: 2, ttyDir: "lxc" }));
    assert.match(text, /^tty \/dev\/lxc\/tty2$/m);
    assert.match(text, /^symlink lxc\/tty2 \/dev\/tty2$/m);
  });
  test("an ephemeral container's destroy is the monitor's exit hook, run with only the environment it names", () => {
    const paths = containerPaths({ lxcpath: "/var/lib/lxt", runDir: "/run/lxt" }, "c1");
    const hook = reapCommand(paths, {
      argv: ["/usr/bin/node", "/opt/lxt/dist/lxt.cjs"],
      env: { LXT_RUNDIR: "/run/x y" },
    });
    assert.match(hook[0] ?? "", /^\/.*\/env$/);
    assert.deepEqual(hook.slice(1), [
      "-i",
      "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
      "LXT_RUNDIR=/run/x y",
      "/usr/bin/node",
      "/opt/lxt/dist/lxt.cjs",
      "destroy",
      "--if-ephemeral",
      "-n",
      "c1",
      "-P",
      "/var/lib/lxt",
    ]);
    const text = renderPlan(input({ exitHooks: [hook] }));
    assert.match(
      text,
      /^exit-hook \/\S+ -i PATH=\S+ LXT_RUNDIR=\/run\/x%20y \/usr\/bin\/node .* -P \/var\/lib\/lxt$/m,
    );
    assert.doesNotMatch(renderPlan(input()), /^exit-hook/m);
  });
  test("an idmapped bind names its user namespace in the data field; a console device follows the console", () => {
    const entry = {
      source: "/srv/shared",
      target: "/mnt/shared",
      fstype: "",
      flags: 4096,
      data: "",
      remountFlags: 0,
      createDir: true,
      idmap: "container",
    };
    const text = renderPlan(
      input({
        mountEntries: [entry, { ...entry, idmap: "/proc/7/ns/user" }],
        consolePath: "/dev/ttyS0",
      }),
    );
    assert.match(
      text,
      /^mount \/srv\/shared \/mnt\/shared % 4096 container 0 create-dir,idmapped$/m,
    );
    assert.match(
      text,
      /^mount \/srv\/shared \/mnt\/shared % 4096 \/proc\/7\/ns\/user 0 create-dir,idmapped$/m,
    );
    assert.match(text, /^console \/dev\/console\nconsole-path \/dev\/ttyS0$/m);
    assert.doesNotMatch(renderPlan(input()), /idmapped|console-path/);
  });
});
