/**
 * The SDK (sdk/) against a real lxtd: a busybox container created, started,
 * exec'd (streams, exit code, a pty), files pushed and pulled as streams,
 * snapshotted and restored, stopped and deleted, all through the SDK, with
 * a console attached and resized, the lifecycle events of each seen on
 * the events iterator; typed errors
 * (404, 400, a failed operation); and HTTPS with a client certificate
 * trusted by `lxt trust add`, a stranger's refused. HTTPS listens on
 * 127.0.0.1 only.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import {
  BadRequestError,
  ForbiddenError,
  type LifecycleMetadata,
  LxdClient,
  type LxdEvent,
  NotFoundError,
  OperationError,
} from "../../sdk/src/index.js";
import { serverIdentity } from "../../src/api/tls.js";
import { LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason();
if (skip) console.log(skip);

async function text(r: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts).toString();
}

/** Reads lifecycle events until one of `action` on `source` came; returns every action seen. */
async function until(events: AsyncIterable<LxdEvent>, action: string, seen: string[]) {
  for await (const ev of events) {
    const m = ev.metadata as LifecycleMetadata;
    seen.push(`${m.action} ${m.source}`);
    if (m.action === action) return seen;
  }
  throw new Error(`events ended before ${action}; saw ${seen.join(", ")}`);
}

/** Names the step a test is in on stderr, so a test that times out says where it stood. */
function step(name: string): void {
  process.stderr.write(`sdk test: ${name}\n`);
}

describe("the SDK against lxtd", { skip, timeout: 300_000 }, () => {
  let box: LxtdSandbox;
  let client: LxdClient;
  const certs = mkdtempSync(join(tmpdir(), "lxt-sdk-certs-"));

  before(async () => {
    box = new LxtdSandbox();
    await box.startDaemon(["--https", "127.0.0.1:0"]);
    client = new LxdClient({ socket: box.socket });
  });
  after(async () => {
    client?.close();
    await box.close();
    rmSync(certs, { recursive: true, force: true });
  });

  test("a busybox container's life, with its events", async () => {
    const c1 = box.name("sdk");
    const events = client.events({ type: ["lifecycle"] });
    await events.ready;
    const seen: string[] = [];

    await client.instances.create({ name: c1, source: { type: "image", alias: "busybox" } });
    assert.equal((await client.instances.get(c1)).status, "Stopped");
    await client.instances.start(c1);
    const state = await client.instances.state(c1);
    assert.equal(state.status, "Running");
    assert.ok(state.pid > 0);

    step("exec");
    // exec, not interactive: stdin in, stdout and stderr apart, the exit code.
    const p = await client.instances.exec(c1, [
      "sh",
      "-c",
      "read line; echo out:$line; echo err >&2; exit 3",
    ]);
    p.stdin.end("hello\n");
    const [out, err, code] = await Promise.all([text(p.stdout), text(p.stderr), p.exit]);
    assert.equal(out, "out:hello\n");
    assert.equal(err, "err\n");
    assert.equal(code, 3);
    assert.deepEqual(await client.instances.execOutput(c1, ["cat"], { input: "abc" }), {
      code: 0,
      stdout: "abc",
      stderr: "",
    });

    step("pty exec");
    // exec on a pty: the terminal's size, and a signal ends the command (128+15).
    const tty = await client.instances.exec(c1, ["sh", "-c", "stty size; sleep 60"], {
      interactive: true,
      width: 100,
      height: 30,
    });
    let shown = "";
    tty.stdout.on("data", (b: Buffer) => {
      shown += b.toString();
      if (shown.includes("30 100")) tty.signal(15);
    });
    assert.equal(await tty.exit, 143);
    assert.match(shown, /30 100/);

    step("missing command");
    // A command that is not there: the operation fails, typed.
    const missing = await client.instances.exec(c1, ["/no/such/command"]);
    missing.stdin.end();
    await assert.rejects(missing.exit, (e: unknown) => {
      assert.ok(e instanceof OperationError);
      assert.equal(e.message, "Command not found");
      assert.equal(e.status, 400);
      return true;
    });

    step("console");
    // The console: its shell, its size at the start and after a resize, then a detach.
    const con = await client.instances.console(c1, { width: 100, height: 30 });
    let screen = "";
    let wake: () => void = () => {};
    con.output.on("data", (b: Buffer) => {
      screen += b.toString();
      wake();
    });
    /**
     * Types `line` until its answer matches `want`. Each answer is waited for; a prompt
     * with no answer before it means the shell was not reading yet (it was starting, or
     * the line went before a resize redrew it): the line is typed again.
     */
    const ask = async (line: string, rx: RegExp, want: string) => {
      for (;;) {
        screen = "";
        con.input.write(`${line}\r`);
        let m = rx.exec(screen);
        // The prompt (ash ends it with a cursor-position query, ESC [6n).
        while (!m && !screen.replace("\u001b[6n", "").endsWith("# ")) {
          await new Promise<void>((r) => {
            wake = r;
          });
          m = rx.exec(screen);
        }
        if (m?.[1] === want) return m[1];
      }
    };
    assert.equal(await ask("echo S:$(stty size):E", /S:(\d+ \d+):E/, "30 100"), "30 100");
    con.resize(120, 40);
    assert.equal(await ask("echo T:$(stty size):E", /T:(\d+ \d+):E/, "40 120"), "40 120");
    await con.close();

    step("files");
    // Files as streams, both ways.
    const big = Buffer.alloc(300_000, "x");
    await client.instances.files.push(c1, "/root/f", Readable.from([big, Buffer.from("end")]), {
      mode: 0o640,
    });
    step("files: pushed");
    const pulled = await client.instances.files.pull(c1, "/root/f");
    step("files: pull answered");
    assert.equal(pulled.type, "file");
    if (pulled.type === "file") {
      assert.equal(pulled.mode, 0o640);
      const back = await text(pulled.content);
      assert.equal(back.length, big.length + 3);
      assert.ok(back.endsWith("xend"));
    }
    step("files: pulled");
    assert.deepEqual(await client.instances.files.stat(c1, "/root/f"), {
      type: "file",
      uid: 0,
      gid: 0,
      mode: 0o640,
      size: big.length + 3,
    });
    step("files: stat");
    await client.instances.files.mkdir(c1, "/root/d", { mode: 0o750 });
    step("files: mkdir");
    assert.equal((await client.instances.files.stat(c1, "/root/d")).mode, 0o750);
    step("files: dir stat");
    await client.instances.files.delete(c1, "/root/d");
    step("files: delete");
    await assert.rejects(client.instances.files.stat(c1, "/root/d"), NotFoundError);
    step("files: 404");
    const dir = await client.instances.files.pull(c1, "/root");
    assert.equal(dir.type, "directory");
    if (dir.type === "directory") assert.ok(dir.entries.includes("f"));

    step("snapshot");
    // A snapshot (of the stopped container: dir storage), a change, the restore of the
    // running one (stopped, restored, started again): the file is as it was.
    await client.instances.stop(c1, { force: true });
    assert.equal(await client.instances.snapshots.create(c1), "snap0");
    await client.instances.start(c1);
    assert.deepEqual(
      (await client.instances.snapshots.list(c1)).map((s) => s.name),
      ["snap0"],
    );
    await client.instances.files.push(c1, "/root/f", "changed");
    await client.instances.restore(c1, "snap0");
    assert.equal((await client.instances.state(c1)).status, "Running");
    const restored = await client.instances.files.pull(c1, "/root/f");
    assert.equal(restored.type === "file" && (await text(restored.content)).length, big.length + 3);

    await client.instances.stop(c1, { force: true });
    assert.equal((await client.instances.state(c1)).status, "Stopped");
    await client.instances.delete(c1);
    assert.deepEqual(await client.instances.names(), []);

    await until(events, "instance-deleted", seen);
    events.close();
    const actions = seen.map((s) => s.split(" ")[0]);
    for (const a of [
      "instance-created",
      "instance-started",
      "instance-file-pushed",
      "instance-snapshot-created",
      "instance-restored",
      "instance-stopped",
      "instance-deleted",
    ]) {
      assert.ok(actions.includes(a), `${a} not among ${actions.join(", ")}`);
    }
    assert.ok(seen.includes(`instance-snapshot-created /1.0/instances/${c1}/snapshots/snap0`));
  });

  test("errors carry LXD's status and words", async () => {
    await assert.rejects(client.instances.get("nope"), (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.equal(e.status, 404);
      assert.equal(e.code, 404);
      assert.match(e.message, /not found/i);
      return true;
    });
    await assert.rejects(
      client.request("POST /1.0/instances", {
        body: { name: "c2", source: { type: "image", alias: "busybox" }, bogus: 1 } as never,
      }),
      (e: unknown) => {
        assert.ok(e instanceof BadRequestError);
        assert.equal(e.status, 400);
        assert.match(e.message, /Unknown field\(s\) in request body: "bogus"/);
        return true;
      },
    );
    assert.ok(!(await client.instances.names()).includes("c2"));
  });

  test("HTTPS: a certificate trusted with `lxt trust add` drives it, a stranger's is refused", async () => {
    const server = await client.server.get();
    const url = `https://${server.environment.addresses[0]}`;
    const serverCertificate = server.environment.certificate;
    const mine = await serverIdentity(join(certs, "trusted"), "sdk-test");
    const stranger = await serverIdentity(join(certs, "stranger"), "sdk-stranger");
    const file = join(certs, "trusted.crt");
    writeFileSync(file, mine.cert);
    box.ok(["trust", "add", file, "--name", "sdk"]);

    const r1 = box.name("sdkr");
    const remote = new LxdClient({ url, cert: mine.cert, key: mine.key, serverCertificate });
    const anon = new LxdClient({
      url,
      cert: stranger.cert,
      key: stranger.key,
      serverCertificate,
    });
    // The pin: the right server under the wrong certificate is refused before any request.
    const misled = new LxdClient({
      url,
      cert: mine.cert,
      key: mine.key,
      serverCertificate: mine.cert,
    });
    try {
      assert.equal((await remote.server.get()).auth, "trusted");
      const events = remote.events({ type: ["lifecycle"] });
      await events.ready;
      await remote.instances.create({ name: r1, source: { type: "image", alias: "busybox" } });
      const seen = await until(events, "instance-created", []);
      events.close();
      assert.ok(seen.includes(`instance-created /1.0/instances/${r1}`));
      await remote.instances.start(r1);
      assert.deepEqual(await remote.instances.execOutput(r1, ["echo", "over tls"]), {
        code: 0,
        stdout: "over tls\n",
        stderr: "",
      });
      await remote.instances.stop(r1, { force: true });
      await remote.instances.delete(r1);

      assert.equal((await anon.request("GET /1.0")).auth, "untrusted");
      await assert.rejects(anon.instances.list(), ForbiddenError);
      await assert.rejects(anon.events().ready, (e: unknown) => {
        assert.ok(e instanceof ForbiddenError);
        assert.equal(e.status, 403);
        return true;
      });
      await assert.rejects(misled.server.get(), /not the pinned/);
    } finally {
      remote.close();
      anon.close();
      misled.close();
    }
  });
});
