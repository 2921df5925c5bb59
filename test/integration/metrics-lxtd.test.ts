/**
 * `lxt metrics` through the launcher (bin/lxt → lxt-shim lxtd-metrics,
 * native/src/lxtd-metrics.c): answered by the state root's lxtd when its
 * socket answers, by Node's own sample otherwise, with the same output.
 * First against a stand-in server on the socket (what is asked, that the
 * answer is printed as it came, and each case that must fall back), then
 * against a real lxtd serving two running containers and a stopped one:
 * both paths give the same series, named or not, and the daemon's needs no
 * Node (a `node` that fails is first on PATH).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { LXT } from "./harness.js";
import { LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason();
if (skip) console.log(skip);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `lxt metrics ARGS` by the launcher, without blocking this process (a stand-in server runs in it). */
function metrics(root: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      LXT,
      ["metrics", ...args],
      { env: { ...process.env, LXT_PATH: root, ...env }, encoding: "utf8", timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Each sample's series (name and labels) without its value, comments left out. */
const series = (text: string): string[] =>
  text
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l.slice(0, l.lastIndexOf(" ")));

describe("lxt metrics asks the state root's lxtd: a stand-in on its socket", { skip }, () => {
  const root = mkdtempSync(join(tmpdir(), "lxt-test-mlxtd-"));
  const asked: string[] = [];
  let answer: (res: import("node:http").ServerResponse) => void = () => {};
  let server: Server;

  before(async () => {
    mkdirSync(join(root, ".lxtd"));
    server = createServer((req, res) => {
      asked.push(`${req.method} ${req.url}`);
      answer(res);
    });
    await new Promise<void>((r) => server.listen(join(root, ".lxtd", "unix.socket"), r));
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    rmSync(root, { recursive: true, force: true });
  });

  test("a whole 200 answer is printed as it came; names and -n go in the query", async () => {
    const body = '# a stand-in\'s text\nlxt_instance_state{name="x"} 1\n# EOF\n';
    // As lxtd answers: with its length (a reply without one is not taken: it could be cut short).
    answer = (res) =>
      res
        .writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) })
        .end(body);
    asked.length = 0;
    const r = await metrics(root, ["a1", "-n", "b.2", "--name=c_3"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, body);
    assert.deepEqual(asked, ["GET /1.0/metrics?view=cli&name=a1&name=b.2&name=c_3"]);
    // A -P state root is the one whose socket is asked.
    asked.length = 0;
    const other = await metrics("/nonexistent", ["-P", root]);
    assert.equal(other.stdout, body);
    assert.deepEqual(asked, ["GET /1.0/metrics?view=cli"]);
  });

  test("an error answer goes to Node, which reports as the verb does", async () => {
    answer = (res) => res.writeHead(404, { "content-type": "application/json" }).end("{}");
    asked.length = 0;
    const r = await metrics(root, ["nosuch"]);
    assert.equal(asked.length, 1);
    assert.notEqual(r.code, 0);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /lxt: metrics nosuch: no such container/);
  });

  test("a short answer is not printed: Node samples instead", async () => {
    answer = (res) => {
      res.writeHead(200, { "content-type": "text/plain", "content-length": "1000" });
      res.write("lxt_partial 1\n");
      res.socket?.destroy();
    };
    asked.length = 0;
    const r = await metrics(root, []);
    assert.equal(asked.length, 1);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /lxt_partial/);
    assert.match(r.stdout, /^lxd_instances\{project="default",type="container"\} 0$/m);
  });

  test("flags the helper does not read, and LXT_METRICS_NO_DAEMON, never ask", async () => {
    answer = (res) => res.writeHead(200, { "content-type": "text/plain" }).end("asked\n");
    asked.length = 0;
    const help = await metrics(root, ["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: lxt metrics/);
    const own = await metrics(root, [], { LXT_METRICS_NO_DAEMON: "1" });
    assert.match(own.stdout, /^lxd_instances\{project="default",type="container"\} 0$/m);
    const odd = await metrics(root, ["bad/name"]);
    assert.match(odd.stderr, /bad container name "bad\/name"/);
    assert.deepEqual(asked, []);
  });
});

describe("lxt metrics: the same series from lxtd and from Node's own sample", {
  skip,
  timeout: 300_000,
}, () => {
  const box = new LxtdSandbox();
  const names = [box.name("mv"), box.name("mv"), box.name("mv")];
  const [a, b, stopped] = names as [string, string, string];

  // A `node` first on PATH that fails: a sample printed through it came from lxtd, not Node.
  const noNode = mkdtempSync(join(tmpdir(), "lxt-test-nonode-"));
  writeFileSync(join(noNode, "node"), '#!/bin/sh\necho "node ran" >&2\nexit 97\n', { mode: 0o755 });
  const withoutNode = { PATH: `${noNode}:${process.env.PATH}` };

  before(async () => {
    for (const n of names) box.ok(["create", "-n", n, "-t", "busybox"]);
    box.ok(["start", a, b]);
    await box.startDaemon();
  });
  after(async () => {
    await box.stopDaemon();
    box.cleanup();
    rmSync(box.conf, { recursive: true, force: true });
    rmSync(noNode, { recursive: true, force: true });
  });

  for (const args of [[], [a, "-n", stopped]]) {
    test(`lxt metrics ${args.join(" ")}`.trim(), async () => {
      const via = await metrics(box.lxcpath, args, withoutNode);
      const own = await metrics(box.lxcpath, args, { LXT_METRICS_NO_DAEMON: "1" });
      // What lxtd answers to the launcher's question is what it printed.
      const asked = await fetchCli(box.socket, args);
      assert.equal(via.code, 0, via.stderr);
      assert.equal(own.code, 0, own.stderr);
      assert.deepEqual(series(via.stdout), series(own.stdout));
      assert.deepEqual(series(asked), series(via.stdout));
      assert.ok(series(via.stdout).length > 20, via.stdout);
      const want = args.length === 0 ? [a, b] : [a, stopped];
      for (const n of want)
        assert.match(via.stdout, new RegExp(`^lxt_instance_state\\{name="${n}"`, "m"));
      assert.match(
        via.stdout,
        new RegExp(`^lxt_instance_state\\{name="${a}",[^}]*state="RUNNING"`, "m"),
      );
      if (args.length > 0)
        assert.match(
          via.stdout,
          new RegExp(`^lxt_instance_state\\{name="${stopped}",[^}]*state="STOPPED"`, "m"),
        );
    });
  }
});

/** lxtd's `GET /1.0/metrics?view=cli` for `lxt metrics ARGS` (names and `-n NAME` only). */
function fetchCli(socket: string, args: string[]): Promise<string> {
  const names = args.filter((x) => x !== "-n");
  const query = ["view=cli", ...names.map((n) => `name=${n}`)].join("&");
  return new Promise((resolve, reject) => {
    import("node:http").then(({ get }) =>
      get({ socketPath: socket, path: `/1.0/metrics?${query}` }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve(body));
      }).on("error", reject),
    );
  });
}
