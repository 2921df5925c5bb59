/**
 * Unprivileged by default, checked from the host: the init's ids, disjoint
 * slices, the recorded allocation across restarts and copies, rootfs
 * ownership (idmapped mount, or shifted on disk and shifted back for a
 * privileged start), host-neutral exports, and that an attached process
 * cannot reach the helper binary through /proc/PID/exe (CVE-2019-5736).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Sandbox as Box, cgroupDirsOf, REPO, Sandbox, skipReason } from "./harness.js";

const skip = skipReason();
if (skip) console.log(skip);

const SHIM = join(REPO, "native", "build", "lxt-shim");

function statusIds(pid: number): { uid: number; gid: number } {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const uid = Number(/^Uid:\s+(\d+)/m.exec(s)?.[1]);
  const gid = Number(/^Gid:\s+(\d+)/m.exec(s)?.[1]);
  return { uid, gid };
}

describe("unprivileged containers (user namespaces)", { skip, timeout: 240_000 }, () => {
  let box: Box;
  const cfgOf = (n: string) => join(box.lxcpath, n, "config");
  const key = (n: string, k: string) =>
    new RegExp(`^${k.replaceAll(".", "\\.")}\\s*=\\s*(.*)$`, "m").exec(
      readFileSync(cfgOf(n), "utf8"),
    )?.[1];
  const setKey = (n: string, k: string, v: string) => {
    const text = readFileSync(cfgOf(n), "utf8")
      .split("\n")
      .filter((l) => !l.startsWith(`${k} =`));
    writeFileSync(cfgOf(n), `${text.join("\n").trimEnd()}\n${k} = ${v}\n`);
  };
  const initPid = (n: string) => Number(/PID:\s+(\d+)/.exec(box.ok(["info", "-n", n]))?.[1]);
  /**
   * Each cgroup directory of container `n` and the files delegation needs
   * (cgroups(7)) are owned by `uid:gid`; its limit files stay the host root's.
   */
  const assertDelegated = (n: string, uid: number, gid: number) => {
    const dirs = cgroupDirsOf(initPid(n));
    assert.ok(dirs.length > 0, `the init of ${n} is in no cgroup`);
    const owner = (p: string) => {
      const st = lstatSync(p);
      return `${p} ${st.uid}:${st.gid}`;
    };
    for (const dir of dirs) {
      const v2 = existsSync(join(dir, "cgroup.controllers"));
      const delegated = v2
        ? ["", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control"]
        : ["", "cgroup.procs", "tasks"];
      for (const f of delegated) assert.equal(owner(join(dir, f)), `${join(dir, f)} ${uid}:${gid}`);
      const limit = join(dir, v2 ? "cgroup.max.depth" : "notify_on_release");
      assert.equal(owner(limit), `${limit} 0:0`, "limit files stay root's");
    }
  };
  const make = (prefix: string) => {
    const n = box.name(prefix);
    box.ok(["create", "-n", n, "-t", "busybox"]);
    return n;
  };

  before(() => {
    box = new Sandbox();
  });
  after(() => box.cleanup());

  test("uid 0 inside is an unprivileged uid on the host; two containers get disjoint slices", () => {
    const a = make("ua");
    const b = make("ub");
    assert.match(readFileSync(cfgOf(a), "utf8"), /^lxt\.privileged = 0$/m);
    box.ok(["start", "-n", a]);
    box.ok(["start", "-n", b]);
    const ranges = [a, b].map((n) => {
      const pid = initPid(n);
      const ids = statusIds(pid);
      assert.ok(ids.uid >= 65536 && ids.gid >= 65536, `${n}'s init runs as host uid ${ids.uid}`);
      // Inside, the same process is root.
      assert.equal(box.ok(["attach", "-n", n, "--", "id", "-u"]).trim(), "0");
      const [ns, host, count] = readFileSync(`/proc/${pid}/uid_map`, "utf8")
        .trim()
        .split(/\s+/)
        .map(Number);
      assert.equal(ns, 0);
      assert.equal(host, ids.uid);
      assert.equal(Number(key(n, "lxt.volatile.idmap.base")), host);
      return { host: host as number, count: count as number };
    });
    const [ra, rb] = ranges as [{ host: number; count: number }, { host: number; count: number }];
    assert.ok(
      ra.host + ra.count <= rb.host || rb.host + rb.count <= ra.host,
      "slices are disjoint",
    );
    // info shows the map and the ownership mode.
    const info = box.ok(["info", "-n", a]);
    assert.match(info, new RegExp(`Id map:\\s+u 0 ${ra.host} 65536, g 0 ${ra.host} 65536`));
    assert.match(info, /Rootfs owner:\s+idmapped/);
    // A restart keeps the slice.
    box.ok(["stop", "-n", a, "-k"]);
    box.ok(["start", "-n", a]);
    assert.equal(statusIds(initPid(a)).uid, ra.host);
    // The container's root owns its cgroups (delegation, as LXC).
    assertDelegated(a, ra.host, ra.host);
    // Files it writes are host-neutral on disk (idmapped mount: uid 0 on disk).
    box.ok(["attach", "-n", a, "--", "touch", "/root/made-inside"]);
    assert.equal(lstatSync(join(box.lxcpath, a, "rootfs", "root", "made-inside")).uid, 0);
    box.ok(["stop", "-n", a, "-k"]);
    box.ok(["stop", "-n", b, "-k"]);
    // A copy is a new container: a new slice at its first start.
    const c = box.name("uc");
    box.ok(["copy", "-n", a, "-N", c]);
    assert.equal(key(c, "lxt.volatile.idmap.base"), undefined);
    box.ok(["start", "-n", c]);
    const rc = Number(key(c, "lxt.volatile.idmap.base"));
    for (const r of ranges)
      assert.ok(rc + 65536 <= r.host || r.host + r.count <= rc, "copy's slice is its own");
    box.ok(["stop", "-n", c, "-k"]);
  });

  test("lxc.idmap is honoured; lxt.privileged = 1 and an LXC config without lxc.idmap run privileged", () => {
    const n = make("um");
    setKey(n, "lxc.idmap", "u 0 3000000 65536");
    writeFileSync(cfgOf(n), `${readFileSync(cfgOf(n), "utf8")}lxc.idmap = g 0 3100000 65536\n`);
    box.ok(["start", "-n", n]);
    assert.deepEqual(statusIds(initPid(n)), { uid: 3000000, gid: 3100000 });
    assertDelegated(n, 3000000, 3100000);
    box.ok(["stop", "-n", n, "-k"]);

    const p = make("up");
    setKey(p, "lxt.privileged", "1");
    box.ok(["start", "-n", p]);
    assert.equal(statusIds(initPid(p)).uid, 0);
    assert.match(box.ok(["info", "-n", p]), /Id map:\s+privileged/);
    box.ok(["stop", "-n", p, "-k"]);

    const l = make("ul");
    writeFileSync(cfgOf(l), readFileSync(cfgOf(l), "utf8").replace(/^lxt\.privileged = 0\n/m, ""));
    box.ok(["start", "-n", l]);
    assert.equal(
      statusIds(initPid(l)).uid,
      0,
      "an LXC config without lxc.idmap is privileged, as in LXC",
    );
    box.ok(["stop", "-n", l, "-k"]);

    const bad = make("ubad");
    setKey(bad, "lxc.idmap", "u 0 3000000 65536");
    const r = box.lxt(["start", "-n", bad]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /config:\d+: lxc\.idmap: no gid line/);
  });

  test("a shifted rootfs: used as is, shifted back for a privileged start, exported host-neutral", () => {
    const n = make("us");
    const rootfs = join(box.lxcpath, n, "rootfs");
    const base = 3500000;
    const map = `u:0:${base}:65536,g:0:${base}:65536`;
    // What lxt does where idmapped mounts are unavailable: shift once, record it.
    execFileSync("chmod", ["u+s", join(rootfs, "bin", "busybox")]);
    assert.equal(
      execFileSync(SHIM, ["shift", rootfs, "none", map], { encoding: "utf8" }).trim(),
      "ok",
    );
    setKey(n, "lxt.volatile.idmap.base", String(base));
    setKey(n, "lxt.volatile.rootfs.shift", map);
    const bb = lstatSync(join(rootfs, "bin", "busybox"));
    assert.equal(bb.uid, base);
    assert.ok(bb.mode & 0o4000, "setuid kept across the shift");
    assert.equal(lstatSync(join(rootfs, "bin", "sh")).uid, base, "symlinks shifted with lchown");

    box.ok(["start", "-n", n]);
    assert.equal(statusIds(initPid(n)).uid, base);
    assert.match(box.ok(["info", "-n", n]), /Rootfs owner:\s+shifted/);
    assert.equal(box.ok(["attach", "-n", n, "--", "stat", "-c", "%u", "/bin/busybox"]).trim(), "0");
    box.ok(["stop", "-n", n, "-k"]);

    // Exported with in-container ids, without the host's volatile keys.
    const tarball = join(box.lxcpath, "us.tar");
    box.ok(["export", "-n", n, tarball]);
    const listing = execFileSync(
      "tar",
      ["-tvf", tarball, "--numeric-owner", "rootfs/bin/busybox"],
      {
        encoding: "utf8",
      },
    );
    assert.match(listing, /^-rwsr-xr-x 0\/0 /m);
    const cfg = execFileSync("tar", ["-xOf", tarball, "config"], { encoding: "utf8" });
    assert.doesNotMatch(cfg, /lxt\.volatile/);

    // Privileged: shifted back to host-neutral ids, the key gone.
    setKey(n, "lxt.privileged", "1");
    box.ok(["start", "-n", n]);
    assert.equal(lstatSync(join(rootfs, "bin", "busybox")).uid, 0);
    assert.ok(lstatSync(join(rootfs, "bin", "busybox")).mode & 0o4000);
    assert.equal(key(n, "lxt.volatile.rootfs.shift"), undefined);
    box.ok(["stop", "-n", n, "-k"]);

    // Imported under a new name: a slice of its own, ownership as exported.
    const imp = box.name("ui");
    box.ok(["import", tarball, imp]);
    box.ok(["start", "-n", imp]);
    assert.equal(
      box.ok(["attach", "-n", imp, "--", "stat", "-c", "%u", "/bin/busybox"]).trim(),
      "0",
    );
    assert.notEqual(Number(key(imp, "lxt.volatile.idmap.base")), base);
    box.ok(["stop", "-n", imp, "-k"]);
  });

  test("an attached process cannot write or reach the helper through /proc/PID/exe", () => {
    const n = make("ux");
    for (const privileged of ["0", "1"]) {
      setKey(n, "lxt.privileged", privileged);
      box.ok(["start", "-n", n]);
      const before = readFileSync(SHIM);
      // Every /proc/*/exe the attached shell can see, and writes through its own and pid 1's.
      const out = box.ok([
        "attach",
        "-n",
        n,
        "--",
        "sh",
        "-c",
        "for p in /proc/[0-9]*; do readlink $p/exe; done; " +
          "for f in /proc/self/exe /proc/1/exe /proc/$$/exe; do " +
          '(echo x >> $f) 2>/dev/null && echo "WROTE $f" || echo "refused $f"; done',
      ]);
      assert.doesNotMatch(out, /lxt-shim/, "no process of the container runs the helper");
      assert.doesNotMatch(out, /WROTE/);
      assert.match(out, /refused \/proc\/self\/exe/);
      assert.deepEqual(readFileSync(SHIM), before, "the helper binary is unchanged");
      box.ok(["stop", "-n", n, "-k"]);
    }
    // lxt execute's pid 1 stays the helper: unreachable unprivileged, a sealed copy privileged.
    for (const privileged of ["0", "1"]) {
      setKey(n, "lxt.privileged", privileged);
      const out = box.ok([
        "execute",
        "-n",
        n,
        "--",
        "sh",
        "-c",
        "readlink /proc/1/exe; (echo x >> /proc/1/exe) 2>/dev/null && echo WROTE || echo refused",
      ]);
      assert.match(out, /refused/);
      assert.doesNotMatch(out, /WROTE|native\/build\/lxt-shim/);
      if (privileged === "1") assert.match(out, /memfd:lxt-shim/);
    }
    assert.ok(existsSync(SHIM));
  });
});
