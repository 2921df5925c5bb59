/**
 * `lxt checkpoint` / `lxt restore` of a container with a veth on a managed
 * network (docs/checkpoint.md), inside a network namespace of the test's
 * own: a client there holds a TCP connection to a counter server in the
 * container. Dumped and left running, or stopped (-s) and restored, the
 * container keeps its MAC and address, its veth's host end is back on the
 * bridge, and the client's connection goes on with the same server
 * process and no number lost or repeated.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { criuSkip, NetnsSandbox, netnsSkip, skipReason, until } from "./harness.js";

const skip = skipReason() ?? netnsSkip() ?? criuSkip([4, 2]);
if (skip) console.log(skip);

// One connection: the server's pid and a count, a line every 50 ms.
const SERVER = `#!/bin/sh
i=0
while true; do i=$((i+1)); echo "$$ $i" || exit 0; sleep 0.05; done
`;
const PORT = 7000;

/** A TCP client in the sandbox's namespace, reading the counter's lines. */
class Client {
  readonly proc: ChildProcess;
  text = "";
  exited = false;
  constructor(ns: string, ip: string) {
    this.proc = spawn("nsenter", [`--net=/run/netns/${ns}`, "busybox", "nc", ip, String(PORT)], {
      stdio: ["pipe", "pipe", "ignore"],
    });
    this.proc.stdout?.on("data", (b) => {
      this.text += b;
    });
    this.proc.on("exit", () => {
      this.exited = true;
    });
  }
  /** The complete lines so far as [pid, n]. */
  lines(): [number, number][] {
    return this.text
      .split("\n")
      .slice(0, -1)
      .map((l) => l.split(" ").map(Number) as [number, number]);
  }
  last(): number {
    return this.lines().at(-1)?.[1] ?? 0;
  }
  close(): void {
    if (!this.exited) this.proc.kill("SIGKILL");
  }
}

describe("checkpoint and restore with a veth on a managed network", {
  skip,
  timeout: 240_000,
}, () => {
  const netns = new NetnsSandbox("ckn");
  const { ok, links } = netns;
  let c = "";
  let dirs = "";
  const clients: Client[] = [];
  const state = () => JSON.parse(ok(["info", "-n", c, "--format", "json"])).state as string;
  const eth0 = () => {
    const link = ok(["attach", "-n", c, "--", "ip", "-o", "link", "show", "eth0"]);
    const addr = ok(["attach", "-n", c, "--", "ip", "-o", "-4", "addr", "show", "eth0"]);
    return {
      mac: /link\/ether ([0-9a-f:]{17})/.exec(link)?.[1] ?? "",
      addr: /inet (\S+)/.exec(addr)?.[1] ?? "",
    };
  };
  /** The nftables tables in the container's own network namespace. */
  const tables = () => {
    const pid = JSON.parse(ok(["info", "-n", c, "--format", "json"])).pid as number;
    return execFileSync("nsenter", [`--net=/proc/${pid}/ns/net`, "nft", "list", "tables"], {
      encoding: "utf8",
    });
  };
  /** The host ends on the bridge, in the sandbox's namespace. */
  const ports = () =>
    netns
      .nsOk(["ip", "-o", "link", "show", "master", "lxtbr0"])
      .split("\n")
      .map((l) => l.split(":")[1]?.trim().split("@")[0] ?? "")
      .filter(Boolean);
  /** A fresh connection to a fresh server process; returns the client with its first lines in. */
  const connect = async (ip: string): Promise<Client> => {
    ok([
      "attach",
      "-n",
      c,
      "--",
      "sh",
      "-c",
      `setsid nc -l -p ${PORT} -e /srv.sh </dev/null >/dev/null 2>&1 &`,
    ]);
    // The listener is up when netstat inside shows it.
    assert.ok(
      await until(
        () => ok(["attach", "-n", c, "--", "netstat", "-ltn"]).includes(`:${PORT} `),
        10_000,
      ),
      "server listening",
    );
    const client = new Client(netns.ns, ip);
    clients.push(client);
    assert.ok(await until(() => client.last() >= 5, 10_000), "counter lines arrive");
    return client;
  };
  /** Every line from 1 up, one server pid: nothing lost, nothing repeated. */
  const noGap = (client: Client) => {
    const lines = client.lines();
    const pids = new Set(lines.map((l) => l[0]));
    assert.equal(pids.size, 1, `one server process: ${[...pids].join(", ")}`);
    lines.forEach(([, n], i) => {
      assert.equal(n, i + 1, `line ${i + 1} is ${n}`);
    });
  };

  before(() => {
    netns.open();
    dirs = mkdtempSync(join(tmpdir(), "lxt-ckptn-"));
    c = netns.name("ckn");
    ok(["create", "-n", c, "-t", "busybox"]);
    const cfg = join(netns.lxcpath, c, "config");
    writeFileSync(
      cfg,
      readFileSync(cfg, "utf8").replace(/^lxt\.privileged = 0$/m, "lxt.privileged = 1"),
    );
    writeFileSync(join(netns.lxcpath, c, "rootfs", "srv.sh"), SERVER, { mode: 0o755 });
    ok(["start", "-n", c]);
  });
  after(() => {
    for (const cl of clients) cl.close();
    netns.dispose();
    rmSync(dirs, { recursive: true, force: true });
  });

  test("dump without -s: the connection goes on through it", async () => {
    const { addr } = eth0();
    const client = await connect(addr.split("/")[0] ?? "");
    assert.match(
      ok(["checkpoint", "-n", c, "-D", join(dirs, "live"), "-v"]),
      /dumped .* in \d+ ms/,
    );
    assert.equal(state(), "RUNNING");
    const at = client.last();
    assert.ok(await until(() => client.last() > at + 5, 10_000), "counter goes on");
    noGap(client);
    assert.doesNotMatch(tables(), /CRIU/, "CRIU's lock is undone");
    client.close();
  });

  test("-s and restore: same MAC and address, host end on the bridge, the connection kept", async () => {
    const before_ = eth0();
    const ip = before_.addr.split("/")[0] ?? "";
    const client = await connect(ip);
    const hostEnd0 = ports();
    assert.equal(hostEnd0.length, 1, `one port on lxtbr0: ${hostEnd0.join(", ")}`);
    const out = ok(["checkpoint", "-n", c, "-D", join(dirs, "stop"), "-s", "-v"]);
    assert.equal(state(), "STOPPED");
    // The container's end went with its namespace; the monitor deleted the host end.
    assert.deepEqual(ports(), []);
    assert.ok(!links().includes(hostEnd0[0] ?? ""), "host end deleted");
    const frozenAt = client.last();
    assert.ok(!client.exited, "the client's connection is not closed by the dump");
    const r = ok(["restore", "-n", c, "-D", join(dirs, "stop"), "-v"]);
    console.log(`${out.trim()}; ${r.trim()}`);
    assert.equal(state(), "RUNNING");
    assert.deepEqual(eth0(), before_);
    assert.equal(ports().length, 1, "a host end on lxtbr0 again");
    assert.ok(
      await until(() => client.last() > frozenAt + 10, 20_000),
      "counter goes on after restore",
    );
    assert.ok(!client.exited, "the client is still connected");
    noGap(client);
    assert.doesNotMatch(tables(), /CRIU/, "CRIU's lock is undone");
    // The restored container is reachable as before: the gateway answers it.
    ok(["attach", "-n", c, "--", "ping", "-c", "1", "-W", "2", "10.0.3.1"]);
    ok(["stop", "-k", "-n", c]);
    assert.deepEqual(ports(), [], "host end deleted at the stop");
    client.close();
  });

  test("restore refuses NICs that changed since the checkpoint, before anything is made", (t) => {
    if (!existsSync(join(dirs, "live", "lxt-checkpoint.json")))
      return t.skip("no checkpoint: the dump test was skipped");
    const cfg = join(netns.lxcpath, c, "config");
    const text = readFileSync(cfg, "utf8");
    writeFileSync(
      cfg,
      text.replace(/^lxc\.net\.0\.name = .*\n/m, "").concat("lxc.net.0.name = eth1\n"),
    );
    const r = netns.lxt(["restore", "-n", c, "-D", join(dirs, "live")]);
    writeFileSync(cfg, text);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /NICs changed since the checkpoint \(checkpoint: eth0@lxtbr0; config: eth1@lxtbr0\)/,
    );
    assert.equal(state(), "STOPPED");
    assert.deepEqual(ports(), []);
  });
});
