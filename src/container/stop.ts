import { existsSync } from "node:fs";
import { join } from "node:path";
import { releaseMonitorLeaf } from "../cgroups/delegation.js";
import { setFrozen } from "../cgroups/freezer.js";
import { nodeCgroupFs } from "../cgroups/fs.js";
import { LxtError } from "../core/errors.js";
import { phase } from "../core/phase.js";
import { controlRequest } from "../host/monitor-client.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { repairStale, runtimeCgroups, withLock } from "./runtime.js";
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
  paths: ContainerPaths,
  opts: StopOptions,
): Promise<ExitRecord | undefined> {
  requireExists(paths, "stop");
  return withLock(paths, async () => {
    const seen = await repairStale(paths);
    requireState("stop", paths.name, seen.state);
    // A frozen init cannot act on the halt signal, and frozen v1 tasks ignore
    // even SIGKILL until thawed: thaw first.
    if (seen.state === "FROZEN") await setFrozen(runtimeCgroups(paths), nodeCgroupFs, false);
    // The monitor removes its plan as it exits; its cgroup v2 leaf is ours to remove.
    const dirs = runtimeCgroups(paths);
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
      const after = await repairStale(paths);
      if (after.state === "STOPPED") {
        await dropForwards(paths);
        await releaseMonitorLeaf(dirs.v2, nodeCgroupFs);
        return undefined;
      }
      throw new LxtError(
        "system",
        `stop ${paths.name}: control socket: ${(err as Error).message}`,
        err,
      );
    }
    phase("monitor answered");
    const exit = parseExitLine(
      lines.find((l) => l.startsWith("exited") || l.startsWith("signaled")),
    );
    // The monitor closes the connection after its cleanup; make sure the files are gone.
    await waitFor(() => observe(paths).state === "STOPPED", 5000);
    phase("stopped seen");
    await repairStale(paths);
    await dropForwards(paths);
    await releaseMonitorLeaf(dirs.v2, nodeCgroupFs);
    return exit;
  });
}

/** Removes a stopped container's port forwards from its network's nft table (when it had any). */
async function dropForwards(paths: ContainerPaths): Promise<void> {
  if (!existsSync(join(paths.dir, "forwards"))) return;
  const { syncForwards } = await import("../network/forward-apply.js");
  await syncForwards(paths.lxcpath, paths.name, undefined, undefined, false);
}

/** Polls `cond` every 10 ms until it holds or `ms` pass; returns whether it held. */
export async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (ms >= 0 && Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}
