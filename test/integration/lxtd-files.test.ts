/**
 * `lxc file push/pull/delete/edit` through lxtd, against running and
 * stopped busybox containers: bytes, modes and ids as seen from the client,
 * from inside the container and on the host; directories (-p, -r) and
 * symlinks; append; a full disk; and attempts to reach the host's files
 * through `..` and symlinks.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason();
if (skip) console.log(skip);

/** A raw request to the daemon (what the stock client never sends: append). */
function raw(
  socket: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer | string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (s: string) => {
        text += s;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("lxc file through lxtd", { skip, timeout: 300_000 }, () => {
  let box: LxtdSandbox;
  let c: string;
  let local: string;
  let host: string;
  const hostShadow = readFileSync("/etc/shadow", "utf8");

  before(async () => {
    box = new LxtdSandbox();
    await box.startDaemon();
    c = box.name("files");
    box.lxcOk(["launch", "busybox", c]);
    local = mkdtempSync(join(tmpdir(), "lxt-files-local-"));
    // What the container must never reach: a host directory and a secret in it.
    host = mkdtempSync(join(tmpdir(), "lxt-files-host-"));
    writeFileSync(join(host, "secret"), "HOST-SECRET\n");
  });
  after(async () => {
    await box.close();
    rmSync(local, { recursive: true, force: true });
    rmSync(host, { recursive: true, force: true });
  });

  const inside = (...argv: string[]) => box.ok(["attach", "-n", c, "--", ...argv]);
  const rootfs = () => join(box.lxcpath, c, "rootfs");

  /** The host uid (or gid) the container's `id` has on disk: as is when idmapped, shifted by the slice otherwise. */
  const hostId = (id: number): number => {
    const info = box.ok(["info", "-n", c]);
    if (/^Rootfs owner:\s+idmapped/m.test(info)) return id;
    const base = /^Id map:\s+u 0 (\d+) /m.exec(info);
    assert.ok(base, info);
    return Number(base[1]) + id;
  };

  test("push and pull a binary file: bytes, mode and ids, from the client, inside and on the host", () => {
    const data = Buffer.concat([randomBytes(300_000), Buffer.from([0, 0, 10, 255])]);
    writeFileSync(join(local, "bin"), data);
    box.lxcOk([
      "file",
      "push",
      "--uid",
      "1000",
      "--gid",
      "100",
      "--mode",
      "0640",
      join(local, "bin"),
      `${c}/tmp/bin`,
    ]);
    assert.equal(
      inside("stat", "-c", "%u %g %a %s", "/tmp/bin").trim(),
      `1000 100 640 ${data.length}`,
    );
    const onHost = statSync(join(rootfs(), "tmp", "bin"));
    assert.deepEqual([onHost.uid, onHost.gid], [hostId(1000), hostId(100)]);
    box.lxcOk(["file", "pull", `${c}/tmp/bin`, join(local, "back")]);
    assert.ok(readFileSync(join(local, "back")).equals(data));
    assert.equal(statSync(join(local, "back")).mode & 0o777, 0o640, "pull applies X-LXD-mode");
  });

  test("a large file streams through the daemon: its memory does not grow with the file's size", () => {
    const big = join(local, "large");
    const hwm = () => {
      const status = readFileSync(`/proc/${box.daemon?.pid}/status`, "utf8");
      return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1]) * 1024;
    };
    const roundTrip = (size: number) => {
      writeFileSync(big, "");
      truncateSync(big, size);
      box.lxcOk(["file", "push", big, `${c}/tmp/large`], { timeoutMs: 120_000 });
      box.lxcOk(["file", "pull", `${c}/tmp/large`, `${big}-back`], { timeoutMs: 120_000 });
      assert.equal(statSync(`${big}-back`).size, size);
      box.lxcOk(["file", "delete", `${c}/tmp/large`]);
      rmSync(`${big}-back`);
    };
    // Warmed up first: the first transfer's buffers and code are the daemon's once, whatever the size.
    roundTrip(16 << 20);
    const before = hwm();
    const size = 128 << 20;
    roundTrip(size);
    const grown = hwm() - before;
    assert.ok(
      grown < size / 4,
      `lxtd's peak memory grew by ${grown} bytes for a ${size}-byte file`,
    );
    rmSync(big);
  });

  test("an existing file keeps its mode and owner; append adds to it (X-LXD-write)", async () => {
    writeFileSync(join(local, "one"), "one\n");
    box.lxcOk(["file", "push", "--mode", "0600", "--uid", "5", join(local, "one"), `${c}/tmp/log`]);
    box.lxcOk(["file", "push", "--mode", "0644", "--uid", "7", join(local, "one"), `${c}/tmp/log`]);
    assert.equal(inside("stat", "-c", "%u %a", "/tmp/log").trim(), "5 600");
    const r = await raw(
      box.socket,
      "POST",
      `/1.0/instances/${c}/files?path=/tmp/log`,
      { "X-LXD-type": "file", "X-LXD-write": "append", "Content-Type": "application/octet-stream" },
      "two\n",
    );
    assert.equal(r.status, 200, r.body);
    assert.equal(inside("cat", "/tmp/log"), "one\ntwo\n");
    const missing = await raw(
      box.socket,
      "POST",
      `/1.0/instances/${c}/files?path=/tmp/nolog`,
      { "X-LXD-write": "append", "Content-Type": "application/octet-stream" },
      "x",
    );
    assert.equal(missing.status, 404, "append needs the file");
  });

  test("push -p makes the parents; delete removes a file and an empty directory, not a full one", () => {
    writeFileSync(join(local, "deep"), "deep\n");
    box.lxcOk(["file", "push", "-p", join(local, "deep"), `${c}/opt/a/b/deep`]);
    assert.equal(inside("cat", "/opt/a/b/deep"), "deep\n");
    assert.equal(inside("stat", "-c", "%F %a", "/opt/a/b").trim(), "directory 750");
    const full = box.lxc(["file", "delete", `${c}/opt/a/b`]);
    assert.notEqual(full.code, 0);
    assert.match(full.stderr, /directory not empty/);
    box.lxcOk(["file", "delete", `${c}/opt/a/b/deep`]);
    box.lxcOk(["file", "delete", `${c}/opt/a/b`]);
    assert.equal(inside("ls", "/opt/a"), "");
    const gone = box.lxc(["file", "delete", `${c}/opt/a/b`]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /no such file or directory/);
  });

  test("push -r and pull -r of a tree with a symlink", () => {
    const tree = join(local, "tree");
    mkdirSync(join(tree, "sub"), { recursive: true });
    writeFileSync(join(tree, "f1"), "one\n");
    writeFileSync(join(tree, "sub", "f2"), "two\n");
    symlinkSync("sub/f2", join(tree, "link"));
    box.lxcOk(["file", "push", "-r", tree, `${c}/srv/`, "-p"]);
    assert.equal(
      inside("cat", "/srv/tree/f1", "/srv/tree/sub/f2", "/srv/tree/link"),
      "one\ntwo\ntwo\n",
    );
    assert.equal(inside("readlink", "/srv/tree/link").trim(), "sub/f2");
    const out = join(local, "out");
    mkdirSync(out);
    box.lxcOk(["file", "pull", "-r", `${c}/srv/tree`, out]);
    assert.equal(readFileSync(join(out, "tree", "f1"), "utf8"), "one\n");
    assert.equal(readFileSync(join(out, "tree", "sub", "f2"), "utf8"), "two\n");
    // LXD answers a symlink with its target made absolute; the client recreates it so.
    assert.ok(lstatSync(join(out, "tree", "link")).isSymbolicLink());
    assert.equal(readlinkSync(join(out, "tree", "link")), "/srv/tree/sub/f2");
  });

  test("file edit: the content from stdin replaces the file", () => {
    writeFileSync(join(local, "edited"), "edited\n");
    const fd = openSync(join(local, "edited"), "r");
    try {
      // A file, not a pipe: the client opens /dev/stdin, which a socket cannot be.
      const r = spawnSync("lxc", ["file", "edit", `${c}/tmp/log`], {
        env: box.env,
        stdio: [fd, "pipe", "pipe"],
        encoding: "utf8",
      });
      assert.equal(r.status, 0, r.stderr);
    } finally {
      closeSync(fd);
    }
    assert.equal(inside("cat", "/tmp/log"), "edited\n");
  });

  test("a full disk: LXD's error, the old file intact, nothing left beside it", () => {
    inside("mkdir", "-p", "/mnt/small");
    inside("mount", "-t", "tmpfs", "-o", "size=65536", "tmpfs", "/mnt/small");
    writeFileSync(join(local, "small"), "old\n");
    box.lxcOk(["file", "push", join(local, "small"), `${c}/mnt/small/f`]);
    writeFileSync(join(local, "big"), Buffer.alloc(1 << 20, 7));
    const r = box.lxc(["file", "push", join(local, "big"), `${c}/mnt/small/f`]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /Error: Failed writing "\/mnt\/small\/f" in instance ".*": no space left on device/,
    );
    assert.equal(inside("cat", "/mnt/small/f"), "old\n");
    assert.equal(inside("ls", "-A", "/mnt/small").trim(), "f");
    inside("umount", "/mnt/small");
  });

  /** Every way out of the root the client can be asked for: none reads or writes the host. */
  const attacks = (label: string) => {
    const before = readdirSync(host).sort();
    // Through `..`: the path is the container's /tmp/..., which does not exist there.
    const dots = box.lxc(["file", "pull", `${c}/../../../../..${host}/secret`, "-"]);
    assert.notEqual(dots.code, 0, label);
    assert.doesNotMatch(dots.stdout, /HOST-SECRET/, label);
    // A symlink to the host's secret, absolute and relative: followed inside the root.
    for (const link of ["/tmp/evil-abs", "/tmp/evil-rel"]) {
      const r = box.lxc(["file", "pull", `${c}${link}`, "-"]);
      assert.notEqual(r.code, 0, `${label} ${link}`);
      assert.doesNotMatch(r.stdout, /HOST-SECRET/, `${label} ${link}`);
    }
    // A symlink to /etc/shadow reads the container's, never the host's.
    const shadow = box.lxc(["file", "pull", `${c}/tmp/evil-shadow`, "-"]);
    assert.equal(shadow.code, 0, shadow.stderr);
    assert.equal(shadow.stdout, readFileSync(join(rootfs(), "etc", "shadow"), "utf8"));
    assert.notEqual(shadow.stdout, hostShadow);
    // A push through a symlinked directory, and onto a link to the host's file.
    writeFileSync(join(local, "pwn"), "PWNED\n");
    const through = box.lxc(["file", "push", join(local, "pwn"), `${c}/tmp/evil-dir/pwned`]);
    assert.notEqual(through.code, 0, label);
    const mkdir = box.lxc(["file", "push", "-p", join(local, "pwn"), `${c}/tmp/evil-dir/x/pwned`]);
    assert.notEqual(mkdir.code, 0, `${label}: -p finds a symlink where a directory must be`);
    box.lxcOk(["file", "push", join(local, "pwn"), `${c}/tmp/evil-abs`]);
    assert.deepEqual(readdirSync(host).sort(), before, label);
    assert.equal(readFileSync(join(host, "secret"), "utf8"), "HOST-SECRET\n", label);
    // Delete through the symlinked directory: the host's file stays.
    const del = box.lxc(["file", "delete", `${c}/tmp/evil-dir/secret`]);
    assert.notEqual(del.code, 0, label);
    assert.equal(readFileSync(join(host, "secret"), "utf8"), "HOST-SECRET\n", label);
  };

  /** The links an attacker inside makes (planted from the host while the container is stopped). */
  const links = () => ({
    "evil-abs": join(host, "secret"),
    "evil-rel": `../../../../../../..${host}/secret`,
    "evil-dir": host,
    "evil-shadow": "/etc/shadow",
  });

  test("confinement, running: `..` and symlinks pointing out reach nothing of the host", () => {
    for (const [name, to] of Object.entries(links())) inside("ln", "-sfn", to, `/tmp/${name}`);
    attacks("running");
  });

  test("an overlay container: stopped (its overlay mounted only in the helper's namespace) and running", () => {
    const o = box.name("ovl");
    box.ok(["create", "-n", o, "-t", "busybox", "-B", "overlay"]);
    writeFileSync(join(local, "ovl"), "overlay\n");
    box.lxcOk(["file", "push", "--uid", "9", "--mode", "0640", join(local, "ovl"), `${o}/etc/ovl`]);
    assert.equal(box.lxcOk(["file", "pull", `${o}/etc/ovl`, "-"]), "overlay\n");
    assert.equal(
      box.lxcOk(["file", "pull", `${o}/etc/hostname`, "-"]).trim(),
      o,
      "the lower layer shows through",
    );
    assert.ok(
      !readFileSync("/proc/self/mountinfo", "utf8").includes(join(box.lxcpath, o)),
      "no mount on the host",
    );
    assert.ok(
      statSync(join(box.lxcpath, o, "overlay", "delta", "etc", "ovl")).isFile(),
      "written to the upper layer",
    );
    box.lxcOk(["start", o]);
    assert.equal(
      box.ok(["attach", "-n", o, "--", "stat", "-c", "%u %a", "/etc/ovl"]).trim(),
      "9 640",
    );
    box.lxcOk(["file", "push", join(local, "ovl"), `${o}/root/live`]);
    assert.equal(box.ok(["attach", "-n", o, "--", "cat", "/root/live"]), "overlay\n");
    box.lxcOk(["delete", "-f", o]);
  });

  test("stopped: push, pull and the same confinement on the rootfs; the started container sees the files", () => {
    box.lxcOk(["stop", c, "--force"]);
    for (const [name, to] of Object.entries(links())) {
      rmSync(join(rootfs(), "tmp", name), { force: true });
      symlinkSync(to, join(rootfs(), "tmp", name));
    }
    attacks("stopped");
    writeFileSync(join(local, "cold"), "cold\n");
    box.lxcOk([
      "file",
      "push",
      "-p",
      "--uid",
      "33",
      "--gid",
      "44",
      "--mode",
      "0604",
      join(local, "cold"),
      `${c}/var/cold/f`,
    ]);
    const onHost = statSync(join(rootfs(), "var", "cold", "f"));
    assert.deepEqual(
      [onHost.uid, onHost.gid, onHost.mode & 0o777],
      [hostId(33), hostId(44), 0o604],
    );
    assert.equal(box.lxcOk(["file", "pull", `${c}/var/cold/f`, "-"]), "cold\n");
    box.lxcOk(["start", c]);
    assert.equal(inside("stat", "-c", "%u %g %a", "/var/cold/f").trim(), "33 44 604");
    assert.equal(inside("cat", "/var/cold/f"), "cold\n");
  });
});
