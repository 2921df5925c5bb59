import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import {
  lstat,
  mkdtemp,
  readFile,
  readlink,
  realpath,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseBusyboxArgs } from "../../src/container/create.js";
import { LxtError } from "../../src/core/errors.js";
import {
  BUSYBOX_CANDIDATES,
  busyboxConfigLines,
  createBusyboxRootfs,
  elfLinkage,
  netConfigLines,
  renderInittab,
} from "../../src/templates/busybox.js";

const hostBusybox = BUSYBOX_CANDIDATES.find((p) => existsSync(p));
const skipNoBusybox =
  hostBusybox === undefined ? "no busybox on this host (install busybox-static)" : false;

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "lxt-template-busybox-"));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("createBusyboxRootfs", { skip: skipNoBusybox }, () => {
  let rootfs: string;
  let config: Array<[string, string]>;

  before(async () => {
    rootfs = join(tmp, "c1", "rootfs");
    ({ configLines: config } = await createBusyboxRootfs(rootfs, { name: "c1" }));
  });

  it("builds the directory tree with the right modes", async () => {
    const modes: Record<string, number> = {
      bin: 0o755,
      sbin: 0o755,
      dev: 0o755,
      etc: 0o755,
      "etc/init.d": 0o755,
      home: 0o755,
      lib: 0o755,
      mnt: 0o755,
      proc: 0o555,
      root: 0o700,
      run: 0o755,
      sys: 0o555,
      tmp: 0o1777,
      "usr/bin": 0o755,
      "usr/sbin": 0o755,
      "usr/lib": 0o755,
      "var/log": 0o755,
      "var/run": 0o755,
      "var/lib": 0o755,
    };
    for (const [dir, mode] of Object.entries(modes)) {
      const st = await stat(join(rootfs, dir));
      assert.ok(st.isDirectory(), `${dir} is a directory`);
      assert.equal(st.mode & 0o7777, mode, `mode of ${dir}`);
    }
  });

  it("copies a static busybox, executable, not setuid", async () => {
    const st = await lstat(join(rootfs, "bin/busybox"));
    assert.ok(st.isFile());
    assert.equal(st.mode & 0o7777, 0o755);
    assert.equal(await elfLinkage(join(rootfs, "bin/busybox")), "static");
  });

  it("links every applet to /bin/busybox with a relative symlink", async () => {
    const list = execFileSync(hostBusybox as string, ["--list-full"], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l !== "" && l !== "bin/busybox");
    assert.ok(list.length > 100, "busybox lists its applets");
    const bb = await realpath(join(rootfs, "bin/busybox"));
    for (const applet of list) {
      const p = join(rootfs, applet);
      const target = await readlink(p);
      assert.ok(!target.startsWith("/"), `${applet} -> ${target} is relative`);
      assert.equal(await realpath(p), bb, `${applet} resolves to busybox`);
    }
    assert.equal(await readlink(join(rootfs, "bin/sh")), "busybox");
    assert.equal(await readlink(join(rootfs, "sbin/init")), "../bin/busybox");
    // the applets work inside the tree, e.g. the shell parses rcS
    execFileSync(join(rootfs, "bin/sh"), ["-n", join(rootfs, "etc/init.d/rcS")]);
    execFileSync(join(rootfs, "bin/sh"), ["-n", join(rootfs, "usr/share/udhcpc/default.script")]);
  });

  it("writes inittab with rcS, one getty and a console shell", async () => {
    const inittab = await readFile(join(rootfs, "etc/inittab"), "utf8");
    assert.match(inittab, /^::sysinit:\/etc\/init\.d\/rcS$/m);
    assert.match(inittab, /^tty1::respawn:\/sbin\/getty -L tty1 115200 vt100$/m);
    assert.match(inittab, /^console::askfirst:\/bin\/sh$/m);
    assert.doesNotMatch(inittab, /tty2/);
    assert.ok(existsSync(join(rootfs, "sbin/getty")), "the getty named in inittab exists");
  });

  it("writes an executable rcS that runs udhcpc only when eth0 exists with no IPv4 address", async () => {
    const p = join(rootfs, "etc/init.d/rcS");
    assert.equal((await stat(p)).mode & 0o777, 0o755);
    const rcs = await readFile(p, "utf8");
    assert.ok(rcs.startsWith("#!/bin/sh\n"));
    assert.match(rcs, /^mount -a$/m);
    assert.match(rcs, /^syslogd$/m);
    assert.match(
      rcs,
      /if v4=\$\(ip -o -4 addr show dev eth0 2>\/dev\/null\) && \[ -z "\$v4" \]; then\n\s+udhcpc -b .*-i eth0 -s \/usr\/share\/udhcpc\/default\.script/,
    );
  });

  it("writes the udhcpc event script and links busybox's default path to it", async () => {
    const p = join(rootfs, "usr/share/udhcpc/default.script");
    assert.equal((await stat(p)).mode & 0o777, 0o755);
    const s = await readFile(p, "utf8");
    for (const word of [
      "deconfig",
      "bound|renew",
      "ip addr add",
      "ip route add default",
      "nameserver",
    ]) {
      assert.ok(s.includes(word), `event script handles ${word}`);
    }
    // Debian's busybox looks at /etc/udhcpc/default.script
    if (existsSync(join(rootfs, "etc/udhcpc/default.script"))) {
      assert.equal(await realpath(join(rootfs, "etc/udhcpc/default.script")), await realpath(p));
    }
  });

  it("writes the account, host and shell files", async () => {
    const read = (f: string) => readFile(join(rootfs, f), "utf8");
    assert.equal(await read("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    assert.equal(await read("etc/group"), "root:x:0:root\n");
    assert.match(await read("etc/shadow"), /^root:[*!]:/);
    assert.equal((await stat(join(rootfs, "etc/shadow"))).mode & 0o777, 0o600);
    assert.equal(await read("etc/hostname"), "c1\n");
    assert.match(await read("etc/hosts"), /^127\.0\.0\.1\s+localhost$/m);
    assert.match(await read("etc/hosts"), /\sc1$/m);
    assert.match(await read("etc/profile"), /PATH=/);
    assert.match(await read("etc/profile"), /PS1=/);
    assert.equal(await read("etc/resolv.conf"), "");
    assert.ok(existsSync(join(rootfs, "etc/fstab")));
  });

  it("returns the template's config keys", () => {
    const keys = new Map(config);
    assert.equal(keys.get("lxc.uts.name"), "c1");
    assert.equal(keys.get("lxc.signal.halt"), "SIGUSR1");
    assert.equal(keys.get("lxc.signal.reboot"), "SIGTERM");
    assert.equal(keys.get("lxc.tty.max"), "1");
    assert.equal(keys.get("lxc.pty.max"), "1024");
    assert.equal(keys.get("lxc.mount.auto"), "proc:mixed sys:ro");
    assert.equal(keys.get("lxc.autodev"), "1");
    // LXC's default.conf: a veth on the default bridge; here lxtbr0, made on first start.
    assert.equal(keys.get("lxc.net.0.type"), "veth");
    assert.equal(keys.get("lxc.net.0.link"), "lxtbr0");
    assert.equal(keys.get("lxc.net.0.flags"), "up");
    assert.deepEqual(netConfigLines("empty"), [["lxc.net.0.type", "empty"]]);
    assert.throws(() => netConfigLines("bad name!"), /expected empty or a bridge/);
    assert.deepEqual(parseBusyboxArgs(["--net", "br9"]), { network: "br9" });
    assert.deepEqual(parseBusyboxArgs(["--net=empty"]), { network: "empty" });
    assert.throws(() => parseBusyboxArgs(["--bogus"]), /unknown argument/);
    for (const [k] of config) {
      assert.doesNotMatch(k, /cap|seccomp|apparmor|idmap|rootfs/, `${k} is not a key lxt lacks`);
    }
  });

  it("refuses to build over an existing tree", async () => {
    await assert.rejects(createBusyboxRootfs(rootfs, { name: "c1" }), LxtError);
  });

  it("with ttys: 0 has no getty and lxc.tty.max = 0", async () => {
    const r = await createBusyboxRootfs(join(tmp, "c0", "rootfs"), { name: "c0", ttys: 0 });
    const inittab = await readFile(join(tmp, "c0", "rootfs", "etc/inittab"), "utf8");
    assert.doesNotMatch(inittab, /getty/);
    assert.deepEqual(
      r.configLines.find(([k]) => k === "lxc.tty.max"),
      ["lxc.tty.max", "0"],
    );
  });
});

describe("busybox checks", () => {
  it("refuses a dynamically linked busybox-like binary", async () => {
    // any dynamic executable stands in: the check happens before it is run
    const dynamic = "/bin/ls";
    assert.equal(await elfLinkage(dynamic), "dynamic");
    await assert.rejects(
      createBusyboxRootfs(join(tmp, "dyn"), { name: "d", busybox: dynamic }),
      (err: unknown) =>
        err instanceof LxtError && err.code === "host" && /dynamically linked/.test(err.message),
    );
    assert.ok(!existsSync(join(tmp, "dyn")), "nothing was built");
  });

  it("refuses a missing busybox", async () => {
    await assert.rejects(
      createBusyboxRootfs(join(tmp, "missing"), {
        name: "m",
        busybox: join(tmp, "no-such-busybox"),
      }),
      (err: unknown) => err instanceof LxtError && err.code === "host",
    );
  });

  it("refuses a file that is not ELF", async () => {
    const script = join(tmp, "fake-busybox");
    await writeFile(script, "#!/bin/sh\necho hi\n", { mode: 0o755 });
    assert.equal(await elfLinkage(script), "not-elf");
    await assert.rejects(
      createBusyboxRootfs(join(tmp, "script"), { name: "s", busybox: script }),
      (err: unknown) =>
        err instanceof LxtError && err.code === "host" && /not an ELF/.test(err.message),
    );
  });

  it("refuses a bad tty count", async () => {
    await assert.rejects(
      createBusyboxRootfs(join(tmp, "tty"), { name: "t", ttys: -1 }),
      (err: unknown) => err instanceof LxtError && err.code === "usage",
    );
  });

  it("renders inittab for N ttys", () => {
    const t = renderInittab(3);
    assert.equal(t.match(/::respawn:\/sbin\/getty/g)?.length, 3);
    assert.match(t, /^tty3::respawn:/m);
  });

  it("config lines carry the tty count", () => {
    assert.deepEqual(
      busyboxConfigLines("x", 2).find(([k]) => k === "lxc.tty.max"),
      ["lxc.tty.max", "2"],
    );
  });
});
