/**
 * lxtd over HTTPS, driven by the stock client as a remote: trust by
 * password and by one-time token, the untrusted view, `lxt trust`, the
 * listener moved by `core.https_address`; and the daemon's life: detaching,
 * its logs, a SIGKILLed daemon's stale socket taken over. Every listener
 * binds to 127.0.0.1 and is stopped here.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { WebSocket } from "ws";
import { alive, until } from "./harness.js";
import { LXTD, LxtdSandbox, lxtdSkipReason, remoteAddArgs } from "./lxtd-harness.js";

const skip = lxtdSkipReason();
if (skip) console.log(skip);

/** A private LXD_CONF for another client (its own certificate once it adds a remote). */
function newConf(): string {
  const dir = mkdtempSync(join(tmpdir(), "lxt-lxdconf-"));
  writeFileSync(join(dir, "config.yml"), "default-remote: local\nremotes: {}\naliases: {}\n");
  return dir;
}

/** The stock client with another LXD_CONF than the sandbox's. */
function lxcAs(box: LxtdSandbox, conf: string, args: string[]) {
  const r = spawnSync("lxc", args, {
    env: { ...box.env, LXD_CONF: conf },
    encoding: "utf8",
    input: "",
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** GET over HTTPS with an optional client certificate; resolves with the status and JSON body. */
function httpsGet(
  address: string,
  path: string,
  client?: { cert: string; key: string },
): Promise<{ status: number; body: { metadata?: unknown; error?: string } }> {
  const [host, port] = address.split(":");
  return new Promise((resolve, reject) => {
    const req = request(
      // No pooled connection: a moved listener has closed the old ones.
      { host, port: Number(port), path, rejectUnauthorized: false, agent: false, ...client },
      (res) => {
        let text = "";
        res.on("data", (b: Buffer) => {
          text += b.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** A port nothing listens on now, on 127.0.0.1 (held by the returned server until closed). */
function holdPort(): Promise<Server> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => resolve(s));
  });
}

describe("lxtd over HTTPS with the stock client as a remote", { skip, timeout: 300_000 }, () => {
  let box: LxtdSandbox;
  let address = "";
  const confs: string[] = [];
  const conf = () => {
    const c = newConf();
    confs.push(c);
    return c;
  };
  before(async () => {
    box = new LxtdSandbox();
    await box.startDaemon(["--https", "127.0.0.1:0"]);
    address = box.httpsAddress();
    assert.match(address, /^127\.0\.0\.1:\d+$/);
  });
  after(async () => {
    await box.close();
    for (const c of confs) rmSync(c, { recursive: true, force: true });
  });

  test("GET /1.0 shows the server certificate, made once, its key kept 0600", () => {
    const srv = JSON.parse(box.lxcOk(["query", "/1.0"])) as {
      auth: string;
      environment: { certificate: string; certificate_fingerprint: string; addresses: string[] };
    };
    assert.equal(srv.auth, "trusted");
    const dir = join(box.lxcpath, ".lxtd");
    const pem = readFileSync(join(dir, "server.crt"), "utf8");
    assert.equal(srv.environment.certificate, pem);
    const cert = new X509Certificate(pem);
    assert.equal(
      srv.environment.certificate_fingerprint,
      createHash("sha256").update(cert.raw).digest("hex"),
    );
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, "secp384r1");
    assert.equal(statSync(join(dir, "server.key")).mode & 0o777, 0o600);
    assert.deepEqual(srv.environment.addresses, [address]);
  });

  test("remote add with the trust password, then the usual verbs on the remote", () => {
    box.lxcOk(["config", "set", "core.trust_password", "SECRET"]);
    assert.equal(box.lxcOk(["config", "get", "core.trust_password"]).trim(), "true");
    assert.doesNotMatch(readFileSync(join(box.lxcpath, ".lxtd", "server.yaml"), "utf8"), /SECRET/);

    const wrong = lxcAs(box, conf(), remoteAddArgs("bad", address, "nope"));
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /not authorized/);

    const out = box.remoteAddByPassword("r1", address, "SECRET");
    assert.match(out, /Client certificate now trusted by server: r1/);
    assert.match(box.lxcOk(["info", "r1:"]), /^auth: trusted$/m);
    const c = box.name("rem");
    // The image from the remote itself (`busybox` alone would copy it from `local:`).
    box.lxcOk(["launch", "r1:busybox", `r1:${c}`]);
    assert.match(
      box.lxcOk(["list", "r1:", "--format", "csv", "-c", "ns"]),
      new RegExp(`^${c},RUNNING$`, "m"),
    );
    assert.match(box.lxcOk(["info", `r1:${c}`]), /^Status: RUNNING$/m);
    assert.match(box.ok(["ls", "-f"]), new RegExp(`^${c}\\s+RUNNING`, "m"));
    box.lxcOk(["stop", `r1:${c}`, "--force"]);
    assert.match(box.lxcOk(["info", `r1:${c}`]), /^Status: STOPPED$/m);
    box.lxcOk(["start", `r1:${c}`]);
    assert.match(box.ok(["ls", "-f"]), new RegExp(`^${c}\\s+RUNNING`, "m"));
    box.lxcOk(["delete", "-f", `r1:${c}`]);
    assert.doesNotMatch(box.ok(["ls", "-1"]), new RegExp(`^${c}$`, "m"));
  });

  test("a token adds one client, once; a revoked token is gone", () => {
    const token = box.lxcOk(["config", "trust", "add", "--name", "t1", "-q"]).trim();
    const decoded = JSON.parse(Buffer.from(token, "base64").toString()) as {
      client_name: string;
      addresses: string[];
      fingerprint: string;
    };
    assert.equal(decoded.client_name, "t1");
    assert.deepEqual(decoded.addresses, [address]);
    assert.match(box.lxcOk(["config", "trust", "list-tokens", "--format", "csv"]), /^t1,/m);

    const c2 = conf();
    const first = lxcAs(box, c2, ["remote", "add", "r2", token]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(lxcAs(box, c2, ["info", "r2:"]).stdout, /^auth: trusted$/m);
    assert.match(box.lxcOk(["config", "trust", "list", "--format", "csv"]), /^client,t1,/m);
    assert.doesNotMatch(box.lxcOk(["config", "trust", "list-tokens", "--format", "csv"]), /^t1,/m);

    const second = lxcAs(box, conf(), ["remote", "add", "r3", token]);
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /No matching certificate add operation found/);

    box.lxcOk(["config", "trust", "add", "--name", "t2", "-q"]);
    box.lxcOk(["config", "trust", "revoke-token", "t2"]);
    assert.doesNotMatch(box.lxcOk(["config", "trust", "list-tokens", "--format", "csv"]), /^t2,/m);
  });

  test("an untrusted client: auth untrusted on /1.0, 403 elsewhere, websockets refused", async () => {
    const c4 = conf();
    // A failed add leaves the client's certificate and the pinned server certificate behind.
    const r = lxcAs(box, c4, remoteAddArgs("u", address, "nope"));
    assert.notEqual(r.code, 0);
    writeFileSync(
      join(c4, "config.yml"),
      `default-remote: local\nremotes:\n  u:\n    addr: https://${address}\n    protocol: lxd\n    auth_type: tls\naliases: {}\n`,
    );
    assert.match(lxcAs(box, c4, ["info", "u:"]).stdout, /^auth: untrusted$/m);
    const list = lxcAs(box, c4, ["list", "u:"]);
    assert.notEqual(list.code, 0);
    assert.match(list.stderr, /not authorized/);

    const client = {
      cert: readFileSync(join(c4, "client.crt"), "utf8"),
      key: readFileSync(join(c4, "client.key"), "utf8"),
    };
    const inst = await httpsGet(address, "/1.0/instances", client);
    assert.equal(inst.status, 403);
    assert.equal(inst.body.error, "not authorized");
    const anon = await httpsGet(address, "/1.0");
    assert.equal((anon.body.metadata as { auth: string }).auth, "untrusted");
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`wss://${address}/1.0/events`, {
        rejectUnauthorized: false,
        ...client,
      });
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.on("open", () => {
        ws.close();
        resolve(101);
      });
      ws.on("error", () => resolve(-1));
    });
    assert.equal(refused, 403);

    // The trusted client's certificate gets the events stream over HTTPS.
    const trusted = {
      cert: readFileSync(join(box.conf, "client.crt"), "utf8"),
      key: readFileSync(join(box.conf, "client.key"), "utf8"),
    };
    const ws = new WebSocket(`wss://${address}/1.0/events?type=lifecycle`, {
      rejectUnauthorized: false,
      ...trusted,
    });
    await new Promise<void>((resolve, reject) => {
      ws.on("open", () => resolve());
      ws.on("error", reject);
    });
    const event = new Promise<string>((resolve) =>
      ws.on("message", (m: Buffer) => resolve(m.toString())),
    );
    box.lxcOk(["config", "set", "core.trust_password", "OTHER"]);
    box.lxcOk(["config", "trust", "add", join(c4, "client.crt"), "--name", "via-file"]);
    assert.match(await event, /certificate-created/);
    ws.close();
    assert.match(lxcAs(box, c4, ["info", "u:"]).stdout, /^auth: trusted$/m);
    const fp = createHash("sha256").update(new X509Certificate(client.cert).raw).digest("hex");
    box.lxcOk(["config", "trust", "remove", fp.slice(0, 12)]);
    assert.match(lxcAs(box, c4, ["info", "u:"]).stdout, /^auth: untrusted$/m);
  });

  test("lxt trust add/list/remove through the daemon's socket", () => {
    const c5 = conf();
    lxcAs(box, c5, remoteAddArgs("x", address, "no"));
    writeFileSync(
      join(c5, "config.yml"),
      `default-remote: local\nremotes:\n  x:\n    addr: https://${address}\n    protocol: lxd\n    auth_type: tls\naliases: {}\n`,
    );
    const file = join(c5, "client.crt");
    const fp = createHash("sha256")
      .update(new X509Certificate(readFileSync(file)).raw)
      .digest("hex");
    assert.match(box.ok(["trust", "add", file, "--name", "from-cli"]), new RegExp(fp));
    assert.match(box.ok(["trust", "list"]), new RegExp(`^from-cli\\s+client\\s+${fp}$`, "m"));
    assert.equal(lxcAs(box, c5, ["list", "x:"]).code, 0);
    const again = box.lxt(["trust", "add", file]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already in trust store/);
    box.ok(["trust", "remove", fp]);
    assert.doesNotMatch(box.ok(["trust", "list"]), new RegExp(fp));
    const denied = lxcAs(box, c5, ["list", "x:"]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /not authorized/);
    const bad = box.lxt(["trust", "add", join(c5, "config.yml")]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /not a PEM certificate/);

    const empty = mkdtempSync(join(tmpdir(), "lxt-test-nodaemon-"));
    try {
      const none = box.lxt(["trust", "list", "-P", empty]);
      assert.equal(none.code, 1);
      assert.match(none.stderr, /no lxtd answers on .*unix\.socket/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  test("core.https_address moves the listener live; a taken port is refused", async () => {
    const taken = await holdPort();
    const busy = `127.0.0.1:${(taken.address() as { port: number }).port}`;
    const r = box.lxc(["config", "set", "core.https_address", busy]);
    taken.close();
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Cannot listen on https socket/);
    assert.equal(box.lxcOk(["config", "get", "core.https_address"]).trim(), "");
    assert.match(box.lxcOk(["info", "r1:"]), /^auth: trusted$/m);

    const free = await holdPort();
    const next = `127.0.0.1:${(free.address() as { port: number }).port}`;
    await new Promise((resolve) => free.close(resolve));
    box.lxcOk(["config", "set", "core.https_address", next]);
    const srv = JSON.parse(box.lxcOk(["query", "/1.0"])) as {
      config: Record<string, string>;
      environment: { addresses: string[] };
    };
    assert.equal(srv.config["core.https_address"], next);
    assert.deepEqual(srv.environment.addresses, [next]);
    await assert.rejects(httpsGet(address, "/1.0"), /ECONNREFUSED/);
    box.lxcOk(["remote", "set-url", "r1", `https://${next}`]);
    assert.match(box.lxcOk(["list", "r1:", "--format", "csv"]), /^$|,/);
    assert.match(box.lxcOk(["info", "r1:"]), /^auth: trusted$/m);

    box.lxcOk(["config", "unset", "core.https_address"]);
    await assert.rejects(httpsGet(next, "/1.0"), /ECONNREFUSED/);
    const token = box.lxc(["config", "trust", "add", "--name", "late"]);
    assert.notEqual(token.code, 0);
    assert.match(token.stderr, /isn't listening on network/);
  });
});

describe("lxtd detached: pid, log, a SIGKILLed daemon's socket taken over", {
  skip,
  timeout: 120_000,
}, () => {
  let box: LxtdSandbox;
  const pids: number[] = [];
  before(() => {
    box = new LxtdSandbox();
  });
  after(async () => {
    for (const pid of pids) if (alive(pid)) process.kill(pid, "SIGKILL");
    for (const pid of pids) await until(() => !alive(pid), 10_000);
    await box.close();
  });

  /** `lxtd` without --foreground: returns once it listens; the pid it printed. */
  function detached(extra: string[] = []): { pid: number; out: string } {
    const r = spawnSync(LXTD, ["-P", box.lxcpath, ...extra], {
      env: { ...process.env, LXT_PATH: box.lxcpath },
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const pid = Number(/running as pid (\d+)/.exec(r.stdout)?.[1]);
    assert.ok(pid > 0, r.stdout);
    pids.push(pid);
    return { pid, out: r.stdout };
  }

  test("detaches, answers at once, logs requests as JSON at debug level", async () => {
    const log = join(box.lxcpath, "lxtd-debug.log");
    const { pid, out } = detached(["--log-level", "debug", "--log-file", log]);
    assert.match(out, /listening on .*unix\.socket/);
    assert.ok(alive(pid));
    // Its own session: not this test's process group.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    assert.equal(Number(stat[3]), pid, "lxtd leads its own session");
    assert.match(box.lxcOk(["info"]), /^auth: trusted$/m);
    const again = spawnSync(LXTD, ["--foreground", "-P", box.lxcpath], { encoding: "utf8" });
    assert.equal(again.status, 1);
    assert.match(again.stderr, /another lxtd serves/);
    process.kill(pid, "SIGTERM");
    assert.ok(await until(() => !alive(pid), 15_000), "lxtd ends on SIGTERM");
    const lines = readFileSync(log, "utf8")
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const req = lines.find((l) => l.msg === "request" && l.url === "/1.0");
    assert.ok(req, "a request line for GET /1.0");
    assert.equal(req.level, 20);
    assert.equal(req.method, "GET");
    assert.equal(req.status, 200);
    assert.equal(typeof req.duration, "number");
  });

  test("a SIGKILLed daemon leaves a stale socket; the next one takes over", async () => {
    const first = detached();
    assert.match(readFileSync(join(box.lxcpath, ".lxtd", "lxtd.log"), "utf8"), /lxtd listening/);
    // A kept core.https_address is listened on again by the next daemon.
    const free = await holdPort();
    const https = `127.0.0.1:${(free.address() as { port: number }).port}`;
    await new Promise((resolve) => free.close(resolve));
    box.lxcOk(["config", "set", "core.https_address", https]);
    process.kill(first.pid, "SIGKILL");
    assert.ok(await until(() => !alive(first.pid), 10_000));
    assert.ok(statSync(box.socket).isSocket(), "the dead daemon's socket is left behind");
    const second = detached();
    assert.notEqual(second.pid, first.pid);
    assert.match(box.lxcOk(["info"]), /^auth: trusted$/m);
    assert.match(second.out, new RegExp(`https on ${https}`));
    const srv = JSON.parse(box.lxcOk(["query", "/1.0"])) as {
      environment: { addresses: string[] };
    };
    assert.deepEqual(srv.environment.addresses, [https]);
    process.kill(second.pid, "SIGTERM");
    assert.ok(await until(() => !alive(second.pid), 15_000));
  });
});
