import type { IdmapLine } from "../config/idmap.js";
import { MS, type PlanMount } from "../config/mounts.js";
import { type NetStep, PLAN_HEADER, planRecord } from "../host/helper-protocol.js";
import type { SeccompFilter } from "../seccomp/profile.js";
import type { LaunchHooks, StartHookType } from "./hooks.js";
import { cgroupMounts, PROC_FLAGS, procMounts, sysMounts } from "./plan-automount.js";
import type { OptRecord } from "./process-opts.js";
import type { BlockMount } from "./rootfs-block.js";

export type ProcMode = "rw" | "mixed";
export type SysMode = "ro" | "rw" | "mixed";
export interface CgroupAuto {
  mode: "ro" | "rw" | "mixed";
  force: boolean;
}

/** A cgroup hierarchy the container can see, for `lxc.mount.auto = cgroup...`. */
export interface VisibleHierarchy {
  version: 1 | 2;
  /** v1 controllers as mount data, e.g. `cpu,cpuacct` or `none,name=systemd`. */
  data: string;
  /** Directory name under /sys/fs/cgroup (v1), or "unified" / "" (v2). */
  dirName: string;
}

/** What the helper applies right before exec, to the init and to attached commands. */
export interface Confinement {
  /** Capabilities kept (bounding = permitted = effective), ascending; all others dropped. */
  caps: readonly number[];
  noNewPrivs: boolean;
  seccomp?: SeccompFilter;
  /** AppArmor profile the init and attached commands exec into. */
  apparmor?: string;
}

/** Everything the planner needs: a resolved config plus host facts. Pure data. */
export interface LaunchInput {
  name: string;
  /** Unset: the UTS namespace is not the container's own (kept or shared), so no hostname is set. */
  hostname?: string;
  rootfs: string;
  /** Mounts made in the container's mount namespace before the rootfs is bound (an overlay rootfs). */
  rootfsMounts?: readonly PlanMount[];
  /** A rootfs on a block device, mounted by the helper on `rootfs` before it is bound. */
  blockMount?: BlockMount;
  /** MS_* per-mount flags set on the rootfs's bind (lxc.rootfs.options). */
  rootfsFlags?: number;
  runtimeDir: string;
  exitFile: string;
  consoleLog?: string;
  /** A host terminal the console is relayed to and from (lxc.console.path). */
  consolePath?: string;
  /** The console's ring buffer (`console-buffer`), its log's limit and rotation (lxc.console.*). */
  consoleBuffer?: number;
  consoleLogSize?: number;
  consoleLogRotate?: boolean;
  cgroups: { v2?: string; v1: string[] };
  /**
   * The dirs the monitor empties and removes at the end (`cgroup-kill`):
   * those of `cgroups`, or the container's cgroups that `cgroups` lie in
   * (`lxc.cgroup.dir.container.inner`: the init goes one level down).
   */
  killCgroups?: readonly string[];
  /** Where the monitor moves itself first (a systemd scope's monitor leaf), one dir per hierarchy. */
  monitorCgroups?: readonly string[];
  /** Where the monitor moves itself at the end so its own cgroups can go (`lxc.cgroup.dir.monitor.pivot`). */
  monitorPivot?: readonly string[];
  namespaces: readonly string[];
  /** A restore: the pidfile, then `criu restore`'s command line (the monitor runs it instead of a clone; container/restore.ts). */
  restore?: readonly string[];
  /** Process and namespace options (`opt` records: shared namespaces, time offsets, /proc files...). */
  opts?: readonly OptRecord[];
  /** The user namespace is another's (`lxc.namespace.share.user`): `userns` gives its map, not a new one. */
  userShared?: boolean;
  hierarchies: readonly VisibleHierarchy[];
  mountAuto: { proc?: ProcMode; sys?: SysMode; cgroup?: CgroupAuto };
  autodev: boolean;
  autodevTmpfsSize: number;
  ttyMax: number;
  ttyDir?: string;
  ptyMax: number;
  mountEntries: readonly PlanMount[];
  sysctls: readonly { key: string; value: string }[];
  rlimits: readonly { resource: number; soft: number; hard: number }[];
  init: { argv: readonly string[]; cwd: string; uid: number; gid: number };
  env: readonly string[];
  stdio: "console" | "inherit" | "null";
  foreground: boolean;
  initShim: boolean;
  /** Absent: no capability, no_new_privs or seccomp records (the helper changes nothing). */
  confinement?: Confinement;
  /**
   * An unprivileged container: its user namespace's map (written by the
   * monitor) and the host paths mounted idmapped in its mount namespace
   * before anything else (the rootfs, or an overlay's layers).
   */
  userns?: { idmap: readonly IdmapLine[]; idmappedMounts: readonly string[] };
  /**
   * Host interfaces of the container, the NIC steps the monitor takes by
   * rtnetlink (`net`, verb first) and the commands it runs before releasing the child.
   */
  net?: {
    netdevs: readonly string[];
    nets?: readonly NetStep[];
    hooks: readonly (readonly string[])[];
    stopHooks?: readonly (readonly string[])[];
  };
  /**
   * Commands the monitor runs as its last step once the init has ended and
   * everything is cleaned up (an ephemeral container's destroy).
   */
  exitHooks?: readonly (readonly string[])[];
  /** `lxc.hook.*` (container/hooks.ts): run by the helper at LXC's points. */
  hooks?: LaunchHooks;
}

/** The standard device nodes of an autodev /dev (LXC's set plus console via the pty). */
const DEV_NODES: readonly [name: string, major: number, minor: number][] = [
  ["null", 1, 3],
  ["zero", 1, 5],
  ["full", 1, 7],
  ["random", 1, 8],
  ["urandom", 1, 9],
  ["tty", 5, 0],
];

function mountRecord(m: PlanMount): string {
  const opts: string[] = [];
  if (m.optional) opts.push("optional");
  if (m.createDir) opts.push("create-dir");
  if (m.createFile) opts.push("create-file");
  if (m.sourceInRoot) opts.push("src-in-root");
  // An idmapped bind's data field names its user namespace (docs/helper-protocol.md).
  if (m.idmap !== undefined) opts.push("idmapped");
  return planRecord("mount", [
    m.source,
    m.target,
    m.fstype,
    String(m.flags),
    m.idmap ?? m.data,
    String(m.remountFlags),
    opts.join(","),
  ]);
}

/** The hooks of one type as `lxc-hook` records. */
function hookRecords(input: LaunchInput, type: StartHookType): string[] {
  return (input.hooks?.argv[type] ?? []).map((argv) => planRecord("lxc-hook", [type, ...argv]));
}

/**
 * The helper's hook records that do not run among the child's mounts (those
 * are placed by renderPlan): the log, each type's environment, and the
 * hooks the monitor runs (pre-start, start-host, stop, post-stop) or the
 * child runs last (start).
 */
function hookSetup(input: LaunchInput): string[] {
  if (!input.hooks) return [];
  const r = [planRecord("hook-log", [input.hooks.log])];
  for (const [type, env] of Object.entries(input.hooks.env))
    for (const e of env) r.push(planRecord("lxc-hook-env", [type, e]));
  for (const t of ["pre-start", "start-host", "start", "stop", "post-stop"] as const)
    r.push(...hookRecords(input, t));
  return r;
}

/** /dev's tmpfs, then (split by autodev hooks, which run between) its nodes and mounts. */
function devRecords(input: LaunchInput): [string[], string[]] {
  const r: string[] = [];
  const tmpfs = [
    mountRecord({
      source: "tmpfs",
      target: "/dev",
      fstype: "tmpfs",
      flags: MS.NOSUID | MS.STRICTATIME,
      data: `mode=755,size=${input.autodevTmpfsSize}`,
      remountFlags: 0,
      createDir: true,
    }),
  ];
  for (const [node, major, minor] of DEV_NODES) {
    r.push(
      planRecord("mknod", [`/dev/${node}`, "20666", String(major), String(minor), `/dev/${node}`]),
    );
  }
  r.push(planRecord("symlink", ["/proc/self/fd", "/dev/fd"]));
  r.push(planRecord("symlink", ["/proc/self/fd/0", "/dev/stdin"]));
  r.push(planRecord("symlink", ["/proc/self/fd/1", "/dev/stdout"]));
  r.push(planRecord("symlink", ["/proc/self/fd/2", "/dev/stderr"]));
  const max = input.ptyMax > 0 ? `,max=${input.ptyMax}` : "";
  r.push(
    mountRecord({
      source: "devpts",
      target: "/dev/pts",
      fstype: "devpts",
      flags: MS.NOSUID | MS.NOEXEC,
      data: `newinstance,ptmxmode=0666,mode=0620,gid=5${max}`,
      remountFlags: 0,
      createDir: true,
    }),
  );
  r.push(planRecord("symlink", ["pts/ptmx", "/dev/ptmx"]));
  r.push(
    mountRecord({
      source: "shm",
      target: "/dev/shm",
      fstype: "tmpfs",
      flags: PROC_FLAGS,
      data: "mode=1777",
      remountFlags: 0,
      createDir: true,
    }),
  );
  r.push(
    mountRecord({
      source: "mqueue",
      target: "/dev/mqueue",
      fstype: "mqueue",
      flags: PROC_FLAGS,
      data: "",
      remountFlags: 0,
      createDir: true,
      optional: true,
    }),
  );
  return [tmpfs, r];
}

/** Where tty N lives inside the container (`lxc.tty.dir` puts them in a subdirectory, with links). */
function ttyTarget(input: LaunchInput, n: number): string {
  return input.ttyDir ? `/dev/${input.ttyDir}/tty${n}` : `/dev/tty${n}`;
}

/** `caps`, `no-new-privs`, `apparmor`, `seccomp` and `seccomp-rule` records (docs/helper-protocol.md). */
export function confinementRecords(c: Confinement): string[] {
  const r = [
    planRecord("caps", [c.caps.join(",")]),
    planRecord("no-new-privs", [c.noNewPrivs ? "1" : "0"]),
  ];
  if (c.apparmor) r.push(planRecord("apparmor", [c.apparmor]));
  if (c.seccomp) {
    r.push(planRecord("seccomp", [c.seccomp.defaultAction, c.seccomp.arches.join(",")]));
    for (const rule of c.seccomp.rules) {
      const conds = rule.conditions.map((k) =>
        [String(k.arg), k.op, k.a, ...(k.b !== undefined ? [k.b] : [])].join(","),
      );
      r.push(planRecord("seccomp-rule", [rule.arch, rule.action, rule.syscall, ...conds]));
    }
  }
  return r;
}

/**
 * Renders the launch plan the helper applies. Pure: the same input gives the
 * same text, so it is golden-tested. Order follows LXC's setup: rootfs,
 * /dev, mount.auto, mount entries, console and ttys, pivot, sysctls, limits,
 * identity, exec.
 */
export function renderPlan(input: LaunchInput): string {
  const r: string[] = [PLAN_HEADER];
  r.push(planRecord("name", [input.name]));
  r.push(planRecord("runtime", [input.runtimeDir]));
  r.push(planRecord("exit-file", [input.exitFile]));
  if (input.cgroups.v2) r.push(planRecord("cgroup2", [input.cgroups.v2]));
  for (const dir of input.cgroups.v1) r.push(planRecord("cgroup1", [dir]));
  const kill = input.killCgroups ?? [input.cgroups.v2, ...input.cgroups.v1];
  for (const dir of kill) if (dir) r.push(planRecord("cgroup-kill", [dir]));
  for (const dir of input.monitorCgroups ?? []) r.push(planRecord("monitor-cgroup", [dir]));
  for (const dir of input.monitorPivot ?? []) r.push(planRecord("monitor-pivot", [dir]));
  const ns = input.userns && !input.userShared ? [...input.namespaces, "user"] : input.namespaces;
  r.push(planRecord("namespaces", [ns.join(",")]));
  for (const l of input.userns?.idmap ?? [])
    r.push(planRecord("idmap", [l.kind, String(l.nsid), String(l.hostid), String(l.range)]));
  for (const p of input.userns?.idmappedMounts ?? []) r.push(planRecord("idmapped-mount", [p]));
  const b = input.blockMount;
  if (b) {
    const fields = [b.kind, b.source, b.fstype, b.target, String(b.flags), b.data.join(",")];
    r.push(planRecord("block-mount", fields));
  }
  for (const o of input.opts ?? []) r.push(planRecord("opt", [...o]));
  r.push(planRecord("foreground", [input.foreground ? "1" : "0"]));
  r.push(planRecord("init-shim", [input.initShim ? "1" : "0"]));
  for (const dev of input.net?.netdevs ?? []) r.push(planRecord("netdev", [dev]));
  for (const n of input.net?.nets ?? []) r.push(planRecord("net", [...n]));
  for (const hook of input.net?.hooks ?? []) r.push(planRecord("host-hook", [...hook]));
  for (const hook of input.net?.stopHooks ?? []) r.push(planRecord("stop-hook", [...hook]));
  // An nbd or rbd device outlives the mount: released when the container ends.
  if (b?.detach) r.push(planRecord("stop-hook", [...b.detach]));
  for (const hook of input.exitHooks ?? []) r.push(planRecord("exit-hook", [...hook]));
  if (input.restore) r.push(planRecord("criu-restore", [...input.restore]));
  r.push(...hookSetup(input));

  // pre-mount: in the container's mount namespace, before the rootfs is mounted (LXC).
  r.push(...hookRecords(input, "pre-mount"));
  for (const m of input.rootfsMounts ?? []) r.push(mountRecord(m));
  const flags = input.rootfsFlags ? [String(input.rootfsFlags)] : [];
  r.push(planRecord("rootfs", [input.rootfs, ...flags]));
  if (input.hostname !== undefined) r.push(planRecord("hostname", [input.hostname]));
  const [devTmpfs, devNodes] = input.autodev ? devRecords(input) : [[], []];
  // As LXC's lxc_setup: /dev's tmpfs first, its nodes after the mount and autodev hooks.
  const autodevHooks = input.autodev ? hookRecords(input, "autodev") : [];
  r.push(...devTmpfs);
  if (autodevHooks.length === 0) r.push(...devNodes);
  const proc = input.mountAuto.proc ? procMounts(input.mountAuto.proc) : [];
  r.push(...proc.slice(0, 1).map(mountRecord));
  // Namespaced sysctls are written while /proc/sys is still writable.
  for (const s of input.sysctls)
    r.push(planRecord("sysctl", [s.key.replaceAll(".", "/"), s.value]));
  r.push(...proc.slice(1).map(mountRecord));
  if (input.mountAuto.sys) {
    const hostSys = input.userns !== undefined && !input.namespaces.includes("net");
    r.push(...sysMounts(input.mountAuto.sys, hostSys).map(mountRecord));
  }
  if (input.mountAuto.cgroup)
    r.push(
      ...cgroupMounts(input.mountAuto.cgroup, input.namespaces, input.hierarchies).map(mountRecord),
    );
  for (const m of input.mountEntries) r.push(mountRecord(m));
  r.push(...hookRecords(input, "mount"));
  if (autodevHooks.length > 0) r.push(...autodevHooks, ...devNodes);

  if (input.stdio === "console") {
    if (input.consoleLog) r.push(planRecord("console-log", [input.consoleLog]));
    if (input.consoleBuffer) r.push(planRecord("console-buffer", [String(input.consoleBuffer)]));
    if (input.consoleLog && input.consoleLogSize)
      r.push(planRecord("console-log-size", [String(input.consoleLogSize)]));
    if (input.consoleLog && input.consoleLogRotate) r.push(planRecord("console-log-rotate", ["1"]));
    r.push(planRecord("console", ["/dev/console"]));
    if (input.consolePath) r.push(planRecord("console-path", [input.consolePath]));
    if (input.ttyDir && input.ttyMax > 0)
      r.push(planRecord("mkdir", [`/dev/${input.ttyDir}`, "755"]));
    for (let n = 1; n <= input.ttyMax; n++) {
      r.push(planRecord("tty", [ttyTarget(input, n)]));
      if (input.ttyDir) r.push(planRecord("symlink", [`${input.ttyDir}/tty${n}`, `/dev/tty${n}`]));
    }
  } else {
    r.push(planRecord("stdio", [input.stdio]));
  }

  r.push(planRecord("pivot", []));
  for (const l of input.rlimits) {
    r.push(planRecord("rlimit", [String(l.resource), String(l.soft), String(l.hard)]));
  }
  if (input.confinement) r.push(...confinementRecords(input.confinement));
  r.push(planRecord("cwd", [input.init.cwd]));
  r.push(planRecord("gid", [String(input.init.gid)]));
  r.push(planRecord("uid", [String(input.init.uid)]));
  for (const e of input.env) r.push(planRecord("env", [e]));
  r.push(planRecord("exec", [...input.init.argv]));
  return `${r.join("\n")}\n`;
}
