/**
 * The escape battery, against an unprivileged (the default) and a
 * privileged container: the host's disk (mknod + mount, busybox mount, a
 * devtmpfs), the host's root (/proc/1/root, a bind of it, /proc/<pid>/root,
 * the chroot break-out), kernel knobs, host processes, and a symlinked
 * mount target (CVE-2019-19921). Each attempt must fail in the specific way
 * named. The privileged run's host-disk mount FAILS on purpose where the host
 * has no AppArmor: a real escape, see docs/security.md. The probe and the
 * suite fixture are in confinement.ts.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { readAppArmorHost } from "../../src/host/apparmor.js";
import {
  describeConfined,
  EACCES,
  ENOENT,
  EPERM,
  hostRootFsType,
  mountPoints,
} from "./confinement.js";
import { hostDisk, printed, type Sandbox, skipReason } from "./harness.js";

const skip = skipReason();
if (skip) console.log(skip);

describeConfined("escapes from", skip, ({ privileged, ctx, sh, create }) => {
  let box: Sandbox;
  let c: string;
  before(() => {
    ({ box, c } = ctx);
  });

  // A privileged container keeps CAP_SYS_ADMIN in the host's user
  // namespace: a devtmpfs (or a node it makes) and mount(2) of the host's
  // root device reuse the host's superblock without opening the device, so
  // the device cgroup never sees it. Only an LSM's mount rules stop that
  // (lxt's generated AppArmor profile allows no block filesystem), as for
  // LXC; without AppArmor the attempt is not run for a privileged container
  // (its start warns so; docs/security.md).
  const noLsm = privileged && !readAppArmorHost().enabled;
  test("escape: mounting the host's root disk is refused, nothing gets mounted", {
    skip: noLsm
      ? "SKIP: a privileged container without AppArmor can mount the host's filesystems (CAP_SYS_ADMIN); the default is unprivileged"
      : false,
  }, () => {
    const { major, minor } = hostDisk();
    const fstype = hostRootFsType();
    const before = mountPoints(sh("cat /proc/self/mountinfo"));
    const mountdev = (...flags: string[]) =>
      box
        .ok([
          "attach",
          "-n",
          c,
          "--",
          "/usr/local/bin/lxt-probe",
          "mountdev",
          `${major}`,
          `${minor}`,
          fstype,
          ...flags,
        ])
        .trim()
        .split(" ")
        .map(Number);
    for (const flags of [[], ["rw"]]) {
      const [made, opened, mounted] = mountdev(...flags);
      // Never leave the host's filesystem mounted in the container.
      if (mounted === 0) sh("umount /mnt");
      const what = `mount ${flags[0] ?? "ro"} of block ${major}:${minor}`;
      if (privileged) {
        // CAP_MKNOD is kept and `b *:* m` allows the node; the device cgroup
        // refuses the open; the generated AppArmor profile, checked before
        // the filesystem sees the mount, refuses it (0: MOUNTED, an escape).
        assert.equal(made, 0, `mknod of block ${major}:${minor}`);
        assert.equal(opened, EPERM, "open of the host disk");
        assert.equal(mounted, EACCES, what);
      } else {
        // In a user namespace the kernel refuses mknod of a device outright.
        assert.deepEqual([made, opened, mounted], [EPERM, -1, -1], what);
      }
    }
    // Nor a devtmpfs, which would hold a node for every host device (busybox
    // says this for EPERM, a user namespace's refusal, and EACCES, AppArmor's).
    const dt = box.lxt(["attach", "-n", c, "--", "mount", "-t", "devtmpfs", "none", "/mnt"]);
    if (dt.code === 0) sh("umount /mnt");
    assert.match(dt.stderr, /^mount: permission denied \(are you root\?\)$/m, "devtmpfs");
    assert.deepEqual(mountPoints(sh("cat /proc/self/mountinfo")), before, "no new mount");

    // busybox mount of the host's own node for its disk, bound in by the
    // config at the host's path: refused too, and nothing gets mounted.
    const node = `/dev/${/^DEVNAME=(.+)$/m.exec(readFileSync(`/sys/dev/block/${major}:${minor}/uevent`, "utf8"))?.[1]}`;
    assert.ok(existsSync(node), `the host's node ${node} for its disk ${major}:${minor}`);
    const d = create("disk");
    const cfg = join(box.lxcpath, d, "config");
    writeFileSync(
      cfg,
      `${readFileSync(cfg, "utf8")}lxc.mount.entry = ${node} ${node.slice(1)} none bind,create=file 0 0\n`,
    );
    box.ok(["start", "-n", d]);
    try {
      assert.equal(sh(`[ -b ${node} ] && echo block`, d).trim(), "block", `${node} inside`);
      const points = mountPoints(sh("cat /proc/self/mountinfo", d));
      const bb = box.lxt(["attach", "-n", d, "--", "mount", "-t", fstype, node, "/mnt"]);
      if (bb.code === 0) sh("umount /mnt", d);
      assert.match(bb.stderr, /^mount: permission denied \(are you root\?\)$/m, `mount ${node}`);
      assert.deepEqual(mountPoints(sh("cat /proc/self/mountinfo", d)), points, "no new mount");
    } finally {
      box.ok(["stop", "-n", d, "-k"]);
    }
  });

  test("escape: the host's root is out of reach (/proc/1/root, bind of it, /proc/*/root, chroot break-out)", () => {
    const hostDir = mkdtempSync("/tmp/lxt-escape-");
    const marker = join(hostDir, "marker");
    writeFileSync(marker, "host\n");
    try {
      // pid 1 is the container's init: its root is the container's root.
      for (const p of [marker, `/proc/1/root${marker}`, `/proc/self/root${marker}`]) {
        assert.notEqual(box.lxt(["attach", "-n", c, "--", "ls", p]).code, 0, p);
      }
      // Every process the container can see has the container's root.
      assert.equal(sh(`ls /proc/[0-9]*/root${marker} 2>/dev/null | wc -l`).trim(), "0");
      // A bind mount of /proc/1/root shows the container's own tree (or is refused).
      const bind = sh(
        "mkdir -p /tmp/lxt-r && if mount --bind /proc/1/root /tmp/lxt-r 2>/dev/null; then " +
          `ls /tmp/lxt-r${marker} 2>/dev/null || echo absent; umount /tmp/lxt-r; else echo refused; fi`,
      );
      assert.match(bind.trim(), /^(absent|refused)$/);
      // The chroot break-out climbs to the container's root, not the host's.
      const [jailed, seen] = box
        .ok(["attach", "-n", c, "--", "/usr/local/bin/lxt-probe", "escape", marker])
        .trim()
        .split(" ")
        .map(Number);
      assert.equal(jailed, 0, "chroot is allowed (CAP_SYS_CHROOT is kept, as LXC)");
      assert.equal(seen, ENOENT, `${marker} after the chroot break-out`);
      assert.equal(readFileSync(marker, "utf8"), "host\n");
    } finally {
      rmSync(hostDir, { recursive: true, force: true });
    }
  });

  test("escape: writes to /proc/sys/kernel/* and /proc/sysrq-trigger are refused, host values unchanged", () => {
    const files = ["/proc/sys/kernel/panic", "/proc/sys/kernel/core_pattern"];
    const before = files.map((f) => readFileSync(f, "utf8"));
    const writes = [
      [files[0], "7"],
      [files[1], "|/tmp/lxt-evil %p"],
    ];
    // A kernel without CONFIG_MAGIC_SYSRQ (as this build host) has no trigger at all.
    if (existsSync("/proc/sysrq-trigger")) writes.push(["/proc/sysrq-trigger", "h"]);
    else
      assert.equal(
        sh("[ -e /proc/sysrq-trigger ] && echo present || echo absent").trim(),
        "absent",
      );
    // Each is a read-only bind: the kernel refuses the open for writing with
    // EROFS before any permission check (an AppArmor profile's included).
    for (const [f, v] of writes) {
      const r = box.lxt(["attach", "-n", c, "--", "sh", "-c", `echo '${v}' > ${f}`]);
      assert.notEqual(r.code, 0, `write to ${f}`);
      assert.match(r.stderr, new RegExp(`can't create ${f}: Read-only file system`), f);
    }
    assert.deepEqual(
      files.map((f) => readFileSync(f, "utf8")),
      before,
    );
  });

  test("escape: host processes are invisible and survive kill -9 -1 inside", async () => {
    // A host shell that answers SIGUSR1 (a SIGKILL sent earlier would end it first).
    const host = spawn(
      "sh",
      ["-c", "trap 'echo alive' USR1; echo ready; while :; do sleep 1 & wait $!; done"],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    const n = create("kill");
    try {
      await printed(host, "ready");
      const hostPid = host.pid ?? 0;
      box.ok(["start", "-n", n]);
      const pids = sh("ls /proc", n)
        .split(/\s+/)
        .filter((x) => /^\d+$/.test(x))
        .map(Number);
      for (const pid of [process.pid, hostPid]) {
        assert.ok(!pids.includes(pid), `host pid ${pid} among the container's ${pids}`);
        const k = box.lxt(["attach", "-n", n, "--", "kill", "-0", `${pid}`]);
        assert.notEqual(k.code, 0);
        assert.match(k.stderr, /No such process/, `kill -0 ${pid}`);
      }
      // kill -9 -1: every process the container can signal; it reaches the
      // container's own (the background sleep ends by SIGKILL: 137).
      assert.equal(
        sh("sleep 300 & p=$!; kill -9 -1; wait $p; echo $?", n).trim(),
        "137",
        "kill -9 -1 reached the container's processes",
      );
      box.lxt(["attach", "-n", n, "--", "kill", "-9", `${hostPid}`]);
      process.kill(hostPid, "SIGUSR1");
      await printed(host, "alive");
      assert.ok(existsSync(`/proc/${process.pid}`));
    } finally {
      host.kill("SIGKILL");
      box.lxt(["stop", "-n", n, "-k"]);
    }
  });

  test("escape: a rootfs symlink to a host path as lxc.mount.entry target (CVE-2019-19921) stays inside", () => {
    const hostDir = mkdtempSync("/tmp/lxt-escape-");
    writeFileSync(join(hostDir, "marker"), "host\n");
    const hostUntouched = () => {
      const mounts = mountPoints(readFileSync("/proc/self/mountinfo", "utf8"));
      assert.ok(!mounts.some((m) => m.startsWith(hostDir)), "no mount on the host's directory");
      assert.deepEqual(readdirSync(hostDir), ["marker"]);
    };
    try {
      const n = create("link");
      const rootfs = join(box.lxcpath, n, "rootfs");
      symlinkSync(hostDir, join(rootfs, "evil"));
      const cfg = join(box.lxcpath, n, "config");
      writeFileSync(
        cfg,
        `${readFileSync(cfg, "utf8")}\nlxc.mount.entry = tmpfs evil tmpfs create=dir 0 0\n`,
      );
      // The symlink resolves inside the rootfs (openat2 RESOLVE_IN_ROOT), to
      // <rootfs>${hostDir}, which does not exist and is not created through
      // a symlink: the start is refused cleanly, naming the entry's target.
      const r = box.lxt(["start", "-n", n]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /openat2 \/evil: ENOENT/);
      assert.match(box.ok(["info", "-n", n, "-s"]), /STOPPED/);
      hostUntouched();
      // With that path present in the rootfs, the container starts and the
      // tmpfs lands on the container's own directory.
      mkdirSync(join(rootfs, hostDir), { recursive: true });
      box.ok(["start", "-n", n]);
      hostUntouched();
      assert.match(
        sh(`grep ' ${hostDir} ' /proc/self/mountinfo`, n),
        / - tmpfs /,
        "the tmpfs is mounted at the container's own path",
      );
      assert.equal(sh(`ls -A ${hostDir} | wc -l`, n).trim(), "0", "an empty tmpfs inside");
      box.ok(["stop", "-n", n, "-k"]);
    } finally {
      rmSync(hostDir, { recursive: true, force: true });
    }
  });
});
