/**
 * Stopped moves by zfs send/receive (docs/migrate.md), in two parts.
 *
 * Real ZFS (gated: `SKIP: no ZFS here` where there is no zfs module, as
 * the storage tests): two lxtd hosts, each in a network namespace of its
 * own with a state root that is a zfs dataset (a throw-away pool on a
 * sparse file each), HTTPS between them over a veth pair, and a third
 * whose state root is a plain directory. A container with two snapshots
 * moves by `zfs send` (the snapshots an incremental chain) and arrives as
 * one dataset with both snapshots, mounted at its rootfs; to the third it
 * goes as an archive; a `zfs receive` failing on the remote and a `zfs
 * send` that fails half way through its upload leave the source as it was
 * and nothing there (no container, dataset, staging or spool).
 *
 * On any host, and NOT a test of ZFS: the failure paths and the fallback
 * with a fake `zfs` executable first on PATH (a shell script that keeps
 * its "datasets" as files): a receive whose input is cut stops the `zfs
 * receive` and leaves nothing once destroyed, a `zfs send` failing half
 * way makes its stream error (which cuts the upload, as btrfs's), and a
 * container whose config says zfs goes to a remote that receives no zfs as
 * an archive, without one `zfs send`.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { commandRunner } from "../../src/host/runner.js";
import { storageDriver } from "../../src/storage/index.js";
import { LXT, Sandbox, skipReason, testArgs } from "./harness.js";
import { LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";
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
import { ZfsPool, zfsSkip } from "./zfs-pool.js";

/** A fake `zfs` in a temp dir: its datasets are files under `ds/`, every call is logged. */
class FakeZfs {
  readonly dir = mkdtempSync(join(tmpdir(), "lxt-fakezfs-"));
  constructor() {
    mkdirSync(join(this.dir, "ds"));
    const d = this.dir;
    writeFileSync(
      join(d, "zfs"),
      `#!/bin/sh
# A fake zfs for failure-path tests: it is NOT zfs.
echo "$*" >> ${d}/log
mode=$(cat ${d}/mode 2>/dev/null)
for a in "$@"; do last=$a; done
file=${d}/ds/$(printf %s "\${last%%@*}" | tr / %)
case "$1" in
send)
  if [ "$mode" = fail-send ]; then
    head -c 262144 /dev/zero
    echo "fake: send failed half way" >&2; exit 1
  fi
  echo "fake: no zfs send here" >&2; exit 1 ;;
receive)
  echo $$ > ${d}/receiving
  cat > "$file" ;;
list)
  case " $* " in *" -d "*) exit 0 ;; esac
  [ -e "$file" ] && { echo "$last"; exit 0; }
  echo "cannot open '$last': dataset does not exist" >&2; exit 1 ;;
get) echo - ;;
destroy) [ "$2" = -r ] && rm -f "$file" ;;
esac
exit 0
`,
    );
    chmodSync(join(d, "zfs"), 0o755);
  }
  mode(m: string): void {
    writeFileSync(join(this.dir, "mode"), m);
  }
  log(): string[] {
    const f = join(this.dir, "log");
    return existsSync(f) ? readFileSync(f, "utf8").split("\n").filter(Boolean) : [];
  }
  datasets(): string[] {
    return readdirSync(join(this.dir, "ds")).map((f) => f.replaceAll("%", "/"));
  }
  get path(): string {
    return `${this.dir}:${process.env.PATH}`;
  }
  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A stream of `n` bytes that errors, as an upload cut by the network, once
 * `file` (where the fake receive writes) holds them all: the receive had
 * begun.
 */
function cutAfter(n: number, file: string): Readable {
  const s = new PassThrough();
  s.write(Buffer.alloc(n));
  const poll = setInterval(() => {
    if ((statSync(file, { throwIfNoEntry: false })?.size ?? 0) < n) return;
    clearInterval(poll);
    s.destroy(new Error("connection cut"));
  }, 5);
  return s;
}

describe("zfs streams' failure paths and fallback, with a fake zfs (not a test of ZFS)", () => {
  const fake = new FakeZfs();
  const run = commandRunner({ PATH: fake.path });
  after(() => fake.close());

  test("a receive whose input is cut fails, its zfs receive gone; destroy leaves no dataset", async () => {
    fake.mode("pass");
    const d = storageDriver("zfs", run, { zfsRoot: "fakepool/state" });
    const r = d.receiver?.("/nonexistent/.lxt-import-1-aa", ["snap0"]);
    assert.ok(r);
    const file = join(fake.dir, "ds", "fakepool%state%lxt-import-1-aa");
    await assert.rejects(r.receive(0, cutAfter(65536, file)), /connection cut/);
    const pid = Number(readFileSync(join(fake.dir, "receiving"), "utf8"));
    assert.equal(spawnSync("kill", ["-0", String(pid)]).status, 1, "zfs receive still runs");
    assert.deepEqual(fake.datasets(), ["fakepool/state/lxt-import-1-aa"]);
    await r.destroy();
    assert.deepEqual(fake.datasets(), []);
    assert.deepEqual(fake.log().slice(-3), [
      "receive -u -o mountpoint=none fakepool/state/lxt-import-1-aa@snap0",
      "list -H -o name -t filesystem fakepool/state/lxt-import-1-aa",
      "destroy -r fakepool/state/lxt-import-1-aa",
    ]);
  });

  test("a zfs send that fails half way makes its stream error after what it sent", async () => {
    fake.mode("fail-send");
    const d = storageDriver("zfs", run);
    const ref = { spec: { backend: "zfs" as const, dataset: "fakepool/lxt/c1@snap0" }, dir: "/x" };
    let bytes = 0;
    await assert.rejects(async () => {
      for await (const b of d.send?.(ref) ?? []) bytes += (b as Buffer).length;
    }, /fake: send failed half way/);
    assert.equal(bytes, 262144);
  });

  const skip = skipReason() ?? lxtdSkipReason();
  test("a container on zfs goes to a remote that receives no zfs as an archive", {
    skip,
  }, async () => {
    fake.mode("pass");
    const a = new Sandbox();
    const b = new LxtdSandbox();
    const cli = (args: string[]) => {
      const r = spawnSync(LXT, testArgs(args), {
        env: { ...process.env, LXT_PATH: a.lxcpath, PATH: fake.path },
        encoding: "utf8",
        timeout: 300_000,
      });
      assert.equal(r.status, 0, `lxt ${args.join(" ")}: ${r.stdout}${r.stderr}`);
      return r.stdout;
    };
    try {
      await b.startDaemon(["--https", "127.0.0.1:0"]);
      const addr = (
        JSON.parse(b.lxcOk(["query", "/1.0"])) as { environment: { addresses: string[] } }
      ).environment.addresses[0];
      const token = b.ok(["trust", "token", "from-a"]).trim();
      a.ok(["remote", "add", "b", `https://${addr}`, "--token", token]);
      const n = a.name("zf");
      a.ok(["create", "-n", n, "-t", "busybox"]);
      // Its config says zfs: the fake answers for its dataset, the rootfs stays a directory.
      const config = join(a.lxcpath, n, "config");
      writeFileSync(
        config,
        readFileSync(config, "utf8").replace(
          /^lxc\.rootfs\.path = .*$/m,
          `lxc.rootfs.path = zfs:fakepool/state/${n}`,
        ),
      );
      writeFileSync(join(fake.dir, "ds", `fakepool%state%${n}`), "");
      writeFileSync(join(a.lxcpath, n, "rootfs", "marker"), "zfs here\n");
      const logged = fake.log().length;
      const out = cli(["move", n, "b:", "-v"]);
      const calls = fake.log().slice(logged);
      assert.match(out, new RegExp(`moved ${n} to b:${n} \\(\\d+ bytes sent\\)`));
      // No stream, not even the send's snapshot; the move destroyed the source's dataset.
      assert.deepEqual(
        calls.filter((l) => /^(send|receive|snapshot)/.test(l)),
        [],
      );
      assert.ok(calls.includes(`destroy -r fakepool/state/${n}`), calls.join("\n"));
      assert.deepEqual(fake.datasets(), []);
      assert.equal(existsSync(join(a.lxcpath, n)), false);
      assert.equal(readFileSync(join(b.lxcpath, n, "rootfs", "marker"), "utf8"), "zfs here\n");
      b.ok(["destroy", "-n", n]);
    } finally {
      await b.stopDaemon();
      await b.close();
      await a.cleanup();
    }
  });
});

const realSkip = skipReason() ?? zfsSkip();
if (realSkip) console.log(realSkip);

describe("stopped moves by zfs send/receive (real ZFS)", {
  skip: realSkip,
  timeout: 900_000,
}, () => {
  let a: MoveHost;
  let b: MoveHost;
  let c: MoveHost;
  const hosts = new MoveHosts();
  const pools = new Map<MoveHost, ZfsPool>();
  const ZFS = spawnSync("sh", ["-c", "command -v zfs"], { encoding: "utf8" }).stdout.trim();
  /** The fake `zfs` (b's daemon's, a's CLI's when asked): passes through unless its mode says to fail. */
  const fake = new FailingWrapper("zfs", ZFS, {
    "fail-receive": `  case "$1" in receive)
    head -c 262144 | ${ZFS} "$@"
    echo "fake: receive failed half way" >&2; exit 1 ;;
  esac`,
    "fail-send": `  case "$1" in send)
    ${ZFS} "$@" | head -c 262144
    echo "fake: send failed half way" >&2; exit 1 ;;
  esac`,
  });
  const mode = fake.mode;

  /** A host whose state root is the dataset POOL/state of a pool of its own (`zfs`), or a plain directory. */
  const openHost = (prefix: string, addr: string, zfs: boolean): MoveHost => {
    if (!zfs) return hosts.open(prefix, addr);
    const pool = new ZfsPool();
    pool.open("1200M");
    const root = join(pool.dir, "state");
    execFileSync("zfs", ["create", "-o", `mountpoint=${root}`, `${pool.name}/state`]);
    const h = hosts.open(prefix, addr, root, () => pool.close());
    pools.set(h, pool);
    return h;
  };
  const poolOf = (h: MoveHost) => pools.get(h)?.name ?? "";
  const datasets = (h: MoveHost) => pools.get(h)?.datasets() ?? [];
  const zget = (prop: string, ds: string) =>
    execFileSync("zfs", ["get", "-H", "-o", "value", prop, ds], { encoding: "utf8" }).trim();
  const make = (h: MoveHost, prefix: string): string => {
    const n = h.net.name(prefix);
    const zfsRoot = ["--zfsroot", `${poolOf(h)}/state`];
    h.net.ok(["create", "-n", n, "-t", "busybox", "--network", "empty", "-B", "zfs", ...zfsRoot]);
    return n;
  };

  before(async () => {
    ({ a, b, c } = await openMoveHosts(hosts, openHost, {
      prefix: "mz",
      net: "10.251",
      net2: "10.250",
      fake: fake.dir,
    }));
  });

  after(async () => {
    await hosts.close();
    fake.close();
  });

  test("a stopped move with two snapshots goes by zfs send and arrives as one dataset with both", () => {
    mode("pass");
    const n = make(a, "two");
    const dst = moveWithSnapshots(a, b, n, "zfs");
    assert.deepEqual(
      datasets(a).filter((d) => d.includes(n)),
      [],
    );
    const ds = `${poolOf(b)}/state/${n}`;
    // One dataset and its two snapshots: the send's own snapshot is gone, no staging dataset is left.
    assert.deepEqual(
      datasets(b).filter((d) => d.startsWith(`${poolOf(b)}/state/`)),
      [ds, `${ds}@snap0`, `${ds}@snap1`],
    );
    assert.equal(zget("mountpoint", ds), join(dst, "rootfs"));
    assert.equal(zget("mounted", ds), "yes");
    assert.equal(marker(join(dst, "rootfs")), "three\n");
    assert.equal(marker(join(dst, "rootfs", ".zfs", "snapshot", "snap0")), "one\n");
    assert.equal(marker(join(dst, "rootfs", ".zfs", "snapshot", "snap1")), "two\n");
    assert.match(
      readFileSync(join(dst, "config"), "utf8"),
      new RegExp(`^lxc\\.rootfs\\.path = zfs:${ds}$`, "m"),
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

  test("to a remote whose state root is a directory it goes as an archive", () => {
    mode("pass");
    const n = make(a, "arch");
    writeFileSync(join(a.box.lxcpath, n, "rootfs", "marker"), "archived\n");
    const out = a.net.ok(["copy", n, "c:", "-v"]);
    assert.match(out, /\(\d+ bytes sent\)/);
    assert.equal(marker(join(c.box.lxcpath, n, "rootfs")), "archived\n");
    c.net.ok(["destroy", "-n", n]);
    a.net.ok(["destroy", "-n", n]);
  });

  test("a move under a new name: its dataset named and mounted so, its /etc/hostname the new name", () => {
    const to = moveRenamed(a, b, make(a, "ren"));
    const ds = `${poolOf(b)}/state/${to}`;
    assert.equal(zget("mountpoint", ds), join(b.box.lxcpath, to, "rootfs"));
    b.net.ok(["destroy", "-n", to]);
    assert.deepEqual(
      datasets(b).filter((d) => d.startsWith(ds)),
      [],
    );
  });

  const failed = (n: string, failMode: string, why: RegExp, env?: NodeJS.ProcessEnv) =>
    failedMove({ a, b }, n, {
      setMode: mode,
      failMode,
      why,
      storage: datasets,
      snap0: "rootfs/.zfs/snapshot/snap0",
      env,
    });

  test("a failing zfs receive on the remote leaves the source as it was and nothing there", () => {
    failed(make(a, "fail"), "fail-receive", /fake: receive failed half way/);
  });

  test("a zfs send that fails half way cuts the upload: the remote's receive stops and leaves nothing", () => {
    const n = make(a, "cut");
    // Bigger than what the fake lets through, so the remote has begun receiving the stream that is cut.
    const big = join(a.box.lxcpath, n, "rootfs", "big");
    execFileSync("sh", ["-c", 'head -c 4M /dev/urandom > "$1"', "sh", big]);
    failed(n, "fail-send", /fake: send failed half way/, {
      PATH: `${fake.dir}:${process.env.PATH}`,
    });
  });
});
