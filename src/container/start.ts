import { mkdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  cgroupInUse,
  createContainerCgroups,
  planContainerCgroups,
  removeContainerCgroups,
} from "../cgroups/container.js";
import { delegateForContainer, undoV2Delegation } from "../cgroups/delegation.js";
import { nodeCgroupFs, nodeKill } from "../cgroups/fs.js";
import { readCgroupLayout } from "../cgroups/layout.js";
import {
  applyLimitWrites,
  type LimitWrite,
  nodeLimitHost,
  planLimitWrites,
  targetWrites,
} from "../cgroups/limits.js";
import { LxtError, wrapError } from "../core/errors.js";
import { fileLog } from "../core/log.js";
import { Reverter } from "../core/reverter.js";
import { writeFileAtomic } from "../host/atomic.js";
import { type MonitorStarted, spawnMonitor } from "../host/monitor-client.js";
import { exitStatus, type ProcessRef } from "../host/proc.js";
import {
  createVeths,
  hostTool,
  managedGateways,
  nicHooks,
  prepareNetworks,
} from "../network/nic.js";
import type { NetworkDef } from "../network/render.js";
import { execRunner } from "../storage/runner.js";
import { type LaunchOptions, type PreparedLaunch, prepareLaunch } from "./launch-input.js";
import { type ContainerPaths, ephemeralMarker, requireExists } from "./paths.js";
import { type LaunchInput, renderPlan } from "./plan.js";
import { repairStale, withLock } from "./runtime.js";
import { requireState } from "./state.js";

/** What a successful start returns. */
export interface Started {
  init: ProcessRef;
  monitorPid: number;
  warnings: string[];
  /** Foreground only: resolves with the init's exit status once the container ends. */
  exited?: Promise<number>;
}

/**
 * Starts a container: a transaction of small steps, each registering its
 * undo, so that any failure leaves nothing behind and names the step.
 * Steps: lock, repair stale state, load + validate config, plan, runtime
 * directory, cgroups and their limits, monitor (which does the namespaces,
 * mounts and exec).
 */
export async function startContainer(paths: ContainerPaths, opts: LaunchOptions): Promise<Started> {
  const step = (what: string, err: unknown) => wrapError(`start ${paths.name}: ${what}`, err);
  requireExists(paths, "start");
  return withLock(paths, async () => {
    const observed = await repairStale(paths);
    requireState("start", paths.name, observed.state);

    const layout = readCgroupLayout(nodeCgroupFs);
    let prepared: PreparedLaunch;
    try {
      prepared = await prepareLaunch(paths, layout, opts);
    } catch (err) {
      throw err instanceof LxtError ? err.wrap(`start ${paths.name}`) : step("config", err);
    }
    try {
      if (!statSync(prepared.rootfs).isDirectory()) throw new Error("not a directory");
    } catch (err) {
      throw new LxtError(
        "start",
        `start ${paths.name}: rootfs ${prepared.rootfs}: ${(err as Error).message}`,
      );
    }

    const cfg = prepared.config;
    let limits: LimitWrite[];
    try {
      limits = planLimitWrites(cfg, layout, nodeLimitHost);
    } catch (err) {
      throw err instanceof LxtError ? err.wrap(`start ${paths.name}`) : step("limits", err);
    }
    const log = fileLog(cfg.log.file, cfg.log.level, paths.name);
    log.log(2, `start - rootfs ${prepared.rootfs}`);
    const revert = new Reverter();
    try {
      mkdirSync(join(paths.runtimeDir, ".."), { recursive: true, mode: 0o755 });
      try {
        mkdirSync(paths.runtimeDir, { mode: 0o700 });
      } catch (err) {
        throw step("runtime directory", err);
      }
      revert.add("runtime directory", () =>
        rmSync(paths.runtimeDir, { recursive: true, force: true }),
      );
      rmSync(paths.exitFile, { force: true });

      const nics = prepared.nics;
      let net: LaunchInput["net"];
      let managed = new Map<number, NetworkDef>();
      if (nics.length > 0) {
        try {
          managed = await prepareNetworks(paths.lxcpath, nics, execRunner);
          net = nicHooks(
            nics,
            { ip: hostTool("ip"), nsenter: hostTool("nsenter") },
            managedGateways(managed),
          );
        } catch (err) {
          throw err instanceof LxtError
            ? err.wrap(`start ${paths.name}: network`)
            : step("network", err);
        }
      }
      const cgroups = planContainerCgroups(layout, paths.name, (p) => cgroupInUse(p, nodeCgroupFs));
      const input = prepared.build(cgroups, net);
      const planFile = join(paths.runtimeDir, "plan");
      // The plan is on disk before the cgroups exist, so a crash between the
      // two leaves a record that repairStale can undo.
      writeFileAtomic(planFile, renderPlan(input), 0o600, false);
      // cgroup v2: controllers on in the caller's cgroup before the
      // container's is made; lxt may move itself into a monitor leaf first.
      let delegation: ReturnType<typeof delegateForContainer>;
      try {
        delegation = delegateForContainer(cgroups.v2, limits, nodeCgroupFs);
      } catch (err) {
        throw err instanceof LxtError
          ? err.wrap(`start ${paths.name}: cgroup`)
          : step("cgroup", err);
      }
      revert.add("cgroup delegation", () => undoV2Delegation(delegation.done, nodeCgroupFs));
      if (delegation.done) {
        const d = delegation.done;
        log.log(
          3,
          `start - cgroup v2: ${d.leaf ? `moved lxt into ${d.leaf}, ` : ""}enabled ${d.enabled.join(" ") || "nothing"} in ${d.parent}/cgroup.subtree_control`,
        );
      }
      if (delegation.warning) prepared.warnings.push(delegation.warning);
      try {
        createContainerCgroups(cgroups, nodeCgroupFs);
      } catch (err) {
        throw step("cgroup", err);
      }
      revert.add("cgroups", () => removeContainerCgroups(cgroups, nodeCgroupFs, nodeKill));
      // Limits are in place before the monitor clones the init into the cgroups.
      try {
        applyLimitWrites(targetWrites(limits, cgroups, layout), nodeCgroupFs);
      } catch (err) {
        throw err instanceof LxtError
          ? err.wrap(`start ${paths.name}: limits`)
          : step("limits", err);
      }

      // After the plan: its netdev records let repairStale remove these.
      try {
        await createVeths(paths.lxcpath, paths.name, nics, managed, execRunner, revert);
      } catch (err) {
        throw err instanceof LxtError
          ? err.wrap(`start ${paths.name}: network`)
          : step("network", err);
      }

      let started: MonitorStarted;
      try {
        started = await spawnMonitor(planFile, opts.foreground ?? false);
      } catch (err) {
        throw err instanceof LxtError ? err.wrap(`start ${paths.name}`) : step("monitor", err);
      }
      revert.success();
      if (cfg.ephemeral) writeFileAtomic(ephemeralMarker(paths), "1\n");
      log.log(
        3,
        `start - running, init pid ${started.init.pid}, monitor pid ${started.monitor.pid}`,
      );
      const { monitor } = started;
      const exited = opts.foreground
        ? new Promise<number>((resolve) =>
            monitor.on("exit", (code, sig) => resolve(exitStatus(code, sig))),
          )
        : undefined;
      if (!opts.foreground) {
        (monitor.stdio[3] as NodeJS.ReadableStream & { destroy?: () => void })?.destroy?.();
        monitor.unref();
      }
      return {
        init: started.init,
        monitorPid: monitor.pid ?? 0,
        warnings: prepared.warnings,
        exited,
      };
    } catch (err) {
      await revert.revert();
      log.log(5, `start - failed: ${(err as Error).message}`);
      for (const f of revert.failures) log.log(5, `start - ${f}`);
      throw err;
    }
  });
}
