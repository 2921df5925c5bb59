import { existsSync } from "node:fs";
import { join } from "node:path";
import { releaseMonitorLeaf } from "../cgroups/delegation.js";
import { setFrozen } from "../cgroups/freezer.js";
import type { Clock, Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { controlRequest } from "../host/monitor-client.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { repairStale, runtimeCgroups, withLock } from "./runtime.js";
import { closeScope, scopeOfCgroups } from "./scope.js";
import { observe, requireState } from "./state.js";

export interface StopOptions {
  /** SIGKILL at once (`-k`). */
  kill?: boolean;
  /** Seconds to wait for a clean shutdown before SIGKILL; -1 waits forever. */
  timeout?: number;
  /** The signal that asks the init to halt (`lxc.signal.halt`). */
  haltSignal: number;
}

/** How the init ended, as the monitor reported it. */
export interface ExitRecord {
  code?: number;
  signal?: number;
}

export function parseExitLine(line: string | undefined): ExitRecord | undefined {
  const [word, n] = (line ?? "").trim().split(/\s+/);
  if (word === "exited") return { code: Number(n) };
  if (word === "signaled") return { signal: Number(n) };
  return undefined;
}

/**
 * Stops a running container: the halt signal, up to `timeout` seconds for
 * the init to end, then SIGKILL, all done by the monitor. Resolves once the
 * monitor has cleaned up (it closes the connection last).
 */
export async function stopContainer(
  ctx: Context,
  paths: ContainerPaths,
  opts: StopOptions,
): Promise<ExitRecord | undefined> {
  requireExists(paths, "stop");
  const fs = ctx.host.cgroupFs;
  return withLock(ctx, paths, async () => {
    const seen = await repairStale(ctx, paths);
    requireState("stop", paths.name, seen.state);
    // A frozen init cannot act on the halt signal, and frozen v1 tasks ignore
    // even SIGKILL until thawed: thaw first.
    if (seen.state === "FROZEN") await setFrozen(runtimeCgroups(ctx, paths), fs, false);
    // The monitor removes its plan as it exits; its cgroup v2 leaf is ours to remove.
    const dirs = runtimeCgroups(ctx, paths);
    const signal = opts.kill ? 9 : opts.haltSignal;
    const timeout = opts.kill ? 0 : (opts.timeout ?? 60);
    let lines: string[];
    try {
      lines = await controlRequest(
        join(paths.runtimeDir, "control.sock"),
        `stop ${signal} ${timeout}`,
      );
    } catch (err) {
      // The monitor went away between our look and our request: repair.
      const after = await repairStale(ctx, paths);
      if (after.state === "STOPPED") {
        await dropForwards(ctx, paths);
        await releaseMonitorLeaf(dirs.v2, fs);
        const scope = scopeOfCgroups(dirs);
        if (scope) await closeScope(ctx, scope.unit, scope.dir);
        return undefined;
      }
      throw new LxtError(
        "system",
        `stop ${paths.name}: control socket: ${(err as Error).message}`,
        err,
      );
    }
    const exit = parseExitLine(
      lines.find((l) => l.startsWith("exited") || l.startsWith("signaled")),
    );
    // The monitor closes the connection after its cleanup; make sure the files are gone.
    await waitFor(ctx.host.clock, () => observe(ctx, paths).state === "STOPPED", 5000);
    await repairStale(ctx, paths);
    await dropForwards(ctx, paths);
    await releaseMonitorLeaf(dirs.v2, fs);
    // The scope goes with the monitor; stop returns once systemd has removed it.
    const scope = scopeOfCgroups(dirs);
    if (scope) await closeScope(ctx, scope.unit, scope.dir);
    return exit;
  });
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
