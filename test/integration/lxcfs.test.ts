import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir, uptime } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { detectLxcfs } from "../../src/host/lxcfs.js";
import { hasCmd, Sandbox, skipReason } from "./harness.js";

const LXT = join(import.meta.dirname, "../../bin/lxt");

function lxcfsSkip(): string | undefined {
  const base = skipReason();
  if (base) return base;
  if (!hasCmd("lxcfs") || !hasCmd("unshare") || !hasCmd("nsenter"))
    return "SKIP: no lxcfs/unshare/nsenter (scripts/setup.sh installs lxcfs)";
  return undefined;
}

/**
 * The test's own lxcfs runs in a private mount namespace, with the lxt that
 * starts the containers, so that other tests' containers (started from the
 * host's namespace with lxt.lxcfs = auto) never see it.
 */
describe("lxcfs: the container's /proc and /sys/devices/system/cpu reflect its limits", {
  skip: lxcfsSkip(),
  timeout: 120_000,
}, () => {
  let box: Sandbox;
  let c: string;
  let off: string;
  const dir = mkdtempSync(join(tmpdir(), "lxt-lxcfs-"));
  // Searchable by an unprivileged container's root (as /var/lib/lxcfs is).
  chmodSync(dir, 0o711);
  const mnt = join(dir, "lxcfs");
  let lxcfsPid = 0;

  /** Runs lxt in the namespace that sees the test's lxcfs. */
  const inNs = (args: string[]) => {
    const r = spawnSync("nsenter", ["-m", "-t", String(lxcfsPid), "--", LXT, ...args], {
      env: { ...process.env, LXT_PATH: box.lxcpath },
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(r.status, 0, `lxt ${args.join(" ")}: ${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const sh = (name: string, script: string) =>
    box.ok(["attach", "-n", name, "--", "sh", "-c", script]).trim();

  before(() => {
    mkdirSync(mnt);
    box = new Sandbox();
    c = box.name("fs");
    off = box.name("fsoff");
    box.ok(["create", "-n", c, "-t", "busybox"]);
    box.ok(["create", "-n", off, "-t", "busybox"]);
    appendFileSync(
      join(box.lxcpath, c, "config"),
      "lxt.limits.memory = 64M\nlxt.limits.cpu.set = 0\nlxt.lxcfs = on\n",
    );
    appendFileSync(join(box.lxcpath, off, "config"), "lxt.lxcfs = off\n");
    // lxcfs runs in the foreground: in the background here, the namespace lives on in it.
    const script = `lxcfs --enable-cfs -p "$1/lxcfs.pid" "$2" </dev/null >/dev/null 2>&1 &
      for i in $(seq 100); do grep -q " $2 .* - fuse.lxcfs " /proc/self/mountinfo && exit 0; sleep 0.1; done; exit 1`;
    const r = spawnSync(
      "unshare",
      ["-m", "--propagation", "private", "sh", "-c", script, "sh", dir, mnt],
      {
        encoding: "utf8",
      },
    );
    assert.equal(r.status, 0, `lxcfs did not come up: ${r.stderr}`);
    lxcfsPid = Number(readFileSync(join(dir, "lxcfs.pid"), "utf8").trim());
    assert.ok(lxcfsPid > 0);
    inNs(["start", "-n", c]);
    inNs(["start", "-n", off]);
  });
  after(() => {
    box?.cleanup();
    if (lxcfsPid > 0) {
      try {
        process.kill(lxcfsPid, "SIGTERM");
      } catch {
        // already gone
      }
      for (let i = 0; i < 50 && spawnSync("kill", ["-0", String(lxcfsPid)]).status === 0; i++)
        spawnSync("sleep", ["0.1"]);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  // procps's free reads /proc/meminfo; busybox's free and uptime ask sysinfo(2),
  // which lxcfs cannot cover, so the files themselves are checked.
  test("/proc/meminfo (what free reads) shows the memory limit, not the host's RAM", () => {
    const memTotal = (name: string) =>
      Number(sh(name, "awk '/^MemTotal:/ { print $2 }' /proc/meminfo"));
    const total = memTotal(c);
    assert.ok(total > 60_000 && total <= 65_536, `MemTotal ${total} kB`);
    assert.ok(memTotal(off) > 65_536, `with lxt.lxcfs = off: ${memTotal(off)} kB`);
  });

  test("uptime counts from the container's start; cpuinfo and the cpu dir show its cpuset", () => {
    const up = Number(sh(c, "cut -d' ' -f1 /proc/uptime"));
    assert.ok(up < 300, `uptime inside ${up} s`);
    if (uptime() > 400) assert.ok(up < uptime() - 60, `uptime ${up} vs host ${uptime()}`);
    assert.equal(sh(c, "grep -c ^processor /proc/cpuinfo"), "1");
    assert.equal(sh(c, "nproc"), "1");
    assert.equal(sh(c, "cat /sys/devices/system/cpu/online"), "0");
  });

  test("info says which files come from lxcfs", () => {
    const info = JSON.parse(box.ok(["info", "-n", c, "--format", "json"]));
    assert.ok(info.lxcfs.includes("/proc/meminfo"), JSON.stringify(info.lxcfs));
    assert.ok(info.lxcfs.includes("/sys/devices/system/cpu"), JSON.stringify(info.lxcfs));
    assert.match(box.ok(["info", "-n", c]), /^lxcfs: +.*\/proc\/meminfo/m);
    assert.deepEqual(JSON.parse(box.ok(["info", "-n", off, "--format", "json"])).lxcfs, []);
  });

  test("lxt.lxcfs = on without a running lxcfs refuses to start", (t) => {
    if (detectLxcfs()) {
      t.diagnostic("SKIP: an lxcfs is mounted in the host's namespace");
      return;
    }
    box.ok(["stop", "-n", c, "-k"]);
    const r = box.lxt(["start", "-n", c]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /lxt\.lxcfs = on, but no lxcfs is mounted/);
    assert.match(box.ok(["info", "-n", c, "-s"]), /STOPPED/);
  });
});
