import assert from "node:assert/strict";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { resolve } from "node:path";
import { describe, test } from "node:test";
import { dumpArgs, restoreArgs } from "../../src/container/checkpoint-images.js";
import { pageServerLink, relayPages } from "../../src/container/criu-lazy.js";

/** How a stand-in for criu's page server saw its one connection end. */
type Ending = "close" | "reset";

/** A loopback server standing in for criu's page server: what it received and how its connection ended. */
async function fakePageServer(): Promise<{
  server: Server;
  /** lxt's end of the connection to it. */
  link: Socket;
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
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const addr = server.address();
  const link = createConnection({
    host: "127.0.0.1",
    port: typeof addr === "object" && addr ? addr.port : 0,
  });
  await once(link, "connect");
  return { server, link, got: () => got, ended };
}

describe("criu lazy pages: arguments", () => {
  test("a lazy dump serves on the connection it is given as fd 4 and signals on fd 3; a lazy restore asks for lazy pages", () => {
    const d = dumpArgs({
      pid: 42,
      dir: "/ck",
      leaveRunning: false,
      verbose: false,
      ttys: [],
      externalMounts: [],
      lazy: true,
    });
    const at = d.indexOf("--lazy-pages");
    assert.ok(at > 0);
    assert.deepEqual(d.slice(at), ["--lazy-pages", "--ps-socket", "4", "--status-fd", "3"]);
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
    const relay = await relayPages("127.0.0.1", criu.link);
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

  test("end(false) resets criu's connection, with a remote or none", async () => {
    for (const withRemote of [true, false]) {
      const criu = await fakePageServer();
      const relay = await relayPages("127.0.0.1", criu.link);
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
    const relay = await relayPages("127.0.0.1", criu.link, "127.0.0.2");
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

  test("an address not on this host: refused, and criu's connection is reset", async () => {
    const criu = await fakePageServer();
    try {
      await assert.rejects(relayPages("192.0.2.1", criu.link), /EADDRNOTAVAIL/);
      assert.equal(await criu.ended, "reset");
    } finally {
      criu.server.close();
    }
  });
});

const SHIM = resolve(import.meta.dirname, "../../native/build/lxt-shim");
const noShim = existsSync(SHIM) ? undefined : "SKIP: native/build/lxt-shim not built";
if (noShim) console.log(noShim);

describe("criu lazy pages: lxt's end of criu's connection", { skip: noShim }, () => {
  test("any close of lxt's end is a reset (as its death would be); end() is a close", async () => {
    for (const how of ["destroy", "end"] as const) {
      const { criu, ours } = await pageServerLink(SHIM);
      criu.resume();
      ours.resume();
      // Both ends still carry bytes after the helper had them.
      ours.write("page?");
      assert.equal(String((await once(criu, "data"))[0]), "page?");
      criu.write("ack");
      assert.equal(String((await once(ours, "data"))[0]), "ack");
      const ended = new Promise<Ending>((r) => {
        criu.on("error", (err: NodeJS.ErrnoException) => {
          if (err.code === "ECONNRESET") r("reset");
        });
        criu.on("end", () => r("close"));
      });
      ours[how]();
      assert.equal(await ended, how === "destroy" ? "reset" : "close");
      criu.destroy();
      ours.destroy();
    }
  });

  test("a helper that cannot set the option: refused, nothing left open", async () => {
    await assert.rejects(pageServerLink("/bin/false"), /sockopt reset-on-close: exit 1/);
  });
});
