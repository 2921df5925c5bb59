import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { hasCmd, Sandbox, skipReason } from "./harness.js";

const LXT = join(import.meta.dirname, "../../bin/lxt");

/** sh: unmounts every lxcfs of this mount namespace (e.g. the host's /var/lib/lxcfs), fails if one stays. */
const UNMOUNT_LXCFS = String.raw`for m in $(awk '/ - fuse\.lxcfs / { print $5 }' /proc/self/mountinfo); do umount -l "$m" || exit 1; done
      ! grep -q ' - fuse\.lxcfs ' /proc/self/mountinfo || exit 1`;

/** What lxt binds from Debian 12's lxcfs (5.0), sorted. */
const TARGETS = [
  "/proc/cpuinfo",
  "/proc/diskstats",
  "/proc/loadavg",
  "/proc/meminfo",
  "/proc/stat",
  "/proc/swaps",
  "/proc/uptime",
  "/sys/devices/system/cpu",
];

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
 * host's namespace with lxt.lxcfs = auto) never see it. An lxcfs the host
 * already runs (Debian's lxcfs service, at /var/lib/lxcfs) is unmounted in
 * that namespace first, so the one lxt finds there is the test's.
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
  /** When `lxt start` of `c` began and returned (ms since the epoch). */
  let startedAt = 0;
  let runningAt = 0;

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
    const script = `${UNMOUNT_LXCFS}
      lxcfs --enable-cfs -p "$1/lxcfs.pid" "$2" </dev/null >/dev/null 2>&1 &
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
    startedAt = Date.now();
    inNs(["start", "-n", c]);
    runningAt = Date.now();
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

  test("the files come from the test's lxcfs, the one lxt found", () => {
    const dev = (l: string) => l.split(" ")[2];
    const ours = readFileSync(`/proc/${lxcfsPid}/mountinfo`, "utf8")
      .split("\n")
      .find((l) => l.split(" ")[4] === mnt);
    assert.ok(ours, `${mnt} in the lxcfs namespace`);
    const pid = JSON.parse(box.ok(["info", "-n", c, "--format", "json"])).pid as number;
    const inside = readFileSync(`/proc/${pid}/mountinfo`, "utf8")
      .split("\n")
      .filter((l) => l.includes(" - fuse.lxcfs "));
    assert.deepEqual(
      inside.map((l) => `${l.split(" ")[4]} ${dev(l)}`).sort(),
      TARGETS.map((t) => `${t} ${dev(ours)}`),
    );
  });

  test("uptime counts from the container's start; cpuinfo and the cpu dir show its cpuset", () => {
    // The init started while `lxt start` ran: its age is bracketed by the clock
    // readings around the start and around the read (0.2 s for /proc's rounding).
    const t0 = Date.now();
    const up = Number(sh(c, "cut -d' ' -f1 /proc/uptime"));
    const t1 = Date.now();
    const [low, high] = [(t0 - runningAt) / 1000 - 0.2, (t1 - startedAt) / 1000 + 0.2];
    assert.ok(low <= up && up <= high, `uptime inside ${up} s, not in [${low}, ${high}]`);
    assert.equal(sh(c, "grep -c ^processor /proc/cpuinfo"), "1");
    assert.equal(sh(c, "nproc"), "1");
    assert.equal(sh(c, "cat /sys/devices/system/cpu/online"), "0");
  });

  test("info says which files come from lxcfs", () => {
    const info = JSON.parse(box.ok(["info", "-n", c, "--format", "json"]));
    assert.deepEqual([...info.lxcfs].sort(), TARGETS);
    assert.match(box.ok(["info", "-n", c]), /^lxcfs: +.*\/proc\/meminfo/m);
    assert.deepEqual(JSON.parse(box.ok(["info", "-n", off, "--format", "json"])).lxcfs, []);
  });

  test("lxt.lxcfs = on without a running lxcfs refuses to start", () => {
    box.ok(["stop", "-n", c, "-k"]);
    // In a mount namespace of its own without any lxcfs, whatever the host runs.
    const r = spawnSync(
      "unshare",
      [
        ...["-m", "--propagation", "private", "sh", "-c", `${UNMOUNT_LXCFS}\nexec "$@"`, "sh"],
        ...[LXT, "start", "-n", c],
      ],
      {
        env: { ...process.env, LXT_PATH: box.lxcpath },
        input: "",
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /lxt\.lxcfs = on, but no lxcfs is mounted/);
    assert.match(box.ok(["info", "-n", c, "-s"]), /STOPPED/);
  });
});
