import assert from "node:assert/strict";
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { Daemon } from "../../src/api/daemon.js";
import { fileHeaders, parseFileHeaders } from "../../src/api/routes/files.js";
import { buildApp } from "../../src/api/server.js";
import { sliceMap } from "../../src/config/idmap.js";
import {
  containerPath,
  idFromTree,
  idToTree,
  OVERFLOW_ID,
  symlinkAnswer,
} from "../../src/container/file-ids.js";
import { readContainerFile } from "../../src/container/files.js";
import { containerPaths } from "../../src/container/paths.js";
import type { HeldLock } from "../../src/host/shim.js";
import { testCaller, testContext } from "./support/context.js";

const HELPER = resolve(import.meta.dirname, "../../native/build/lxt-shim");

describe("container paths of the files API", () => {
  test("relative paths get a leading slash; . and .. fold lexically, never above /", () => {
    assert.equal(containerPath("etc/hosts"), "/etc/hosts");
    assert.equal(containerPath("/etc/hosts"), "/etc/hosts");
    assert.equal(containerPath("tmp/d/"), "/tmp/d");
    assert.equal(containerPath("//a//b/./c"), "/a/b/c");
    assert.equal(containerPath("../../../../etc/shadow"), "/etc/shadow");
    assert.equal(containerPath("/a/b/../../../.."), "/");
    assert.equal(containerPath("."), "/");
  });

  test("an empty path or one with a NUL is refused", () => {
    assert.throws(() => containerPath(""), /Missing path argument/);
    assert.throws(() => containerPath("a\0b"), /NUL/);
  });

  test("a symlink's answer is its target made absolute and cleaned, as LXD", () => {
    assert.equal(symlinkAnswer("/tmp/l", "/etc/passwd"), "/etc/passwd");
    assert.equal(symlinkAnswer("/tmp/d/l", "../x"), "/tmp/x");
    assert.equal(symlinkAnswer("/tmp/l", "../../../../etc/shadow"), "/etc/shadow");
    assert.equal(symlinkAnswer("/l", "a/./b"), "/a/b");
  });
});

describe("container ids and the tree's ids", () => {
  const slice = sliceMap(1_000_000);

  test("privileged: every id passes as is", () => {
    assert.equal(idToTree({}, "u", 123456, "c1"), 123456);
    assert.equal(idFromTree({}, "g", 7), 7);
  });

  test("unprivileged, helper in the namespace or host-neutral tree: ids pass, unmapped ones are refused", () => {
    assert.equal(idToTree({ valid: slice }, "u", 1000, "c1"), 1000);
    assert.throws(
      () => idToTree({ valid: slice }, "u", 70000, "c1"),
      /uid 70000 is not mapped in instance "c1" \(its id map: u:0:1000000:65536\)/,
    );
    assert.throws(() => idToTree({ valid: slice }, "g", -1, "c1"), /Invalid gid -1/);
  });

  test("a shifted tree: written and read through the shift map, unmapped host ids read as the overflow id", () => {
    const view = { valid: slice, onDisk: slice };
    assert.equal(idToTree(view, "u", 0, "c1"), 1_000_000);
    assert.equal(idToTree(view, "g", 100, "c1"), 1_000_100);
    assert.equal(idFromTree(view, "u", 1_001_000), 1000);
    assert.equal(idFromTree(view, "u", 0), OVERFLOW_ID);
  });
});

describe("LXD's file headers", () => {
  test("a push's headers: ids, an octal mode masked to 0777, type, write mode, modify-perm", () => {
    assert.deepEqual(
      parseFileHeaders({
        "x-lxd-uid": "1000",
        "x-lxd-gid": "100",
        "x-lxd-mode": "04755",
        "x-lxd-type": "file",
        "x-lxd-write": "append",
        "x-lxd-modify-perm": "uid,mode",
      }),
      {
        type: "file",
        uid: 1000,
        gid: 100,
        mode: 0o755,
        append: true,
        modifyExisting: ["uid", "mode"],
      },
    );
    assert.deepEqual(parseFileHeaders({}), { type: "file" });
    assert.deepEqual(parseFileHeaders({ "x-lxd-uid": "-1", "x-lxd-mode": "420" }), {
      type: "file",
      mode: 0o644,
    });
  });

  test("bad headers are refused with LXD's words", () => {
    assert.throws(() => parseFileHeaders({ "x-lxd-type": "fifo" }), /Invalid file type: "fifo"/);
    assert.throws(() => parseFileHeaders({ "x-lxd-write": "prepend" }), /Invalid file write mode/);
    assert.throws(() => parseFileHeaders({ "x-lxd-uid": "abc" }), /Invalid UID: "abc"/);
    assert.throws(() => parseFileHeaders({ "x-lxd-mode": "0999" }), /Invalid Mode/);
    assert.throws(
      () => parseFileHeaders({ "x-lxd-modify-perm": "uid,size" }),
      /modify-perm field: "size"/,
    );
  });

  test("a pull's headers: mode as %04o, modified as Go prints UTC times", () => {
    assert.deepEqual(
      fileHeaders({ type: "file", uid: 1, gid: 2, mode: 0o640, size: 3, mtime: 1_796_635_831 }),
      {
        "X-LXD-uid": "1",
        "X-LXD-gid": "2",
        "X-LXD-mode": "0640",
        "X-LXD-modified": "2026-12-07 09:30:31 +0000 UTC",
        "X-LXD-type": "file",
      },
    );
  });
});

/** A stopped, privileged dir-backed container in a temporary state root, served by an app. */
function stoppedContainer(root: string, helper = HELPER) {
  const lxcpath = join(root, "lxc");
  const rootfs = join(lxcpath, "c1", "rootfs");
  mkdirSync(join(rootfs, "etc"), { recursive: true });
  mkdirSync(join(rootfs, "tmp"), { recursive: true });
  writeFileSync(
    join(lxcpath, "c1", "config"),
    `lxc.rootfs.path = dir:${rootfs}\nlxt.privileged = 1\nlxc.uts.name = c1\n`,
  );
  // Locks that wait, as the real ones: a read's lock goes when its helper has exited, a moment after the answer.
  const held = new Map<string, Promise<void>>();
  const lock = async (path: string): Promise<HeldLock> => {
    while (held.has(path)) await held.get(path);
    let release = () => {};
    held.set(path, new Promise<void>((r) => (release = r)));
    return {
      release: async () => {
        held.delete(path);
        release();
      },
    };
  };
  const ctx = testContext({
    lxcpath,
    runDir: join(root, "run"),
    host: { helper, lock },
  });
  const d = new Daemon({
    ctx,
    log: pino({ level: "silent" }),
    caller: testCaller(),
    stateDir: join(lxcpath, ".lxtd"),
    serverName: "unit",
    serverPid: 1,
  });
  return { app: buildApp(d), rootfs, ctx, paths: containerPaths(ctx, "c1") };
}

describe("the files API's answers without a helper", () => {
  let root: string;
  let app: ReturnType<typeof stoppedContainer>["app"];
  before(() => {
    root = mkdtempSync(join(tmpdir(), "lxt-api-files-"));
    app = stoppedContainer(root).app;
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test("no path, a bad header, a missing instance: 400, 400, 404 in LXD's envelope", async () => {
    const none = await app.inject({ method: "GET", url: "/1.0/instances/c1/files" });
    assert.equal(none.statusCode, 400);
    assert.equal(none.json().error, "Missing path argument");
    const bad = await app.inject({
      method: "POST",
      url: "/1.0/instances/c1/files?path=/tmp/x",
      headers: { "x-lxd-type": "socket", "content-type": "application/octet-stream" },
      payload: "x",
    });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error, 'Invalid file type: "socket"');
    const missing = await app.inject({
      method: "DELETE",
      url: "/1.0/instances/nope/files?path=/x",
    });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error, "Instance not found");
  });
});

/**
 * A stand-in for `lxt-shim file ... get PATH` whose stdout ends before its
 * metadata (fd 3) comes: the order a loaded host's scheduling gives the real
 * helper now and then. An empty directory: stdout closed, a pause, then the
 * metadata. A small file: its bytes, stdout closed, the metadata, and the
 * helper is gone before anyone reads the bytes.
 */
const EARLY_EOF_HELPER = `#!/bin/sh
for last; do :; done
case "$last" in
/empty) exec 1>&-; sleep 0.2; printf 'directory 0 0 750 4096 0\n' >&3 ;;
/small) printf abc; exec 1>&-; printf 'file 0 0 644 3 0\n' >&3 ;;
*) exit 1 ;;
esac
`;

describe("a helper whose output ends before its metadata comes", () => {
  let root: string;
  let fixture: ReturnType<typeof stoppedContainer>;
  before(() => {
    root = mkdtempSync(join(tmpdir(), "lxt-api-files-"));
    const helper = join(root, "fake-shim");
    writeFileSync(helper, EARLY_EOF_HELPER, { mode: 0o755 });
    fixture = stoppedContainer(root, helper);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  // These hung (the answer never came) before the helper's stdout was read from its start.
  test("HEAD and GET of an empty directory answer", { timeout: 20_000 }, async () => {
    const url = "/1.0/instances/c1/files?path=/empty";
    const head = await fixture.app.inject({ method: "HEAD", url });
    assert.equal(head.statusCode, 200);
    assert.equal(head.headers["x-lxd-type"], "directory");
    assert.equal(head.headers["x-lxd-mode"], "0750");
    const get = await fixture.app.inject({ method: "GET", url });
    assert.equal(get.statusCode, 200);
    assert.deepEqual(get.json().metadata, []);
  });

  test("a file's bytes are kept for a reader that comes after the helper exited", async () => {
    const read = await readContainerFile(fixture.ctx, fixture.paths, "/small");
    assert.equal(read.type, "file");
    if (read.type !== "file") return;
    await read.done;
    const parts: Buffer[] = [];
    for await (const b of read.body) parts.push(b as Buffer);
    assert.equal(Buffer.concat(parts).toString(), "abc");
  });
});

const rootSkip =
  process.getuid?.() !== 0
    ? "SKIP: the helper's chroot needs root"
    : !statSync(HELPER, { throwIfNoEntry: false })
      ? "SKIP: native/build/lxt-shim not built"
      : undefined;
if (rootSkip) console.log(rootSkip);

describe("confinement to the container's root (the real helper on a stopped container)", {
  skip: rootSkip,
}, () => {
  let root: string;
  let host: string;
  let app: ReturnType<typeof stoppedContainer>["app"];
  let rootfs: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), "lxt-api-files-"));
    ({ app, rootfs } = stoppedContainer(root));
    // A host directory and a secret file outside the rootfs.
    host = join(root, "host");
    mkdirSync(host);
    writeFileSync(join(host, "secret"), "HOST-SECRET\n");
    writeFileSync(join(rootfs, "etc", "shadow"), "root:container:::\n");
    symlinkSync(join(host, "secret"), join(rootfs, "tmp", "abs"));
    symlinkSync(
      `../../../../../../../../../../../..${join(host, "secret")}`,
      join(rootfs, "tmp", "rel"),
    );
    symlinkSync(host, join(rootfs, "tmp", "hostdir"));
    symlinkSync("/etc/shadow", join(rootfs, "tmp", "shadow"));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const get = (path: string) =>
    app.inject({ method: "GET", url: `/1.0/instances/c1/files?path=${encodeURIComponent(path)}` });
  const push = (path: string, payload: string, headers: Record<string, string> = {}) =>
    app.inject({
      method: "POST",
      url: `/1.0/instances/c1/files?path=${encodeURIComponent(path)}`,
      headers: { "content-type": "application/octet-stream", ...headers },
      payload,
    });

  test("HEAD answers the metadata only, and lets the container's lock go", async () => {
    const r = await app.inject({ method: "HEAD", url: "/1.0/instances/c1/files?path=/etc/shadow" });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers["x-lxd-type"], "file");
    assert.equal(r.headers["content-length"], String("root:container:::\n".length));
    assert.equal(r.body, "");
    // The next request takes the same (waiting) lock: it would hang if HEAD kept it.
    assert.equal((await get("/etc")).headers["x-lxd-type"], "directory");
  });

  test("a symlink answers with its target, not with what it points at", async () => {
    const r = await get("/tmp/abs");
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers["x-lxd-type"], "symlink");
    assert.equal(r.body, join(host, "secret"));
  });

  test("symlinks and .. through which a read would leave the root resolve inside it", async () => {
    // Followed as the client follows them: the target path, asked again, is the container's.
    const rel = await get("/tmp/rel");
    assert.equal(rel.headers["x-lxd-type"], "symlink");
    assert.equal(rel.body, join(host, "secret"), "the target, cleaned within /");
    for (const p of [join(host, "secret"), "/tmp/hostdir/secret", `/../../..${host}/secret`]) {
      const r = await get(p);
      assert.equal(r.statusCode, 404, `${p}: ${r.body}`);
      assert.doesNotMatch(r.body, /HOST-SECRET/);
    }
    // The host's /etc/shadow through an absolute link is the container's own.
    const link = await get("/tmp/shadow");
    assert.equal(link.body, "/etc/shadow");
    const shadow = await get(link.body);
    assert.equal(shadow.statusCode, 200);
    assert.equal(shadow.headers["x-lxd-type"], "file");
    assert.equal(shadow.body, "root:container:::\n");
    assert.notEqual(shadow.body, readFileSync("/etc/shadow", "utf8"));
  });

  test("a push through a symlinked directory or a symlink to a host file writes nothing outside", async () => {
    const before = readdirSync(host).sort();
    const through = await push("/tmp/hostdir/pwned", "x");
    assert.equal(through.statusCode, 404, through.body);
    const over = await push("/tmp/abs", "PWNED");
    assert.equal(over.statusCode, 200, over.body);
    assert.deepEqual(readdirSync(host).sort(), before);
    assert.equal(readFileSync(join(host, "secret"), "utf8"), "HOST-SECRET\n");
    // The dangling link (its target is not inside the root) was replaced by the file, inside.
    assert.ok(lstatSync(join(rootfs, "tmp", "abs")).isFile());
    const dir = await push("/tmp/hostdir/sub", "", { "x-lxd-type": "directory" });
    assert.equal(dir.statusCode, 404, dir.body);
    assert.deepEqual(readdirSync(host).sort(), before);
  });

  test("a push onto a symlink to a file inside the root writes that file, owner and mode kept", async () => {
    writeFileSync(join(rootfs, "etc", "motd"), "old\n", { mode: 0o600 });
    symlinkSync("/etc/motd", join(rootfs, "tmp", "motd"));
    const r = await push("/tmp/motd", "new\n", { "x-lxd-uid": "5", "x-lxd-mode": "0644" });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(readFileSync(join(rootfs, "etc", "motd"), "utf8"), "new\n");
    const st = statSync(join(rootfs, "etc", "motd"));
    assert.equal(st.mode & 0o7777, 0o600);
    assert.equal(st.uid, 0);
    assert.ok(lstatSync(join(rootfs, "tmp", "motd")).isSymbolicLink());
  });

  test("delete takes the link, not its target, and refuses / and non-empty directories", async () => {
    const r = await app.inject({
      method: "DELETE",
      url: "/1.0/instances/c1/files?path=/tmp/shadow",
    });
    assert.equal(r.statusCode, 200, r.body);
    assert.ok(statSync(join(rootfs, "etc", "shadow")).isFile());
    const top = await app.inject({ method: "DELETE", url: "/1.0/instances/c1/files?path=/" });
    assert.equal(top.statusCode, 400);
    const full = await app.inject({ method: "DELETE", url: "/1.0/instances/c1/files?path=/etc" });
    assert.equal(full.statusCode, 400);
    assert.match(
      full.json().error,
      /Failed deleting "\/etc" in instance "c1": directory not empty/,
    );
  });
});
