/**
 * lxtd's exec, console and logs handlers without root: the request checks
 * (LXD's words, before anything runs), the environment LXD gives a command,
 * the control messages, and the log files served from a temp state root.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import type { WebSocket } from "ws";
import { execEnvironment, execFailure, parseExecBody } from "../../src/api/exec-request.js";
import { OperationSockets, parseControlMessage } from "../../src/api/op-sockets.js";
import { buildApp } from "../../src/api/server.js";
import { daemonAt } from "./support/lxtd-daemon.js";

const OP = "0f8fad5b-d9cb-469f-a165-70867728950e";

describe("exec request", () => {
  test("LXD's body is taken as it is sent", () => {
    const r = parseExecBody({
      command: ["sh", "-c", "echo hi"],
      environment: { TERM: "xterm" },
      interactive: true,
      "wait-for-websocket": true,
      "record-output": false,
      width: 80,
      height: 24,
      user: 1000,
      group: 1001,
      cwd: "/tmp",
    });
    assert.deepEqual(r, {
      command: ["sh", "-c", "echo hi"],
      environment: { TERM: "xterm" },
      interactive: true,
      waitForWebsocket: true,
      recordOutput: false,
      width: 80,
      height: 24,
      user: 1000,
      group: 1001,
      cwd: "/tmp",
    });
    // null is absence, as LXD's decoder reads it
    const bare = parseExecBody({ command: ["true"], environment: null, cwd: null });
    assert.equal(bare.interactive, false);
    assert.equal(bare.user, 0);
    assert.equal(bare.cwd, "");
  });

  test("bad bodies are refused, naming the field", () => {
    const bad: [unknown, RegExp][] = [
      [null, /expected a JSON object/],
      [[], /expected a JSON object/],
      [{ command: ["true"], bogus: 1 }, /Unknown field\(s\) in request body: "bogus"/],
      [{ command: "true" }, /field "command": expected array, got string/],
      [{ command: [1] }, /field "command.0": expected string, got number/],
      [{}, /no command given/],
      [{ command: [] }, /no command given/],
      [{ command: [""] }, /no command given/],
      [{ command: ["a\0b"] }, /command argument 0 contains a NUL byte/],
      [{ command: ["true"], environment: ["A=1"] }, /field "environment": expected record/],
      [{ command: ["true"], environment: { A: 1 } }, /field "environment.A": expected string/],
      [{ command: ["true"], environment: { "A=B": "1" } }, /bad environment variable name "A=B"/],
      [{ command: ["true"], environment: { "": "1" } }, /bad environment variable name ""/],
      [{ command: ["true"], user: -1 }, /field "user": expected a number from 0 to 4294967294/],
      [{ command: ["true"], group: 2 ** 32 }, /field "group": expected a number from 0/],
      [{ command: ["true"], width: 1.5 }, /field "width": expected int/],
      [{ command: ["true"], interactive: "yes" }, /field "interactive": expected boolean/],
      [{ command: ["true"], cwd: 7 }, /field "cwd": expected string/],
    ];
    for (const [body, rx] of bad) {
      assert.throws(
        () => parseExecBody(body),
        (e: Error & { status?: number }) => e.status === 400 && rx.test(e.message),
        JSON.stringify(body),
      );
    }
  });

  test("the environment gets LXD's defaults where the request set none", () => {
    const root = parseExecBody({ command: ["env"], environment: { TERM: "vt100" } });
    assert.deepEqual(execEnvironment(root), {
      TERM: "vt100",
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      HOME: "/root",
      USER: "root",
      LANG: "C.UTF-8",
    });
    const user = parseExecBody({ command: ["env"], user: 1000, environment: { LANG: "C" } });
    assert.deepEqual(execEnvironment(user), {
      LANG: "C",
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    });
    const conf = parseExecBody({ command: ["env"], environment: { A: "request" } });
    const merged = execEnvironment(conf, { A: "instance", B: "instance", PATH: "/opt/bin" });
    assert.equal(merged.A, "request");
    assert.equal(merged.B, "instance");
    assert.equal(merged.PATH, "/opt/bin");
    const own = parseExecBody({ command: ["env"], environment: { HOME: "/srv", PATH: "/x" } });
    assert.equal(execEnvironment(own).HOME, "/srv");
    assert.equal(execEnvironment(own).PATH, "/x");
  });

  test("the helper's 127 and 126 are LXD's errors; other codes are results", () => {
    assert.equal(execFailure(127), "Command not found");
    assert.equal(execFailure(126), "Command not executable");
    assert.equal(execFailure(0), undefined);
    assert.equal(execFailure(137), undefined);
  });
});

describe("control messages", () => {
  test("window-resize (sizes as strings, as the client sends them) and signal", () => {
    assert.deepEqual(
      parseControlMessage('{"command":"window-resize","args":{"width":"132","height":"43"}}'),
      { kind: "window-resize", cols: 132, rows: 43 },
    );
    assert.deepEqual(parseControlMessage('{"command":"signal","signal":15}'), {
      kind: "signal",
      signal: 15,
    });
  });

  test("what LXD ignores is ignored", () => {
    for (const m of [
      "not json",
      "null",
      '{"command":"window-resize","args":{"width":"0","height":"24"}}',
      '{"command":"window-resize","args":{"width":"80x","height":"24"}}',
      '{"command":"window-resize"}',
      '{"command":"signal","signal":0}',
      '{"command":"signal","signal":65}',
      '{"command":"signal","signal":"9"}',
      '{"command":"reboot"}',
    ]) {
      assert.equal(parseControlMessage(m), undefined, m);
    }
  });
});

/** Enough of a `ws` WebSocket for OperationSockets: events, a state, close. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readonly CONNECTING = 0;
  readyState = 1;
  closed?: [number, string | undefined];
  close(code: number, why?: string) {
    this.closed = [code, why];
    this.readyState = 3;
  }
}

describe("operation sockets", () => {
  const as = (f: FakeSocket) => f as unknown as WebSocket;

  test("a secret not ours is refused; a stream connected twice keeps the first", () => {
    const socks = new OperationSockets(["0", "control"]);
    assert.equal(Object.keys(socks.fds).length, 2);
    assert.match(socks.fds["0"] ?? "", /^[0-9a-f]{64}$/);
    assert.equal(socks.connect("nope", as(new FakeSocket())), false);
    const first = new FakeSocket();
    const again = new FakeSocket();
    assert.equal(socks.connect(socks.fds["0"] ?? "", as(first)), true);
    assert.equal(socks.connect(socks.fds["0"] ?? "", as(again)), true);
    assert.deepEqual(again.closed, [1008, "Websocket number already connected"]);
    assert.equal(socks.get("0"), as(first));
  });

  test("what a client sends before its reader is set is kept, in order", () => {
    const socks = new OperationSockets(["0"]);
    const ws = new FakeSocket();
    socks.connect(socks.fds["0"] ?? "", as(ws));
    ws.emit("message", Buffer.from("a"), true);
    ws.emit("message", Buffer.from("b"), true);
    const got: string[] = [];
    socks.onMessage("0", (d) => got.push(d.toString()));
    ws.emit("message", Buffer.from("c"), true);
    assert.deepEqual(got, ["a", "b", "c"]);
  });

  test("waiting for the streams: resolves when all are there, LXD's error past the limit", async () => {
    const socks = new OperationSockets(["0", "1", "control"]);
    const ac = new AbortController();
    const all = socks.waitFor(["0", "1"], ac.signal, 60_000);
    let late: WebSocket | undefined;
    socks.whenConnected("control", (ws) => {
      late = ws;
    });
    socks.connect(socks.fds["0"] ?? "", as(new FakeSocket()));
    socks.connect(socks.fds["1"] ?? "", as(new FakeSocket()));
    await all;
    const control = new FakeSocket();
    socks.connect(socks.fds.control ?? "", as(control));
    assert.equal(late, as(control));
    await assert.rejects(
      new OperationSockets(["0"]).waitFor(["0"], ac.signal, 1),
      /Timed out waiting for websockets to connect/,
    );
    const cancelled = new AbortController();
    const pending = new OperationSockets(["0"]).waitFor(["0"], cancelled.signal, 60_000);
    cancelled.abort(new Error("operation cancelled"));
    await assert.rejects(pending, /operation cancelled/);
  });
});

describe("exec, console and logs routes", () => {
  let root: string;
  let app: FastifyInstance;
  let logs: string;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), "lxt-api-exec-"));
    mkdirSync(join(root, "c1"));
    writeFileSync(join(root, "c1", "config"), "lxc.uts.name = c1\n");
    logs = join(root, "c1", "logs");
    const d = daemonAt(root);
    app = buildApp(d);
    await app.ready();
  });
  after(async () => {
    await app.close();
    rmSync(root, { recursive: true, force: true });
  });

  const call = async (method: "GET" | "POST" | "DELETE", url: string, payload?: object) => {
    const r = await app.inject(payload === undefined ? { method, url } : { method, url, payload });
    return { status: r.statusCode, body: r.body, json: () => JSON.parse(r.body) };
  };

  test("exec: a missing instance is 404, a bad body 400, a stopped instance LXD's 400", async () => {
    const missing = await call("POST", "/1.0/instances/nope/exec", { command: ["true"] });
    assert.equal(missing.status, 404);
    assert.equal(missing.json().error, "Instance not found");
    const bad = await call("POST", "/1.0/instances/c1/exec", { command: [] });
    assert.equal(bad.status, 400);
    assert.match(bad.json().error, /no command given/);
    const stopped = await call("POST", "/1.0/instances/c1/exec", { command: ["true"] });
    assert.equal(stopped.status, 400);
    assert.equal(stopped.json().error, "Instance is not running");
  });

  test("console: the type and size are checked, a stopped instance refused", async () => {
    const vga = await call("POST", "/1.0/instances/c1/console", { type: "vga" });
    assert.equal(vga.json().error, "VGA console is only supported by virtual machines");
    const odd = await call("POST", "/1.0/instances/c1/console", { type: "serial" });
    assert.equal(odd.json().error, 'Unknown console type "serial"');
    const big = await call("POST", "/1.0/instances/c1/console", { width: 70000 });
    assert.match(big.json().error, /field "width": expected a number from 0 to 65535/);
    const extra = await call("POST", "/1.0/instances/c1/console", { width: 80, mode: "x" });
    assert.match(extra.json().error, /Unknown field\(s\) in request body: "mode"/);
    const stopped = await call("POST", "/1.0/instances/c1/console", { width: 80, height: 24 });
    assert.equal(stopped.status, 400);
    assert.equal(stopped.json().error, "Instance is not running");
  });

  test("console log: empty before anything was shown, then served and cleared", async () => {
    const none = await call("GET", "/1.0/instances/c1/console");
    assert.equal(none.status, 200);
    assert.equal(none.body, "");
    writeFileSync(join(root, "c1", "console.log"), "booted\n");
    assert.equal((await call("GET", "/1.0/instances/c1/console")).body, "booted\n");
    assert.equal((await call("DELETE", "/1.0/instances/c1/console")).status, 200);
    assert.equal(readFileSync(join(root, "c1", "console.log"), "utf8"), "");
  });

  test("logs: listed, served, exec outputs deleted; other names refused", async () => {
    mkdirSync(logs, { recursive: true });
    writeFileSync(join(logs, `exec_${OP}.stdout`), "out\n");
    writeFileSync(join(logs, "stray.txt"), "not a log\n");
    const list = (await call("GET", "/1.0/instances/c1/logs")).json().metadata;
    assert.deepEqual(list, [
      "/1.0/instances/c1/logs/lxc.conf",
      `/1.0/instances/c1/logs/exec_${OP}.stdout`,
    ]);
    assert.equal((await call("GET", `/1.0/instances/c1/logs/exec_${OP}.stdout`)).body, "out\n");
    assert.match((await call("GET", "/1.0/instances/c1/logs/lxc.conf")).body, /lxc\.uts\.name/);
    const stray = await call("GET", "/1.0/instances/c1/logs/stray.txt");
    assert.equal(stray.status, 400);
    assert.equal(stray.json().error, "log file name stray.txt not valid");
    const up = await call("GET", "/1.0/instances/c1/logs/..%2Fconfig");
    assert.equal(up.status, 400);
    const absent = await call("GET", `/1.0/instances/c1/logs/exec_${OP}.stderr`);
    assert.equal(absent.status, 404);
    const conf = await call("DELETE", "/1.0/instances/c1/logs/lxc.conf");
    assert.equal(conf.status, 400);
    assert.equal(conf.json().error, "lxc.log and lxc.conf may not be deleted");
    assert.equal((await call("DELETE", `/1.0/instances/c1/logs/exec_${OP}.stdout`)).status, 200);
    assert.equal(existsSync(join(logs, `exec_${OP}.stdout`)), false);
    assert.equal(existsSync(join(root, "c1", "config")), true);
  });
});
