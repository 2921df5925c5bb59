/**
 * Confinement of an unprivileged (the default) and of a privileged
 * container, checked from the inside: the capability set, the default
 * seccomp filter, masked paths, no_new_privs, custom profiles, that attach
 * gets what the init got. The escape battery is escape.test.ts; the probe
 * and the suite fixture are in confinement.ts.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { capMask, confinementOf, describeConfined, EACCES, ENOSYS, EPERM } from "./confinement.js";
import { hostDisk, type Sandbox, skipReason } from "./harness.js";

const skip = skipReason();
if (skip) console.log(skip);

describeConfined("confinement of", skip, ({ privileged, ctx, sh, probe, create, stopped }) => {
  let box: Sandbox;
  let c: string;
  before(() => {
    ({ box, c } = ctx);
  });
  /** busybox insmod of a module file made inside container `name`; its stderr (the exit must fail). */
  const insmod = (name: string) => {
    const r = box.lxt([
      ...["attach", "-n", name, "--", "sh", "-c"],
      "mkdir -p /lib && head -c 4096 /dev/zero > /lib/lxt-none.ko && exec insmod /lib/lxt-none.ko",
    ]);
    assert.notEqual(r.code, 0, "insmod");
    return r.stderr;
  };

  test("init's bounding, permitted and effective sets are the default set; nothing inheritable or ambient", () => {
    // lxt's default set by capabilities(7) number (docs/security.md): all 41
    // but dac_read_search 2, sys_module 16, sys_rawio 17, sys_pacct 20,
    // sys_time 25, audit_control 30 and 32-40 (mac_*, syslog, wake_alarm,
    // block_suspend, audit_read, perfmon, bpf, checkpoint_restore).
    const want = capMask(
      [
        0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 18, 19, 21, 22, 23, 24, 26, 27, 28, 29,
        31,
      ],
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
    // busybox insmod of a module file that is there: the filter refuses the load.
    assert.match(
      insmod(c),
      /^insmod: can't insert '\/lib\/lxt-none\.ko': Operation not permitted$/m,
    );
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
    assert.match(devnode("c", 1, 11), /^(0 1|1 -1)$/, "/dev/kmsg (c 1:11) is not on the allowlist");
  });

  test("host kernel files are masked, /sys/firmware is empty", () => {
    // Each one the host's kernel has: /dev/null over files, an empty read-only
    // tmpfs over directories, a read-only bind of the host-wide knobs.
    const has = (p: string) => existsSync(p);
    const files = ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"];
    assert.equal(
      sh(
        `for f in ${files.join(" ")}; do ` +
          'if [ -e $f ]; then [ -c $f ] && [ ! -s $f ] && echo "$f masked" || echo "$f OPEN"; ' +
          'else echo "$f absent"; fi; done',
      ).trim(),
      files.map((f) => `${f} ${has(f) ? "masked" : "absent"}`).join("\n"),
    );
    const mount = (p: string) => sh(`grep ' ${p} ' /proc/self/mountinfo || true`).trim();
    for (const d of ["/sys/firmware", "/proc/acpi", "/proc/scsi"].filter(has)) {
      assert.match(mount(d), / ro,.* - tmpfs /, `${d}: an empty read-only tmpfs`);
      assert.equal(sh(`ls -A ${d} | wc -l`).trim(), "0", `${d} is empty inside`);
    }
    // The host's firmware tables (ACPI, EFI, DMI, memmap) are unreachable.
    const firmware = readdirSync("/sys/firmware");
    assert.ok(firmware.length > 0, "the host has a /sys/firmware to hide");
    for (const f of firmware) {
      const r = box.lxt(["attach", "-n", c, "--", "ls", `/sys/firmware/${f}`]);
      assert.match(r.stderr, /No such file or directory/, `/sys/firmware/${f} inside`);
    }
    for (const ro of ["/proc/irq", "/proc/bus", "/proc/fs"].filter(has))
      assert.match(mount(ro), new RegExp(`^\\S+ \\S+ \\S+ \\S+ ${ro} ro,`), `${ro} is read-only`);
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

  test("the default confinement lets busybox init stop cleanly", () => {
    const n = create("stop");
    box.ok(["start", "-n", n]);
    box.ok(["stop", "-n", n]);
    assert.match(box.ok(["info", "-n", n, "-s"]), /STOPPED/);
    // Halted by its init (SIGINT from the kernel, pid_namespaces(7)), not SIGKILLed after the timeout.
    assert.match(readFileSync(join(box.lxcpath, n, "last-exit"), "utf8"), /^signaled 2$/m);
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
    const want = capMask([21, 5, 7]); // sys_admin, kill, setuid
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
    assert.match(
      insmod(n),
      /^insmod: can't insert '\/lib\/lxt-none\.ko': Operation not permitted$/m,
    );
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
