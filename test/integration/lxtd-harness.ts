/**
 * For the tests that drive a real `lxtd` with the stock LXD client (`lxc`,
 * Debian's lxd-client): a Sandbox whose state root a daemon serves, on a
 * unix socket under it, with a private `LXD_CONF` whose config.yml exists
 * (else the client's first-run probe changes what it sends). The default
 * profile is written without a NIC before the daemon starts: a NIC on the
 * default network would create it in the host's namespace, which the
 * suite never does (tests of networking bring their own namespace).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  exitWithin,
  hasCmd,
  printed,
  REPO,
  type RunResult,
  Sandbox,
  skipReason,
} from "./harness.js";

export const LXTD = join(REPO, "bin", "lxtd");

/** Why lxtd tests cannot run here, or undefined when they can. */
export function lxtdSkipReason(): string | undefined {
  const base = skipReason();
  if (base) return base;
  if (
    !hasCmd("lxc") ||
    spawnSync("lxc", ["version"], { encoding: "utf8" }).stdout.indexOf("Client version") < 0
  ) {
    return "SKIP: the stock LXD client is missing (apt-get install lxd-client)";
  }
  return undefined;
}

/** The stock client's arguments adding lxtd at `address` as remote `name` by trust password, its certificate accepted. */
export function remoteAddArgs(name: string, address: string, password: string): string[] {
  return [
    "remote",
    "add",
    name,
    `https://${address}`,
    "--password",
    password,
    "--accept-certificate",
  ];
}

export class LxtdSandbox extends Sandbox {
  readonly conf = mkdtempSync(join(tmpdir(), "lxt-lxdconf-"));
  readonly socket: string;
  daemon?: ChildProcess;
  log = "";

  constructor(lxcpath?: string) {
    super(lxcpath);
    this.socket = join(this.lxcpath, ".lxtd", "unix.socket");
    writeFileSync(
      join(this.conf, "config.yml"),
      "default-remote: local\nremotes: {}\naliases: {}\n",
    );
    const profiles = join(this.lxcpath, ".lxtd", "profiles");
    mkdirSync(profiles, { recursive: true });
    writeFileSync(
      join(profiles, "default.yaml"),
      "description: 'Default lxt profile, tests: no NIC'\nconfig: {}\ndevices:\n  root:\n    path: /\n    pool: default\n    type: disk\n",
    );
  }

  /**
   * Starts `lxtd --foreground` on this state root; resolves once it listens.
   * `netns`: run it in that network namespace (`/run/netns/NAME`), where the
   * networks it makes then live; its unix socket works from anywhere.
   */
  /** `opts.env` adds to the daemon's environment. */
  async startDaemon(
    extra: string[] = [],
    opts: { netns?: string; env?: NodeJS.ProcessEnv } = {},
  ): Promise<void> {
    const argv = ["--foreground", "-P", this.lxcpath, ...extra];
    const [cmd, args] = opts.netns
      ? ["nsenter", [`--net=/run/netns/${opts.netns}`, LXTD, ...argv]]
      : [LXTD, argv];
    const child = spawn(cmd, args, {
      env: { ...process.env, LXT_PATH: this.lxcpath, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stderr?.on("data", (b: Buffer) => {
      this.log += b.toString();
    });
    this.daemon = child;
    await printed(child, "lxtd: listening");
  }

  /** SIGTERM to the daemon; resolves with how it ended (SIGKILL after `ms`). */
  async stopDaemon(ms = 15_000): Promise<number | string | undefined> {
    const child = this.daemon;
    if (!child || child.exitCode !== null || child.signalCode !== null)
      return child?.exitCode ?? undefined;
    child.kill("SIGTERM");
    const how = await exitWithin(child, ms);
    this.daemon = undefined;
    return how;
  }

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, LXD_SOCKET: this.socket, LXD_CONF: this.conf };
  }

  /** Runs the stock client: `lxc ARGS` against this daemon. */
  lxc(args: string[], opts: { input?: string; timeoutMs?: number } = {}): RunResult {
    const r = spawnSync("lxc", args, {
      env: this.env,
      input: opts.input ?? "",
      encoding: "utf8",
      timeout: opts.timeoutMs ?? 60_000,
    });
    return {
      code: r.status ?? (r.signal ? 128 : -1),
      stdout: r.stdout ?? "",
      stderr: r.stderr ?? "",
    };
  }

  /** Like `lxc`, but throws with the output (and the daemon's log) unless it exits 0. */
  readonly lxcOk = (args: string[], opts: { input?: string; timeoutMs?: number } = {}): string => {
    const r = this.lxc(args, opts);
    if (r.code !== 0) {
      throw new Error(
        `lxc ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}\n--- lxtd log:\n${this.log.slice(-4000)}`,
      );
    }
    return r.stdout;
  };

  /** The daemon's HTTPS address (`/1.0`'s first `environment.addresses`), "" without one. */
  httpsAddress(): string {
    const env = JSON.parse(this.lxcOk(["query", "/1.0"])) as {
      environment: { addresses: string[] };
    };
    return env.environment.addresses[0] ?? "";
  }

  /** `lxc remote add NAME https://ADDRESS` by trust password (`remoteAddArgs`); the client's output. */
  remoteAddByPassword(name: string, address: string, password: string): string {
    return this.lxcOk(remoteAddArgs(name, address, password));
  }

  /** Stops the daemon, then what Sandbox.cleanup removes, and the client's config. */
  async close(): Promise<void> {
    await this.stopDaemon();
    this.cleanup();
    rmSync(this.conf, { recursive: true, force: true });
  }
}
