import assert from "node:assert/strict";
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { hostLeftovers, runtimeLeftovers, Sandbox, skipReason } from "./harness.js";

const skip = skipReason();
if (skip) console.log(skip);

const NS = ["mnt", "pid", "net", "uts", "ipc", "cgroup"] as const;
const START_TYPES = [
  "pre-start",
  "pre-mount",
  "mount",
  "autodev",
  "start-host",
  "stop",
  "post-stop",
] as const;

/**
 * The recorder every hook runs: one file per run, named by its type, with
 * its arguments, LXC_* variables, its namespaces, and what it found (the
 * namespaces a stop hook is handed, /dev's nodes, the start-host marker).
 * Inside the container (the start hook) it writes to /hook-out.
 */
const RECORDER = `#!/bin/sh
dir=$OUT; [ -d "$dir" ] || dir=/hook-out; mkdir -p "$dir"
t=\${LXC_HOOK_TYPE:-$3}
f="$dir/$t.$$"
{
  echo "args=$*"
  env | grep -E '^(LXC_|OUT=|HOOKVAR=|RUNTIMEVAR=)' | sort
  for n in ${NS.join(" ")}; do echo "ns_$n=$(readlink /proc/self/ns/$n)"; done
  for a in "$@"; do case $a in *:/proc/*) echo "arg_\${a%%:*}=$(readlink "\${a#*:}")";; esac; done
  for v in $(env | sed -n 's/^\\(LXC_[A-Z]*_NS\\)=.*/\\1/p'); do eval "echo env_$v=\\$(readlink \\$$v)"; done
  [ "$t" = autodev ] && echo "dev_null=$([ -e "$LXC_ROOTFS_MOUNT/dev/null" ] && echo yes || echo no)"
  [ "$t" = mount ] && echo "proc_mounted=$([ -e "$LXC_ROOTFS_MOUNT/proc/self" ] && echo yes || echo no)"
  [ "$t" = clone ] && echo "rootfs_bin=$([ -e "$LXC_ROOTFS_MOUNT/bin/busybox" ] && echo yes || echo no)"
  [ "$t" = start ] && sed -n 's/^\\(CapBnd\\|CapEff\\|Seccomp\\):[[:space:]]*/status_\\1=/p' /proc/self/status
  [ "$t" = start ] && echo "start_host_ran=$([ -e /.start-host-ran ] && echo yes || echo no)"
} > "$f"
[ "$t" = start-host ] && touch "$LXC_ROOTFS_MOUNT/.start-host-ran"
exit 0
`;

/** `KEY=value` lines of one record. */
function parse(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split("\n")
      .filter((l) => l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

/** LXC's container hooks: every type at its point, in its namespaces, with LXC's arguments and variables. */
describe("container hooks", { skip, timeout: 300_000 }, () => {
  let box: Sandbox;
  let out: string;
  const hostNs = Object.fromEntries(NS.map((n) => [n, readlinkSync(`/proc/self/ns/${n}`)]));

  before(() => {
    box = new Sandbox();
    // Unprivileged containers' hooks inside their namespaces run as the
    // container's root: the state root must be searchable for them.
    chmodSync(box.lxcpath, 0o711);
    out = join(box.lxcpath, "out");
  });
  after(() => box.cleanup());

  /** A busybox container with the recorder in its rootfs and these config lines. */
  function make(lines: string[], privileged = true): { name: string; rootfs: string; rec: string } {
    const name = box.name("hook");
    box.ok(["create", "-n", name, "-t", "busybox"]);
    const dir = join(box.lxcpath, name);
    const rootfs = join(dir, "rootfs");
    const rec = join(rootfs, "rec.sh");
    writeFileSync(rec, RECORDER, { mode: 0o755 });
    const cfg = readFileSync(join(dir, "config"), "utf8");
    writeFileSync(
      join(dir, "config"),
      privileged ? cfg.replace("lxt.privileged = 0", "lxt.privileged = 1") : cfg,
    );
    appendFileSync(
      join(dir, "config"),
      `${lines.map((l) => l.replaceAll("REC", rec).replaceAll("OUTDIR", out)).join("\n")}\n`,
    );
    return { name, rootfs, rec };
  }

  /** The records in DIR, by hook type (each type's list of runs). */
  function records(dir: string): Record<string, Record<string, string>[]> {
    const got: Record<string, Record<string, string>[]> = {};
    for (const f of existsSync(dir) ? readdirSync(dir) : []) {
      const type = f.slice(0, f.lastIndexOf("."));
      got[type] = [...(got[type] ?? []), parse(readFileSync(join(dir, f), "utf8"))];
    }
    return got;
  }

  function containerNs(name: string): Record<string, string> {
    const pid = box.ok(["info", "-n", name, "-p"]).trim().split(/\s+/).pop();
    return Object.fromEntries(NS.map((n) => [n, readlinkSync(`/proc/${pid}/ns/${n}`)]));
  }

  const every = [...START_TYPES, "start"].map((t) =>
    t === "start" ? "lxc.hook.start = /rec.sh" : `lxc.hook.${t} = REC`,
  );

  test("version 0: each type once, at its point, in its namespaces, with NAME lxc TYPE", () => {
    mkdirSync(out, { mode: 0o777, recursive: true });
    const { name, rootfs } = make([
      ...every,
      "lxc.environment.hooks = OUT=OUTDIR",
      "lxc.environment.hooks = HOOKVAR=h",
      "lxc.environment.runtime = RUNTIMEVAR=r",
    ]);
    box.ok(["start", "-n", name]);
    const ns = containerNs(name);
    const pid = box.ok(["info", "-n", name, "-p"]).trim().split(/\s+/).pop();
    const initStatus = parse(
      readFileSync(`/proc/${pid}/status`, "utf8").replace(/^(\w+):\s*/gm, "status_$1="),
    );
    box.ok(["stop", "-n", name, "-k"]);
    const got = records(out);
    const inside = records(join(rootfs, "hook-out"));
    for (const t of START_TYPES)
      assert.equal(got[t]?.length, 1, `${t} ran once: ${Object.keys(got)}`);
    assert.equal(inside.start?.length, 1, "start ran once, inside");
    const r = (t: string) =>
      (t === "start" ? inside.start?.[0] : got[t]?.[0]) as Record<string, string>;
    for (const t of [...START_TYPES, "start"]) {
      const extra = t === "stop" ? / mnt:\/proc\/\d+\/fd\/\d+/ : /$/;
      assert.match(r(t).args as string, new RegExp(`^${name} lxc ${t}`), t);
      assert.match(r(t).args as string, extra, t);
      assert.equal(r(t).LXC_NAME, name, t);
      assert.equal(r(t).LXC_HOOK_VERSION, "0", t);
      assert.equal(r(t).LXC_HOOK_TYPE, undefined, t);
      assert.equal(r(t).LXC_ROOTFS_MOUNT, rootfs, t);
      assert.equal(r(t).LXC_CONFIG_FILE, join(box.lxcpath, name, "config"), t);
      assert.equal(r(t).HOOKVAR, "h", `${t}: lxc.environment.hooks`);
      assert.equal(r(t).RUNTIMEVAR, undefined, `${t}: not lxc.environment.runtime`);
    }
    // On the host: pre-start, start-host, stop, post-stop.
    for (const t of ["pre-start", "start-host", "stop", "post-stop"])
      for (const n of NS) assert.equal(r(t)[`ns_${n}`], hostNs[n], `${t} ${n}`);
    // In the container's mount (and other) namespaces before its pivot.
    for (const t of ["pre-mount", "mount", "autodev"])
      for (const n of ["mnt", "pid", "net", "uts", "ipc"])
        assert.equal(r(t)[`ns_${n}`], ns[n], `${t} ${n}`);
    // The start hook: the container's view, every namespace.
    for (const n of NS) assert.equal(r("start")[`ns_${n}`], ns[n], `start ${n}`);
    assert.equal(r("start-host").LXC_PID, pid);
    assert.equal(r("start").start_host_ran, "yes", "start-host ran before start");
    // Confined as the init: the same bounding and effective sets, under the seccomp filter.
    for (const k of ["status_CapBnd", "status_CapEff", "status_Seccomp"])
      assert.equal(r("start")[k], initStatus[k], `start hook ${k}`);
    assert.equal(r("start").status_Seccomp, "2");
    assert.equal(r("mount").proc_mounted, "yes", "mount hooks after the mounts");
    assert.equal(r("autodev").dev_null, "no", "autodev hooks before /dev is filled");
    assert.equal(r("stop").LXC_TARGET, "stop");
    // The stop hook's TYPE:PATH arguments reach the (gone) container's namespaces.
    for (const n of NS) assert.equal(r("stop")[`arg_${n}`], ns[n], `stop arg ${n}`);
  });

  test("version 1: LXC_HOOK_TYPE/SECTION, no arguments, stop's namespaces in LXC_*_NS", () => {
    const out1 = `${out}-v1`;
    mkdirSync(out1, { mode: 0o777 });
    const { name } = make([
      ...every.filter((l) => !l.includes("hook.start =")),
      "lxc.hook.version = 1",
      `lxc.environment.hooks = OUT=${out1}`,
    ]);
    box.ok(["start", "-n", name]);
    const ns = containerNs(name);
    box.ok(["stop", "-n", name, "-k"]);
    const got = records(out1);
    for (const t of START_TYPES) {
      const r = got[t]?.[0] as Record<string, string>;
      assert.ok(r, `${t} ran`);
      assert.equal(r.args, "", t);
      assert.equal(r.LXC_HOOK_TYPE, t);
      assert.equal(r.LXC_HOOK_SECTION, "lxc");
      assert.equal(r.LXC_HOOK_VERSION, "1");
    }
    const stop = got.stop?.[0] as Record<string, string>;
    for (const n of NS) assert.equal(stop[`env_LXC_${n.toUpperCase()}_NS`], ns[n], `LXC_*_NS ${n}`);
  });

  for (const type of ["pre-start", "pre-mount", "mount", "start-host", "start"]) {
    test(`a failing ${type} hook fails the start and undoes it`, () => {
      const { name } = make([`lxc.hook.${type} = /bin/sh -c 'exit 3'`]);
      const r = box.lxt(["start", "-n", name]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`lxc\\.hook\\.${type} .*failed \\(exit 3\\)`));
      assert.equal(box.ok(["info", "-n", name, "-s"]).trim().split(/\s+/).pop(), "STOPPED");
      assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
      assert.deepEqual(hostLeftovers(name), []);
    });
  }

  test("stop and post-stop failures are logged, not fatal; post-stop records the exit", () => {
    const record = join(box.lxcpath, "exit-record");
    const { name } = make([
      "lxc.hook.stop = /bin/false",
      `lxc.hook.post-stop = /bin/sh -c 'cat "$(dirname "$LXC_CONFIG_FILE")/last-exit" > ${record}; echo "$LXC_TARGET" >> ${record}'`,
      "lxc.hook.post-stop = /bin/sh -c 'exit 4'",
    ]);
    box.ok(["start", "-n", name]);
    box.ok(["stop", "-n", name, "-k"]);
    const exit = readFileSync(join(box.lxcpath, name, "last-exit"), "utf8");
    assert.equal(readFileSync(record, "utf8"), `${exit}stop\n`);
    const log = readFileSync(join(box.lxcpath, name, "hooks.log"), "utf8");
    assert.match(log, /lxc\.hook\.stop failed: error hook lxc\.hook\.stop:exit:1 \/bin\/false/);
    assert.match(log, /lxc\.hook\.post-stop failed: .*exit:4/);
    assert.deepEqual(runtimeLeftovers(box.lxcpath), []);
  });

  test("a mount hook binds a host directory into an unprivileged container; the host sees no mount", () => {
    const share = join(box.lxcpath, "share");
    mkdirSync(share, { mode: 0o755 });
    writeFileSync(join(share, "hello"), "from the host\n", { mode: 0o644 });
    const { name, rootfs } = make(
      [`lxc.hook.mount = /bin/sh -c 'mount --bind ${share} "$LXC_ROOTFS_MOUNT/mnt"'`],
      false,
    );
    mkdirSync(join(rootfs, "mnt"), { recursive: true });
    box.ok(["start", "-n", name]);
    assert.equal(box.ok(["attach", "-n", name, "--", "cat", "/mnt/hello"]), "from the host\n");
    assert.doesNotMatch(readFileSync("/proc/self/mountinfo", "utf8"), new RegExp(`${rootfs}/mnt`));
    box.ok(["stop", "-n", name, "-k"]);
  });

  test("clone hooks run on copy (the new container, LXC_SRC_NAME; an overlay mounted), destroy hooks on destroy", () => {
    const outc = `${out}-clone`;
    mkdirSync(outc, { mode: 0o777 });
    const { name, rec } = make([
      "lxc.hook.clone = REC",
      "lxc.hook.destroy = REC",
      `lxc.environment.hooks = OUT=${outc}`,
    ]);
    const snap = box.name("snap");
    for (const [copy, args] of [
      [box.name("copy"), []],
      [snap, ["-s"]],
    ] as const) {
      box.ok(["copy", "-n", name, "-N", copy, ...args]);
      const clones = records(outc).clone ?? [];
      assert.equal(clones.length, 1, `${copy}: one clone hook run`);
      const r = clones[0] as Record<string, string>;
      assert.equal(r.args, `${copy} lxc clone`);
      assert.equal(r.LXC_NAME, copy);
      assert.equal(r.LXC_SRC_NAME, name);
      assert.equal(r.LXC_CONFIG_FILE, join(box.lxcpath, copy, "config"));
      assert.equal(r.LXC_ROOTFS_MOUNT, join(box.lxcpath, copy, "rootfs"));
      assert.equal(r.rootfs_bin, "yes", `${copy}: the rootfs (an overlay for -s) is mounted there`);
      assert.deepEqual(hostLeftovers(copy), [], "nothing of the hook's mount on the host");
      for (const f of readdirSync(outc)) rmSync(join(outc, f));
    }
    assert.ok(existsSync(rec));
    const failing = box.name("nocopy");
    appendFileSync(join(box.lxcpath, name, "config"), "lxc.hook.clone = /bin/false\n");
    const r = box.lxt(["copy", "-n", name, "-N", failing]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /lxc\.hook\.clone \/bin\/false failed/);
    assert.ok(!existsSync(join(box.lxcpath, failing)), "a failed clone hook undoes the copy");

    box.ok(["destroy", "-n", snap]);
    box.ok(["destroy", "-n", name]);
    const d = records(outc).destroy?.find((x) => x.LXC_NAME === name) as Record<string, string>;
    assert.equal(d.args, `${name} lxc destroy`);
    assert.equal(d.LXC_NAME, name);
    const kept = make(["lxc.hook.destroy = /bin/false"]);
    const fail = box.lxt(["destroy", "-n", kept.name]);
    assert.equal(fail.code, 1, fail.stderr);
    assert.match(fail.stderr, /destroy .*lxc\.hook\.destroy \/bin\/false failed/);
    assert.ok(existsSync(join(kept.rootfs, "bin")), "a failed destroy hook keeps the container");
    const cfg = join(box.lxcpath, kept.name, "config");
    writeFileSync(cfg, readFileSync(cfg, "utf8").replace("lxc.hook.destroy = /bin/false\n", ""));
    box.ok(["destroy", "-n", kept.name]);
  });
});

const CLONEHOSTNAME = "/usr/share/lxc/hooks/clonehostname";
const noShipped = existsSync(CLONEHOSTNAME) ? undefined : `SKIP: no ${CLONEHOSTNAME} (package lxc)`;
if (!skip && noShipped) console.log(noShipped);

/** LXC's own shipped clone hook, unchanged, on a copy-on-write (overlay) copy. */
describe("LXC's shipped hooks", { skip: skip ?? noShipped, timeout: 120_000 }, () => {
  let box: Sandbox;
  before(() => {
    box = new Sandbox();
  });
  after(() => box.cleanup());

  test("clonehostname renames the copy in its /etc/hosts (written through the overlay)", () => {
    const src = box.name("src");
    const copy = box.name("copy");
    box.ok(["create", "-n", src, "-t", "busybox"]);
    writeFileSync(join(box.lxcpath, src, "rootfs", "etc", "hosts"), `127.0.1.1 ${src}\n`);
    appendFileSync(join(box.lxcpath, src, "config"), `lxc.hook.clone = ${CLONEHOSTNAME}\n`);
    box.ok(["copy", "-n", src, "-N", copy, "-s"]);
    box.ok(["start", "-n", copy]);
    assert.equal(box.ok(["attach", "-n", copy, "--", "cat", "/etc/hosts"]), `127.0.1.1 ${copy}\n`);
    box.ok(["stop", "-n", copy, "-k"]);
    const hosts = readFileSync(join(box.lxcpath, src, "rootfs", "etc", "hosts"), "utf8");
    assert.equal(hosts, `127.0.1.1 ${src}\n`, "the source is untouched");
  });
});
