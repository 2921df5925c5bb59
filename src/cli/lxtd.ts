/**
 * `lxtd`: the LXD REST API over lxt's core. The one place of the daemon
 * that reads its flags and environment; everything it serves is in
 * src/api. Containers never depend on it: they belong to their monitors, so
 * lxtd may stop, crash or restart while they run, and the CLI keeps working
 * beside it on the same state root.
 */
import { spawn } from "node:child_process";
import {
  appendFileSync,
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { connect } from "node:net";
import { hostname } from "node:os";
import { dirname, join, resolve } from "node:path";
import pino from "pino";
import { Daemon } from "../api/daemon.js";
import { HttpsListener, splitAddress } from "../api/https.js";
import { buildApp } from "../api/server.js";
import { UiListener } from "../api/ui-listener.js";
import { setPhaseSink } from "../core/phase.js";
import { cliContext, resolveLxcpath } from "./context.js";
import { daemonDir, daemonSocket } from "./lxtd-client.js";
import { clusterFlags, joinCluster } from "./lxtd-cluster.js";
import { lxtdProgram } from "./lxtd-program.js";

/** Whether something answers on a unix socket (a live daemon) or not (a stale file). */
function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** The gid of group `name` from /etc/group, if it exists. */
function groupId(name: string): number | undefined {
  for (const line of readFileSync("/etc/group", "utf8").split("\n")) {
    const [n, , gid] = line.split(":");
    if (n === name && gid && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}

/** A positive number of seconds given to `flag`, in milliseconds; undefined when not given. */
function secondsOption(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || n <= 0) {
    throw new Error(`${flag} ${value}: expected a positive number of seconds`);
  }
  return Math.round(n * 1000);
}

/** Helpers of each kind kept ready: a start takes one, and one more is spawned while it waits. */

/** A count flag's value: a whole number from 0 to 64. */
function countOption(flag: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 64) {
    throw new Error(`${flag} ${value}: expected a whole number from 0 to 64`);
  }
  return Number(value);
}

/**
 * `LXTD_PHASES=FILE` (bench/api.sh): every phase mark of the API and the
 * core, appended to FILE as `lxt-phase EPOCH_MS NAME` lines (the CLI's
 * LXT_PHASES format), flushed each second and at exit, off the hot path.
 * Marks of concurrent requests interleave: read it for one request at a time.
 */
function tracePhases(file: string): void {
  let lines: string[] = [];
  setPhaseSink((name) => {
    lines.push(`lxt-phase ${(performance.timeOrigin + performance.now()).toFixed(3)} ${name}`);
  });
  const flush = () => {
    if (lines.length === 0) return;
    appendFileSync(file, `${lines.join("\n")}\n`);
    lines = [];
  };
  setInterval(flush, 1000).unref();
  process.on("exit", flush);
}

async function main(): Promise<void> {
  const program = lxtdProgram();
  program.parse();
  const opts = program.opts();
  const lxcpath = resolveLxcpath(opts.lxcpath);
  const stateDir = daemonDir(lxcpath);
  mkdirSync(stateDir, { recursive: true, mode: 0o711 });
  if (!opts.foreground) {
    await detach(opts.logFile ? resolve(opts.logFile) : join(stateDir, "lxtd.log"), opts.logFile);
    return;
  }
  const socketPath = opts.socket ?? daemonSocket(lxcpath);
  // A bad address or cluster flag is refused before anything listens.
  if (opts.https) splitAddress(opts.https);
  const member = clusterFlags(opts);
  // The file opened here, not by pino: a logger on an fd is ready at once, so any early exit flushes.
  if (opts.logFile) mkdirSync(dirname(resolve(opts.logFile)), { recursive: true });
  const log = pino(
    { level: opts.logLevel, base: { pid: process.pid } },
    pino.destination({ fd: opts.logFile ? openSync(opts.logFile, "a", 0o640) : 2, sync: false }),
  );
  const ctx = cliContext({
    lxcpath,
    attachServer: true,
    helperPool: countOption("--helper-pool", opts.helperPool),
    heldCgroupFiles: heldCgroupFiles(),
    lockService: true,
  });
  if (process.env.LXTD_PHASES) tracePhases(process.env.LXTD_PHASES);
  // One daemon per state root: the lock lives as long as this process.
  const lock = await ctx.host.tryLock(join(stateDir, "lxtd.lock"), "lxtd");
  if (!lock) {
    process.stderr.write(
      `lxtd: another lxtd serves ${lxcpath} (its lock ${join(stateDir, "lxtd.lock")} is held)\n`,
    );
    process.exit(1);
  }
  // Execs go through a kept attach helper; without it (it failed to start) each spawns its own.
  await ctx.host.attachServer
    ?.start()
    .catch((err: unknown) => log.warn({ err }, "attach server: execs spawn their own helper"));
  if (existsSync(socketPath)) {
    if (await socketAlive(socketPath)) {
      process.stderr.write(`lxtd: ${socketPath} is in use by another server\n`);
      process.exit(1);
    }
    unlinkSync(socketPath);
  }
  const d = new Daemon({
    ctx,
    log,
    caller: { env: process.env, cgroupPid: process.pid },
    stateDir,
    serverName: hostname(),
    serverPid: process.pid,
    limits: {
      requestTimeoutMs: secondsOption("--request-timeout", opts.requestTimeout),
      heartbeatMs: secondsOption("--ws-heartbeat", opts.wsHeartbeat),
    },
    // The bundle is dist/lxtd.cjs; `npm run build:ui` writes the UI beside it.
    uiDir: join(dirname(resolve(process.argv[1] ?? ".")), "ui"),
    sharedBusybox: opts.sharedBusybox === true,
  });
  const ui = new UiListener(d, opts.ui);
  d.uiLocal = ui;
  // What the previous daemon left unfinished died with it (we hold the lock: it is gone).
  for (const op of d.operations.recover("lxtd restarted while the operation ran")) {
    log.warn(
      { operation: op.id, description: op.spec.description },
      "operation lost with the previous lxtd",
    );
  }
  const unixApp = buildApp(d);
  await unixApp.listen({ path: socketPath });
  const gid = opts.group ? groupId(opts.group) : groupId("lxd");
  if (opts.group && gid === undefined) {
    throw new Error(`--group ${opts.group}: no such group`);
  }
  chmodSync(socketPath, 0o660);
  if (gid !== undefined) chownSync(socketPath, 0, gid);
  const said: string[] = [];
  // `--https` wins over `core.https_address` at start; a later change of the key moves it.
  const httpsAddress = opts.https ?? member?.listen ?? d.config.get("core.https_address");
  const https = new HttpsListener(d);
  d.https = https;
  if (httpsAddress) {
    await https.listen(httpsAddress);
    said.push(`lxtd: https on ${d.addresses().join(" ")} (port ${https.port})`);
  }
  let stopping = false;
  const stop = async (sig: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, "lxtd stopping");
    await d.operations.drain(10_000);
    await d.clusterNet?.stop();
    // Revoked before the listeners close: the others see this member offline at once.
    await d.cluster
      ?.leave()
      .catch((err: unknown) => log.warn({ err }, "cluster: leaving failed; the lease expires"));
    await https.stop();
    await ui.stop();
    await unixApp.close();
    try {
      unlinkSync(socketPath);
    } catch {
      // already gone
    }
    ctx.host.attachServer?.stop();
    await Promise.all([ctx.host.monitors?.close(), ctx.host.lockHelpers?.close()]);
    await lock.release();
    log.flush();
    process.exit(code);
  };
  if (member) {
    try {
      // A member needs its certificate (the HTTPS listener's) before it registers.
      if (!d.tls) throw new Error("--cluster: the member needs its HTTPS listener");
      await joinCluster(
        d,
        member,
        process.arch === "x64" ? "x86_64" : process.arch,
        resolve(process.argv[1] ?? "."),
      );
    } catch (err) {
      process.stderr.write(`lxtd: ${(err as Error).message}\n`);
      await stop("cluster join failed", 1);
    }
    said.push(`lxtd: cluster member ${member.member} (${member.address})`);
  }
  log.info({ socket: socketPath, lxcpath, https: d.addresses() }, "lxtd listening");
  said.push(`lxtd: listening on ${socketPath}`);
  process.stdout.write(`${said.join("\n")}\n`);
  if (opts.readyFd) {
    const fd = Number(opts.readyFd);
    writeSync(fd, `${said.join("\n")}\n`);
    closeSync(fd);
  }

  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("unhandledRejection", (err) => log.error({ err }, "unhandled rejection"));
}

/**
 * Starts this program again in the foreground as a daemon of its own
 * session (setsid), its output appended to `logFile`, and returns once it
 * says it listens (on a pipe given as fd 3), printing its pid; fails with
 * the end of its log when it exits first.
 */
async function detach(logFile: string, given: string | undefined): Promise<void> {
  const out = openSync(logFile, "a", 0o640);
  const script = process.argv[1] ?? "";
  const args = [...process.execArgv, script, ...process.argv.slice(2), "--foreground"];
  if (!given) args.push("--log-file", logFile);
  args.push("--ready-fd", "3");
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ["ignore", out, out, "pipe"],
    env: process.env,
  });
  closeSync(out);
  const ready = child.stdio[3];
  const said = await new Promise<string | undefined>((done) => {
    let text = "";
    ready?.on("data", (b: Buffer) => {
      text += b.toString();
    });
    ready?.on("end", () => done(text.includes("listening") ? text : undefined));
    ready?.on("error", () => done(undefined));
  });
  if (!said) {
    const tail = readFileSync(logFile, "utf8").split("\n").slice(-12).join("\n");
    process.stderr.write(`lxtd: the daemon did not start; the end of ${logFile}:\n${tail}\n`);
    process.exit(1);
  }
  child.unref();
  process.stdout.write(`${said}lxtd: running as pid ${child.pid} (log: ${logFile})\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`lxtd: ${(err as Error)?.message ?? String(err)}\n`);
  process.exit(1);
});

/**
 * How many cgroup files the daemon keeps open between reads (lists and
 * metrics scrapes read the same ones each time): a quarter of this
 * process's open-file limit, at most 16384, so that sockets and the
 * containers' own descriptors keep the rest.
 */
function heldCgroupFiles(): number {
  let soft = 1024;
  try {
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    if (line?.[1]) soft = Number(line[1]);
  } catch {
    // no /proc: the usual default
  }
  return Math.min(16384, Math.floor(soft / 4));
}
