import { mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  cgroupInUse,
  createContainerCgroups,
  planContainerCgroups,
  removeContainerCgroups,
} from "../cgroups/container.js";
import { delegateForContainer, undoV2Delegation } from "../cgroups/delegation.js";
import { applyDevicePlan, shimDeviceHelper } from "../cgroups/devices-apply.js";
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
import { phase } from "../core/phase.js";
import { Reverter } from "../core/reverter.js";
import { loadAppArmorProfile } from "../host/apparmor.js";
import { writeFileAtomic } from "../host/atomic.js";
import { type HelperFailure, type MonitorStarted, spawnMonitor } from "../host/monitor-client.js";
import { exitStatus, type ProcessRef } from "../host/proc.js";
import { shimPath } from "../host/shim.js";
import {
  netFailure,
  nicRecords,
  nicTools,
  type PreparedNics,
  prepareNics,
  registerNics,
  summarizeNics,
} from "../network/nic.js";
import type { NetworkDef } from "../network/render.js";
import { execRunner } from "../storage/runner.js";
import { type LaunchOptions, type PreparedLaunch, prepareLaunch } from "./launch-input.js";
import { type ContainerPaths, ephemeralMarker, requireExists } from "./paths.js";
import { type LaunchInput, renderPlan } from "./plan.js";
import { repairStale, withLock } from "./runtime.js";
import { requireState } from "./state.js";
import { delegateCgroups, prepareUserns, type UsernsSetup } from "./userns.js";

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
      phase("config read");
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
    let userns: UsernsSetup | undefined;
    try {
      userns = await prepareUserns(paths, cfg.security, prepared.storage, prepared.warnings);
    } catch (err) {
      throw err instanceof LxtError ? err.wrap(`start ${paths.name}`) : step("id map", err);
    }
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
      const netWarnings: string[] = [];
      let net: LaunchInput["net"];
      let host: PreparedNics | undefined;
      let ruleset: Promise<string> | undefined;
      let routed: NetworkDef[] = [];
      if (nics.length > 0) {
        try {
          host = await prepareNics(paths.lxcpath, nics, execRunner);
          // Another table's forward policy is read while the start goes on
          // (it only produces warnings, given once the container runs).
          if (host.managed.size > 0) {
            ruleset = import("../network/firewall.js").then((m) => m.listRuleset(execRunner));
          }
          const netnsPin = join(paths.runtimeDir, "netns");
          const records = nicRecords(nics, nicTools(), {
            container: paths.name,
            configFile: paths.config,
            rootfs: prepared.rootfs,
            netnsPin,
            autoGateways: host.autoGateways,
            physOriginal: host.physOriginal,
          });
          if (nics.some((n) => n.type === "phys")) writeFileSync(netnsPin, "", { mode: 0o600 });
          net = records;
        } catch (err) {
          throw err instanceof LxtError
            ? err.wrap(`start ${paths.name}: network`)
            : err instanceof Error && err.message.startsWith("lxc.net.")
              ? new LxtError("config", `start ${paths.name}: network: ${err.message}`)
              : step("network", err);
        }
      }
      const cgroups = planContainerCgroups(layout, paths.name, (p) => cgroupInUse(p, nodeCgroupFs));
      const input = prepared.build(cgroups, net);
      if (userns) input.userns = { idmap: userns.idmap, idmappedMounts: userns.idmappedMounts };
      const planFile = join(paths.runtimeDir, "plan");
      // The plan is on disk before the cgroups exist, so a crash between the
      // two leaves a record that repairStale can undo.
      writeFileAtomic(planFile, renderPlan(input), 0o600, false);
      phase("plan rendered");
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
      if (userns) {
        try {
          delegateCgroups(cgroups, userns.idmap);
        } catch (err) {
          throw step("cgroup ownership", err);
        }
      }
      // Limits are in place before the monitor clones the init into the cgroups.
      try {
        applyLimitWrites(targetWrites(limits, cgroups, layout), nodeCgroupFs);
      } catch (err) {
        throw err instanceof LxtError
          ? err.wrap(`start ${paths.name}: limits`)
          : step("limits", err);
      }
      // The device allowlist too: the init never runs without it.
      try {
        applyDevicePlan(
          prepared.devices,
          cgroups,
          layout,
          nodeCgroupFs,
          shimDeviceHelper(shimPath()),
        );
      } catch (err) {
        throw err instanceof LxtError ? err.wrap(`start ${paths.name}`) : step("devices", err);
      }

      phase("cgroups made");
      // The generated AppArmor profile, (re)loaded under its name before the init execs into it.
      const aa = prepared.apparmor;
      if (aa.mode === "generated") {
        try {
          await loadAppArmorProfile(paths.dir, aa.label, aa.text, execRunner);
        } catch (err) {
          throw err instanceof LxtError
            ? err.wrap(`start ${paths.name}: apparmor profile ${aa.label}`)
            : step("apparmor", err);
        }
      }

      // The monitor makes the devices (`net` records); dnsmasq learns their MACs first.
      try {
        const managed = host?.managed ?? new Map();
        registerNics(paths.lxcpath, paths.name, nics, managed);
        if (managed.size > 0) {
          const { syncForwards } = await import("../network/forward-apply.js");
          revert.add("port forwards", () =>
            syncForwards(paths.lxcpath, paths.name, managed, execRunner, false).then(() => {}),
          );
          const active = await syncForwards(paths.lxcpath, paths.name, managed, execRunner);
          // Routed traffic (NAT, port forwards) is what another table's forward drop would stop.
          routed = [...new Set(managed.values())].filter((d) => d.nat || active.length > 0);
        }
      } catch (err) {
        throw err instanceof LxtError
          ? err.wrap(`start ${paths.name}: network`)
          : step("network", err);
      }

      if (nics.length > 0) {
        // In the runtime dir (tmpfs), gone with the container: no fsync, as the plan.
        writeFileAtomic(
          join(paths.runtimeDir, "nics"),
          `${JSON.stringify(summarizeNics(nics))}\n`,
          0o644,
          false,
        );
      }
      let started: MonitorStarted;
      try {
        started = await spawnMonitor(planFile, opts.foreground ?? false);
      } catch (err) {
        const f = err instanceof LxtError ? (err.cause as HelperFailure | undefined) : undefined;
        const nicErr = f?.stage === "net" ? netFailure(f, nics) : undefined;
        if (nicErr) throw nicErr.wrap(`start ${paths.name}: network`);
        throw err instanceof LxtError ? err.wrap(`start ${paths.name}`) : step("monitor", err);
      }
      revert.success();
      if (ruleset && routed.length > 0) {
        const [{ policyWarnings }, json] = await Promise.all([
          import("../network/firewall.js"),
          ruleset,
        ]);
        for (const d of routed) netWarnings.push(...policyWarnings(d, json));
      }
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
        warnings: [...prepared.warnings, ...netWarnings],
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
