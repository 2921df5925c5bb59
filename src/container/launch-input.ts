import { existsSync } from "node:fs";
import { type DevicePlan, planDevices } from "../cgroups/devices.js";
import type { CgroupLayout } from "../cgroups/layout.js";
import { loadConfig } from "../config/load.js";
import { CONFIG_DEFAULTS, type ContainerConfig, hostArch } from "../config/model.js";
import { MS, type PlanMount } from "../config/mounts.js";
import { type ConfigEntry, parseConfigText } from "../config/parse.js";
import { type Caller, type Env, rootId, type Stdio } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { readAppArmorHost } from "../host/apparmor.js";
import { detectLxcfs, type LxcfsView } from "../host/lxcfs.js";
import { type NicPlan, resolveNics, sharesHostNet } from "../network/nic-resolve.js";
import { type AppArmorPlan, appArmorConfig, planAppArmor } from "../security/apparmor.js";
import { type RootfsRef, rootDir, startMounts } from "../storage/driver.js";
import { resolveConfinement } from "./confinement.js";
import type { ContainerPaths } from "./paths.js";
import type { LaunchInput, VisibleHierarchy } from "./plan.js";
import { idmapSource } from "./userns.js";

/** How a start was asked for. */
export interface LaunchOptions {
  /** Who asked: its environment (`lxc.environment = NAME`) and its cgroup (the container's goes beneath). */
  caller: Caller;
  /** Foreground: the console on these (the caller's terminal); the call resolves when the container runs, `exited` when it ends. */
  foreground?: Stdio;
  /** `-s KEY=VALUE` overrides, applied after the config file. */
  defines?: string[];
  /** `lxt execute`: run this command under a small init instead of the config's init. */
  execute?: { argv: string[]; uid?: number; gid?: number };
}

/** capabilities(7) CAP_MKNOD. */
const CAP_MKNOD = 27;
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Flags a read-only (or nosuid, ...) bind mount needs a second remount for. */
const REMOUNT_MASK =
  MS.RDONLY |
  MS.NOSUID |
  MS.NODEV |
  MS.NOEXEC |
  MS.NOATIME |
  MS.NODIRATIME |
  MS.RELATIME |
  MS.STRICTATIME;

/** The layout kind the config registry is told (a host without cgroups counts as v2). */
export function layoutKind(layout: CgroupLayout | undefined): "v1" | "hybrid" | "v2" {
  return layout && layout.kind !== "none" ? layout.kind : "v2";
}

/** Parses `-s KEY=VALUE` overrides as config lines. */
export function defineEntries(defines: readonly string[]): ConfigEntry[] {
  return defines.flatMap((d, i) => {
    if (!d.includes("=")) throw new LxtError("usage", `-s ${d}: expected KEY=VALUE`);
    return parseConfigText(d, `-s #${i + 1}`);
  });
}

/** Reads a config file (includes expanded) and resolves it; throws config errors naming file and line. */
export function loadConfigFile(
  file: string,
  env: Env,
  layout?: CgroupLayout,
  extra: ConfigEntry[] = [],
): ContainerConfig {
  return loadConfig(file, {
    cgroupLayout: layoutKind(layout),
    env,
    extraEntries: extra,
  });
}

/** The container's config, resolved for this host. */
export function loadContainerConfig(
  paths: ContainerPaths,
  env: Env,
  layout?: CgroupLayout,
): ContainerConfig {
  if (!existsSync(paths.config)) {
    throw new LxtError("not-found", `${paths.name}: no such container in ${paths.lxcpath}`);
  }
  return loadConfigFile(paths.config, env, layout);
}

/**
 * The signal that asks this container's init to halt (`lxc.signal.halt`).
 * A config broken since the start must not prevent a stop: then SIGPWR, LXC's default.
 */
export function haltSignal(paths: ContainerPaths, env: Env): number {
  try {
    return loadContainerConfig(paths, env).signals.halt;
  } catch {
    return CONFIG_DEFAULTS.signals.halt;
  }
}

/** Refuses keys whose features are not implemented yet, naming each with its place. */
export function refusePending(cfg: ContainerConfig): void {
  if (cfg.pending.length === 0) return;
  const lines = cfg.pending.map(
    (p) => `${p.file}:${p.line}: ${p.key}: ${p.feature} is not implemented yet`,
  );
  throw new LxtError("unsupported", lines.join("\n"));
}

/** What `lxc.mount.auto = cgroup` would show, per hierarchy. */
export function visibleHierarchies(layout: CgroupLayout): VisibleHierarchy[] {
  return layout.hierarchies.map((h) => {
    if (h.version === 2)
      return { version: 2, data: "", dirName: layout.kind === "v2" ? "" : "unified" };
    const named = h.controllers.find((c) => c.startsWith("name="));
    return named
      ? { version: 1, data: `none,${named}`, dirName: named.slice(5) }
      : { version: 1, data: h.controllers.join(","), dirName: h.controllers.join(",") };
  });
}

function planMount(m: ContainerConfig["mountEntries"][number]): PlanMount[] {
  const out: PlanMount[] = [
    {
      source: m.relative ? `/${m.source.replace(/^\/+/, "")}` : m.source,
      target: `/${m.target}`,
      fstype: m.fstype === "none" ? "" : m.fstype,
      flags: m.flags,
      data: m.data,
      remountFlags: m.needsRemount ? m.flags & REMOUNT_MASK : 0,
      optional: m.optional,
      createDir: m.createDir,
      createFile: m.createFile,
      sourceInRoot: m.relative,
    },
  ];
  if (m.propagation) {
    out.push({
      source: "",
      target: m.target,
      fstype: "",
      flags: m.propagation,
      data: "",
      remountFlags: 0,
      optional: m.optional,
    });
  }
  return out;
}

/**
 * Read-only binds of lxcfs's files over the container's, after its own mount
 * entries (LXC runs its lxcfs mount hook then too). Optional: a container
 * without /proc or /sys mounted simply does not get them.
 */
export function lxcfsMounts(view: LxcfsView | undefined): PlanMount[] {
  if (!view) return [];
  const bind = (source: string, target: string): PlanMount => ({
    source,
    target,
    fstype: "",
    flags: MS.BIND,
    data: "",
    remountFlags: 0,
    optional: true,
  });
  return [
    ...view.procFiles.map((f) => bind(`${view.dir}/proc/${f}`, `/proc/${f}`)),
    ...(view.sysCpu ? [bind(`${view.dir}/sys/devices/system/cpu`, "/sys/devices/system/cpu")] : []),
  ];
}

/** A prepared start: the resolved config and a builder for the plan input once cgroups are chosen. */
export interface PreparedLaunch {
  rootfs: string;
  /** The rootfs as its storage backend sees it. */
  storage: RootfsRef;
  warnings: string[];
  config: ContainerConfig;
  /** The NICs (veth, macvlan, phys) to set up on the host before the monitor spawns. */
  nics: NicPlan[];
  /** The device allowlist, applied to the cgroups before the monitor spawns. */
  devices: DevicePlan;
  /** The AppArmor profile; a generated one is loaded before the monitor spawns. */
  apparmor: AppArmorPlan;
  build(cgroups: { v2?: string; v1: string[] }, net?: LaunchInput["net"]): LaunchInput;
}

/**
 * Turns a container's config into everything a start needs, refusing what
 * lxt cannot do yet. Pure except for reading the config files.
 */
export async function prepareLaunch(
  paths: ContainerPaths,
  layout: CgroupLayout,
  opts: LaunchOptions,
): Promise<PreparedLaunch> {
  const cfg = loadConfigFile(
    paths.config,
    opts.caller.env,
    layout,
    defineEntries(opts.defines ?? []),
  );
  refusePending(cfg);
  const spec = cfg.rootfs.spec;
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
  const lxcfs = cfg.lxcfs === "off" ? undefined : detectLxcfs();
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
    readAppArmorHost(),
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
  return {
    rootfs,
    storage,
    warnings,
    config: cfg,
    nics,
    devices,
    apparmor,
    build: (cgroups, net) => ({
      name: paths.name,
      hostname: cfg.utsName ?? paths.name,
      rootfs,
      rootfsMounts: startMounts(storage),
      runtimeDir: paths.runtimeDir,
      exitFile: paths.exitFile,
      consoleLog: exec ? undefined : (cfg.console.logFile ?? paths.consoleLog),
      cgroups,
      // type = none: the container shares the starter's network namespace, as LXC.
      namespaces: sharesHostNet(cfg.nets)
        ? ["pid", "mnt", "uts", "ipc", "cgroup"]
        : ["pid", "mnt", "uts", "ipc", "net", "cgroup"],
      hierarchies: visibleHierarchies(layout),
      mountAuto: {
        proc: cfg.mountAuto.proc,
        sys: cfg.mountAuto.sys,
        cgroup: cfg.mountAuto.cgroup
          ? {
              mode:
                cfg.mountAuto.cgroup.mode === "unspecified" ? "mixed" : cfg.mountAuto.cgroup.mode,
              force: cfg.mountAuto.cgroup.force,
            }
          : undefined,
      },
      autodev: cfg.autodev,
      autodevTmpfsSize: cfg.autodevTmpfsSize,
      ttyMax: exec ? 0 : cfg.ttyMax,
      ttyDir: cfg.ttyDir,
      ptyMax: cfg.ptyMax,
      mountEntries: [...cfg.mountEntries.flatMap(planMount), ...lxcfsMounts(lxcfs)],
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
      ...(net && (net.netdevs.length > 0 || (net.nets?.length ?? 0) > 0 || net.hooks.length > 0)
        ? { net }
        : {}),
    }),
  };
}
