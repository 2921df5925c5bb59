/**
 * The context a front-end (the `lxt` CLI, lxtd, a unit test) builds once and
 * hands to every core verb: where the state is, the doors to the machine,
 * and the caches that live as long as the front-end's process. Nothing in
 * the core reaches for `process.*` or a module-level door instead, so one
 * process may host many concurrent calls, and tests pass fakes.
 *
 * What belongs to one call rather than to the process (the caller's
 * environment, stdio and cgroup) is a `Caller`, passed with the call.
 */

import { join } from "node:path";
import type { Stream } from "node:stream";
import type { AttachServer } from "../host/attach-server.js";
import type { CgroupFs, KillFn } from "../host/cgroup-fs.js";
import type { HelperPool } from "../host/helper-pool.js";
import type { LxcfsView } from "../host/lxcfs.js";
import type { LimitHost } from "../host/machine.js";
import type { LivenessFn } from "../host/proc.js";
import type { CommandRunner } from "../host/runner.js";
import type { HeldLock, HeldProcess } from "../host/shim.js";
import type { AppArmorHost } from "../security/apparmor.js";
import type { Caches } from "./cache.js";
import type { WaitLimit } from "./wait.js";

/** An environment (a variable name to its value). */
export type Env = Readonly<Record<string, string | undefined>>;

/** Time, so that waits can be driven by a test. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** What the host offers containers, read when a start is planned. */
export interface HostFacts {
  /** Whether AppArmor is usable here (and why not). */
  apparmor(): AppArmorHost & { why: string };
  /** A running lxcfs: where it is mounted and what it serves. */
  lxcfs(): LxcfsView | undefined;
  /** Whether systemd is the host's service manager (sd_booted(3)): containers then get a scope of their own. */
  systemd(): boolean;
  /** Whether SELinux is enabled here (selinuxfs mounted). */
  selinux(): boolean;
}

/** The doors to the machine. Every one of them can be replaced by a fake. */
export interface HostDoors {
  readonly cgroupFs: CgroupFs;
  /**
   * Whether a process (pid + start time) is alive: `isAlive` when unset; a
   * daemon's keeps each monitor's /proc/PID/stat open (`heldLiveness`).
   */
  readonly liveness?: LivenessFn;
  readonly kill: KillFn;
  /** Host commands (`ip`, `nft`, `btrfs`, `tar`, ...), no shell. */
  readonly run: CommandRunner;
  /** Path of the `lxt-shim` helper (docs/helper-protocol.md). */
  readonly helper: string;
  readonly limits: LimitHost;
  readonly facts: HostFacts;
  readonly clock: Clock;
  /**
   * An exclusive flock on `path` held until released (or until this process
   * dies). `wait` limits the wait (its `timeoutMs` defaults to
   * `settings.lockTimeoutMs`: none, wait as LXC does); past it, or when its
   * signal aborts, nothing holds or waits for the lock and a `timeout`
   * (`cancelled`) error names the holder.
   */
  lock(path: string, what: string, wait?: WaitLimit): Promise<HeldLock>;
  /** Like `lock`, but undefined at once when another process holds it. */
  tryLock(path: string, what: string): Promise<HeldLock | undefined>;
  /** A process of ours that lives until released (a systemd scope's first member). */
  hold(): Promise<HeldProcess>;
  /**
   * A daemon's kept attach helper (`lxt-shim attach-server`), when the
   * front-end asked for one: `openAttach` goes through it while it listens.
   */
  readonly attachServer?: AttachServer;
  /**
   * Monitors made ahead of demand (a daemon's; none in the CLI): a detached
   * start takes one instead of spawning its monitor (host/helper-pool.ts).
   */
  readonly monitors?: HelperPool;
  /** The lock helpers the `lock` door takes before it spawns one (with `monitors`; none in the CLI). */
  readonly lockHelpers?: HelperPool;
}

/** Settings the front-end read from its own configuration (flags, environment). */
export interface HostSettings {
  /** Root's subordinate id files (`/etc/subuid`, `/etc/subgid`). */
  readonly subuidFile: string;
  readonly subgidFile: string;
  /** Where built images (debootstrap) are cached, outside any state root. */
  readonly imageCache: string;
  /** Refuse to make a managed network's bridge in the host's network namespace (tests, benchmarks). */
  readonly noHostNetwork: boolean;
  /** The environment host commands run in; its `PATH` is where host tools are looked up. */
  readonly hostEnv: Env;
  /** Milliseconds a lock is waited for when the call sets no limit (undefined: until it is free). */
  readonly lockTimeoutMs?: number;
  /** Milliseconds a start waits for the monitor's verdict (undefined: `DEFAULT_START_TIMEOUT_MS`). */
  readonly startTimeoutMs?: number;
  /**
   * How a monitor runs this front-end again on the host (an ephemeral
   * container's exit hook destroys it with it). Undefined: an ephemeral
   * container is destroyed only by `stop` or `destroy --if-ephemeral`.
   */
  readonly lxtCommand?: LxtCommand;
}

/**
 * A command line that runs lxt: `argv` (an absolute program, then its
 * arguments up to the verb) with `env` and nothing else of the caller's
 * environment. Given by the front-end, which knows how it was started.
 */
export interface LxtCommand {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

export interface Context {
  /** The state root (`/var/lib/lxt`): containers, images, networks' definitions. */
  readonly lxcpath: string;
  /** The runtime directory (`/run/lxt`): locks, monitors' files, networks' runtime files. */
  readonly runDir: string;
  /**
   * The process that hosts the core and spawns monitors. On cgroup v2 it may
   * move itself into a container's monitor leaf (src/cgroups/delegation.ts);
   * a container's cgroup that holds it is never killed.
   */
  readonly pid: number;
  readonly host: HostDoors;
  readonly settings: HostSettings;
  /** Per-process caches (e.g. decoded runtime plans), bounded. */
  readonly caches: Caches;
}

/** One call's caller: what a daemon gets from its client and the CLI from its own process. */
export interface Caller {
  /** For `lxc.environment = NAME`, attach `--keep-env` and `-v NAME`. */
  readonly env: Env;
  /**
   * The process beneath whose cgroup (in every hierarchy) a container's
   * cgroups are made, as `/proc/PID/cgroup` names it.
   */
  readonly cgroupPid: number;
}

/** Where a foreground container's or an attached command's stdin, stdout and stderr go. */
export type Stdio = readonly [StdioEnd, StdioEnd, StdioEnd];
/** A file descriptor, or a stream that has one (a socket, a pty). */
export type StdioEnd = number | Stream;

/**
 * Runtime files are keyed by a short hash of the state root so that two
 * roots (e.g. parallel test runs) with the same container name never share
 * a lock or a socket, while socket paths stay short.
 */
export function rootId(lxcpath: string): string {
  if (lastRootId?.lxcpath === lxcpath) return lastRootId.id;
  // 64-bit FNV-1a: a name, not a secret; node:crypto would add ~5 ms to every command.
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(lxcpath, "utf8")) {
    h = ((h ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  const id = h.toString(16).padStart(16, "0").slice(0, 12);
  lastRootId = { lxcpath, id };
  return id;
}
/**
 * The last root's id: a command asks for one root's, once per container
 * (paths of 100 containers took ~5 ms of BigInt arithmetic, most of
 * `lxt __complete running`).
 */
let lastRootId: { lxcpath: string; id: string } | undefined;

/** `<runDir>/<root-id>`: the runtime files of the containers and networks of one state root. */
export function runtimeRoot(runDir: string, lxcpath: string): string {
  return join(runDir, rootId(lxcpath));
}
