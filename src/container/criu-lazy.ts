/**
 * CRIU's post-copy for a live move (`lxt move --lazy`, docs/migrate.md): the
 * source's `criu dump --lazy-pages` keeps the frozen tree and serves its
 * memory from a page server, the target's `criu lazy-pages --page-server`
 * fetches it for `criu restore --lazy-pages`.
 *
 * criu's page server is handed its connection (`--ps-socket`): one end of
 * a loopback TCP connection lxt made, the other end lxt's, and the remote
 * reaches it through a relay lxt holds on the address the remote sees this
 * host at. That connection is what decides how the dump ends: criu's page
 * server takes its peer's close as success (it then kills the tree)
 * whether that peer finished or died, so the relay never passes the
 * remote's close on. lxt ends criu's connection with a close once the
 * remote's restore has succeeded (criu has ended the dump already when the
 * remote's `criu lazy-pages` told it it has every page), and with a reset
 * otherwise: criu then fails the dump and the tree runs on here, its
 * network unlocked. lxt's end resets on its last close (`lxt-shim
 * sockopt`), so lxt killed (or its daemon) fails the dump too, from the
 * moment criu runs until the remote has every page.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import type { Env } from "../core/context.js";
import { LxtError } from "../core/errors.js";

/** A criu process started in the background: its exit code (null: killed by a signal). */
export interface CriuChild {
  child: ChildProcess;
  exited: Promise<number | null>;
}

/**
 * Spawns `criu args` with `--status-fd 3` (in `args`) and resolves once criu
 * says it is ready (it writes to fd 3: its page server or lazy-pages socket
 * listens); rejects with `fail()`'s words when criu exits first. `fd4`:
 * a socket criu gets as its fd 4 (`--ps-socket 4`).
 */
export function spawnReady(
  env: Env,
  args: readonly string[],
  fail: (code: number | null, stderr: string) => LxtError,
  fd4?: Socket,
): Promise<CriuChild> {
  const child = spawn("criu", [...args], {
    stdio: ["ignore", "ignore", "pipe", "pipe", ...(fd4 ? [fd4] : [])],
    env: { ...env, LC_ALL: "C" },
  });
  // Before its log is open, criu says what it refused here (an argument).
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once("error", () => resolve(-1));
    child.once("exit", (code) => resolve(code));
  });
  return new Promise((resolve, reject) => {
    const status = child.stdio[3] as NodeJS.ReadableStream | null;
    let ready = false;
    status?.once("data", () => {
      ready = true;
      resolve({ child, exited });
    });
    void exited.then((code) => {
      if (!ready) reject(fail(code, stderr.trim()));
    });
  });
}

/**
 * Sets `options` on TCP socket `sock` by `lxt-shim sockopt` (`helper`;
 * Node has neither setsockopt nor fcntl): `reset-on-close`, its last close
 * a reset, whoever holds it and however it ends; `blocking`, O_NONBLOCK
 * off (for a process other than Node that reads it).
 */
export async function setSockopts(
  helper: string,
  sock: Socket,
  options: readonly ("reset-on-close" | "blocking")[],
): Promise<void> {
  const child = spawn(helper, ["sockopt", ...options], { stdio: [sock, "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const [code] = (await once(child, "exit").catch((err) => [err])) as [number | Error | null];
  if (code !== 0)
    throw new LxtError(
      "system",
      `lxt-shim sockopt ${options.join(" ")}: ${code instanceof Error ? code.message : stderr.trim() || `exit ${code}`}`,
    );
}

/**
 * A loopback TCP connection for a lazy dump's page server: `criu`, the end
 * criu gets (`--ps-socket`; blocking, as criu reads it; the caller closes
 * its own copy once criu has it), and `ours`, which resets on its last
 * close (see the module's comment).
 */
export async function pageServerLink(helper: string): Promise<{ criu: Socket; ours: Socket }> {
  const server = createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const addr = server.address();
  const accepted = once(server, "connection") as Promise<[Socket]>;
  const ours = createConnection({
    host: "127.0.0.1",
    port: typeof addr === "object" && addr ? addr.port : 0,
  });
  ours.on("error", () => undefined);
  try {
    const [[criu]] = await Promise.all([accepted, once(ours, "connect")]);
    criu.on("error", () => undefined);
    try {
      await setSockopts(helper, ours, ["reset-on-close"]);
      await setSockopts(helper, criu, ["blocking"]);
    } catch (err) {
      criu.destroy();
      throw err;
    }
    return { criu, ours };
  } catch (err) {
    ours.destroy();
    throw err;
  } finally {
    server.close();
  }
}

/** The relay between the remote and criu's page server on loopback. */
export interface PageRelay {
  /** The port it listens on at its address. */
  port: number;
  /** Ends criu's connection: a close when `ok` (the dump succeeds), a reset otherwise. */
  end(ok: boolean): Promise<void>;
}

/**
 * Listens on `address` (a port the kernel picks) and relays one connection
 * to `criu`, lxt's end of criu's page-server connection; see the module's
 * comment. With `peer`, a connection from any other address is reset:
 * criu's page server hands the memory to whoever asks. `protect` is run on
 * the remote's connection before a byte passes (`reset-on-close`: the remote
 * sees lxt's death as a reset, not as the end of the pages).
 */
export async function relayPages(
  address: string,
  criu: Socket,
  peer?: string,
  protect: (sock: Socket) => Promise<void> = async () => undefined,
): Promise<PageRelay> {
  let outer: Socket | undefined;
  criu.on("error", () => undefined);
  const server: Server = createServer({ pauseOnConnect: true }, (sock) => {
    sock.on("error", () => undefined);
    if (outer || (peer !== undefined && plainAddress(sock.remoteAddress) !== peer)) {
      sock.resetAndDestroy();
      return;
    }
    outer = sock;
    server.close();
    const remote = sock;
    protect(remote).then(
      () => {
        if (remote.destroyed || criu.destroyed) return;
        // A half-close from the remote is not passed on (see the module's comment).
        criu.pipe(remote);
        remote.pipe(criu, { end: false });
        remote.resume();
      },
      () => remote.resetAndDestroy(),
    );
  });
  const end = async (ok: boolean) => {
    server.close();
    if (ok) criu.end();
    else if (!criu.destroyed) criu.resetAndDestroy();
    outer?.destroy();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, address, () => resolve());
    });
  } catch (err) {
    await end(false);
    throw err;
  }
  const addr = server.address();
  return { port: typeof addr === "object" && addr ? addr.port : 0, end };
}

/**
 * Fails lazy dump `serving` (`criu`: lxt's end of its page-server
 * connection, no remote relayed yet) so that its tree runs on: the
 * connection reset, then criu's exit awaited.
 */
export async function failDump(serving: CriuChild, criu: Socket): Promise<void> {
  if (!criu.destroyed) criu.resetAndDestroy();
  await serving.exited;
}

/** Reads a file, or "" when it cannot be read. */
export function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/**
 * Starts `criu lazy-pages` on checkpoint directory `dir`, fetching the
 * pages from the page server at `address`:`port`; resolves once it waits
 * for the restore (`restoreContainer` with `lazyPages`). It exits 0 once
 * every page is over, non-zero when the restore or the page server failed.
 */
export function startLazyPages(
  env: Env,
  dir: string,
  address: string,
  port: number,
): Promise<CriuChild> {
  const args = ["lazy-pages", "--page-server", "--address", address, "--port", String(port)];
  args.push("-D", dir, "-o", LAZY_LOG, "-v2", "--status-fd", "3");
  return spawnReady(
    env,
    args,
    (code, stderr) =>
      new LxtError(
        "checkpoint",
        `criu lazy-pages exited with ${code} before the restore: ${stderr || readText(`${dir}/${LAZY_LOG}`).trim().split("\n").slice(-2).join("; ")}`,
      ),
  );
}

/** `criu lazy-pages`' log in the checkpoint directory. */
export const LAZY_LOG = "lazy-pages.log";

/** A socket's address without the IPv4-mapped prefix (`::ffff:10.0.0.1` → `10.0.0.1`). */
export function plainAddress(addr: string | undefined): string | undefined {
  return addr?.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, "");
}

/** A lazy dump serving its pages (`checkpointContainer` with `lazy`). */
export interface LazyDump {
  /** The relay's port on the address asked for: what `criu lazy-pages --page-server` connects to. */
  port: number;
  /**
   * Ends the dump. `ok` (the remote's restore succeeded and has every
   * page): criu kills the tree and this returns once the container has
   * stopped. Otherwise the tree runs on here (criu unfreezes it and
   * unlocks its network) and this returns once criu has.
   */
  finish(ok: boolean): Promise<void>;
}

/**
 * The relay in front of lazy dump `serving` (`criu`: lxt's end of its
 * page-server connection), on `address` for `peer`, and how its end is
 * awaited: `stopped` (the container's monitor ended) after a kill,
 * `running` after a failure; `failed(what)` words an error with criu's log.
 * When the relay cannot listen, the dump is failed (the tree runs on) and
 * this throws.
 */
export async function serveLazy(o: {
  address: string;
  peer?: string;
  serving: CriuChild;
  criu: Socket;
  /** Run on the remote's connection before it is relayed (`setSockopts`). */
  protect?: (sock: Socket) => Promise<void>;
  failed: (what: string) => LxtError;
  stopped: () => Promise<void>;
  running: () => boolean;
}): Promise<LazyDump> {
  const relay = await relayPages(o.address, o.criu, o.peer, o.protect).catch((err) => err as Error);
  if (relay instanceof Error) {
    // relayPages reset criu's connection: the dump fails, the tree runs on.
    await o.serving.exited;
    throw o.failed(`its pages cannot be served on ${o.address}: ${relay.message}`);
  }
  return {
    port: relay.port,
    async finish(ok) {
      await relay.end(ok);
      const code = await o.serving.exited;
      if (ok) {
        if (code !== 0) throw o.failed("criu dump failed serving its pages (it runs on here)");
        await o.stopped();
      } else if (code === 0 || !o.running()) {
        throw o.failed("its lazy dump was ended, but it does not run on here");
      }
    },
  };
}
