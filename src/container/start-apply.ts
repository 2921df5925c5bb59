/**
 * The second half of a start: a `StartPlan` carried out by a table of named
 * steps, in order. Each step registers the undo of what it made with the
 * start's Reverter before the next one runs, so a failure at any step undoes
 * every earlier one, and the error (and the container's log) says which
 * step it was. The last step spawns the monitor, which owns the container
 * from then on.
 */

import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  cgroupInUse,
  createContainerCgroups,
  ensureCgroupDirs,
  planContainerCgroups,
  removeContainerCgroups,
  removeEmptyDirs,
} from "../cgroups/container.js";
import {
  type ContainerDelegation,
  delegateForContainer,
  monitorLeafOf,
  undoV2Delegation,
} from "../cgroups/delegation.js";
import { applyDevicePlan, shimDeviceHelper } from "../cgroups/devices-apply.js";
import { hierarchyOfDir } from "../cgroups/layout.js";
import { applyLimitWrites, targetWrites } from "../cgroups/limits.js";
import type { Context } from "../core/context.js";
import { LxtError, wrapError } from "../core/errors.js";
import { type ContainerLog, fileLog } from "../core/log.js";
import { phase } from "../core/phase.js";
import { Reverter } from "../core/reverter.js";
import { loadAppArmorProfile } from "../host/apparmor.js";
import { writeFileAtomic } from "../host/atomic.js";
import type { HelperFailure } from "../host/helper-protocol.js";
import { type MonitorStarted, spawnMonitor } from "../host/monitor-client.js";
import { exitStatus, type ProcessRef } from "../host/proc.js";
import {
  netFailure,
  nicRecords,
  nicTools,
  type PreparedNics,
  prepareNics,
  summarizeNics,
  withAssigned,
} from "../network/nic.js";
import type { NetworkDef } from "../network/render.js";
import { cgroupRoots, withCgroupRoots } from "./checkpoint-cgroups.js";
import { markEphemeral } from "./ephemeral.js";
import { type LaunchInput, renderPlan } from "./plan.js";
import { processFailure } from "./process-opts.js";
import { writeResolvConf } from "./resolv-conf.js";
import {
  attachBlock,
  type BlockMount,
  blockFailure,
  ensureMountPoint,
  nodeBlockHost,
  noShiftReason,
} from "./rootfs-block.js";
import { repairStale } from "./runtime.js";
import {
  closeScope,
  monitorCgroups,
  type OpenScope,
  openScope,
  registerContainer,
  scopeDir,
} from "./scope.js";
import type { StartPlan } from "./start-plan.js";
import { delegateCgroups, prepareUserns, type UsernsSetup } from "./userns.js";

/**
 * The monitor's verdict comes once the child has set up its rootfs and the
 * NICs and `script.up` hooks have run: generous, for slow hooks and
 * filesystems, but finite, so that a hung helper never keeps the lock
 * (`settings.startTimeoutMs` overrides it).
 */
export const DEFAULT_START_TIMEOUT_MS = 120_000;

/** One start's call: who may cancel its waits. */
export interface ApplyOptions {
  /** Cancels the wait for the monitor's verdict; the monitor is killed and the start undone. */
  signal?: AbortSignal;
}

/** What a successful start returns. */
export interface Started {
  init: ProcessRef;
  monitorPid: number;
  warnings: string[];
  /** Foreground only: resolves with the init's exit status once the container ends. */
  exited?: Promise<number>;
}

/** A start in progress: the plan and what its steps have learned and made so far. */
interface StartRun {
  ctx: Context;
  plan: StartPlan;
  call: ApplyOptions;
  log: ContainerLog;
  revert: Reverter;
  planFile: string;
  userns?: UsernsSetup;
  /** The NICs' host side, once the network step has brought their managed networks up. */
  host?: PreparedNics;
  net?: LaunchInput["net"];
  /** Other tables' forward policy, read while the start goes on (for warnings only). */
  ruleset?: Promise<string>;
  /** Networks whose routed traffic (NAT, port forwards) another table could drop. */
  routed: NetworkDef[];
  delegation?: ContainerDelegation;
  /** The container's systemd scope, once made. */
  scope?: OpenScope;
  started?: MonitorStarted;
  /** The block-device rootfs once its device is attached (nbd, rbd: by the `rootfs device` step). */
  block?: BlockMount;
}

/** One step of a start. */
interface StartStep {
  /** Named in the log and on the error (`LxtError.step`), and in the message of an unexpected error. */
  name: string;
  /**
   * What the message of an LxtError of this step gets after `start NAME: `;
   * none when the step's own messages already say it.
   */
  context?: (run: StartRun) => string;
  /** Does the step; registers the undo of anything it makes on `run.revert` before returning. */
  run(run: StartRun): void | Promise<void>;
}

const STEPS: readonly StartStep[] = [
  {
    name: "rootfs device",
    async run(r) {
      const { paths, block } = r.plan;
      if (!block) return;
      const host = { ...nodeBlockHost, run: r.ctx.host.run, delay: (ms: number) => sleep(ms) };
      r.block = await attachBlock(paths, block, r.revert, host);
    },
  },
  {
    name: "id map",
    async run(r) {
      const { paths, config, storage, block } = r.plan;
      if (block) ensureMountPoint(block, r.revert);
      r.userns = await prepareUserns(r.ctx, paths, config.security, storage, r.plan.warnings, {
        mounted: !!block,
        noShift: noShiftReason(config),
      });
    },
  },
  {
    name: "runtime directory",
    context: () => "runtime directory",
    run(r) {
      const { paths } = r.plan;
      mkdirSync(join(paths.runtimeDir, ".."), { recursive: true, mode: 0o755 });
      mkdirSync(paths.runtimeDir, { mode: 0o700 });
      r.revert.add("runtime directory", () =>
        rmSync(paths.runtimeDir, { recursive: true, force: true }),
      );
      rmSync(paths.exitFile, { force: true });
    },
  },
  {
    name: "network",
    context: () => "network",
    async run(r) {
      const { paths, nics } = r.plan;
      if (nics.length === 0) return;
      const run = r.ctx.host.run;
      try {
        r.host = await prepareNics(r.ctx, paths.name, nics, run);
      } catch (err) {
        throw configErrorOf(err);
      }
      if (r.host.managed.size > 0) {
        r.ruleset = import("../network/firewall.js").then((m) => m.listRuleset(run));
      }
      pointResolver(r);
      const netnsPin = join(paths.runtimeDir, "netns");
      try {
        // Managed networks' addresses are set with the static ones, before the init runs.
        r.net = nicRecords(withAssigned(nics, r.host.assigned), nicTools(), {
          container: paths.name,
          configFile: paths.config,
          rootfs: r.plan.launch.rootfs,
          netnsPin,
          autoGateways: r.host.autoGateways,
          physOriginal: r.host.physOriginal,
          hookVersion: r.plan.config.hooks.version,
        });
      } catch (err) {
        throw configErrorOf(err);
      }
      if (nics.some((n) => n.type === "phys")) writeFileSync(netnsPin, "", { mode: 0o600 });
    },
  },
  {
    // systemd hosts: the container's own scope, and its cgroups beneath it.
    name: "systemd scope",
    context: () => "systemd scope",
    async run(r) {
      if (!r.plan.scope) return;
      const { cgroupFs: fs } = r.ctx.host;
      const scope = await openScope(r.ctx, r.plan.paths.name);
      phase("scope opened");
      r.scope = scope;
      r.revert.add("systemd scope", async () => {
        await closeScope(r.ctx, scope.unit, scopeDir(scope.layout));
        await scope.hold.release();
      });
      // The scope's layout replaces the caller's for the rest of the start.
      const cgroups = planContainerCgroups(scope.layout, r.plan.paths.name, (d) =>
        cgroupInUse(d, fs),
      );
      r.plan.layout = scope.layout;
      r.plan.cgroups = cgroups;
      r.plan.launch = { ...r.plan.launch, cgroups, monitorCgroups: monitorCgroups(scope, cgroups) };
      if (r.plan.launch.restore && r.plan.criuCgroupRoots) {
        const moved = withCgroupRoots(
          r.plan.launch.restore,
          r.plan.criuCgroupRoots,
          cgroupRoots(scope.layout, cgroups),
        );
        if ("refusal" in moved)
          throw new LxtError("unsupported", `restore ${r.plan.paths.name}: ${moved.refusal}`);
        r.plan.launch = { ...r.plan.launch, restore: moved.args };
      }
      // The hold goes into the monitor's leaf, so the scope itself holds no
      // process and may enable controllers for the payload (cgroups(7)).
      if (cgroups.v2) {
        const leaf = monitorLeafOf(cgroups.v2);
        fs.mkdir(leaf);
        fs.writeFile(`${leaf}/cgroup.procs`, String(scope.hold.pid));
      }
    },
  },
  {
    name: "plan",
    run(r) {
      // On disk before the cgroups exist, so a crash between the two leaves
      // a record that repairStale can undo.
      writeFileAtomic(r.planFile, renderPlan(launchInput(r)), 0o600, false);
      phase("plan rendered");
      // Marked (or a mark of an earlier run cleared) before the monitor
      // runs: the init may end at once, and the exit hook destroys only a
      // marked container.
      const { paths, config } = r.plan;
      markEphemeral(paths, config.ephemeral);
      r.revert.add("ephemeral mark", () => markEphemeral(paths, false));
    },
  },
  {
    // cgroup v2: controllers on in the caller's cgroup before the
    // container's is made; lxt may move itself into a monitor leaf first.
    name: "cgroup delegation",
    context: () => "cgroup",
    run(r) {
      const fs = r.ctx.host.cgroupFs;
      // lxc.cgroup.dir*: controllers enabled from the caller's cgroup down
      // to the init's (the container's own passes them to an inner one);
      // lxt leaves C for the monitor's named cgroup when there is one.
      const { extras, cgroups, layout } = r.plan;
      const v2 = (dirs: string[] | undefined) =>
        dirs?.find((d) => hierarchyOfDir(layout, d)?.version === 2);
      const d = delegateForContainer(
        extras.init?.v2 ?? cgroups.v2,
        r.plan.limits,
        fs,
        r.ctx.pid,
        extras.base,
        v2(extras.monitor),
      );
      r.delegation = d;
      r.revert.add("cgroup delegation", () => undoV2Delegation(d.done, fs, r.ctx.pid));
      if (d.done) {
        const { leaf, enabled, parent } = d.done;
        r.log.log(
          3,
          `start - cgroup v2: ${leaf ? `moved lxt into ${leaf}, ` : ""}enabled ${enabled.join(" ") || "nothing"} in ${parent}/cgroup.subtree_control`,
        );
      }
      if (d.warning) r.plan.warnings.push(d.warning);
      phase("cgroup delegation");
    },
  },
  {
    name: "cgroups",
    context: () => "cgroup",
    run(r) {
      const { cgroupFs, kill } = r.ctx.host;
      const { cgroups, extras, layout } = r.plan;
      const bases = layout.hierarchies.map((h) => h.ownDir);
      // The init's cgroups, and the container's above them when an inner one is asked for.
      createContainerCgroups(extras.init ?? cgroups, cgroupFs, bases);
      r.revert.add("cgroups", () =>
        removeContainerCgroups(cgroups, cgroupFs, kill, { selfPid: r.ctx.pid }),
      );
      // The monitor's named cgroups and its pivot, made when missing (and
      // the monitor's removed again if this start fails).
      const made = ensureCgroupDirs([...(extras.monitor ?? []), ...(extras.pivot ?? [])], {
        fs: cgroupFs,
        bases,
        layout,
      });
      const monitorMade = made.filter((d) =>
        extras.monitor?.some((m) => d === m || m.startsWith(`${d}/`)),
      );
      r.revert.add("monitor cgroups", () => removeEmptyDirs(monitorMade, cgroupFs));
      phase("cgroup dirs made");
    },
  },
  {
    name: "cgroup ownership",
    context: () => "cgroup ownership",
    run(r) {
      // The init's cgroups: with an inner one, the container's stays root's.
      if (r.userns) delegateCgroups(r.plan.extras.init ?? r.plan.cgroups, r.userns.idmap);
      phase("cgroups owned");
    },
  },
  {
    // Limits are in place before the monitor clones the init into the cgroups.
    name: "limits",
    context: () => "limits",
    run(r) {
      const { limits, cgroups, layout } = r.plan;
      applyLimitWrites(targetWrites(limits, cgroups, layout), r.ctx.host.cgroupFs);
      phase("limits written");
    },
  },
  {
    // The device allowlist too: the init never runs without it.
    name: "devices",
    async run(r) {
      const { devices, cgroups, extras, layout } = r.plan;
      const helper = shimDeviceHelper(r.ctx.host.helper);
      // On the init's cgroups: v1 takes `deny a` only from a cgroup without
      // children, and only CAP_SYS_ADMIN on the host may widen it again.
      const dirs = extras.init ?? cgroups;
      await applyDevicePlan(devices, dirs, layout, r.ctx.host.cgroupFs, helper);
      phase("cgroups made");
    },
  },
  {
    // The generated profile, (re)loaded under its name before the init execs into it.
    name: "apparmor",
    context: (r) => {
      const aa = r.plan.apparmor;
      return aa.mode === "none" ? "apparmor" : `apparmor profile ${aa.label}`;
    },
    async run(r) {
      const aa = r.plan.apparmor;
      if (aa.mode !== "generated") return;
      await loadAppArmorProfile(r.plan.paths.dir, aa.label, aa.text, r.ctx.host.run);
    },
  },
  {
    // The NICs were registered with dnsmasq by the network step, under each
    // network's lock; the forwards take those locks again.
    name: "forwards",
    context: () => "network",
    async run(r) {
      const { paths, nics } = r.plan;
      const managed = r.host?.managed ?? new Map<number, NetworkDef>();
      if (managed.size > 0) {
        const { syncForwards } = await import("./forward.js");
        r.revert.add("port forwards", () =>
          syncForwards(r.ctx, paths, managed, false).then(() => {}),
        );
        const active = await syncForwards(r.ctx, paths, managed);
        r.routed = [...new Set(managed.values())].filter((d) => d.nat || active.length > 0);
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
    },
  },
  {
    name: "monitor",
    async run(r) {
      const { ctx, plan } = r;
      const wait = {
        timeoutMs: ctx.settings.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
        signal: r.call.signal,
      };
      try {
        r.started = await spawnMonitor(
          ctx.host.helper,
          r.planFile,
          plan.foreground,
          wait,
          ctx.host.monitors,
        );
      } catch (err) {
        // A monitor killed for giving no verdict cleaned nothing up: what it
        // left (its runtime files, host ends of veths, stop-hooks) is
        // repaired as after any killed monitor, first. One that failed by
        // itself removed what it made.
        if (err instanceof LxtError && (err.code === "timeout" || err.code === "cancelled")) {
          r.revert.add("monitor's leftovers", () => repairStale(ctx, plan.paths).then(() => {}));
        }
        const f = err instanceof LxtError ? (err.cause as HelperFailure | undefined) : undefined;
        const nicErr = f?.stage === "net" ? netFailure(f, r.plan.nics) : undefined;
        if (nicErr) throw nicErr.wrap("network");
        const { config } = r.plan;
        throw (f && (processFailure(f, config) ?? blockFailure(f, config, r.block))) ?? err;
      }
    },
  },
];

/**
 * The resolv.conf of a container whose first NIC with an assigned address
 * is on a managed network, where the image leaves the file to the network
 * (container/resolv-conf.ts); a failure is a warning, not a failed start.
 */
function pointResolver(r: StartRun): void {
  // Not into storage lxt does not own, nor beneath a block device's mount point.
  if (r.plan.block || !r.plan.config.rootfs.managed) return;
  const first = [...(r.host?.assigned ?? [])].sort(([a], [b]) => a - b)[0];
  if (!first) return;
  try {
    writeResolvConf(r.plan.storage, first[1]);
  } catch (err) {
    r.plan.warnings.push(`/etc/resolv.conf not written: ${(err as Error).message}`);
  }
}

/** The names of the steps of a start, in order. */
export const START_STEPS: readonly string[] = STEPS.map((s) => s.name);

/** A NIC error that names a `lxc.net.N.*` key is the config's. */
function configErrorOf(err: unknown): unknown {
  if (!(err instanceof LxtError) && err instanceof Error && err.message.startsWith("lxc.net.")) {
    return new LxtError("config", err.message, err);
  }
  return err;
}

/** The launch input with what the steps learned: the NICs' records and the user namespace. */
function launchInput(r: StartRun): LaunchInput {
  const input: LaunchInput = { ...r.plan.launch, ...(r.block ? { blockMount: r.block } : {}) };
  if (r.userns) input.userns = { idmap: r.userns.idmap, idmappedMounts: r.userns.idmappedMounts };
  const net = r.net;
  if (net && (net.netdevs.length > 0 || (net.nets?.length ?? 0) > 0 || net.hooks.length > 0)) {
    input.net = net;
  }
  return input;
}

/** The error of a failed step: it names the start and the step. */
function stepError(step: StartStep, r: StartRun, err: unknown): LxtError {
  const start = `start ${r.plan.paths.name}`;
  const e =
    err instanceof LxtError
      ? err.wrap(step.context ? `${start}: ${step.context(r)}` : start)
      : wrapError(`${start}: ${step.name}`, err);
  return e.atStep(step.name);
}

/**
 * Carries out a start plan: every step in order, each undoing on failure
 * with all the earlier ones. Call with the container's lock held.
 */
export async function applyStart(
  ctx: Context,
  plan: StartPlan,
  call: ApplyOptions = {},
): Promise<Started> {
  const { paths, config } = plan;
  const log = fileLog(config.log.file, config.log.level, paths.name);
  log.log(2, `start - rootfs ${plan.launch.rootfs}`);
  const r: StartRun = {
    ctx,
    plan,
    call,
    log,
    revert: new Reverter(),
    planFile: join(paths.runtimeDir, "plan"),
    routed: [],
  };
  for (const step of STEPS) {
    try {
      await step.run(r);
    } catch (err) {
      const e = stepError(step, r, err);
      await r.revert.revert();
      log.log(5, `start - failed at step ${step.name}: ${e.message}`);
      for (const f of r.revert.failures) log.log(5, `start - ${f}`);
      throw e;
    }
  }
  r.revert.success();
  return running(r);
}

/** What the caller learns once the monitor reports the container running. */
async function running(r: StartRun): Promise<Started> {
  const { plan, log } = r;
  const started = r.started as MonitorStarted;
  const warnings = [...plan.warnings];
  if (r.ruleset && r.routed.length > 0) {
    const [{ policyWarnings }, json] = await Promise.all([
      import("../network/firewall.js"),
      r.ruleset,
    ]);
    for (const d of r.routed) warnings.push(...policyWarnings(d, json));
  }
  if (r.scope) {
    // The monitor moved itself into the scope before it cloned the init.
    await r.scope.hold.release();
    const w = await registerContainer(r.ctx, r.scope.unit, started.init.pid, plan.launch.rootfs);
    if (w) warnings.push(w);
  }
  log.log(3, `start - running, init pid ${started.init.pid}, monitor pid ${started.monitor.pid}`);
  const { monitor } = started;
  const scope = r.scope;
  const exited = plan.foreground
    ? new Promise<number>((resolve) =>
        monitor.on("exit", (code, sig) => resolve(exitStatus(code, sig))),
      ).then(async (status) => {
        // The scope goes with its last process; returned once it has.
        if (scope) await closeScope(r.ctx, scope.unit, scopeDir(scope.layout));
        return status;
      })
    : undefined;
  if (!plan.foreground) {
    (monitor.stdio[3] as NodeJS.ReadableStream & { destroy?: () => void })?.destroy?.();
    monitor.unref();
  }
  return { init: started.init, monitorPid: monitor.pid ?? 0, warnings, exited };
}
