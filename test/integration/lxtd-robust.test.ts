/**
 * lxtd under load and faults: metrics against `lxt info`, malformed and huge
 * bodies, slow senders, half-open websockets, 50 parallel clients, and a
 * SIGKILLed daemon's successor. Raw HTTP over the unix socket where the
 * stock client would never send what is tested.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { WebSocket } from "ws";
import { exitOf } from "./harness.js";
import { LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason();
if (skip) console.log(skip);

interface Reply {
  status: number;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: LXD's JSON, checked field by field
  json: any;
}

/** One HTTP request over the daemon's unix socket; `body` a string, a Buffer, or chunks written one by one. */
function http(
  socketPath: string,
  method: string,
  path: string,
  body?: string | Buffer | Buffer[],
  headers: Record<string, string> = { "Content-Type": "application/json" },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, text, json });
      });
    });
    req.on("error", reject);
    if (Array.isArray(body)) {
      const write = (i: number): void => {
        if (i >= body.length || req.destroyed) {
          req.end();
          return;
        }
        if (req.write(body[i])) write(i + 1);
        else req.once("drain", () => write(i + 1));
      };
      write(0);
    } else req.end(body);
  });
}

/**
 * POSTs a JSON body of up to 64 MiB of spaces (framed by `frame`) with the
 * given length header, stopping when the daemon answers or closes; resolves
 * with the answer and how many body bytes were sent.
 */
function sendHuge(
  socketPath: string,
  lengthHeader: string,
  frame: (chunk: Buffer) => Buffer,
): Promise<{ reply: string; sent: number }> {
  return new Promise((resolve) => {
    const s = connect(socketPath);
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let reply = "";
    let sent = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      s.destroy();
      resolve({ reply, sent });
    };
    s.on("data", (b) => {
      reply += b.toString();
    });
    s.on("error", finish);
    s.on("close", finish);
    s.on("end", finish);
    s.write(
      `POST /1.0/instances HTTP/1.1\r\nHost: lxd\r\nContent-Type: application/json\r\n${lengthHeader}\r\n\r\n`,
    );
    const pump = () => {
      while (!done && reply === "" && sent < 64 * 1024 * 1024) {
        sent += chunk.length;
        if (!s.write(frame(chunk))) {
          s.once("drain", pump);
          return;
        }
      }
      // Answered (or all sent): give the daemon a moment to finish its reply, then close.
      if (!done) s.end();
    };
    pump();
  });
}

/** Runs the stock client with `input` on its stdin; resolves with its exit code and output. */
function lxcRun(
  box: LxtdSandbox,
  args: string[],
  input: string,
): Promise<{ code: number | string; out: string; err: string }> {
  const child = spawn("lxc", args, { env: box.env, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout?.on("data", (b: Buffer) => {
    out += b.toString();
  });
  child.stderr?.on("data", (b: Buffer) => {
    err += b.toString();
  });
  child.stdin?.end(input);
  // "close": the process has exited and its output streams are read to the end.
  return new Promise((resolve) => {
    child.once("close", (code, signal) => resolve({ code: code ?? signal ?? "", out, err }));
  });
}

function vmRssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1]);
}

/** Parses Prometheus text into sample lines: name, labels, value. */
function samples(text: string) {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const kv of (m[2] ?? "").matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g))
      labels[kv[1] ?? ""] = kv[2] ?? "";
    out.push({ name: m[1] ?? "", labels, value: Number(m[3]) });
  }
  return out;
}

describe("lxtd robustness", { skip, timeout: 600_000 }, () => {
  let box: LxtdSandbox;
  before(async () => {
    box = new LxtdSandbox();
    await box.startDaemon(["--request-timeout", "2", "--ws-heartbeat", "1"]);
  });
  after(async () => {
    await box.close();
  });
  const api = (method: string, path: string, body?: unknown) =>
    body === undefined
      ? http(box.socket, method, path, undefined, {})
      : http(box.socket, method, path, JSON.stringify(body));
  const waitOp = async (url: string) => {
    const r = await api("GET", `${url}/wait?timeout=120`);
    assert.equal(r.status, 200, r.text);
    return r.json.metadata;
  };

  test("metrics: a running container's CPU and memory, as `lxt info` reads them", () => {
    const c = box.name("met");
    box.lxcOk(["launch", "busybox", c]);
    const info = () =>
      JSON.parse(box.ok(["info", "-n", c, "--format", "json"])) as {
        cpu_seconds: number;
        memory_bytes: number;
        pids: number;
      };
    const before = info();
    const text = box.lxcOk(["query", "/1.0/metrics"]);
    const afterInfo = info();
    assert.ok(text.endsWith("# EOF\n"), text.slice(-200));
    const mine = samples(text).filter((s) => s.labels.name === c);
    for (const s of mine) {
      assert.equal(s.labels.project, "default");
      assert.equal(s.labels.type, "container");
    }
    const cpu = mine.filter((s) => s.name === "lxd_cpu_seconds_total");
    assert.ok(
      cpu.some((s) => s.labels.mode === "user") && cpu.some((s) => s.labels.mode === "system"),
    );
    const cpuSum = cpu.reduce((a, s) => a + s.value, 0);
    assert.ok(cpuSum > 0, "the container's init used some CPU");
    // The modes add up to the cgroup's exact CPU time (float sums: within a nanosecond).
    assert.ok(
      cpuSum >= before.cpu_seconds - 1e-9 && cpuSum <= afterInfo.cpu_seconds + 1e-9,
      `cpu ${cpuSum} between info's ${before.cpu_seconds} and ${afterInfo.cpu_seconds}`,
    );
    const one = (name: string) => {
      const s = mine.find((x) => x.name === name);
      assert.ok(s, `${name} for ${c}\n${text}`);
      return s.value;
    };
    const used = one("lxd_memory_MemTotal_bytes") - one("lxd_memory_MemFree_bytes");
    assert.ok(used > 0);
    const lo = Math.min(before.memory_bytes, afterInfo.memory_bytes);
    const hi = Math.max(before.memory_bytes, afterInfo.memory_bytes);
    assert.ok(used >= lo && used <= hi, `memory ${used} between info's ${lo} and ${hi}`);
    assert.ok(one("lxd_memory_RSS_bytes") > 0);
    assert.ok(one("lxd_procs_total") > 0);
    assert.equal(one("lxd_memory_OOM_kills_total"), 0);
    box.lxcOk(["stop", "--force", c]);
    const stopped = box.lxcOk(["query", "/1.0/metrics"]);
    assert.ok(!samples(stopped).some((s) => s.labels.name === c), "a stopped one has none");
    box.lxcOk(["delete", c]);
  });

  test("bad bodies: malformed JSON, wrong types, unknown fields, no JSON object: 400 naming it", async () => {
    const c = box.name("bad");
    const bad = async (body: string, ct: string, want: RegExp) => {
      const r = await http(box.socket, "POST", "/1.0/instances", body, { "Content-Type": ct });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json?.type, "error");
      assert.equal(r.json?.error_code, 400);
      assert.match(r.json?.error, want);
    };
    const json = "application/json";
    await bad(`{"name": "${c}",`, json, /not valid JSON/);
    await bad("", json, /empty/);
    await bad(`{"name": 5}`, json, /field "name": expected string, got number/);
    await bad(
      JSON.stringify({ name: c, source: { type: "image", alias: "busybox", colour: 1 }, x: 2 }),
      json,
      /Unknown field\(s\) in request body: "source\.colour", "x"/,
    );
    await bad(`[1, 2]`, json, /expected a JSON object/);
    await bad(`name=${c}`, "text/plain", /expected a JSON object/);
    assert.ok(!existsSync(join(box.lxcpath, c)), "no half-made instance");
    const stateBad = await api("PUT", "/1.0/instances/nosuch/state", { action: "start" });
    assert.equal(stateBad.status, 404);
    const c2 = box.name("bad");
    box.lxcOk(["init", "busybox", c2]);
    const t = await api("PUT", `/1.0/instances/${c2}/state`, { action: "start", timeout: "5" });
    assert.equal(t.status, 400);
    assert.match(t.json.error, /field "timeout": expected number, got string/);
    const u = await api("PUT", `/1.0/instances/${c2}/state`, { action: "start", when: "now" });
    assert.equal(u.status, 400);
    assert.match(u.json.error, /Unknown field\(s\) in request body: "when"/);
    // Nulls are absences (Go's decoding), and the stock client's full bodies pass.
    const ok = await api("PUT", `/1.0/instances/${c2}/state`, {
      action: "start",
      timeout: null,
      force: false,
      stateful: false,
    });
    assert.equal(ok.status, 202, ok.text);
    assert.equal((await waitOp(ok.json.operation)).status, "Success");
    const debug = box.lxc(["--debug", "restart", "--force", c2]);
    assert.equal(debug.code, 0, debug.stderr);
    box.lxcOk(["delete", "-f", c2]);
  });

  test("huge bodies: 413 in LXD's envelope, read no further, memory bounded", async () => {
    const pid = box.daemon?.pid ?? 0;
    const rss0 = vmRssKb(pid);
    // A body declared 10 GiB, and one of 64 MiB sent chunked with no length: each is
    // answered 413 while the client is still sending; the daemon stops reading.
    const declared = await sendHuge(
      box.socket,
      `Content-Length: ${10 * 1024 ** 3}`,
      (chunk) => chunk,
    );
    const chunked = await sendHuge(box.socket, "Transfer-Encoding: chunked", (chunk) =>
      Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]),
    );
    for (const r of [declared, chunked]) {
      assert.match(r.reply, /^HTTP\/1\.1 413 /);
      const body = JSON.parse(r.reply.slice(r.reply.indexOf("\r\n\r\n") + 4));
      assert.deepEqual(
        [body.type, body.error_code, body.error],
        ["error", 413, "Request body is too large"],
      );
      assert.ok(r.sent < 64 * 1024 * 1024, `the daemon stopped the client after ${r.sent} bytes`);
    }
    const rss1 = vmRssKb(pid);
    assert.ok(rss1 - rss0 < 32 * 1024, `daemon RSS grew ${rss1 - rss0} kB`);
    assert.equal((await api("GET", "/1.0")).status, 200, "still serving");
  });

  test("slow senders are cut off after the request timeout (2 s), others served meanwhile", async () => {
    const cut = (payload: string) =>
      new Promise<{ ms: number; reply: string }>((resolve, reject) => {
        const t0 = Date.now();
        const s = connect(box.socket);
        let reply = "";
        s.on("data", (b) => {
          reply += b.toString();
        });
        s.on("error", reject);
        s.on("close", () => resolve({ ms: Date.now() - t0, reply }));
        s.write(payload);
      });
    const headers = cut("GET /1.0 HTTP/1.1\r\nHost: lxd\r\nX-Slow: ");
    const body = cut(
      "POST /1.0/instances HTTP/1.1\r\nHost: lxd\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    );
    const served = await api("GET", "/1.0");
    assert.equal(served.status, 200);
    for (const r of await Promise.all([headers, body])) {
      // Node checks each connection every requestTimeout/4: cut within 2.5 s of the start.
      assert.ok(r.ms >= 1900 && r.ms < 3500, `cut after ${r.ms} ms`);
      assert.match(r.reply, /^HTTP\/1\.1 408 /);
    }
  });

  test("half-open websockets are dropped within two heartbeats; live ones stay", async () => {
    const url = `ws+unix://${box.socket}:/1.0/events`;
    const dead = new WebSocket(url, { autoPong: false });
    const live = new WebSocket(url);
    // Counted in heartbeats, not in time: each heartbeat pings every peer that answered the
    // last one and drops the others, so the silent peer sees exactly one ping, then its end.
    let deadPings = 0;
    dead.on("ping", () => {
      deadPings++;
    });
    await Promise.all(
      [dead, live].map((w) => new Promise((r, j) => w.once("open", r).once("error", j))),
    );
    await new Promise((r) => dead.once("close", r));
    assert.equal(deadPings, 1, "dropped at the heartbeat after the ping it left unanswered");
    // The live one has answered every ping meanwhile and still gets events.
    assert.equal(live.readyState, WebSocket.OPEN);
    const got = new Promise<string>((r) => live.once("message", (m) => r(String(m))));
    const c = box.name("ws");
    box.lxcOk(["init", "busybox", c]);
    assert.match(await got, /"type":"(operation|lifecycle)"/);
    live.close();
    box.lxcOk(["delete", c]);
  });

  test("50 parallel clients: creates, starts, lists, execs, file pushes, stops; each gets its own result", async () => {
    // This load runs on a daemon with lxtd's own limits. Under the 1 s heartbeat and 2 s
    // request timeout the tests above use, one of 50 stock clients on a loaded 2-core host
    // can answer a ping late and have its exec's websocket dropped, as that heartbeat
    // must do (its command then dies, 137): that is the heartbeat's test, not this one's.
    assert.equal(await box.stopDaemon(), 0, box.log);
    await box.startDaemon();
    const names = Array.from({ length: 50 }, () => box.name("par"));
    const created = await Promise.all(
      names.map(async (n) => {
        const r = await api("POST", "/1.0/instances", {
          name: n,
          source: { type: "image", alias: "busybox" },
        });
        assert.equal(r.status, 202, r.text);
        return waitOp(r.json.operation);
      }),
    );
    created.forEach((op, i) => {
      assert.equal(op.status, "Success", op.err);
      assert.deepEqual(op.resources.instances, [`/1.0/instances/${names[i]}`]);
    });
    // Starts through 50 stock clients at once (each waits for its own operation's event),
    // with lists served meanwhile.
    const starts = names.map((n) => {
      const child = spawn("lxc", ["start", n], {
        env: box.env,
        stdio: ["ignore", "ignore", "pipe"],
      });
      let err = "";
      child.stderr?.on("data", (b: Buffer) => {
        err += b.toString();
      });
      return exitOf(child).then((code) => ({ n, code, err }));
    });
    const lists = Array.from({ length: 10 }, () => api("GET", "/1.0/instances?recursion=2"));
    for (const s of await Promise.all(starts)) assert.equal(s.code, 0, `${s.n}: ${s.err}`);
    for (const l of await Promise.all(lists)) assert.equal(l.status, 200);
    const ls = box.ok(["ls", "-f"]);
    for (const n of names) assert.match(ls, new RegExp(`^${n}\\s+RUNNING`, "m"));
    // 50 stock clients' execs at once, each with its own stdin: every one gets back its
    // own container's name and its own input, nothing of another's.
    const execs = await Promise.all(
      names.map((n) => lxcRun(box, ["exec", n, "--", "sh", "-c", "hostname; cat"], `in-${n}\n`)),
    );
    execs.forEach((r, i) => {
      assert.equal(r.code, 0, `${names[i]}: ${r.err}`);
      assert.equal(r.out, `${names[i]}\nin-${names[i]}\n`);
    });
    // 50 file pushes at once (each container its own bytes), then read back through exec.
    const files = await Promise.all(
      names.map((n) => {
        const local = join(box.lxcpath, `push-${n}`);
        writeFileSync(local, `file-of-${n}\n`.repeat(1000));
        return lxcRun(box, ["file", "push", local, `${n}/root/pushed`], "");
      }),
    );
    files.forEach((r, i) => {
      assert.equal(r.code, 0, `${names[i]}: ${r.err}`);
    });
    const back = await Promise.all(
      names.map((n) => lxcRun(box, ["exec", n, "--", "cat", "/root/pushed"], "")),
    );
    back.forEach((r, i) => {
      assert.equal(r.out, `file-of-${names[i]}\n`.repeat(1000));
    });
    const stops = await Promise.all(
      names.map(async (n) => {
        const r = await api("PUT", `/1.0/instances/${n}/state`, { action: "stop", force: true });
        assert.equal(r.status, 202, r.text);
        return { n, op: await waitOp(r.json.operation) };
      }),
    );
    for (const { n, op } of stops) {
      assert.equal(op.status, "Success", op.err);
      assert.deepEqual(op.resources.instances, [`/1.0/instances/${n}`]);
    }
    const deletes = await Promise.all(
      names.map(async (n) => {
        const r = await api("DELETE", `/1.0/instances/${n}`);
        assert.equal(r.status, 202, r.text);
        return waitOp(r.json.operation);
      }),
    );
    for (const op of deletes) assert.equal(op.status, "Success", op.err);
    for (const n of names) assert.ok(!existsSync(join(box.lxcpath, n)), n);
  });

  test("SIGKILLed daemon: its unfinished operations show failed, containers as they are", async () => {
    const up = box.name("kup");
    const down = box.name("kdn");
    const slow = box.name("kslow");
    box.lxcOk(["launch", "busybox", up]);
    box.lxcOk(["init", "busybox", down]);
    // An init that ignores the halt signal: a stop with a timeout runs for that long.
    box.ok(["create", "-n", slow, "-t", "busybox"]);
    appendFileSync(join(box.lxcpath, slow, "config"), "lxc.init.cmd = /bin/sleep 1000\n");
    box.lxcOk(["start", slow]);
    const pidOf = (n: string) => JSON.parse(box.ok(["info", "-n", n, "--format", "json"])).pid;
    const upPid = pidOf(up);
    const r = await api("PUT", `/1.0/instances/${slow}/state`, { action: "stop", timeout: 30 });
    assert.equal(r.status, 202);
    const id = r.json.metadata.id as string;
    const record = join(box.lxcpath, ".lxtd", "operations", `${id}.json`);
    const running = async () => {
      for (let i = 0; i < 500; i++) {
        if (existsSync(record) && JSON.parse(readFileSync(record, "utf8")).status === "Running")
          return true;
        await new Promise((res) => setTimeout(res, 10));
      }
      return false;
    };
    assert.ok(await running(), "the stop's record says Running");
    const daemon = box.daemon;
    assert.ok(daemon);
    daemon.kill("SIGKILL");
    await exitOf(daemon);
    box.daemon = undefined;
    await box.startDaemon(["--request-timeout", "2", "--ws-heartbeat", "1"]);
    const op = await api("GET", `/1.0/operations/${id}`);
    assert.equal(op.status, 200, op.text);
    assert.equal(op.json.metadata.status, "Failure");
    assert.equal(op.json.metadata.err, "lxtd restarted while the operation ran");
    const listed = await api("GET", "/1.0/operations");
    assert.ok((listed.json.metadata.failure ?? []).includes(`/1.0/operations/${id}`));
    // Every container as the CLI sees it; the running one is the same process.
    assert.equal(pidOf(up), upPid);
    const cli = new Map(
      box
        .ok(["ls", "-f"])
        .split("\n")
        .slice(1)
        .map((l) => l.split(/\s+/))
        .filter((f) => f[0])
        .map((f) => [f[0], f[1]]),
    );
    const list = await api("GET", "/1.0/instances?recursion=1");
    for (const inst of list.json.metadata as { name: string; status: string }[]) {
      assert.equal(inst.status.toUpperCase(), cli.get(inst.name), inst.name);
    }
    assert.equal(cli.get(up), "RUNNING");
    assert.equal(cli.get(down), "STOPPED");
    for (const n of [up, down, slow]) box.lxcOk(["delete", "-f", n]);
  });
});
