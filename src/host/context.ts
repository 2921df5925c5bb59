/**
 * The real machine as a `Context`: the factory a front-end calls once with
 * what it read from its flags and environment.
 */

import { existsSync, statSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { Caches } from "../core/cache.js";
import type { Context, Env, LxtCommand } from "../core/context.js";
import { readAppArmorHost } from "./apparmor.js";
import { AttachServer } from "./attach-server.js";
import { heldCgroupFs, nodeCgroupFs, nodeKill } from "./cgroup-fs.js";
import { lockHelperPool, monitorPool, RefillGate } from "./helper-pool.js";
import { LockService } from "./lock-service.js";
import { detectLxcfs } from "./lxcfs.js";
import { nodeLimitHost } from "./machine.js";
import { heldLiveness } from "./proc.js";
import { commandRunner } from "./runner.js";
import { type HeldLock, spawnHold, takeLock, tryLock } from "./shim.js";
import { systemdBooted } from "./systemd.js";

export interface NodeContextOptions {
  lxcpath: string;
  runDir: string;
  /** The front-end's own pid. */
  pid: number;
  /** Finds the helper when a verb first needs it (a missing helper fails only those). */
  helper: () => string;
  /** The front-end's environment: host commands run in it (with `LC_ALL=C`). */
  env: Env;
  subuidFile: string;
  subgidFile: string;
  imageCache: string;
  noHostNetwork: boolean;
  /** The limit on lock waits that set none (undefined: wait until the lock is free). */
  lockTimeoutMs?: number;
  /** The limit on a start's wait for the monitor's verdict. */
  startTimeoutMs?: number;
  /** How a monitor runs the front-end again (see `HostSettings.lxtCommand`). */
  lxtCommand?: LxtCommand;
  /** A long-running front-end's attach server socket: the context then keeps one (`HostDoors.attachServer`). */
  attachSocket?: string;
  /**
   * Monitors and lock helpers to keep made ahead of demand, this many of
   * each (a daemon's; `HostDoors.monitors`, and the `lock` door's); none
   * when 0 or unset.
   */
  helperPool?: number;
  /**
   * A long-running front-end's: keep up to this many cgroup files open
   * between reads (`heldCgroupFs`), and an eighth as many monitors'
   * /proc/PID/stat (`heldLiveness`); none when 0 or unset.
   */
  heldCgroupFiles?: number;
  /**
   * A long-running front-end's: locks no one else holds are taken by one
   * `lxt-shim locks` child (`LockService`) instead of a helper each.
   */
  lockService?: boolean;
}

function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

/**
 * A daemon's lock: it keeps `gate` busy from its request until its helper
 * has exited. Its release resolves once the helper has been told (its stdin
 * ended), not once it has exited: a verb's answer then no longer waits for
 * that hand-off (the helper's wake-up, its exit, the daemon's SIGCHLD). The
 * flock goes a moment later, when the helper reads the end; a later lock of
 * the same file waits for it as for any holder.
 */
function gated(gate: RefillGate, taking: Promise<HeldLock>): Promise<HeldLock> {
  gate.enter();
  return taking.then(
    (held) => {
      let told = false;
      return {
        release: () => {
          if (!told) void held.release().finally(() => gate.leave());
          told = true;
          return Promise.resolve();
        },
      };
    },
    (err) => {
      gate.leave();
      throw err;
    },
  );
}

/** A context over the real machine. */
export function nodeContext(o: NodeContextOptions): Context {
  let helper: string | undefined;
  const helperPath = () => {
    helper ??= o.helper();
    return helper;
  };
  // Verbs hold a lock from their start to their end: the pools refill in between.
  const gate = o.helperPool ? new RefillGate() : undefined;
  const monitors = o.helperPool ? monitorPool(helperPath, o.helperPool, gate) : undefined;
  const locks = o.helperPool ? lockHelperPool(helperPath, o.helperPool, gate) : undefined;
  const service = o.lockService ? new LockService(helperPath) : undefined;
  return {
    lxcpath: o.lxcpath,
    runDir: o.runDir,
    pid: o.pid,
    host: {
      cgroupFs: o.heldCgroupFiles ? heldCgroupFs(o.heldCgroupFiles) : nodeCgroupFs,
      // A container has ~12 cgroup files and one monitor: its /proc/PID/stat is kept beside them.
      ...(o.heldCgroupFiles
        ? { liveness: heldLiveness(Math.max(1, Math.floor(o.heldCgroupFiles / 8))) }
        : {}),
      kill: nodeKill,
      run: commandRunner(o.env),
      get helper() {
        return helperPath();
      },
      limits: nodeLimitHost,
      facts: {
        apparmor: () => readAppArmorHost(),
        lxcfs: () => detectLxcfs(),
        systemd: () => systemdBooted(isDirectory),
        selinux: () => existsSync("/sys/fs/selinux/enforce"),
      },
      clock: { now: () => Date.now(), sleep: (ms) => sleep(ms) },
      lock: (path, what, wait = {}) => {
        const limit = { ...wait, timeoutMs: wait.timeoutMs ?? o.lockTimeoutMs };
        // One another process holds (or the service cannot take) is waited for by a helper of its own.
        const viaHelper = () => takeLock(helperPath(), path, what, limit, locks);
        const taking = service ? service.take(path, what, limit, viaHelper) : viaHelper();
        return gate ? gated(gate, taking) : taking;
      },
      // Rare (the daemon's own lock, staging, incomplete creates): each keeps a helper of its own.
      tryLock: (path, what) => tryLock(helperPath(), path, what),
      hold: () => spawnHold(helperPath()),
      ...(o.attachSocket ? { attachServer: new AttachServer(helperPath, o.attachSocket) } : {}),
      monitors,
      lockHelpers: locks,
    },
    settings: {
      subuidFile: o.subuidFile,
      subgidFile: o.subgidFile,
      imageCache: o.imageCache,
      noHostNetwork: o.noHostNetwork,
      hostEnv: o.env,
      lockTimeoutMs: o.lockTimeoutMs,
      startTimeoutMs: o.startTimeoutMs,
      lxtCommand: o.lxtCommand,
    },
    caches: new Caches(),
  };
}
