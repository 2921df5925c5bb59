import { existsSync } from "node:fs";
import type { CgroupLayout } from "../cgroups/layout.js";
import { loadConfig } from "../config/load.js";
import { CONFIG_DEFAULTS, type ContainerConfig } from "../config/model.js";
import {
  hostBind,
  MS,
  normalizeTarget,
  PER_MOUNT_FLAGS,
  type PlanMount,
} from "../config/mounts.js";
import { type ConfigEntry, parseConfigText } from "../config/parse.js";
import type { Caller, Env, Stdio } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import type { LxcfsView } from "../host/lxcfs.js";
import type { ContainerPaths } from "./paths.js";
import type { VisibleHierarchy } from "./plan.js";

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
const _CAP_MKNOD = 27;
const _DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Flags a read-only (or nosuid, ...) bind mount needs a second remount for. */
const REMOUNT_MASK = PER_MOUNT_FLAGS;

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

/**
 * Refuses what LXC refuses of an `idmap=` mount entry at start: only a bind
 * of a host path can be idmapped, with no filesystem data, and `container`
 * needs a user namespace. (LXC also takes `relative`; lxt does not, since
 * the host would then follow the container's own symlinks.)
 */
export function checkIdmappedEntries(cfg: ContainerConfig, userns: boolean): void {
  for (const m of cfg.mountEntries) {
    if (m.idmap === undefined) continue;
    const why = !(m.flags & MS.BIND)
      ? "only a bind mount (bind or rbind) can be idmapped"
      : m.fstype !== "none" && m.fstype !== ""
        ? `only a bind mount can be idmapped, not a ${m.fstype} filesystem (use fstype none)`
        : m.data !== ""
          ? `a bind mount takes no filesystem options (${m.data})`
          : m.relative
            ? "idmap= with relative is not supported: the source must be a host path"
            : m.idmap === "container" && !userns
              ? "idmap=container needs the container's own user namespace (lxc.idmap), and this container is privileged"
              : undefined;
    if (why) throw new LxtError("config", `${m.file}:${m.line}: lxc.mount.entry: ${why}`);
  }
}

/** `lxc.mount.auto = shmounts:HOST:CONTAINER`: HOST bound at CONTAINER, as LXC adds it to its mount entries. */
export function shmountsMount(cfg: ContainerConfig): PlanMount[] {
  const sh = cfg.mountAuto.shmounts;
  if (!sh) return [];
  return [hostBind(sh.host, `/${normalizeTarget(sh.container)}`, { createDir: true })];
}

export function planMount(m: ContainerConfig["mountEntries"][number]): PlanMount[] {
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
      ...(m.idmap !== undefined ? { idmap: m.idmap } : {}),
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
  const bind = (source: string, target: string) => hostBind(source, target, { optional: true });
  return [
    ...view.procFiles.map((f) => bind(`${view.dir}/proc/${f}`, `/proc/${f}`)),
    ...(view.sysCpu ? [bind(`${view.dir}/sys/devices/system/cpu`, "/sys/devices/system/cpu")] : []),
  ];
}
