/**
 * Shared by the confinement tests (security.test.ts, escape.test.ts): a
 * small static C probe (built by the test into each rootfs) that makes the
 * raw syscalls busybox has no applet for and prints the errno each returned
 * (0: success), the readers of /proc status and mountinfo, and a suite
 * fixture with one started busybox container, unprivileged or privileged.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe } from "node:test";
import { Sandbox, until } from "./harness.js";

export const PROBE_C = String.raw`
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
	} else if (!strcmp(op, "mountdev") && argc >= 5) {
		/* mountdev MAJOR MINOR FSTYPE [rw]: mknod a block device, open it, mount it on /mnt
		 * (read-only unless rw). */
		const char *node = "/dev/lxt-probe-disk";
		int made, opened = -1, mounted = -1, fd;
		made = mknod(node, S_IFBLK | 0600, makedev(atoi(argv[2]), atoi(argv[3]))) < 0 ? errno : 0;
		if (made == 0) {
			fd = open(node, O_RDONLY);
			opened = fd < 0 ? errno : 0;
			if (fd >= 0) close(fd);
			mkdir("/mnt", 0755);
			mounted = mount(node, "/mnt", argv[4], argc > 5 ? 0 : MS_RDONLY, NULL) < 0 ? errno : 0;
			unlink(node);
		}
		printf("%d %d %d\n", made, opened, mounted);
		return 0;
	} else if (!strcmp(op, "mount") && argc == 3) {
		/* mount FSTYPE: a new filesystem of that type on /mnt, unmounted again. */
		mkdir("/mnt", 0755);
		rc = mount("none", "/mnt", argv[2], 0, NULL);
		if (rc == 0) umount("/mnt");
	} else if (!strcmp(op, "escape") && argc == 3) {
		/* escape PATH: the classic chroot break-out (chroot into a subdirectory
		 * keeping the cwd outside it, climb "..", chroot there), then look for PATH. */
		int jailed, i;
		mkdir("/dev/lxt-probe-jail", 0700);
		jailed = chroot("/dev/lxt-probe-jail") < 0 ? errno : 0;
		for (i = 0; i < 64; i++)
			if (chdir("..") < 0) break;
		if (chroot(".") < 0 && !jailed) jailed = errno;
		printf("%d %d\n", jailed, access(argv[2], F_OK) < 0 ? errno : 0);
		return 0;
	} else if (!strcmp(op, "mkdir")) {
		rc = mkdir("/tmp/lxt-probe-dir", 0700);
		if (rc == 0) rmdir("/tmp/lxt-probe-dir");
	} else { fprintf(stderr, "probe: unknown op %s\n", op); return 2; }
	printf("%d\n", rc < 0 ? errno : 0);
	return 0;
}
`;

export const EPERM = 1;
export const ENOENT = 2;
export const EBUSY = 16;
export const EACCES = 13;
export const ENOSYS = 38;

/** Mount points in a mountinfo text. */
export function mountPoints(mountinfo: string): string[] {
  return mountinfo
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split(" ")[4] ?? "");
}

/** The filesystem type of the host's `/` (from the test's own mountinfo). */
export function hostRootFsType(): string {
  const line = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .find((l) => l.split(" ")[4] === "/");
  return line?.split(" - ")[1]?.split(" ")[0] ?? "ext4";
}

/** The fields of /proc/PID/status that confinement sets. */
export function confinementOf(status: string): Record<string, string> {
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
export function capMask(caps: readonly number[], inUserns = false): string {
  const host = inUserns
    ? (1n << 64n) - 1n
    : BigInt(`0x${confinementOf(readFileSync("/proc/self/status", "utf8")).CapBnd}`);
  const mask = caps.reduce((m, c) => m | (1n << BigInt(c)), 0n) & host;
  return mask.toString(16).padStart(16, "0");
}

/**
 * Builds the probe (static, from `PROBE_C`) into container `name`'s rootfs
 * as /usr/local/bin/lxt-probe; the source is written once per state root.
 */
export function installProbe(box: Sandbox, name: string): void {
  const src = join(box.lxcpath, "lxt-probe.c");
  if (!existsSync(src)) writeFileSync(src, PROBE_C);
  const bin = join(box.lxcpath, name, "rootfs", "usr/local/bin");
  mkdirSync(bin, { recursive: true });
  execFileSync("cc", ["-static", "-O2", "-o", join(bin, "lxt-probe"), src]);
}

/** What a suite of `confinedSuite` offers its tests; `box` and `c` are set in its `before`. */
export interface ConfinedSuite {
  ctx: { box: Sandbox; c: string };
  /** `sh -c CMD` attached to container `name` (default `c`); asserts exit 0. */
  sh(cmd: string, name?: string): string;
  /** The probe's errno for OP in container `name` (default `c`). */
  probe(op: string, name?: string): number;
  /** A new busybox container (privileged as the suite) with the probe built into its rootfs. */
  create(prefix: string): string;
  /** Resolves true once container `name` is STOPPED (within 10 s). */
  stopped(name: string): Promise<boolean>;
}

/**
 * Registers `before`/`after` hooks for the enclosing `describe`: a sandbox,
 * the probe's source, and container `c` created and started; `after`
 * removes all of it.
 */
export function confinedSuite(privileged: boolean): ConfinedSuite {
  const ctx = { box: undefined as unknown as Sandbox, c: "" };
  const sh = (cmd: string, name = ctx.c) =>
    ctx.box.ok(["attach", "-n", name, "--", "sh", "-c", cmd]);
  const probe = (op: string, name = ctx.c) =>
    Number(ctx.box.ok(["attach", "-n", name, "--", "/usr/local/bin/lxt-probe", op]).trim());
  const create = (prefix: string): string => {
    const { box } = ctx;
    const n = box.name(prefix);
    box.ok(["create", "-n", n, "-t", "busybox"]);
    if (privileged) {
      const cfg = join(box.lxcpath, n, "config");
      writeFileSync(
        cfg,
        readFileSync(cfg, "utf8").replace("lxt.privileged = 0", "lxt.privileged = 1"),
      );
    }
    installProbe(box, n);
    return n;
  };
  const stopped = (name: string) =>
    until(() => ctx.box.lxt(["info", "-n", name, "-s"]).stdout.includes("STOPPED"), 10_000);

  before(() => {
    ctx.box = new Sandbox();
    ctx.c = create("sec");
    ctx.box.ok(["start", "-n", ctx.c]);
  });
  after(() => ctx.box?.cleanup());
  return { ctx, sh, probe, create, stopped };
}

/**
 * Describes BODY twice, for an unprivileged (the default) and a privileged
 * container: "TITLE an unprivileged (default) busybox container", each with
 * its own `confinedSuite`.
 */
export function describeConfined(
  title: string,
  skip: string | undefined,
  body: (suite: ConfinedSuite & { privileged: boolean }) => void,
): void {
  for (const privileged of [false, true]) {
    const what = privileged ? "a privileged" : "an unprivileged (default)";
    describe(`${title} ${what} busybox container`, { skip, timeout: 180_000 }, () =>
      body({ privileged, ...confinedSuite(privileged) }),
    );
  }
}
