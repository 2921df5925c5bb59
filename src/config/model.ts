/**
 * Resolution of parsed entries into a typed ContainerConfig, applying LXC's
 * rules in file order: later single-valued keys win, an empty value clears a
 * list (or resets a key to its default), family roots such as `lxc.net =`
 * clear a whole family. Keys that are ignored with a reason the user should
 * see end up in `warnings`.
 */

import * as os from "node:os";
import { configError } from "../core/errors.js";
import {
  applyPlacementEntry,
  type CgroupPlacementConfig,
  checkPlacement,
  defaultPlacement,
} from "./cgroup-placement.js";
import {
  type CgroupLayout,
  classifyEntry,
  type HostInfo,
  type KeySpec,
  type Verdict,
} from "./keys.js";
import {
  type AutostartConfig,
  applyAutostartEntry,
  applyHookEntry,
  defaultAutostart,
  defaultHooks,
  type HooksConfig,
} from "./lifecycle.js";
import { applyLimitEntry, type LimitOrigins, type Limits, noLimits } from "./limits.js";
import { applyNet, finishNets, type NetState } from "./model-net.js";
import {
  applyMountAuto,
  type MountAuto,
  type MountEntry,
  parseFstabText,
  parseMountEntry,
} from "./mounts.js";
import type { ConfigEntry } from "./parse.js";
import { applyProcessEntry, defaultProcess, type ProcessConfig } from "./process.js";
import { applyRootfsEntry, type RootfsConfig } from "./rootfs.js";
import { applySecurityEntry, defaultSecurity, type SecurityConfig } from "./security.js";
import {
  parseBool01,
  parseByteSize,
  parseEnvironment,
  parseId,
  parseInteger,
  parseLogLevel,
  parseRlimit,
  parseSignal,
  RLIMITS,
  splitCommand,
  ValueError,
} from "./values.js";

/** A mount entry with the line it came from. */
export type ConfigMount = MountEntry & { file: string; line: number };

/** One resource limit; -1 is unlimited. */
export interface Prlimit {
  /** Resource name as in the key (`nofile`). */
  name: string;
  /** RLIMIT_* number (x86_64). */
  resource: number;
  soft: number;
  hard: number;
}

/** One namespaced sysctl. */
export interface Sysctl {
  key: string;
  value: string;
}

/** One `lxc.net.[i]` network. */
export interface NetConfig {
  index: number;
  type: string;
  /** `lxc.net.[i].flags = up`. */
  up: boolean;
  /** Every sub-key's values as written, in order (`ipv4.address` may repeat). */
  keys: Record<string, string[]>;
  /** Where the type was set. */
  file: string;
  line: number;
}

/** One `lxc.cgroup.<file>` or `lxc.cgroup2.<file>` line: a raw write, as LXC does it. */
export interface CgroupSetting {
  /** The cgroup file, e.g. `memory.max`. */
  file: string;
  value: string;
  /** The config key and where it was set. */
  key: string;
  at: { file: string; line: number };
}

/** Everything a container's config says, resolved. */
export interface ContainerConfig {
  utsName?: string;
  rootfs: RootfsConfig;
  init: { cmd: string[]; cwd: string; uid: number; gid: number };
  /** lxc.execute.cmd, split into words. */
  executeCmd?: string[];
  /** `NAME=value` strings for init; inherited names already filled in. */
  environment: string[];
  /** lxc.mount.fstab path (resolved against the config file's directory). */
  mountFstab?: string;
  /** lxc.mount.fstab lines (when read) then lxc.mount.entry lines, in mount order. */
  mountEntries: ConfigMount[];
  mountAuto: MountAuto;
  autodev: boolean;
  /** Size of the /dev tmpfs, bytes. */
  autodevTmpfsSize: number;
  ttyMax: number;
  ttyDir?: string;
  ptyMax: number;
  console: {
    path?: string;
    logFile?: string;
    /** Ring buffer bytes (lxc.console.buffer.size); 0: none. */
    bufferSize?: number;
    /** The log file's limit (lxc.console.size); 0: the monitor's default. */
    logSize?: number;
    /** lxc.console.rotate. */
    rotate?: boolean;
  };
  signals: { halt: number; reboot: number; stop: number };
  prlimits: Prlimit[];
  sysctls: Sysctl[];
  /** Raw cgroup writes in file order; only those that apply on this host's layout. */
  cgroup: { v1: CgroupSetting[]; v2: CgroupSetting[] };
  /** `lxc.cgroup.relative`, `lxc.cgroup.dir*`: where the cgroups go (cgroup-placement.ts). */
  cgroupPlacement: CgroupPlacementConfig;
  /** `lxt.limits.*`, with where each key was set. */
  limits: Limits;
  limitOrigins: LimitOrigins;
  /** `lxc.cap.*`, `lxc.no_new_privs`, `lxc.seccomp.profile` (resolved at start, see security.ts). */
  security: SecurityConfig;
  /** Namespaces, time offsets, /proc files, groups, keyring, core scheduling, monitor options (process.ts). */
  process: ProcessConfig;
  /** `lxc.arch` names a 32-bit architecture: the init runs with PER_LINUX32. */
  arch32?: boolean;
  ephemeral: boolean;
  /** `lxc.start.*`, `lxc.group` (lifecycle.ts). */
  autostart: AutostartConfig;
  /** `lxc.hook.*`, `lxc.environment.hooks` (lifecycle.ts). */
  hooks: HooksConfig;
  /** `lxt.lxcfs`: bind lxcfs's files over /proc and /sys when mounted (auto), always (on) or never. */
  lxcfs: "auto" | "on" | "off";
  log: { file?: string; level: number };
  nets: NetConfig[];
  warnings: string[];
  /** The entries this was resolved from. */
  entries: ConfigEntry[];
}

/** LXC's defaults for keys that are not set (lxc.container.conf(5)). */
export const CONFIG_DEFAULTS = {
  initCmd: ["/sbin/init"],
  initCwd: "/",
  initUid: 0,
  initGid: 0,
  ttyMax: 0,
  ptyMax: 0,
  autodev: true,
  autodevTmpfsSize: 500000,
  signals: { halt: 30, reboot: 2, stop: 9 },
  logLevel: 5,
  ephemeral: false,
  lxcfs: "auto",
} as const;

/** What resolution needs besides the entries. */
export interface ResolveOptions {
  cgroupLayout: CgroupLayout;
  /** The caller's environment, for `lxc.environment = NAME`. */
  env: Record<string, string | undefined>;
  /** Host architecture (`uname -m`); defaults to this machine's. */
  arch?: string;
  /** The lxc.mount.fstab file's text, if the caller read it (see loadConfig). */
  fstabText?: string;
  /** That file's path, for errors and `mountFstab` (default: the key's value). */
  fstabFile?: string;
}

/** `uname -m` of this machine. */
/** A console buffer or log size as LXC takes it: 0 is none, less than a page is a page. */
function consoleBytes(n: number): number {
  return n === 0 ? 0 : Math.min(Math.max(n, 4096), 1024 ** 3);
}

export function hostArch(): string {
  const a = os.arch();
  return a === "x64" ? "x86_64" : a === "arm64" ? "aarch64" : a === "ia32" ? "i686" : a;
}

export interface Tracked {
  key: string;
  family: string;
  file: string;
  line: number;
  verdict: Extract<Verdict, { status: "ignored" }>;
}

/** Resolves entries (includes already expanded) into a ContainerConfig. */
export function resolveConfig(entries: ConfigEntry[], opts: ResolveOptions): ContainerConfig {
  const host: HostInfo = { cgroupLayout: opts.cgroupLayout, arch: opts.arch ?? hostArch() };
  const cfg: ContainerConfig = {
    rootfs: { backend: "dir", managed: true },
    init: { cmd: [...CONFIG_DEFAULTS.initCmd], cwd: CONFIG_DEFAULTS.initCwd, uid: 0, gid: 0 },
    environment: [],
    mountEntries: [],
    mountAuto: {},
    autodev: CONFIG_DEFAULTS.autodev,
    autodevTmpfsSize: CONFIG_DEFAULTS.autodevTmpfsSize,
    ttyMax: CONFIG_DEFAULTS.ttyMax,
    ptyMax: CONFIG_DEFAULTS.ptyMax,
    console: {},
    signals: { ...CONFIG_DEFAULTS.signals },
    prlimits: [],
    sysctls: [],
    cgroup: { v1: [], v2: [] },
    cgroupPlacement: defaultPlacement(),
    limits: noLimits(),
    limitOrigins: {},
    security: defaultSecurity(),
    process: defaultProcess(),
    ephemeral: CONFIG_DEFAULTS.ephemeral,
    autostart: defaultAutostart(),
    hooks: defaultHooks(),
    lxcfs: CONFIG_DEFAULTS.lxcfs,
    log: { level: CONFIG_DEFAULTS.logLevel },
    nets: [],
    warnings: [],
    entries,
  };
  let tracked: Tracked[] = [];
  const env = new Map<string, string>();
  const prlimits = new Map<string, Prlimit>();
  const sysctls = new Map<string, string>();
  let nets = new Map<number, NetState>();
  let fstabAt: ConfigEntry | undefined;

  for (const e of entries) {
    const { spec, net, verdict } = classifyEntry(e, host);
    if (net) {
      nets = applyNet(nets, e, net);
      continue;
    }
    tracked = track(tracked, e, spec, verdict);
    if (spec.status !== "implemented") continue;
    const v = e.value;
    const fail = (msg: string) => configError(e.file, e.line, `${e.key}: ${msg}`);
    switch (e.key) {
      case "lxc.include":
        if (v !== "")
          throw fail("includes are only followed when reading a file (parseConfigFile)");
        break;
      case "lxc.uts.name":
        cfg.utsName = v === "" ? undefined : v;
        break;
      case "lxc.rootfs.path":
      case "lxc.rootfs.managed":
      case "lxc.rootfs.options":
        cfg.rootfs = applyRootfsEntry(cfg.rootfs, e);
        break;
      case "lxc.init.cmd":
        cfg.init.cmd = v === "" ? [...CONFIG_DEFAULTS.initCmd] : splitCommand(v);
        break;
      case "lxc.execute.cmd":
        cfg.executeCmd = v === "" ? undefined : splitCommand(v);
        break;
      case "lxc.init.cwd":
        cfg.init.cwd = v === "" ? CONFIG_DEFAULTS.initCwd : v;
        break;
      case "lxc.init.uid":
        cfg.init.uid = v === "" ? CONFIG_DEFAULTS.initUid : parseId(v);
        break;
      case "lxc.init.gid":
        cfg.init.gid = v === "" ? CONFIG_DEFAULTS.initGid : parseId(v);
        break;
      case "lxc.environment":
      case "lxc.environment.runtime": {
        if (v === "") {
          env.clear();
          if (e.key === "lxc.environment") applyHookEntry(cfg.hooks, e.key, v, opts.env);
          break;
        }
        const { name, value } = parseEnvironment(v);
        const inherited = value ?? opts.env[name];
        if (inherited === undefined) throw fail(`${name} is not set in the caller's environment`);
        // Like LXC's setenv() in order: a later value for a name wins.
        env.set(name, inherited);
        if (e.key === "lxc.environment") applyHookEntry(cfg.hooks, e.key, v, opts.env);
        break;
      }
      case "lxc.mount.entry":
        if (v === "") cfg.mountEntries = [];
        else cfg.mountEntries.push({ ...parseMountEntry(v), file: e.file, line: e.line });
        break;
      case "lxc.mount.fstab":
        fstabAt = v === "" ? undefined : e;
        break;
      case "lxc.mount.auto":
        cfg.mountAuto = v === "" ? {} : applyMountAuto(cfg.mountAuto, v);
        break;
      case "lxc.autodev":
        cfg.autodev = v === "" ? CONFIG_DEFAULTS.autodev : parseBool01(v);
        break;
      case "lxc.autodev.tmpfs.size":
        cfg.autodevTmpfsSize = v === "" ? CONFIG_DEFAULTS.autodevTmpfsSize : parseInteger(v);
        break;
      case "lxc.tty.max":
        cfg.ttyMax = v === "" ? CONFIG_DEFAULTS.ttyMax : parseInteger(v);
        break;
      case "lxc.tty.dir":
        cfg.ttyDir = v === "" ? undefined : v;
        break;
      case "lxc.pty.max":
        cfg.ptyMax = v === "" ? CONFIG_DEFAULTS.ptyMax : parseInteger(v);
        break;
      case "lxc.console.path":
        cfg.console.path = v === "" ? undefined : v;
        break;
      case "lxc.console.logfile":
        cfg.console.logFile = v === "" ? undefined : v;
        break;
      case "lxc.console.buffer.size":
        cfg.console.bufferSize = v === "" ? undefined : consoleBytes(parseByteSize(v));
        break;
      case "lxc.console.size":
        cfg.console.logSize = v === "" ? undefined : consoleBytes(parseByteSize(v));
        break;
      case "lxc.console.rotate":
        cfg.console.rotate = v === "" ? undefined : parseBool01(v);
        break;
      case "lxc.signal.halt":
        cfg.signals.halt = v === "" ? CONFIG_DEFAULTS.signals.halt : parseSignal(v);
        break;
      case "lxc.signal.reboot":
        cfg.signals.reboot = v === "" ? CONFIG_DEFAULTS.signals.reboot : parseSignal(v);
        break;
      case "lxc.signal.stop":
        cfg.signals.stop = v === "" ? CONFIG_DEFAULTS.signals.stop : parseSignal(v);
        break;
      case "lxc.ephemeral":
        cfg.ephemeral = v === "" ? CONFIG_DEFAULTS.ephemeral : parseBool01(v);
        break;
      case "lxt.lxcfs":
        cfg.lxcfs = v === "" ? CONFIG_DEFAULTS.lxcfs : (v as ContainerConfig["lxcfs"]);
        break;
      case "lxc.log.file":
        cfg.log.file = v === "" ? undefined : v;
        break;
      case "lxc.log.level":
        cfg.log.level = v === "" ? CONFIG_DEFAULTS.logLevel : parseLogLevel(v);
        break;
      case "lxc.net":
        nets = new Map();
        break;
      case "lxc.cgroup":
        cfg.cgroup.v1 = [];
        break;
      case "lxc.cgroup2":
        cfg.cgroup.v2 = [];
        break;
      case "lxc.apparmor.profile":
      case "lxc.apparmor.allow_nesting":
      case "lxc.apparmor.allow_incomplete":
      case "lxc.apparmor.raw":
      case "lxc.selinux.context":
      case "lxc.selinux.context.keyring":
        // Read from the entries at start (security/apparmor.ts, container/process-opts.ts).
        break;
      case "lxc.seccomp.allow_nesting":
        // lxt stacks its filter on any inherited one either way (docs/config.md).
        break;
      case "lxc.arch":
        // Only a 32-bit name is "implemented"; the host's own and other 64-bit ones are ignored.
        cfg.arch32 = v !== "" && verdict.status === "implemented";
        break;
      case "lxc.proc":
        cfg.process.proc = [];
        break;
      case "lxc.prlimit":
        prlimits.clear();
        break;
      case "lxc.sysctl":
        sysctls.clear();
        break;
      default:
        if (applyLifecycleEntry(cfg, e.key, v, opts.env, fail)) {
          // Autostart and hooks: see lifecycle.ts.
        } else if (applyPlacementEntry(cfg.cgroupPlacement, e.key, v)) {
          // lxc.cgroup.dir* and .relative before the raw lxc.cgroup.* writes; checked as a whole below.
        } else if (e.key.startsWith("lxc.prlimit.")) {
          const name = e.key.slice("lxc.prlimit.".length);
          if (v === "") prlimits.delete(name);
          else prlimits.set(name, { name, resource: RLIMITS[name] as number, ...parseRlimit(v) });
        } else if (e.key.startsWith("lxc.cgroup2.") || e.key.startsWith("lxc.cgroup.")) {
          const v2 = e.key.startsWith("lxc.cgroup2.");
          const file = e.key.slice(v2 ? "lxc.cgroup2.".length : "lxc.cgroup.".length);
          const list = v2 ? cfg.cgroup.v2 : cfg.cgroup.v1;
          // An empty value clears that key's earlier lines (LXC's lxc_clear_cgroups).
          const kept = list.filter((c) => c.key !== e.key);
          // Keys for the other layout are ignored (with a warning), as in LXC.
          if (v !== "" && verdict.status === "implemented")
            kept.push({ file, value: v, key: e.key, at: { file: e.file, line: e.line } });
          if (v2) cfg.cgroup.v2 = kept;
          else cfg.cgroup.v1 = kept;
        } else if (applyProcessEntry(cfg.process, e)) {
          // Namespaces, time offsets, /proc files, groups...: see process.ts.
        } else if (applySecurityEntry(cfg.security, e.key, v, { file: e.file, line: e.line })) {
          // Capabilities, no_new_privs and the seccomp profile: see security.ts.
        } else if (applyLimitEntry(cfg.limits, e.key, v)) {
          if (v === "") delete cfg.limitOrigins[e.key];
          else cfg.limitOrigins[e.key] = { file: e.file, line: e.line };
        } else if (e.key.startsWith("lxc.sysctl.")) {
          const name = e.key.slice("lxc.sysctl.".length);
          if (v === "") sysctls.delete(name);
          else sysctls.set(name, v);
        } else {
          throw fail("implemented key without a resolver (a bug in lxt)");
        }
    }
  }

  cfg.environment = [...env].map(([k, v]) => `${k}=${v}`);
  cfg.prlimits = [...prlimits.values()];
  cfg.sysctls = [...sysctls].map(([key, value]) => ({ key, value }));
  if (fstabAt) {
    cfg.mountFstab = opts.fstabFile ?? fstabAt.value;
    if (opts.fstabText !== undefined) {
      // LXC mounts the fstab file's lines before the lxc.mount.entry ones.
      cfg.mountEntries = [...parseFstabText(opts.fstabText, cfg.mountFstab), ...cfg.mountEntries];
    }
  }
  stripRootfsPrefix(cfg);
  checkPlacement(cfg.cgroupPlacement, entries);
  const netWarnings = finishNets(cfg, nets);
  cfg.warnings = [...warningsOf(tracked), ...netWarnings];
  return cfg;
}

/** Autostart and hook keys (lifecycle.ts), their value errors named at the entry. */
function applyLifecycleEntry(
  cfg: ContainerConfig,
  key: string,
  v: string,
  env: Record<string, string | undefined>,
  fail: (msg: string) => Error,
): boolean {
  try {
    return applyAutostartEntry(cfg.autostart, key, v) || applyHookEntry(cfg.hooks, key, v, env);
  } catch (err) {
    if (err instanceof ValueError) throw fail(err.message);
    throw err;
  }
}

/** Records ignored entries (for their warnings); clears follow the same rules as values. */
function track(tracked: Tracked[], e: ConfigEntry, spec: KeySpec, verdict: Verdict): Tracked[] {
  let out = tracked;
  if (e.value === "") {
    out = out.filter(
      (t) => t.key !== e.key && (spec.clears === undefined || t.family !== spec.clears),
    );
  } else if (!spec.list) {
    out = out.filter((t) => t.key !== e.key);
  }
  if (e.value !== "" && verdict.status === "ignored") {
    out = [
      ...out,
      { key: e.key, family: spec.family ?? spec.name, file: e.file, line: e.line, verdict },
    ];
  }
  return out;
}

function warningsOf(tracked: Tracked[]): string[] {
  const byKey = new Map<string, { first: Tracked; count: number }>();
  for (const t of tracked) {
    if (!t.verdict.warn) continue;
    const seen = byKey.get(t.key);
    if (seen) seen.count++;
    else byKey.set(t.key, { first: t, count: 1 });
  }
  return [...byKey.values()].map(({ first, count }) => {
    const more =
      count > 1 ? ` (and ${count - 1} more ${first.key} line${count > 2 ? "s" : ""})` : "";
    return `${first.file}:${first.line}: ${first.key} ignored: ${first.verdict.reason}${more}`;
  });
}

/**
 * LXC accepts an absolute target that spells out the rootfs path
 * (`/var/lib/lxc/c1/rootfs/mnt`) and mounts it at `/mnt` in the container.
 */
function stripRootfsPrefix(cfg: ContainerConfig): void {
  const root = cfg.rootfs.path?.replace(/^\/+/, "").replace(/\/+$/, "");
  if (!root) return;
  for (const m of cfg.mountEntries) {
    if (m.targetAbsolute && m.target.startsWith(`${root}/`))
      m.target = m.target.slice(root.length + 1);
  }
}
