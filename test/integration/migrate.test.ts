/**
 * `lxt remote`, `lxt move` and `lxt copy NAME REMOTE:` between two lxtd
 * hosts on this machine (docs/migrate.md): each host a network namespace
 * with its own state root and lxtd, HTTPS between them over a veth pair.
 * Stopped containers are copied and moved; a running one is moved live (a
 * counter goes on, same process, no reset); failures (the remote refuses,
 * the name is taken, the transfer is cut by killing the remote's daemon)
 * leave the source as it was and nothing on the remote.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { eth0Of, exitWithin, skipReason, until } from "./harness.js";
import { background, COUNTER, type Host, makePrivileged, TwoHosts } from "./two-hosts.js";

function criuSkip(): string | undefined {
  try {
    const v = execFileSync("criu", ["--version"], { encoding: "utf8" });
    const m = /Version:\s*(\d+)\.(\d+)/.exec(v);
    if (!m || Number(m[1]) * 100 + Number(m[2]) < 401) return "criu older than 4.1";
    execFileSync("criu", ["check"], { stdio: "ignore" });
    return undefined;
  } catch {
    return "no working criu (scripts/criu.sh installs it)";
  }
}

const skip = skipReason();
if (skip) console.log(skip);
const noCriu = skip ? undefined : criuSkip();
if (noCriu) console.log(`SKIP: running moves: ${noCriu}`);

/** The pids of processes whose command line names `path`. */
function holders(path: string): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").includes(path);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe("move and copy between two lxtd hosts", { skip, timeout: 600_000 }, () => {
  const two = new TwoHosts();
  let a: Host;
  let b: Host;
  /** A new busybox container on host `h` without a NIC, privileged when asked. */
  const make = (h: Host, prefix: string, privileged = false): string => {
    const n = h.net.name(prefix);
    h.net.ok(["create", "-n", n, "-t", "busybox", "--network", "empty"]);
    if (privileged) makePrivileged(h, n);
    writeFileSync(join(h.box.lxcpath, n, "rootfs", "marker"), `${n}\n`);
    return n;
  };

  before(async () => {
    await two.open("mig", { subnet: "10.251.0", both: true });
    ({ a, b } = two);
  });
  after(() => two.close());

  test("remote add pins the remote's certificate; list shows it; a bad URL or token is refused", () => {
    const list = JSON.parse(a.net.ok(["remote", "list", "--format", "json"])) as {
      name: string;
      url: string;
      fingerprint: string;
    }[];
    const pem = readFileSync(join(b.box.lxcpath, ".lxtd", "server.crt"), "utf8");
    const fp = execFileSync("openssl", ["x509", "-noout", "-fingerprint", "-sha256"], {
      input: pem,
      encoding: "utf8",
    })
      .split("=")[1]
      ?.replace(/:/g, "")
      .trim()
      .toLowerCase();
    assert.deepEqual(list, [{ name: "b", url: "https://10.251.0.2:8443", fingerprint: fp }]);
    const bad = a.net.lxt(["remote", "add", "x", "https://10.251.0.2:8443", "--token", "nope"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /not a trust token/);
    const none = a.net.lxt(["remote", "add", "x", "https://10.251.0.2:8443"]);
    assert.match(none.stderr, /give --token TOKEN .* or --accept-certificate/);
    // Trusted already: pinning is all an --accept-certificate add needs.
    a.net.ok(["remote", "add", "x", "https://10.251.0.2:8443", "--accept-certificate"]);
    a.net.ok(["remote", "remove", "x"]);
    assert.match(a.net.lxt(["remote", "remove", "x"]).stderr, /no remote "x"/);
  });

  test("copy of a stopped container: the remote has it, the source stays", () => {
    const c = make(a, "cp");
    a.net.ok(["copy", c, `b:${c}-2`]);
    assert.deepEqual(two.names(a).includes(c), true);
    assert.equal(readFileSync(join(b.box.lxcpath, `${c}-2`, "rootfs", "marker"), "utf8"), `${c}\n`);
    assert.match(b.net.ok(["ls", "-f"]), new RegExp(`${c}-2\\s+STOPPED`));
    // The copy starts there.
    b.net.ok(["start", "-n", `${c}-2`]);
    assert.equal(b.net.ok(["attach", "-n", `${c}-2`, "--", "cat", "/marker"]), `${c}\n`);
    b.net.ok(["stop", "-k", "-n", `${c}-2`]);
  });

  test("move of a stopped container, and back again", () => {
    const c = make(a, "mv");
    a.net.ok(["move", c, "b:"]);
    assert.equal(two.names(a).includes(c), false);
    assert.equal(readFileSync(join(b.box.lxcpath, c, "rootfs", "marker"), "utf8"), `${c}\n`);
    b.net.ok(["move", c, `a:${c}`]);
    assert.equal(two.names(b).includes(c), false);
    assert.equal(readFileSync(join(a.box.lxcpath, c, "rootfs", "marker"), "utf8"), `${c}\n`);
  });

  test("a name the remote has already: refused before anything is sent", () => {
    const c = make(a, "dup");
    const there = make(b, "dup");
    const before = two.names(b);
    const r = a.net.lxt(["move", c, `b:${there}`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /has an instance called .* already/);
    assert.ok(two.names(a).includes(c));
    assert.deepEqual(two.names(b), before);
    assert.deepEqual(two.uploads(b), []);
  });

  test("the remote no longer trusts this host: refused, source kept, remote unchanged", () => {
    const c = make(a, "untr");
    const fp = execFileSync("openssl", ["x509", "-noout", "-fingerprint", "-sha256"], {
      input: readFileSync(join(a.box.lxcpath, ".remotes", "client.crt")),
      encoding: "utf8",
    })
      .split("=")[1]
      ?.replace(/:/g, "")
      .trim()
      .toLowerCase();
    b.net.ok(["trust", "remove", fp ?? ""]);
    const before = two.names(b);
    const r = a.net.lxt(["move", c, "b:"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /remote b: not authorized/);
    assert.ok(two.names(a).includes(c));
    assert.deepEqual(two.names(b), before);
    // Trusted again for the tests that follow.
    a.net.ok(["remote", "remove", "b"]);
    two.addRemote(a, b, "b");
  });

  test("the remote's import fails (its directory is in the way): source kept, remote as it was", () => {
    const c = make(a, "imp");
    // A directory without a config is no instance (the remote's checks pass)
    // but its import cannot rename the upload into place: it fails after the transfer.
    mkdirSync(join(b.box.lxcpath, c));
    writeFileSync(join(b.box.lxcpath, c, "stray"), "x");
    const r = a.net.lxt(["move", c, "b:"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /remote b: .*already exists/);
    assert.ok(two.names(a).includes(c));
    assert.match(a.net.ok(["ls", "-f"]), new RegExp(`${c}\\s+STOPPED`));
    assert.deepEqual(readdirSync(join(b.box.lxcpath, c)), ["stray"]);
    assert.deepEqual(two.uploads(b), []);
    assert.deepEqual(
      readdirSync(b.box.lxcpath).filter((f) => f.startsWith(".lxt-import")),
      [],
      "the remote's staging was removed",
    );
    rmSync(join(b.box.lxcpath, c), { recursive: true });
  });

  test("the transfer cut by killing the remote's lxtd: source kept, nothing left there", async () => {
    const c = make(a, "cut");
    // Incompressible, so that the upload takes long enough to be cut.
    execFileSync("dd", [
      "if=/dev/urandom",
      `of=${join(a.box.lxcpath, c, "rootfs", "big")}`,
      "bs=1M",
      "count=256",
      "status=none",
    ]);
    const before = two.names(b);
    const moving = a.net.run(["move", c, "b:"]);
    const spool = join(b.box.lxcpath, ".lxtd", "uploads");
    const started = await until(
      () =>
        two.uploads(b).some((f) => f.startsWith("backup-") && statSync(join(spool, f)).size > 0),
      120_000,
    );
    assert.ok(started, "the upload never began");
    const daemon = b.box.daemon;
    daemon?.kill("SIGKILL");
    if (daemon) await exitWithin(daemon, 10_000);
    const r = await moving;
    // The daemon's next start removes what the killed one had spooled; its
    // lock (a helper that dies with it) must be free first.
    b.box.daemon = undefined;
    const lock = join(b.box.lxcpath, ".lxtd", "lxtd.lock");
    assert.ok(await until(() => holders(lock).length === 0, 10_000), "the old lock stayed held");
    await two.startDaemon(b);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /remote b/);
    assert.ok(two.names(a).includes(c));
    assert.equal(statSync(join(a.box.lxcpath, c, "rootfs", "big")).size, 256 << 20);
    assert.match(a.net.ok(["ls", "-f"]), new RegExp(`${c}\\s+STOPPED`));
    assert.deepEqual(two.names(b), before);
    assert.deepEqual(two.uploads(b), []);
    assert.deepEqual(
      readdirSync(a.box.lxcpath).filter((f) => f.startsWith(".lxt-")),
      [],
      "the source's staging was removed",
    );
  });

  describe("running containers", { skip: noCriu }, () => {
    const count = (h: Host, c: string): [number, number] => {
      const [pid, n] = h.net.ok(["attach", "-n", c, "--", "cat", "/tmp/count"]).trim().split(" ");
      return [Number(pid), Number(n)];
    };
    const startCounter = (h: Host, c: string) => {
      writeFileSync(join(h.box.lxcpath, c, "rootfs", "counter.sh"), COUNTER, { mode: 0o755 });
      h.net.ok(["start", "-n", c]);
      background(h, c, "/counter.sh");
    };

    test("move of a running container: the counter goes on there, same process, no reset", async () => {
      const c = make(a, "live", true);
      startCounter(a, c);
      assert.ok(await until(() => count(a, c)[1] > 5, 10_000), "the counter never ran");
      const [pid, n] = count(a, c);
      const out = a.net.ok(["move", "-v", c, "b:"]);
      assert.match(
        out,
        /moved .* \(\d+ bytes sent, stopped for \d+ ms; \d+ bytes sent while stopped\)/,
      );
      assert.equal(two.names(a).includes(c), false);
      assert.match(b.net.ok(["ls", "-f"]), new RegExp(`${c}\\s+RUNNING`));
      const [pid2, n2] = count(b, c);
      assert.equal(pid2, pid);
      assert.ok(n2 >= n, `counter went back: ${n} -> ${n2}`);
      assert.ok(await until(() => count(b, c)[1] > n2, 10_000), "the counter stopped there");
      assert.equal(readFileSync(join(b.box.lxcpath, c, "rootfs", "marker"), "utf8"), `${c}\n`);
    });

    test("copy --stateful: both run on from the same state", async () => {
      const c = make(a, "sful", true);
      startCounter(a, c);
      assert.ok(await until(() => count(a, c)[1] > 5, 10_000), "the counter never ran");
      const [pid, n] = count(a, c);
      a.net.ok(["copy", "--stateful", c, `b:${c}-2`]);
      for (const [h, name] of [
        [a, c],
        [b, `${c}-2`],
      ] as const) {
        const [p2, n2] = count(h, name);
        assert.equal(p2, pid);
        assert.ok(n2 >= n);
        assert.ok(await until(() => count(h, name)[1] > n2, 10_000), `${name} stopped counting`);
      }
    });

    /** The id-map bases of both hosts' containers. */
    const bases = () =>
      [a, b].flatMap((h) =>
        two.names(h).flatMap((n) => {
          if (!existsSync(join(h.box.lxcpath, n, "config"))) return [];
          const m = /^lxt\.volatile\.idmap\.base = (\d+)$/m.exec(
            readFileSync(join(h.box.lxcpath, n, "config"), "utf8"),
          );
          return m ? [Number(m[1])] : [];
        }),
      );
    /** Gives container `c` of host `h` the slice at `base` (both hosts share this machine's /etc/subuid). */
    const giveSlice = (h: Host, c: string, base: number) => {
      const cfg = join(h.box.lxcpath, c, "config");
      writeFileSync(cfg, `${readFileSync(cfg, "utf8")}lxt.volatile.idmap.base = ${base}\n`);
    };

    test("move of a running unprivileged container: the counter goes on there, same process", async () => {
      const c = make(a, "unpr");
      // criu restores the dumped id map: the target adopts the source's slice, free there.
      const base = Math.max(1_000_000, ...bases()) + 65536;
      giveSlice(a, c, base);
      startCounter(a, c);
      assert.ok(await until(() => count(a, c)[1] > 5, 10_000), "the counter never ran");
      const [pid, n] = count(a, c);
      const r = a.net.lxt(["move", "-v", c, "b:"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(
        r.stdout,
        /moved .* \(\d+ bytes sent, stopped for \d+ ms; \d+ bytes sent while stopped\)/,
      );
      assert.equal(two.names(a).includes(c), false);
      assert.match(b.net.ok(["ls", "-f"]), new RegExp(`${c}\\s+RUNNING`));
      assert.match(
        readFileSync(join(b.box.lxcpath, c, "config"), "utf8"),
        new RegExp(`^lxt\\.volatile\\.idmap\\.base = ${base}$`, "m"),
      );
      const [pid2, n2] = count(b, c);
      assert.equal(pid2, pid);
      assert.ok(n2 >= n, `counter went back: ${n} -> ${n2}`);
      assert.ok(await until(() => count(b, c)[1] > n2, 10_000), "the counter stopped there");
      assert.deepEqual(two.uploads(b), []);
      assert.deepEqual(
        readdirSync(a.box.lxcpath).filter((f) => f.startsWith(".lxt-")),
        [],
        "the source's staging was removed",
      );
    });

    test("an unprivileged container whose ids another container uses there: refused, restored here", async () => {
      const c = make(a, "ucl");
      const base = Math.max(1_000_000, ...bases()) + 65536;
      giveSlice(a, c, base);
      giveSlice(b, make(b, "uhold"), base);
      startCounter(a, c);
      assert.ok(await until(() => count(a, c)[1] > 5, 10_000), "the counter never ran");
      const [pid] = count(a, c);
      const before = two.names(b);
      const r = a.net.lxt(["move", c, "b:"]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(
        r.stderr,
        /its id map \(host ids \d+-\d+, as where it was checkpointed\) overlaps ids another container here uses/,
      );
      assert.match(a.net.ok(["ls", "-f"]), new RegExp(`${c}\\s+RUNNING`));
      assert.equal(count(a, c)[0], pid);
      assert.deepEqual(two.names(b), before);
      assert.ok(
        await until(() => two.uploads(b).length === 0, 10_000),
        "the remote kept its spool",
      );
    });

    const eth0 = (h: Host, c: string) => eth0Of(h.net.ok, c);
    /** A container on host `a` with the default NIC (a veth on lxtbr0, made in a's namespace). */
    const makeNic = (prefix: string, privileged: boolean): string => {
      const c = a.net.name(prefix);
      a.net.ok(["create", "-n", c, "-t", "busybox"]);
      if (privileged) makePrivileged(a, c);
      return c;
    };

    test("move of a running container with a veth on a bridge: same MAC and address there", async () => {
      const c = makeNic("nic", true);
      startCounter(a, c);
      assert.ok(await until(() => eth0(a, c).addr !== "", 20_000), "no address on eth0");
      assert.ok(await until(() => count(a, c)[1] > 5, 10_000), "the counter never ran");
      const here = eth0(a, c);
      const [pid] = count(a, c);
      const r = a.net.lxt(["move", c, "b:"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(two.names(a).includes(c), false);
      assert.match(b.net.ok(["ls", "-f"]), new RegExp(`${c}\\s+RUNNING`));
      assert.deepEqual(eth0(b, c), here);
      const [pid2, n2] = count(b, c);
      assert.equal(pid2, pid);
      assert.ok(await until(() => count(b, c)[1] > n2, 10_000), "the counter stopped there");
    });

    test("an unprivileged running container with a NIC: refused before anything is sent, left running", () => {
      const c = makeNic("unic", false);
      a.net.ok(["start", "-n", c]);
      const before = two.names(b);
      const r = a.net.lxt(["move", c, "b:"]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /unprivileged containers with a NIC are not checkpointed/);
      assert.match(a.net.ok(["ls", "-f"]), new RegExp(`${c}\\s+RUNNING`));
      assert.deepEqual(two.names(b), before);
      assert.deepEqual(two.uploads(b), []);
    });

    test("the remote refuses the restore: the source is restored here and runs on", async () => {
      const c = make(a, "rfus", true);
      startCounter(a, c);
      assert.ok(await until(() => count(a, c)[1] > 5, 10_000), "the counter never ran");
      const [pid, n] = count(a, c);
      // The remote's daemon is paused once the delta starts arriving (the
      // sender waits for its answer), the name is taken there meanwhile,
      // and the remote's final step refuses it.
      const moving = a.net.run(["move", c, "b:"]);
      const spool = join(b.box.lxcpath, ".lxtd", "uploads");
      assert.ok(
        await until(() => two.uploads(b).some((f) => existsSync(join(spool, f, "delta"))), 60_000),
        "no delta arrived",
      );
      b.box.daemon?.kill("SIGSTOP");
      b.net.ok(["create", "-n", c, "-t", "busybox", "--network", "empty"]);
      b.box.daemon?.kill("SIGCONT");
      const r = await moving;
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /already exists/);
      assert.match(a.net.ok(["ls", "-f"]), new RegExp(`${c}\\s+RUNNING`));
      const [pid2, n2] = count(a, c);
      assert.equal(pid2, pid);
      assert.ok(n2 >= n);
      assert.ok(
        await until(() => two.uploads(b).length === 0, 10_000),
        "the remote kept its spool",
      );
      // What is there is the container made by hand, not a half-received one.
      assert.equal(existsSync(join(b.box.lxcpath, c, "rootfs", "marker")), false);
    });
  });
});
