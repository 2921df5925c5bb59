/**
 * Confinement of an unprivileged (the default) and of a privileged
 * container, checked from the inside: the
 * capability set, the default seccomp filter, masked paths, no_new_privs,
 * custom profiles, and that attach gets what the init got. A small static C
 * probe (built by the test into the rootfs) makes the raw syscalls busybox
 * has no applet for and prints the errno each returned (0: success).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { CAPABILITIES, resolveCapabilities } from "../../src/config/security.js";
import { type Sandbox as Box, hostDisk, Sandbox, skipReason, until } from "./harness.js";

const skip = skipReason();
if (skip) console.log(skip);

const PROBE_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct { unsigned int bytes; int type; unsigned char h[8]; } fh = {8, 1, {0}};
	const char *op = argc > 1 ? argv[1] : "";
	long rc = -1;

	errno = 0;
	if (!strcmp(op, "init_module")) rc = syscall(SYS_init_module, NULL, 0, "");
	else if (!strcmp(op, "finit_module")) rc = syscall(SYS_finit_module, -1, "", 0);
	else if (!strcmp(op, "delete_module")) rc = syscall(SYS_delete_module, "lxt_none", 0);
	else if (!strcmp(op, "kexec_load")) rc = syscall(SYS_kexec_load, 0, 0, NULL, 0);
	else if (!strcmp(op, "open_by_handle_at")) rc = syscall(SYS_open_by_handle_at, AT_FDCWD, &fh, O_RDONLY);
	else if (!strcmp(op, "bpf")) rc = syscall(SYS_bpf, 0, NULL, 0);
	else if (!strcmp(op, "userfaultfd")) rc = syscall(SYS_userfaultfd, 0);
	else if (!strcmp(op, "keyctl")) rc = syscall(SYS_keyctl, 0, -3, 0);
	else if (!strcmp(op, "umount_force")) rc = umount2("/proc", MNT_FORCE);
	else if (!strcmp(op, "mknod_disk")) {
		rc = mknod("/tmp/lxt-probe-sda", S_IFBLK | 0600, makedev(8, 0));
		if (rc == 0) unlink("/tmp/lxt-probe-sda");
	} else if (!strcmp(op, "devnode") && argc == 5) {
		/* devnode b|c MAJOR MINOR: mknod, then open the node and read a byte. */
		mode_t type = argv[2][0] == 'b' ? S_IFBLK : S_IFCHR;
		const char *node = "/dev/lxt-probe-node"; /* /dev: a tmpfs without nodev */
		int made, opened = -1, fd;
		char byte;
		made = mknod(node, type | 0600, makedev(atoi(argv[3]), atoi(argv[4]))) < 0 ? errno : 0;
		if (made == 0) {
			fd = open(node, O_RDONLY);
			opened = fd < 0 ? errno : read(fd, &byte, 1) < 0 ? errno : 0;
			if (fd >= 0) close(fd);
			unlink(node);
		}
		printf("%d %d\n", made, opened);
		return 0;
	} else if (!strcmp(op, "mkdir")) {
		rc = mkdir("/tmp/lxt-probe-dir", 0700);
		if (rc == 0) rmdir("/tmp/lxt-probe-dir");
	} else { fprintf(stderr, "probe: unknown op %s\n", op); return 2; }
	printf("%d\n", rc < 0 ? errno : 0);
	return 0;
}
`;

const EPERM = 1;
const EACCES = 13;
const ENOSYS = 38;

/** The fields of /proc/PID/status that confinement sets. */
function confinementOf(status: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"]) {
    out[f] = new RegExp(`^${f}:\\s*(\\S+)`, "m").exec(status)?.[1] ?? "";
  }
  return out;
}

/**
 * A set as /proc shows it, limited to what this host's bounding set allows
 * (a new user namespace starts with a full bounding set of its own).
 */
function capMask(caps: readonly number[], inUserns = false): string {
  const host = inUserns
    ? (1n << 64n) - 1n
    : BigInt(`0x${confinementOf(readFileSync("/proc/self/status", "utf8")).CapBnd}`);
  const mask = caps.reduce((m, c) => m | (1n << BigInt(c)), 0n) & host;
  return mask.toString(16).padStart(16, "0");
}

for (const privileged of [false, true]) {
  describe(`confinement of ${privileged ? "a privileged" : "an unprivileged (default)"} busybox container`, {
    skip,
    timeout: 180_000,
  }, () => {
    let box: Box;
    let c: string;
    let probeSrc: string;
    const sh = (cmd: string, name = c) => box.ok(["attach", "-n", name, "--", "sh", "-c", cmd]);
    const probe = (op: string, name = c) =>
      Number(box.ok(["attach", "-n", name, "--", "/usr/local/bin/lxt-probe", op]).trim());
    const create = (prefix: string): string => {
      const n = box.name(prefix);
      box.ok(["create", "-n", n, "-t", "busybox"]);
      if (privileged) {
        const cfg = join(box.lxcpath, n, "config");
        writeFileSync(
          cfg,
          readFileSync(cfg, "utf8").replace("lxt.privileged = 0", "lxt.privileged = 1"),
        );
      }
      const bin = join(box.lxcpath, n, "rootfs", "usr/local/bin");
      mkdirSync(bin, { recursive: true });
      execFileSync("cc", ["-static", "-O2", "-o", join(bin, "lxt-probe"), probeSrc]);
      return n;
    };
    const stopped = (name: string) =>
      until(() => box.lxt(["info", "-n", name, "-s"]).stdout.includes("STOPPED"), 10_000);

    before(() => {
      box = new Sandbox();
      probeSrc = join(box.lxcpath, "lxt-probe.c");
      writeFileSync(probeSrc, PROBE_C);
      c = create("sec");
      box.ok(["start", "-n", c]);
    });
    after(() => box.cleanup());

    test("init's bounding, permitted and effective sets are the default set; nothing inheritable or ambient", () => {
      const want = capMask(
        resolveCapabilities({ capDrop: [], dropCleared: false, noNewPrivs: false, idmap: [] }),
        !privileged,
      );
      const init = confinementOf(sh("cat /proc/1/status"));
      assert.deepEqual(init, {
        CapInh: "0000000000000000",
        CapPrm: want,
        CapEff: want,
        CapBnd: want,
        CapAmb: "0000000000000000",
        NoNewPrivs: "0",
        Seccomp: "2",
      });
    });

    test("attach gets the same confinement as the init", () => {
      const mine = confinementOf(sh("cat /proc/self/status"));
      assert.deepEqual(mine, confinementOf(sh("cat /proc/1/status")));
      // A non-root attach keeps the bounding set and filter, and no capabilities.
      const user = confinementOf(
        box.ok(["attach", "-n", c, "-u", "1000", "--", "cat", "/proc/self/status"]),
      );
      assert.equal(user.CapBnd, mine.CapBnd);
      assert.equal(user.CapEff, "0000000000000000");
      assert.equal(user.Seccomp, "2");
    });

    test("the default filter: module, kexec, shocker, bpf, userfaultfd fail with EPERM; keyrings ENOSYS; umount -f EACCES", () => {
      for (const op of [
        "init_module",
        "finit_module",
        "delete_module",
        "kexec_load",
        "open_by_handle_at",
        "bpf",
        "userfaultfd",
      ])
        assert.equal(probe(op), EPERM, op);
      assert.equal(probe("keyctl"), ENOSYS);
      assert.equal(probe("umount_force"), EACCES);
      assert.equal(probe("mkdir"), 0, "ordinary syscalls work");
      const insmod = box.lxt(["attach", "-n", c, "--", "insmod", "/lib/lxt-none.ko"]);
      assert.notEqual(insmod.code, 0);
    });

    test("mknod of the host's disk: reading it is refused (device cgroup or no CAP_MKNOD)", () => {
      const { major, minor } = hostDisk();
      const devnode = (t: string, ma: number, mi: number) =>
        box
          .ok(["attach", "-n", c, "--", "/usr/local/bin/lxt-probe", "devnode", t, `${ma}`, `${mi}`])
          .trim();
      const [made, opened] = devnode("b", major, minor).split(" ").map(Number);
      if (made === 0) {
        // Privileged: CAP_MKNOD is kept (as LXC) and `b *:* m` allows the node,
        // but the device cgroup refuses to open it.
        assert.equal(opened, EPERM, `open of block ${major}:${minor} inside the container`);
      } else {
        // Unprivileged: the kernel refuses mknod of a device in a user namespace.
        assert.equal(made, EPERM);
      }
      assert.equal(made === 0, privileged, "mknod works exactly when privileged");
      assert.match(
        devnode("c", 1, 11),
        /^(0 1|1 -1)$/,
        "/dev/kmsg (c 1:11) is not on the allowlist",
      );
    });

    test("host kernel files are masked, /sys/firmware is empty", () => {
      // /dev/null over files (or absent where the kernel lacks them).
      const files = sh(
        "for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do " +
          'if [ -e $f ]; then [ -c $f ] && [ ! -s $f ] && echo "$f masked" || echo "$f OPEN"; ' +
          'else echo "$f absent"; fi; done',
      );
      assert.doesNotMatch(files, /OPEN/);
      assert.equal(sh("cat /proc/keys /proc/timer_list 2>/dev/null | wc -c").trim(), "0");
      assert.equal(sh("ls -A /sys/firmware | wc -l").trim(), "0");
      assert.equal(sh("ls -A /proc/acpi 2>/dev/null | wc -l").trim(), "0");
      for (const ro of ["/proc/irq", "/proc/bus", "/proc/fs"]) {
        const line = sh(`grep ' ${ro} ' /proc/self/mountinfo || true`);
        if (line.trim()) assert.match(line, / ro,/, `${ro} is read-only`);
      }
      const w = box.lxt(["attach", "-n", c, "--", "sh", "-c", "echo x > /sys/firmware/x"]);
      assert.notEqual(w.code, 0, "/sys/firmware is read-only");
    });

    test("reboot inside ends only the container", async () => {
      const n = create("boot");
      box.ok(["start", "-n", n]);
      box.lxt(["attach", "-n", n, "--", "reboot", "-f"]);
      assert.ok(await stopped(n), "the container stopped");
      assert.match(readFileSync(join(box.lxcpath, n, "last-exit"), "utf8"), /^signaled 1$/m);
      // The host and the other container carry on.
      assert.equal(sh("echo alive").trim(), "alive");
    });

    test("the default confinement lets busybox init stop cleanly", async () => {
      const n = create("stop");
      box.ok(["start", "-n", n]);
      const t0 = Date.now();
      box.ok(["stop", "-n", n]);
      assert.ok(Date.now() - t0 < 15_000, "halted by its init, not killed after the timeout");
      assert.ok(await stopped(n));
    });

    test("a custom lxc.cap.keep, and lxc.no_new_privs", () => {
      const n = create("keep");
      box.ok([
        "start",
        "-n",
        n,
        "-s",
        "lxc.cap.keep=sys_admin kill CAP_SETUID",
        "-s",
        "lxc.no_new_privs=1",
      ]);
      const want = capMask(
        ["sys_admin", "kill", "setuid"].map((x) => CAPABILITIES.indexOf(x as never)),
      );
      for (const status of [sh("cat /proc/1/status", n), sh("cat /proc/self/status", n)]) {
        const got = confinementOf(status);
        assert.equal(got.CapBnd, want);
        assert.equal(got.CapEff, want);
        assert.equal(got.NoNewPrivs, "1");
      }
      assert.equal(probe("mknod_disk", n), EPERM);
      box.ok(["stop", "-n", n, "-k"]);
    });

    test("with every capability kept, the filter still blocks what caps would allow", () => {
      const n = create("all");
      box.ok(["start", "-n", n, "-s", "lxc.cap.drop="]);
      assert.equal(probe("init_module", n), EPERM);
      assert.equal(probe("open_by_handle_at", n), EPERM);
      // Privileged: with CAP_MKNOD the node can be made (`b *:* m`; opening it
      // is the device cgroup's business). In a user namespace mknod of a
      // device is refused whatever the capabilities (mknod(2)).
      assert.equal(probe("mknod_disk", n), privileged ? 0 : EPERM);
      box.ok(["stop", "-n", n, "-k"]);
    });

    test("a custom profile denying mkdir makes mkdir fail with EPERM, in init's children and attach", () => {
      const n = create("prof");
      const profile = join(box.lxcpath, "deny-mkdir.seccomp");
      writeFileSync(profile, "2\ndenylist\n[all]\nmkdir errno 1\nmkdirat errno 1\n");
      box.ok(["start", "-n", n, "-s", `lxc.seccomp.profile=${profile}`]);
      const r = box.lxt(["attach", "-n", n, "--", "mkdir", "/tmp/x"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Operation not permitted/);
      assert.equal(probe("mkdir", n), EPERM);
      // Only the custom profile applies: the default rules are gone.
      assert.notEqual(probe("keyctl", n), ENOSYS);
      box.ok(["stop", "-n", n, "-k"]);
    });

    test("a kill rule ends the calling process with SIGSYS", () => {
      const n = create("kill");
      const profile = join(box.lxcpath, "kill-mkdir.seccomp");
      writeFileSync(profile, "2\ndenylist\nmkdir kill\nmkdirat kill\n");
      box.ok(["start", "-n", n, "-s", `lxc.seccomp.profile=${profile}`]);
      const r = box.lxt(["attach", "-n", n, "--", "mkdir", "/tmp/x"]);
      assert.equal(r.code, 128 + 31, r.stderr);
      box.ok(["stop", "-n", n, "-k"]);
    });

    test("checkconfig reports this host as JSON", () => {
      const items = JSON.parse(box.ok(["checkconfig", "--format", "json"])) as {
        name: string;
        status: string;
      }[];
      const status = (n: string) => items.find((i) => i.name === n)?.status;
      assert.equal(status("pid"), "enabled");
      assert.equal(status("seccomp"), "enabled");
      assert.ok(status("apparmor"), "apparmor is reported either way");
      assert.match(box.ok(["checkconfig"]), /--- namespaces ---/);
    });

    test("a bad profile refuses the start, naming the profile's line", () => {
      const n = create("bad");
      const profile = join(box.lxcpath, "bad.seccomp");
      writeFileSync(profile, "2\ndenylist\nmkdir frobnicate\n");
      const r = box.lxt(["start", "-n", n, "-s", `lxc.seccomp.profile=${profile}`]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`${profile}:3: seccomp profile: unknown action "frobnicate"`),
      );
    });
  });
}
