/**
 * The first half of a start: everything decided, nothing changed. `planStart`
 * reads the container's config and what the host offers (through the
 * context's doors) and returns a `StartPlan`: the launch plan for the helper,
 * the cgroups, limits, device allowlist, AppArmor profile and NICs. It makes
 * nothing, spawns nothing and needs no privilege, so it is unit-tested
 * against a fake context; `applyStart` (start-apply.ts) carries it out.
 */

import { statSync } from "node:fs";
import { allDirs, type ContainerCgroupDirs, cgroupInUse } from "../cgroups/container.js";
import { type DevicePlan, planDevices } from "../cgroups/devices.js";
import type { CgroupLayout } from "../cgroups/layout.js";
import { type LimitWrite, planLimitWrites } from "../cgroups/limits.js";
import type { ContainerConfig } from "../config/model.js";
import { hostArch } from "../config/model.js";
import { type Context, rootId, type Stdio } from "../core/context.js";
import { LxtError, wrapError } from "../core/errors.js";
import { phase } from "../core/phase.js";
import { type NicPlan, resolveNics, sharesHostNet } from "../network/nic-resolve.js";
import { type AppArmorPlan, appArmorConfig, planAppArmor } from "../security/apparmor.js";
import { type RootfsRef, rootDir, startMounts } from "../storage/driver.js";
import type { RootfsSpec } from "../storage/rootfs-spec.js";
import { type CgroupExtras, placeCgroups } from "./cgroup-paths.js";
import { resolveConfinement } from "./confinement.js";
import { reapCommand } from "./ephemeral.js";
import { launchHooks } from "./hooks.js";
import { callerLayout, placementLayout } from "./host-layout.js";
import {
  checkIdmappedEntries,
  defineEntries,
  type LaunchOptions,
  loadConfigFile,
  lxcfsMounts,
  planMount,
  shmountsMount,
  visibleHierarchies,
} from "./launch-input.js";
import type { ContainerPaths } from "./paths.js";
import type { LaunchInput } from "./plan.js";
import { planProcess, seccompProxyRecords } from "./process-opts.js";
import { type BlockMount, checkRootfsOptions, planBlockMount } from "./rootfs-block.js";
import { wantsScope } from "./scope.js";
import { type IdmapSource, idmapSource } from "./userns.js";

/** capabilities(7) CAP_MKNOD. */
const CAP_MKNOD = 27;
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** A start, decided. */
export interface StartPlan {
  paths: ContainerPaths;
  config: ContainerConfig;
  /**
   * The caller's cgroup layout: the container's cgroups go beneath its
   * cgroups; with `scope`, the scope's layout replaces it once the scope
   * exists (start-apply.ts, step `systemd scope`).
   */
  layout: CgroupLayout;
  /** A systemd scope of its own (scope.ts): systemd runs the host and the config places no cgroups. */
  scope: boolean;
  /** The rootfs as its storage backend sees it (a block device's: its mount point, as a directory). */
  storage: RootfsRef;
  /** A rootfs on a block device: the helper mounts it on the mount point (made by the `id map` step). */
  block?: BlockMount;
  /** Where the user namespace's id map comes from (made by the `id map` step). */
  idmap: IdmapSource;
  /** The cgroup directories the container gets, one per hierarchy: its limits, stats and freezer. */
  cgroups: ContainerCgroupDirs;
  /** What `lxc.cgroup.dir*` adds: the init's own cgroups, the monitor's, its pivot (cgroup-paths.ts). */
  extras: CgroupExtras;
  /** Written to the cgroups before the monitor spawns. */
  limits: LimitWrite[];
  /** The device allowlist, put on the cgroups before the monitor spawns. */
  devices: DevicePlan;
  /** The AppArmor profile; a generated one is loaded before the monitor spawns. */
  apparmor: AppArmorPlan;
  /** The NICs (veth, macvlan, phys) the monitor makes. */
  nics: NicPlan[];
  /**
   * The helper's launch input but for what the steps learn from the host as
   * they go: the NICs' records (once their managed networks are up) and the
   * user namespace (once the id map is allocated and the rootfs fits it).
   */
  launch: LaunchInput;
  /** A restore's dumped cgroup roots (checkpoint-cgroups.ts): moved to the container's once it has a scope. */
  criuCgroupRoots?: readonly string[];
  /** Foreground: the console on these. */
  foreground?: Stdio;
  warnings: string[];
}

/** Runs one decision; an error names the start and (when it is not an LxtError) what was decided. */
function decide<T>(paths: ContainerPaths, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw err instanceof LxtError
      ? err.wrap(`start ${paths.name}`)
      : wrapError(`start ${paths.name}: ${what}`, err);
  }
}

/**
 * Decides a start of container `paths` as `opts` asks, refusing what lxt
 * cannot do yet. Reads the config files, the caller's cgroups and what the
 * host offers; changes nothing.
 */
export function planStart(ctx: Context, paths: ContainerPaths, opts: LaunchOptions): StartPlan {
  const layout = decide(paths, "cgroup layout", () => callerLayout(ctx, opts.caller));
  if (layout.kind === "none") {
    // Never a container without a cgroup: nothing could limit, count or kill it.
    throw new LxtError(
      "host",
      `start ${paths.name}: no cgroup hierarchy is mounted in lxt's mount namespace (a private /sys, as \`ip netns exec\` mounts, hides /sys/fs/cgroup), and none could be reached through PID 1's (/proc/1/root): a container needs a cgroup; mount the hierarchies on /sys/fs/cgroup, or enter the network namespace with nsenter --net`,
    );
  }
  const decided = decide(paths, "config", () => configure(ctx, paths, layout, opts));
  phase("config read");
  const { config: cfg, storage } = decided;
  try {
    if (!decided.block && !statSync(rootDir(storage)).isDirectory())
      throw new Error("not a directory");
  } catch (err) {
    throw new LxtError(
      "start",
      `start ${paths.name}: rootfs ${rootDir(storage)}: ${(err as Error).message}`,
    );
  }
  const idmap = decide(paths, "id map", () => idmapSource(cfg.security));
  const scope = wantsScope(ctx, cfg.cgroupPlacement);
  const limitLayout = placementLayout(ctx, layout, cfg.cgroupPlacement);
  const limits = decide(paths, "limits", () => planLimitWrites(cfg, limitLayout, ctx.host.limits));
  const fs = ctx.host.cgroupFs;
  const { cgroups, extras } = decide(paths, "cgroup", () =>
    placeCgroups(layout, paths.name, cfg.cgroupPlacement, (d) => cgroupInUse(d, fs)),
  );
  return {
    ...decided,
    paths,
    layout,
    scope,
    idmap,
    cgroups,
    extras,
    limits,
    launch: {
      ...decided.launch,
      cgroups: extras.init ?? cgroups,
      ...(extras.init ? { killCgroups: allDirs(cgroups) } : {}),
      ...(extras.monitor ? { monitorCgroups: extras.monitor } : {}),
      ...(extras.pivot ? { monitorPivot: extras.pivot } : {}),
      ...exitHooks(ctx, paths, cfg),
    },
    ...(opts.foreground ? { foreground: opts.foreground } : {}),
  };
}

/**
 * An ephemeral container's destroy, run by its monitor once it has ended
 * (an `exit-hook` record), when the front-end says how to run lxt again.
 */
function exitHooks(
  ctx: Context,
  paths: ContainerPaths,
  cfg: ContainerConfig,
): Pick<LaunchInput, "exitHooks"> {
  const lxt = ctx.settings.lxtCommand;
  return cfg.ephemeral && lxt ? { exitHooks: [reapCommand(paths, lxt)] } : {};
}

/** The config's part of a start: everything but the cgroups, limits and id map. */
function configure(
  ctx: Context,
  paths: ContainerPaths,
  layout: CgroupLayout,
  opts: LaunchOptions,
): Pick<
  StartPlan,
  "config" | "storage" | "block" | "devices" | "apparmor" | "nics" | "launch" | "warnings"
> {
  const cfg = loadConfigFile(
    paths.config,
    opts.caller.env,
    layout,
    defineEntries(opts.defines ?? []),
  );
  // A block-device rootfs is mounted on <dir>/rootfs, then bound as a directory there.
  const block = cfg.rootfs.block && planBlockMount(paths, cfg, cfg.rootfs.block);
  const spec: RootfsSpec | undefined = block
    ? { backend: "dir", path: block.target }
    : cfg.rootfs.spec;
  checkRootfsOptions(cfg, !!block, idmapSource(cfg.security) !== "privileged");
  checkIdmappedEntries(cfg, idmapSource(cfg.security) !== "privileged");
  if (!spec || cfg.rootfs.path === "/") {
    throw new LxtError(
      "config",
      `${paths.config}: lxc.rootfs.path is not set: a container needs its own root filesystem`,
    );
  }
  const storage = { spec, dir: paths.dir };
  const rootfs = rootDir(storage);
  const exec = opts.execute;
  const env = [...cfg.environment];
  if (!env.some((e) => e.startsWith("container="))) env.unshift("container=lxc");
  if (!env.some((e) => e.startsWith("PATH="))) env.push(`PATH=${DEFAULT_PATH}`);
  if (cfg.ttyMax > 0 && !exec)
    env.push(
      `container_ttys=${Array.from({ length: cfg.ttyMax }, (_, i) => `tty${i + 1}`).join(" ")}`,
    );
  const noConsole = cfg.console.path === "none";
  const devices = planDevices(cfg.entries, layout);
  const lxcfs = cfg.lxcfs === "off" ? undefined : ctx.host.facts.lxcfs();
  if (cfg.lxcfs === "on" && !lxcfs)
    throw new LxtError(
      "host",
      `${paths.config}: lxt.lxcfs = on, but no lxcfs is mounted (no fuse.lxcfs in /proc/self/mountinfo): start it (systemctl start lxcfs) or set lxt.lxcfs = auto`,
    );
  const confinement = resolveConfinement(cfg.security, hostArch());
  // Without a device cgroup, CAP_MKNOD would let the container make and
  // open any device node: then it is dropped, whatever the config says.
  if (devices.kind === "none" && devices.reason.startsWith("the host"))
    confinement.caps = confinement.caps.filter((c) => c !== CAP_MKNOD);
  const warnings = [...cfg.warnings];
  const apparmor = planAppArmor(
    appArmorConfig(cfg.entries),
    ctx.host.facts.apparmor(),
    paths.name,
    rootId(paths.lxcpath),
    warnings,
  );
  if (apparmor.mode !== "none") confinement.apparmor = apparmor.label;
  else if (idmapSource(cfg.security) === "privileged") {
    // CAP_SYS_ADMIN in the host's user namespace: a devtmpfs (or a made
    // node) and mount(2) reach the host's filesystems, which only an LSM's
    // mount rules stop (as LXC relies on AppArmor). docs/security.md.
    warnings.push(
      `${paths.name} is privileged and not confined by AppArmor (${apparmor.reason}): root inside can mount the host's filesystems; run untrusted workloads unprivileged (the default, lxt.privileged = 0)`,
    );
  }
  let nics: NicPlan[];
  try {
    nics = resolveNics(paths.name, cfg.nets);
  } catch (err) {
    throw new LxtError("config", `${paths.config}: ${(err as Error).message}`);
  }
  const proc = planProcess(ctx, {
    paths,
    config: cfg,
    sharesHostNet: sharesHostNet(cfg.nets),
    nicTypes: nics.map((n) => n.type),
    idmap: idmapSource(cfg.security),
  });
  const optRecords = [...proc.records, ...seccompProxyRecords(cfg, confinement.seccomp)];
  const launch: LaunchInput = {
    name: paths.name,
    ...(proc.ownUts ? { hostname: cfg.utsName ?? paths.name } : {}),
    rootfs,
    rootfsMounts: startMounts(storage),
    ...(block ? { blockMount: block } : {}),
    ...(!block && cfg.rootfs.options?.flags ? { rootfsFlags: cfg.rootfs.options.flags } : {}),
    runtimeDir: paths.runtimeDir,
    exitFile: paths.exitFile,
    consoleLog: exec ? undefined : (cfg.console.logFile ?? paths.consoleLog),
    ...(exec
      ? {}
      : {
          consoleBuffer: cfg.console.bufferSize,
          ...(cfg.console.path && !noConsole ? { consolePath: cfg.console.path } : {}),
          consoleLogSize: cfg.console.logSize,
          consoleLogRotate: cfg.console.rotate,
        }),
    cgroups: { v1: [] },
    // type = none: the container shares the starter's network namespace, as LXC.
    namespaces: proc.namespaces,
    ...(optRecords.length > 0 ? { opts: optRecords } : {}),
    ...(proc.userShared ? { userShared: true } : {}),
    hierarchies: visibleHierarchies(layout),
    mountAuto: {
      proc: cfg.mountAuto.proc,
      sys: cfg.mountAuto.sys,
      cgroup: cfg.mountAuto.cgroup
        ? {
            mode: cfg.mountAuto.cgroup.mode === "unspecified" ? "mixed" : cfg.mountAuto.cgroup.mode,
            force: cfg.mountAuto.cgroup.force,
          }
        : undefined,
    },
    autodev: cfg.autodev,
    autodevTmpfsSize: cfg.autodevTmpfsSize,
    ttyMax: exec ? 0 : cfg.ttyMax,
    ttyDir: cfg.ttyDir,
    ptyMax: cfg.ptyMax,
    mountEntries: [
      ...cfg.mountEntries.flatMap(planMount),
      ...shmountsMount(cfg),
      ...lxcfsMounts(lxcfs),
    ],
    sysctls: cfg.sysctls,
    rlimits: cfg.prlimits.map((p) => ({ resource: p.resource, soft: p.soft, hard: p.hard })),
    init: {
      argv: exec ? exec.argv : cfg.init.cmd,
      cwd: cfg.init.cwd,
      uid: exec?.uid ?? cfg.init.uid,
      gid: exec?.gid ?? cfg.init.gid,
    },
    env,
    stdio: exec ? "inherit" : noConsole ? "null" : "console",
    foreground: exec ? true : opts.foreground !== undefined,
    initShim: !!exec,
    confinement,
  };
  const hooks = launchHooks(cfg, paths, rootfs);
  if (hooks) launch.hooks = hooks;
  return {
    config: cfg,
    storage,
    ...(block ? { block } : {}),
    devices,
    apparmor,
    nics,
    launch,
    warnings,
  };
}
