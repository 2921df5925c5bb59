/**
 * Stopped moves by storage transfer (docs/migrate.md): two lxtd hosts, each
 * in a network namespace of its own with a loop-mounted btrfs state root,
 * HTTPS between them over a veth pair. A container with two snapshots
 * moves by `btrfs send` (the snapshots an incremental chain) and arrives
 * with both, read-only, its rootfs writable; a 100 MiB rootfs goes by
 * btrfs to the one and as an archive to a third host whose state root is a
 * plain directory (it receives no btrfs), timed side by side; a failing
 * `btrfs receive` on the remote, and a `btrfs send` that fails half way
 * through its upload, leave the source as it was and nothing there (no
 * container, subvolume, staging or spool).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { BtrfsLoop, skipReason } from "./harness.js";
import {
  FailingWrapper,
  failedMove,
  hidden,
  type MoveHost,
  MoveHosts,
  marker,
  moveRenamed,
  moveWithSnapshots,
  openMoveHosts,
  uploads,
} from "./move-hosts.js";

const BTRFS = spawnSync("sh", ["-c", "command -v btrfs"], { encoding: "utf8" }).stdout.trim();
const skip =
  skipReason() ?? (BTRFS === "" ? "SKIP: no btrfs-progs (apt-get install btrfs-progs)" : undefined);
if (skip) console.log(skip);

/** This process's CPU time plus its reaped children's, in seconds (/proc/PID/stat utime..cstime). */
function cpuOf(pid: number | "self"): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14-17 of stat(5), counted from after the command name (field 3 is f[0]).
  return [11, 12, 13, 14].reduce((s, i) => s + Number(f[i]), 0) / 100;
}

describe("stopped moves by btrfs send/receive", { skip, timeout: 900_000 }, () => {
  let a: MoveHost;
  let b: MoveHost;
  let c: MoveHost;
  const hosts = new MoveHosts();
  /** The fake `btrfs` (b's daemon's, a's CLI's when asked): passes through unless its mode says to fail. */
  const fake = new FailingWrapper("btrfs", BTRFS, {
    "fail-receive": `  for a in "$@"; do last=$a; done
  case " $* " in *" receive "*)
    ${BTRFS} -q subvolume create "$last/rootfs"
    echo "fake: receive failed half way" >&2; exit 1 ;;
  esac`,
    "fail-send": `  case " $* " in *" send "*)
    ${BTRFS} "$@" | head -c 262144
    echo "fake: send failed half way" >&2; exit 1 ;;
  esac`,
  });
  const mode = fake.mode;

  const openHost = (prefix: string, addr: string, btrfs: boolean): MoveHost => {
    const loop = btrfs ? new BtrfsLoop() : undefined;
    loop?.open("1200M");
    return hosts.open(prefix, addr, loop?.mnt, () => loop?.close());
  };
  const subvolumes = (h: MoveHost) =>
    execFileSync("btrfs", ["subvolume", "list", h.box.lxcpath], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => l.slice(l.indexOf(" path ") + 6));
  const make = (h: MoveHost, prefix: string): string => {
    const n = h.net.name(prefix);
    h.net.ok(["create", "-n", n, "-t", "busybox", "--network", "empty"]);
    return n;
  };
  const ro = (path: string) =>
    execFileSync("btrfs", ["property", "get", "-ts", path, "ro"], { encoding: "utf8" }).trim();

  before(async () => {
    ({ a, b, c } = await openMoveHosts(hosts, openHost, {
      prefix: "mb",
      net: "10.252",
      net2: "10.253",
      fake: fake.dir,
    }));
  });

  after(async () => {
    await hosts.close();
    fake.close();
  });

  test("a stopped move with two snapshots goes by btrfs send and arrives with both", () => {
    mode("pass");
    const n = make(a, "two");
    const dst = moveWithSnapshots(a, b, n, "btrfs");
    assert.equal(marker(join(dst, "rootfs")), "three\n");
    assert.equal(marker(join(dst, "snaps", "snap0", "rootfs")), "one\n");
    assert.equal(marker(join(dst, "snaps", "snap1", "rootfs")), "two\n");
    // Received subvolumes, the snapshots read-only as lxt's are, the rootfs writable.
    assert.equal(ro(join(dst, "snaps", "snap0", "rootfs")), "ro=true");
    assert.equal(ro(join(dst, "snaps", "snap1", "rootfs")), "ro=true");
    assert.equal(ro(join(dst, "rootfs")), "ro=false");
    const show = execFileSync(
      "btrfs",
      ["subvolume", "show", join(dst, "snaps", "snap1", "rootfs")],
      {
        encoding: "utf8",
      },
    );
    assert.match(show, /Received UUID:\s+[0-9a-f-]{36}/);
    // The configs point into the new place; it starts there, and its snapshot restores.
    assert.match(
      readFileSync(join(dst, "config"), "utf8"),
      new RegExp(`^lxc\\.rootfs\\.path = btrfs:${dst}/rootfs$`, "m"),
    );
    b.net.ok(["start", "-n", n]);
    assert.equal(b.net.ok(["attach", "-n", n, "--", "cat", "/marker"]), "three\n");
    b.net.ok(["stop", "-k", "-n", n]);
    b.net.ok(["snapshot", "-r", "snap0", "-n", n]);
    assert.equal(marker(join(dst, "rootfs")), "one\n");
    assert.deepEqual(hidden(a), []);
    assert.deepEqual(hidden(b), []);
    assert.deepEqual(uploads(b), []);
  });

  test("a move under a new name arrives with that name in its config and /etc/hostname", () => {
    const to = moveRenamed(a, b, make(a, "ren"));
    b.net.ok(["destroy", "-n", to]);
  });

  const failed = (n: string, failMode: string, why: RegExp, env?: NodeJS.ProcessEnv) =>
    failedMove({ a, b }, n, {
      setMode: mode,
      failMode,
      why,
      storage: subvolumes,
      snap0: "snaps/snap0/rootfs",
      env,
    });

  test("a failing btrfs receive on the remote leaves the source as it was and nothing there", () => {
    mode("pass");
    failed(make(a, "fail"), "fail-receive", /fake: receive failed half way/);
  });

  test("a btrfs send that fails half way cuts the upload: the remote's receive stops and leaves nothing", () => {
    mode("pass");
    const n = make(a, "cut");
    // Bigger than what the fake lets through, so the remote has begun receiving the stream that is cut.
    writeFileSync(join(a.box.lxcpath, n, "rootfs", "big"), randomBytes(4 << 20));
    failed(n, "fail-send", /fake: send failed half way/, {
      PATH: `${fake.dir}:${process.env.PATH}`,
    });
  });

  test("100 MiB rootfs: btrfs send (to b) against the archive (to c, a directory state root), interleaved", () => {
    const n = make(a, "big");
    execFileSync("sh", [
      "-c",
      `head -c 100M /dev/urandom > "$1"`,
      "sh",
      join(a.box.lxcpath, n, "rootfs", "blob"),
    ]);
    const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
    const runs: Record<string, { wall: number[]; cpu: number[]; bytes: number[] }> = {
      btrfs: { wall: [], cpu: [], bytes: [] },
      archive: { wall: [], cpu: [], bytes: [] },
    };
    const daemon = { btrfs: b, archive: c };
    for (let i = 0; i < 3; i++) {
      for (const how of ["btrfs", "archive"] as const) {
        const h = daemon[how];
        const pid = h.box.daemon?.pid as number;
        const to = `${n}-${i}`;
        const cpu0 = cpuOf("self") + cpuOf(pid);
        const t0 = process.hrtime.bigint();
        const out = a.net.ok(["copy", n, `${how === "btrfs" ? "b" : "c"}:${to}`, "-v"]);
        const wall = Number(process.hrtime.bigint() - t0) / 1e9;
        const cpu = cpuOf("self") + cpuOf(pid) - cpu0;
        const m = /\((\d+) bytes sent( by btrfs send)?\)/.exec(out);
        assert.ok(m, out);
        assert.equal(!!m[2], how === "btrfs", out);
        assert.ok(Number(m[1]) > 100 * 1024 * 1024, out);
        assert.equal(statSync(join(h.box.lxcpath, to, "rootfs", "blob")).size, 100 * 1024 * 1024);
        runs[how]?.wall.push(wall);
        runs[how]?.cpu.push(cpu);
        runs[how]?.bytes.push(Number(m[1]));
        h.net.ok(["destroy", "-n", to]);
      }
    }
    const med = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)] as number;
    const f = (v: number[]) => v.map((x) => x.toFixed(2)).join(", ");
    for (const [how, r] of Object.entries(runs)) {
      console.log(
        `# ${how}: wall ${f(r.wall)} s (median ${med(r.wall).toFixed(2)}); cpu (sender + remote lxtd, children included) ${f(r.cpu)} s; bytes ${r.bytes.join(", ")}`,
      );
    }
    const bt = runs.btrfs as { wall: number[]; cpu: number[] };
    const ar = runs.archive as { wall: number[]; cpu: number[] };
    console.log(
      `# btrfs/archive: wall ${(med(bt.wall) / med(ar.wall)).toFixed(2)}, cpu ${(med(bt.cpu) / med(ar.cpu)).toFixed(2)}; load ${load}`,
    );
    a.net.ok(["destroy", "-n", n]);
  });
});
