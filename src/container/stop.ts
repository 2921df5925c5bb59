import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ContainerCgroupDirs } from "../cgroups/container.js";
import { releaseMonitorLeaf } from "../cgroups/delegation.js";
import { setFrozen } from "../cgroups/freezer.js";
import type { Clock, Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { phase } from "../core/phase.js";
import { formatSeconds } from "../core/wait.js";
import { type ExitRecord, parseControlReply } from "../host/helper-protocol.js";
import { controlRequest } from "../host/monitor-client.js";
import { isAlive, type ProcessRef } from "../host/proc.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { repairStale, runtimeCgroups, withLock } from "./runtime.js";
import { runtimeExitHooks, runtimeMonitorCgroups } from "./runtime-cgroups.js";
import { closeScope, scopeOfCgroups } from "./scope.js";
import { observe, requireState } from "./state.js";

export interface StopOptions {
  /** SIGKILL at once (`-k`). */
  kill?: boolean;
  /** Seconds to wait for a clean shutdown before SIGKILL; -1 waits forever. */
  timeout?: number;
  /** The signal that asks the init to halt (`lxc.signal.halt`). */
  haltSignal: number;
  /**
   * Cancels the stop's waits (the lock, the monitor's report, its exit);
   * the monitor stops the container anyway. The lock's limit is the
   * context's (`settings.lockTimeoutMs`).
   */
  signal?: AbortSignal;
}

export type { ExitRecord } from "../host/helper-protocol.js";

/**
 * What a stop waits for the monitor's report beyond the halt timeout: the
 * SIGKILL, the cgroups' removal (up to 2 s each), stop-hooks (`script.down`).
 */
export const STOP_CLEANUP_GRACE_MS = 30_000;

/**
 * Stops a running container: the halt signal, up to `timeout` seconds for
 * the init to end, then SIGKILL, all done by the monitor. Resolves once the
 * monitor has cleaned up (it closes the connection last) and its process
 * has exited, so that nothing of the container is left when it returns. A
 * monitor that does not report the end and exit within the timeout and
 * `STOP_CLEANUP_GRACE_MS` (never, with `timeout` -1, unless cancelled)
 * fails the stop with `timeout` naming it; the lock is let go either way.
 */
export async function stopContainer(
  ctx: Context,
  paths: ContainerPaths,
  opts: StopOptions,
): Promise<ExitRecord | undefined> {
  requireExists(paths, "stop");
  const fs = ctx.host.cgroupFs;
  // What is left once the lock is let go (see below).
  let ending: (() => Promise<void>) | undefined;
  const exit = await withLock(
    ctx,
    paths,
    async () => {
      const seen = await repairStale(ctx, paths);
      requireState("stop", paths.name, seen.state);
      // A frozen init cannot act on the halt signal, and frozen v1 tasks ignore
      // even SIGKILL until thawed: thaw first.
      if (seen.state === "FROZEN") await setFrozen(runtimeCgroups(ctx, paths), fs, false);
      // The monitor removes its plan as it exits; its cgroup v2 leaf is ours to remove.
      const dirs = runtimeCgroups(ctx, paths);
      const monitorDirs = runtimeMonitorCgroups(ctx, paths);
      // Its exit hooks (an ephemeral container's destroy) take this lock
      // before the monitor exits: that exit is waited for once we let go.
      const hooked = runtimeExitHooks(ctx, paths).length > 0;
      const signal = opts.kill ? 9 : opts.haltSignal;
      const timeout = opts.kill ? 0 : (opts.timeout ?? 60);
      const waitMs = timeout < 0 ? undefined : timeout * 1000 + STOP_CLEANUP_GRACE_MS;
      const deadline = waitMs === undefined ? undefined : ctx.host.clock.now() + waitMs;
      let lines: string[];
      try {
        lines = await controlRequest(
          join(paths.runtimeDir, "control.sock"),
          { verb: "stop", signal, timeoutS: timeout },
          { timeoutMs: waitMs, signal: opts.signal },
        );
      } catch (err) {
        if (err instanceof LxtError)
          throw stopWaitError(paths.name, seen.monitor?.pid, err, timeout, "report the end");
        // The monitor went away between our look and our request: repair.
        const after = await repairStale(ctx, paths);
        if (after.state === "STOPPED") {
          await dropForwards(ctx, paths);
          await releaseMonitorLeaf(dirs.v2, fs, monitorDirs);
          await closeScopeOf(ctx, dirs);
          return undefined;
        }
        throw new LxtError(
          "system",
          `stop ${paths.name}: control socket: ${(err as Error).message}`,
          err,
        );
      }
      phase("monitor answered");
      const exit = lines.map(parseControlReply).find((r) => r.kind === "exit")?.exit;
      // The monitor closes the connection after its cleanup; make sure the files are gone.
      await waitFor(ctx.host.clock, () => observe(ctx, paths).state === "STOPPED", 5000);
      phase("stopped seen");
      await repairStale(ctx, paths);
      await dropForwards(ctx, paths);
      const monitor = seen.monitor;
      const ended = async () => {
        if (monitor) {
          await monitorExit(ctx.host.clock, paths.name, monitor, deadline, timeout, opts);
          phase("monitor exited");
        }
        await releaseMonitorLeaf(dirs.v2, fs, monitorDirs);
        // The scope goes with the monitor; stop returns once systemd has removed it.
        await closeScopeOf(ctx, dirs);
      };
      if (hooked) ending = ended;
      else await ended();
      return exit;
    },
    { signal: opts.signal },
  );
  await ending?.();
  return exit;
}

/**
 * Waits until the monitor process has exited (a zombie has): it closes the
 * stop's connection a moment before it ends. Bounded by the stop's
 * `deadline` (none: forever) and cancelled by `opts.signal`.
 */
async function monitorExit(
  clock: Clock,
  name: string,
  monitor: ProcessRef,
  deadline: number | undefined,
  timeout: number,
  opts: { signal?: AbortSignal },
): Promise<void> {
  while (isAlive(monitor)) {
    const what = `stop ${name}: waiting for the monitor (pid ${monitor.pid}) to exit`;
    if (opts.signal?.aborted) throw new LxtError("cancelled", `${what}: cancelled`);
    if (deadline !== undefined && clock.now() > deadline) {
      const err = new LxtError("timeout", what);
      throw stopWaitError(name, monitor.pid, err, timeout, "exit");
    }
    await clock.sleep(2);
  }
}

/**
 * A stop's wait for the monitor that ran out (or was cancelled), naming the
 * monitor, what it did not do in time and the limit.
 */
function stopWaitError(
  name: string,
  monitorPid: number | undefined,
  err: LxtError,
  timeout: number,
  what: string,
): LxtError {
  if (err.code !== "timeout") return err.wrap(`stop ${name}`);
  const total = formatSeconds(timeout * 1000 + STOP_CLEANUP_GRACE_MS);
  return new LxtError(
    "timeout",
    `stop ${name}: the monitor (pid ${monitorPid ?? "?"}) did not ${what} within ${total} (${timeout} s for the init, ${formatSeconds(STOP_CLEANUP_GRACE_MS)} for its cleanup)`,
    err,
  );
}

/** Stops the systemd scope a container's cgroups were in, if any (scope.ts). */
async function closeScopeOf(ctx: Context, dirs: ContainerCgroupDirs): Promise<void> {
  const scope = scopeOfCgroups(dirs);
  if (scope) await closeScope(ctx, scope.unit, scope.dir);
}

/** Removes a stopped container's port forwards from its network's nft table (when it had any). */
async function dropForwards(ctx: Context, paths: ContainerPaths): Promise<void> {
  if (!existsSync(join(paths.dir, "forwards"))) return;
  const { syncForwards } = await import("./forward.js");
  await syncForwards(ctx, paths, undefined, false);
}

/** Polls `cond` every 10 ms until it holds or `ms` pass (negative: forever); returns whether it held. */
export async function waitFor(clock: Clock, cond: () => boolean, ms: number): Promise<boolean> {
  const end = clock.now() + ms;
  while (!cond()) {
    if (ms >= 0 && clock.now() > end) return false;
    await clock.sleep(10);
  }
  return true;
}
