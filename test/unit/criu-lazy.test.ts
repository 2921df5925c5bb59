import assert from "node:assert/strict";
import { once } from "node:events";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { describe, test } from "node:test";
import { dumpArgs, restoreArgs } from "../../src/container/checkpoint.js";
import { freeLoopbackPort, relayPages } from "../../src/container/criu-lazy.js";

/** How a stand-in for criu's page server saw its one connection end. */
type Ending = "close" | "reset";

/** A loopback server standing in for criu's page server: what it received and how its connection ended. */
async function fakePageServer(): Promise<{
  server: Server;
  port: number;
  got: () => string;
  ended: Promise<Ending>;
}> {
  let got = "";
  let resolveEnd: (e: Ending) => void = () => undefined;
  const ended = new Promise<Ending>((r) => {
    resolveEnd = r;
  });
  const server = createServer((sock: Socket) => {
    sock.on("data", (d) => {
      got += d.toString();
      sock.write(`ack:${d.toString()}`);
    });
    sock.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ECONNRESET") resolveEnd("reset");
    });
    sock.on("end", () => resolveEnd("close"));
  });
  const port = await freeLoopbackPort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  return { server, port, got: () => got, ended };
}

describe("criu lazy pages: arguments", () => {
  test("a lazy dump serves on loopback at the port given and signals on fd 3; a lazy restore asks for lazy pages", () => {
    const d = dumpArgs({
      pid: 42,
      dir: "/ck",
      leaveRunning: false,
      verbose: false,
      ttys: [],
      externalMounts: [],
      lazyPort: 4711,
    });
    const at = d.indexOf("--lazy-pages");
    assert.ok(at > 0);
    assert.deepEqual(d.slice(at), [
      "--lazy-pages",
      "--address",
      "127.0.0.1",
      "--port",
      "4711",
      "--status-fd",
      "3",
    ]);
    const plain = dumpArgs({
      pid: 42,
      dir: "/ck",
      leaveRunning: false,
      verbose: false,
      ttys: [],
      externalMounts: [],
    });
    assert.equal(plain.includes("--lazy-pages"), false);
    const manifest = {
      version: 1 as const,
      name: "c1",
      criu: "4.2.1",
      ttys: [],
      externalMounts: [],
      dumpMs: 1,
    };
    const r = restoreArgs({ criu: "/c", dir: "/ck", rootfs: "/r", verbose: false, manifest });
    assert.equal(r.includes("--lazy-pages"), false);
    const lazy = restoreArgs({
      criu: "/c",
      dir: "/ck",
      rootfs: "/r",
      verbose: false,
      manifest,
      lazy: true,
    });
    assert.ok(lazy.includes("--lazy-pages"));
  });
});

describe("criu lazy pages: the relay in front of the page server", () => {
  test("relays both ways; the remote's close is not passed on; end(true) closes criu's side", async () => {
    const criu = await fakePageServer();
    const relay = await relayPages("127.0.0.1", criu.port);
    try {
      const remote = createConnection({ host: "127.0.0.1", port: relay.port });
      await once(remote, "connect");
      remote.write("page?");
      const [answer] = await once(remote, "data");
      assert.equal(String(answer), "ack:page?");
      assert.equal(criu.got(), "page?");
      remote.end();
      await once(remote, "close");
      // criu must not take the remote's close as the end: nothing ended yet.
      const early = await Promise.race([
        criu.ended,
        new Promise((r) => setTimeout(() => r("open"), 200)),
      ]);
      assert.equal(early, "open");
      await relay.end(true);
      assert.equal(await criu.ended, "close");
    } finally {
      criu.server.close();
    }
  });

  test("end(false) resets criu's connection; with no remote ever connected it still reaches criu", async () => {
    for (const withRemote of [true, false]) {
      const criu = await fakePageServer();
      const relay = await relayPages("127.0.0.1", criu.port);
      try {
        if (withRemote) {
          const remote = createConnection({ host: "127.0.0.1", port: relay.port });
          await once(remote, "connect");
          remote.write("x");
          await once(remote, "data");
          remote.destroy();
        }
        await relay.end(false);
        assert.equal(await criu.ended, "reset", `with a remote: ${withRemote}`);
      } finally {
        criu.server.close();
      }
    }
  });

  test("with a peer: a connection from another address is reset and reaches nothing", async () => {
    const criu = await fakePageServer();
    const relay = await relayPages("127.0.0.1", criu.port, "127.0.0.2");
    try {
      const stranger = createConnection({ host: "127.0.0.1", port: relay.port });
      stranger.write("page?");
      const [err] = (await once(stranger, "error")) as [NodeJS.ErrnoException];
      assert.equal(err.code, "ECONNRESET");
      assert.equal(criu.got(), "");
      await relay.end(false);
      assert.equal(await criu.ended, "reset");
    } finally {
      criu.server.close();
    }
  });

  test("an address not on this host: refused, and criu's server is reset", async () => {
    const criu = await fakePageServer();
    try {
      await assert.rejects(relayPages("192.0.2.1", criu.port), /EADDRNOTAVAIL/);
      assert.equal(await criu.ended, "reset");
    } finally {
      criu.server.close();
    }
  });
});
