/**
 * `lxc exec`, `lxc console` and the instance logs through lxtd, driven by
 * the stock LXD client: exit codes, separate streams, stdin, environment,
 * user/group/cwd, a missing command, a pty (its size, a resize, the exit
 * code through it), record-output files, and the console log.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { WebSocket } from "ws";
import { exitWithin, hasCmd, printed, REPO } from "./harness.js";
import { LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason();
if (skip) console.log(skip);
const ptySkip = hasCmd("python3") ? undefined : "SKIP: python3 is missing (the pty driver)";
if (!skip && ptySkip) console.log(ptySkip);

const DRIVER = join(REPO, "test", "integration", "pty-drive.py");

/** Raw HTTP over the daemon's socket (for what `lxc` has no command for). */
function api(
  box: LxtdSandbox,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: box.socket,
        method,
        path,
        headers: body === undefined ? {} : { "content-type": "application/json" },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Where a websocket operation's stream `fd` is connected (over the daemon's socket). */
function opSocketUrl(
  box: LxtdSandbox,
  op: { id: string; metadata: { fds: Record<string, string> } },
  fd: string,
): string {
  return `ws+unix://${box.socket}:/1.0/operations/${op.id}/websocket?secret=${op.metadata.fds[fd]}`;
}

/** Every process below `root`, each with its parent (from /proc). */
function descendants(root: number): Map<number, number> {
  const parent = new Map<number, number>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const below = new Map<number, number>();
  for (const [pid, ppid] of parent) {
    for (let p = ppid; p > 1; p = parent.get(p) ?? 0)
      if (p === root) {
        below.set(pid, ppid);
        break;
      }
  }
  return below;
}

function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
  } catch {
    return "";
  }
}

interface Drive {
  code: number;
  matches: string[][];
  out: string;
}

/** Runs ARGV (the lxc client) on a real pty through the steps (pty-drive.py). */
function drive(box: LxtdSandbox, steps: unknown[], argv: string[]): Drive {
  const dir = mkdtempSync(join(tmpdir(), "lxt-pty-"));
  try {
    const script = join(dir, "steps.json");
    writeFileSync(script, JSON.stringify(steps));
    const r = spawnSync("python3", [DRIVER, script, "--", ...argv], {
      env: { ...box.env, TERM: "xterm" },
      encoding: "utf8",
      timeout: 90_000,
    });
    const out = `${r.stdout}${r.stderr}`;
    const matches = [...out.matchAll(/^match: (.*)$/gm)].map((m) => JSON.parse(m[1] ?? "[]"));
    const code = Number(/^exit: (-?\d+)$/m.exec(out)?.[1] ?? "-1");
    return { code, matches, out };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("lxtd: exec, console and logs with the stock client", { skip, timeout: 300_000 }, () => {
  let box: LxtdSandbox;
  let c: string;
  before(async () => {
    box = new LxtdSandbox();
    await box.startDaemon();
    c = box.name("ex");
    box.lxcOk(["launch", "busybox", c]);
  });
  after(async () => {
    await box.close();
  });

  test("the exit code comes back", () => {
    const r = box.lxc(["exec", c, "--", "sh", "-c", "exit 3"]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(box.lxc(["exec", c, "--", "true"]).code, 0);
  });

  test("stdout and stderr are separate streams", () => {
    const r = box.lxc(["exec", c, "--", "sh", "-c", "echo out; echo err >&2"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "out\n");
    assert.equal(r.stderr, "err\n");
  });

  test("stdin is piped in and its end reaches the command", () => {
    assert.equal(box.lxcOk(["exec", c, "--", "cat"], { input: "hi\n" }), "hi\n");
    // Pipes, as from a shell: /dev/stdin and /dev/stderr can be opened.
    assert.equal(
      box.lxcOk(["exec", c, "--", "cat", "/dev/stdin"], { input: "piped\n" }),
      "piped\n",
    );
    const dev = box.lxc(["exec", c, "--", "sh", "-c", "echo to-err > /dev/stderr"]);
    assert.equal(dev.code, 0, dev.stderr);
    assert.equal(dev.stderr, "to-err\n");
    const big = `${"x".repeat(1000)}\n`.repeat(300);
    assert.equal(box.lxcOk(["exec", c, "--", "wc", "-c"], { input: big }).trim(), "300300");
  });

  test("--env, and LXD's defaults (PATH, HOME, USER, LANG)", () => {
    const out = box.lxcOk([
      "exec",
      c,
      "--env",
      "FOO=bar baz",
      "--",
      "sh",
      "-c",
      'echo "$FOO|$HOME|$USER|$LANG|$PATH"',
    ]);
    assert.equal(
      out,
      "bar baz|/root|root|C.UTF-8|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
    );
  });

  test("the instance's own environment (lxc.environment) under the request's", () => {
    appendFileSync(join(box.lxcpath, c, "config"), "lxc.environment = FROMCONF=conf\n");
    assert.equal(
      box.lxcOk(["exec", c, "--env", "OTHER=req", "--", "sh", "-c", 'echo "$FROMCONF $OTHER"']),
      "conf req\n",
    );
    assert.equal(
      box.lxcOk(["exec", c, "--env", "FROMCONF=req", "--", "sh", "-c", 'echo "$FROMCONF"']),
      "req\n",
    );
  });

  test("--user, --group and --cwd; the default cwd is HOME", () => {
    assert.equal(
      box.lxcOk(["exec", c, "--user", "1000", "--group", "1001", "--", "sh", "-c", "id -u; id -g"]),
      "1000\n1001\n",
    );
    assert.equal(
      box.lxcOk(["exec", c, "--user", "1000", "--group", "1001", "--", "cat", "/dev/stdin"], {
        input: "mine\n",
      }),
      "mine\n",
    );
    assert.equal(box.lxcOk(["exec", c, "--cwd", "/tmp", "--", "pwd"]), "/tmp\n");
    assert.equal(box.lxcOk(["exec", c, "--", "pwd"]), "/root\n");
  });

  test("the command has fds 0, 1 and 2 and nothing else of the host's", () => {
    // `; :` keeps sh from exec'ing ls, so $$ is the shell the helper started.
    assert.equal(box.lxcOk(["exec", c, "--", "sh", "-c", "ls /proc/$$/fd; :"]), "0\n1\n2\n");
  });

  test("a missing command: 127 and LXD's error", () => {
    const r = box.lxc(["exec", c, "--", "no-such-command"]);
    assert.equal(r.code, 127);
    assert.match(r.stderr, /^Error: Command not found$/m);
  });

  test("exec on a frozen instance is refused with LXD's words", async () => {
    box.lxcOk(["pause", c]);
    try {
      const r = box.lxc(["exec", c, "--", "true"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /^Error: Instance is frozen$/m);
    } finally {
      const put = await api(box, "PUT", `/1.0/instances/${c}/state`, { action: "unfreeze" });
      assert.equal(put.status, 202, put.text);
      const id = JSON.parse(put.text).metadata.id as string;
      await api(box, "GET", `/1.0/operations/${id}/wait?timeout=30`);
    }
    assert.equal(box.lxc(["exec", c, "--", "true"]).code, 0);
  });

  test("exec on a stopped instance is refused with LXD's words", () => {
    const s = box.name("stopped");
    box.lxcOk(["init", "busybox", s]);
    const r = box.lxc(["exec", s, "--", "true"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Instance is not running/);
    box.lxcOk(["delete", s]);
  });

  /** The container's processes running `sleep N` for one of `ns`. */
  const sleeps = (ns: number[]) =>
    box
      .lxcOk(["exec", c, "--", "ps", "-o", "args"])
      .split("\n")
      .filter((l) => ns.some((n) => l.trim() === `sleep ${n}`));

  /** Waits for every exec operation to reach its end. */
  const execsEnded = async () => {
    const ops = JSON.parse((await api(box, "GET", "/1.0/operations?recursion=1")).text)
      .metadata as Record<string, { id: string; description: string }[]>;
    for (const o of Object.values(ops).flat()) {
      if (o.description !== "Executing command") continue;
      await api(box, "GET", `/1.0/operations/${o.id}/wait?timeout=30`);
    }
  };

  /** `lxc exec C -- sh -c SCRIPT` in the background, once it has printed `text`. */
  const shellUntil = async (script: string, text: string) => {
    const child = spawn("lxc", ["exec", c, "--", "sh", "-c", script], {
      env: box.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    await printed(child, text);
    return child;
  };

  test("a client gone kills the command and what it forked", async () => {
    const child = await shellUntil("sleep 1001 & echo started; exec sleep 1002", "started");
    assert.equal(sleeps([1001, 1002]).length, 2);
    child.kill("SIGKILL");
    await exitWithin(child, 30_000);
    await execsEnded();
    assert.deepEqual(sleeps([1001, 1002]), []);
  });

  /**
   * A non-interactive exec over raw websockets ("0", "1", "2", "control"),
   * once its stdout has shown `text`; `wait()` resolves with the finished operation.
   */
  const rawExec = async (script: string, text: string) => {
    const post = await api(box, "POST", `/1.0/instances/${c}/exec`, {
      command: ["sh", "-c", script],
      "wait-for-websocket": true,
      interactive: false,
    });
    assert.equal(post.status, 202, post.text);
    const op = JSON.parse(post.text).metadata as {
      id: string;
      metadata: { fds: Record<string, string> };
    };
    const [stdin, stdout, stderr, control] = ["0", "1", "2", "control"].map(
      (fd) => new WebSocket(opSocketUrl(box, op, fd)),
    ) as [WebSocket, WebSocket, WebSocket, WebSocket];
    let out = "";
    const shown = new Promise<void>((resolve) => {
      stdout.on("message", (b: Buffer) => {
        out += b.toString();
        if (out.includes(text)) resolve();
      });
    });
    await Promise.all([stdin, stdout, stderr, control].map((ws) => once(ws, "open")));
    await shown;
    const wait = async () => {
      const r = await api(box, "GET", `/1.0/operations/${op.id}/wait?timeout=30`);
      for (const ws of [stdin, stdout, stderr, control]) ws.terminate();
      return JSON.parse(r.text).metadata as { status: string; metadata: { return?: number } };
    };
    return { op, control, wait };
  };

  test("a signal on the control socket reaches the command", async () => {
    const x = await rawExec("echo ready; exec sleep 1005", "ready");
    x.control.send(JSON.stringify({ command: "signal", signal: 15 }));
    const done = await x.wait();
    assert.equal(done.status, "Success");
    // 128 + SIGTERM: the signal sent, not the SIGKILL (137) of a kill.
    assert.equal(done.metadata.return, 143);
    assert.deepEqual(sleeps([1005]), []);
  });

  test("cancelling the operation kills the command and what it forked", async () => {
    const x = await rawExec("sleep 1003 & echo started; exec sleep 1004", "started");
    assert.equal(sleeps([1003, 1004]).length, 2);
    assert.equal((await api(box, "DELETE", `/1.0/operations/${x.op.id}`)).status, 200);
    assert.equal((await x.wait()).status, "Cancelled");
    assert.deepEqual(sleeps([1003, 1004]), []);
  });

  test("interactive through a pty: its size, a resize, the exit code", { skip: ptySkip }, () => {
    const r = drive(
      box,
      [
        { size: [30, 100] },
        { send: "echo S:$(stty size):E\n", expect: "S:(\\d+) (\\d+):E" },
        { size: [40, 120] },
        { until: "T:(\\d+) (\\d+):E", send: "echo T:$(stty size):E\n", want: ["40", "120"] },
        { send: "tty; exit 7\n" },
      ],
      ["lxc", "exec", c, "--", "sh"],
    );
    assert.deepEqual(r.matches[0], ["30", "100"], r.out);
    assert.deepEqual(r.matches.at(-1), ["40", "120"], r.out);
    assert.equal(r.code, 7, r.out);
  });

  test("record-output: the output goes to log files the API serves and deletes", async () => {
    const post = await api(box, "POST", `/1.0/instances/${c}/exec`, {
      command: ["sh", "-c", "echo recorded; echo oops >&2; exit 4"],
      "record-output": true,
      "wait-for-websocket": false,
      interactive: false,
    });
    assert.equal(post.status, 202, post.text);
    const opId = JSON.parse(post.text).metadata.id as string;
    const done = JSON.parse((await api(box, "GET", `/1.0/operations/${opId}/wait?timeout=30`)).text)
      .metadata as { status: string; metadata: { return: number; output: Record<string, string> } };
    assert.equal(done.status, "Success");
    assert.equal(done.metadata.return, 4);
    const out = done.metadata.output;
    assert.equal(out["1"], `/1.0/instances/${c}/logs/exec_${opId}.stdout`);
    assert.equal((await api(box, "GET", out["1"] ?? "")).text, "recorded\n");
    assert.equal((await api(box, "GET", out["2"] ?? "")).text, "oops\n");
    const list = JSON.parse((await api(box, "GET", `/1.0/instances/${c}/logs`)).text)
      .metadata as string[];
    assert.ok(list.includes(out["1"] ?? "-"), list.join(" "));
    assert.ok(list.includes(`/1.0/instances/${c}/logs/lxc.conf`), list.join(" "));
    assert.equal((await api(box, "DELETE", out["1"] ?? "")).status, 200);
    assert.equal((await api(box, "GET", out["1"] ?? "")).status, 404);
    const bad = await api(box, "GET", `/1.0/instances/${c}/logs/..%2Fconfig`);
    assert.equal(bad.status, 400, bad.text);
    const keep = await api(box, "DELETE", `/1.0/instances/${c}/logs/lxc.conf`);
    assert.equal(keep.status, 400, keep.text);
  });

  test("lxc console --show-log shows what reached the console", () => {
    box.lxcOk(["exec", c, "--", "sh", "-c", "echo console-marker-1 > /dev/console"]);
    // The monitor copies the console to its log as the bytes pass: wait for them.
    const deadline = Date.now() + 30_000;
    let log = "";
    while (Date.now() < deadline) {
      log = box.lxcOk(["console", c, "--show-log"]);
      if (log.includes("console-marker-1")) break;
    }
    assert.match(log, /console-marker-1/);
  });

  test("lxc console: the console's shell through a pty; a hangup lets it go", {
    skip: ptySkip,
  }, async () => {
    const r = drive(
      box,
      [
        { expect: "To detach from the console, press: <ctrl>\\+a q" },
        { until: "C:(\\d+):E", send: "\recho C:$((6*7)):E\r", want: ["42"] },
        { hangup: true },
      ],
      ["lxc", "console", c],
    );
    assert.deepEqual(r.matches.at(-1), ["42"], r.out);
    // The client is gone: the daemon ends its console operation and frees the console.
    const ops = JSON.parse((await api(box, "GET", "/1.0/operations?recursion=1")).text)
      .metadata as Record<string, { id: string; description: string }[]>;
    const consoles = Object.values(ops)
      .flat()
      .filter((o) => o.description === "Showing console");
    assert.ok(consoles.length > 0, JSON.stringify(ops));
    for (const o of consoles) {
      const w = JSON.parse((await api(box, "GET", `/1.0/operations/${o.id}/wait?timeout=30`)).text)
        .metadata as { status: string };
      assert.equal(w.status, "Success");
    }
  });

  test("the console websocket: its size at the start, a resize, the end", async () => {
    const post = await api(box, "POST", `/1.0/instances/${c}/console`, {
      width: 100,
      height: 30,
      type: "console",
    });
    assert.equal(post.status, 202, post.text);
    const op = JSON.parse(post.text).metadata as {
      id: string;
      metadata: { fds: Record<string, string> };
    };
    const url = (fd: string) => opSocketUrl(box, op, fd);
    const control = new WebSocket(url("control"));
    const tty = new WebSocket(url("0"));
    await Promise.all([once(control, "open"), once(tty, "open")]);
    let seen = "";
    let wake: () => void = () => {};
    tty.on("message", (data: Buffer) => {
      seen += data.toString();
      wake();
    });
    /** Types `line` until the answer it asks for matches `want`; each answer is waited for. */
    const ask = async (line: string, rx: RegExp, want: string) => {
      for (;;) {
        seen = "";
        tty.send(Buffer.from(`${line}\r`));
        let m = rx.exec(seen);
        while (!m) {
          await new Promise<void>((r) => {
            wake = r;
          });
          m = rx.exec(seen);
        }
        if (m[1] === want) return m[1];
      }
    };
    assert.equal(await ask("echo S:$(stty size):E", /S:(\d+ \d+):E/, "30 100"), "30 100");
    control.send(
      JSON.stringify({ command: "window-resize", args: { width: "120", height: "40" } }),
    );
    assert.equal(await ask("echo T:$(stty size):E", /T:(\d+ \d+):E/, "40 120"), "40 120");
    control.close();
    const w = JSON.parse((await api(box, "GET", `/1.0/operations/${op.id}/wait?timeout=30`)).text)
      .metadata as { status: string };
    assert.equal(w.status, "Success");
    tty.terminate();
  });

  test("the daemon's end kills what it ran: the helper's control channel closes", async () => {
    const daemon = box.daemon;
    assert.ok(daemon?.pid);
    const child = await shellUntil("sleep 1006 & echo started; exec sleep 1007", "started");
    // The helper is the command's parent, somewhere below the daemon (its attach server's fork).
    const below = descendants(daemon.pid);
    const helpers = [...below.entries()]
      .filter(([pid]) => readCmdline(pid) === "sleep 1007")
      .map(([, ppid]) => String(ppid));
    assert.equal(helpers.length, 1);
    daemon.kill("SIGKILL");
    await exitWithin(daemon, 30_000);
    box.daemon = undefined;
    // The helper ends once the command it killed has: wait for that (tail --pid waits for a pid's end).
    for (const pid of helpers)
      spawnSync("tail", [`--pid=${pid}`, "-f", "/dev/null"], { timeout: 30_000 });
    await exitWithin(child, 30_000);
    const ps = box.ok(["attach", "-n", c, "--", "ps", "-o", "args"]);
    assert.doesNotMatch(ps, /sleep 100[67]/);
    await box.startDaemon();
  });
});
