/**
 * `lxt checkpoint` and `lxt restore`, as lxc-checkpoint: a running container
 * dumped by CRIU into a directory (left running, or stopped with `-s`), and
 * restored from it into a container its monitor owns again, in fresh
 * cgroups beneath the caller's. The restore is a start whose monitor runs
 * `criu restore` instead of cloning an init (native/src/restore.c), so
 * everything a start undoes on failure is undone here too.
 * docs/checkpoint.md says what works on this kernel and what is refused.
 */

import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { keptAddressProblem } from "../network/reserve.js";
import { cgroupRootArgs, cgroupRoots, hasSubtree } from "./checkpoint-cgroups.js";
import { externalMounts, ptyKeys } from "./checkpoint-mounts.js";
import {
  type CheckpointVeth,
  keptAddresses,
  refuseNetRecords,
  refuseRestoreNics,
  vethRestoreArgs,
  vethsOf,
} from "./checkpoint-net.js";
import { hasCapSysResource, readTasks, refuseTasks } from "./checkpoint-tasks.js";
import {
  type CriuStatus,
  criuInetProblem,
  criuProblem,
  criuUsernsProblem,
  probeCriu,
} from "./criu.js";
import {
  type CriuChild,
  failDump,
  freeLoopbackPort,
  type LazyDump,
  readText,
  serveLazy,
  spawnReady,
} from "./criu-lazy.js";
import { hostLayout } from "./host-layout.js";
import type { LaunchOptions } from "./launch-input.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { repairStale, withLock } from "./runtime.js";
import { type RuntimePlan, readRuntimePlan } from "./runtime-cgroups.js";
import { applyStart, type Started } from "./start-apply.js";
import { planStart } from "./start-plan.js";
import { observe, requireState } from "./state.js";
import { STOP_CLEANUP_GRACE_MS, waitFor } from "./stop.js";
import { ensureTraversable, idmapSource } from "./userns.js";

/** The file lxt writes beside CRIU's images: what was dumped, for the restore. */
export const MANIFEST = "lxt-checkpoint.json";
const DUMP_LOG = "dump.log";
const RESTORE_LOG = "restore.log";
const PIDFILE = "restore.pid";

/** What a checkpoint directory says about the container it holds. */
export interface CheckpointManifest {
  version: 1;
  name: string;
  /** The criu that dumped it (`4.1.1`). */
  criu: string;
  /** The monitor's ptys by index (0 the console), each as CRIU keys an external tty: `RDEV:DEV` in hex. */
  ttys: { index: number; target: string; key: string }[];
  /** Mounts whose source is outside the container (binds of host files): where, and of what. */
  externalMounts: { target: string; source: string }[];
  dumpMs: number;
  /**
   * CRIU's `--network-lock` at dump, which the restore must repeat: with
   * `nftables` the dumped ruleset holds CRIU's lock table, which only a
   * restore with the same method deletes. Absent: `skip` (no NIC).
   */
  networkLock?: NetworkLock;
  /** The veths dumped with the container's network namespace (absent: none). */
  veths?: CheckpointVeth[];
  /**
   * The id map the container ran in (`u:0:HOSTID:RANGE,g:...`), absent for
   * a privileged one: criu restores the user namespace with the dumped map,
   * so a restore must give the container that map (a live move's target
   * adopts it: container/migrate.ts).
   */
  idmap?: string;
  /**
   * The init's cgroup in each hierarchy (`checkpoint-cgroups.ts`), dumped
   * with the subtree beneath it (`--manage-cgroups=soft`). Absent (a
   * checkpoint of an older lxt): the cgroups were not dumped (`ignore`).
   */
  cgroupRoots?: string[];
}

/** How CRIU keeps traffic off the container's sockets while they are dumped and restored. */
export type NetworkLock = "skip" | "nftables";

export interface CheckpointOptions {
  /** Where CRIU writes its images (made if missing; must hold no checkpoint). */
  dir: string;
  /** `-s`: the container ends with the dump; otherwise it keeps running. */
  stop?: boolean;
  /** `-v`: CRIU logs at its most verbose (-v4) instead of errors and warnings. */
  verbose?: boolean;
  /**
   * Post-copy (with `stop`): the dump leaves the memory out and serves it
   * from a page server, reached through a relay listening on `address`
   * for `peer` only (criu-lazy.ts); the container stays frozen until
   * `lazy.finish`.
   */
  lazy?: { address: string; peer?: string };
}

export interface CheckpointResult {
  dir: string;
  dumpMs: number;
  stopped: boolean;
  /** With `lazy`: the dump still serving its pages. */
  lazy?: LazyDump;
}

/** Why a running container cannot be dumped here, from its plan; undefined when it can. */
export function refuseCheckpoint(plan: RuntimePlan): string | undefined {
  const net = refuseNetRecords(plan.records.get("net") ?? [], plan.records.get("host-hook") ?? []);
  if (net) return net;
  // Seen failing at restore, the source's own included (so a dump would lose
  // the container): criu 4.2 remaking the namespace's links from inside a
  // user namespace.
  if (plan.records.has("idmap") && (plan.records.get("net") ?? []).some((f) => f[0] === "veth"))
    return "unprivileged containers with a NIC are not checkpointed: criu 4.2's restore of their network namespace fails (netlink: Operation not supported); see docs/checkpoint.md";
  // The restore mounts the rootfs idmapped for criu (native/src/restore.c): that one only.
  const idmapped = plan.records.get("idmapped-mount") ?? [];
  const rootfs = plan.records.get("rootfs")?.[0]?.[0];
  const idmappedBind = (plan.records.get("mount") ?? []).some((f) =>
    (f[6] ?? "").split(",").includes("idmapped"),
  );
  if (idmappedBind || idmapped.length > 1 || idmapped.some((f) => f[0] !== rootfs))
    return "idmapped mounts other than the rootfs (an overlay's layers, idmapped lxc.mount.entry) are not checkpointed";
  const opts = plan.records.get("opt") ?? [];
  if (opts.some((o) => o[0] === "ns-share"))
    return "shared namespaces (lxc.namespace.share.*) are not checkpointed";
  if (opts.some((o) => o[0] === "seccomp-proxy"))
    return "seccomp notifications (a proxy) are not checkpointed";
  if ((plan.records.get("init-shim") ?? []).some((f) => f[0] === "1"))
    return "`lxt execute` containers are not checkpointed";
  return undefined;
}

/** The key CRIU gives an external mount at TARGET (no `/`, `[` or `]` allowed in it). */
function mountKey(target: string): string {
  return `lxt${target.replaceAll("/", "_")}`;
}

/**
 * Filesystems systemd mounts in a privileged container (`dev-hugepages.mount`,
 * `sys-fs-fuse-connections.mount`) that CRIU dumps only when told to mount
 * them afresh at restore (else: "mnt: FS mnt ./dev/hugepages dev 0x3c0 root /
 * unsupported"); a file open on one still fails the dump.
 */
const AUTO_FS = "hugetlbfs,fusectl";

/** `criu dump`'s arguments. Pure. */
export function dumpArgs(o: {
  /** Whether CRIU dumps the cgroup subtree (`soft`) or leaves cgroups alone (`ignore`). */
  manageCgroups?: boolean;
  pid: number;
  dir: string;
  leaveRunning: boolean;
  verbose: boolean;
  ttys: CheckpointManifest["ttys"];
  externalMounts: CheckpointManifest["externalMounts"];
  networkLock?: NetworkLock;
  /** Post-copy: criu serves the memory on loopback port `lazyPort` and says on fd 3 when it listens. */
  lazyPort?: number;
}): string[] {
  const a = ["dump", "-t", String(o.pid), "-D", o.dir, "-o", DUMP_LOG, o.verbose ? "-v4" : "-v2"];
  a.push("--network-lock", o.networkLock ?? "skip", "--tcp-established", "--file-locks");
  // The container's own cgroups are lxt's, made fresh beneath the restorer's
  // (native/src/restore.c); the subtree its init made goes with the images.
  a.push(`--manage-cgroups=${o.manageCgroups ? "soft" : "ignore"}`, "--enable-fs", AUTO_FS);
  for (const { target } of o.externalMounts)
    a.push("--external", `mnt[${target}]:${mountKey(target)}`);
  // The monitor's ptys: their binds and their slaves are outside the container.
  for (const t of o.ttys)
    a.push("--external", `mnt[${t.target}]:${mountKey(t.target)}`, "--external", `tty[${t.key}]`);
  if (o.leaveRunning) a.push("--leave-running");
  if (o.lazyPort !== undefined)
    a.push(
      "--lazy-pages",
      "--address",
      "127.0.0.1",
      "--port",
      String(o.lazyPort),
      "--status-fd",
      "3",
    );
  return a;
}

/**
 * `criu restore`'s command line for the monitor's `criu-restore` record:
 * `{tty:K}` and `{tty-pts:K}` are the monitor's new pty K (restore.c). Pure.
 */
export function restoreArgs(o: {
  criu: string;
  dir: string;
  rootfs: string;
  verbose: boolean;
  manifest: CheckpointManifest;
  /** Post-copy: the memory comes from `criu lazy-pages` running on `dir` (criu-lazy.ts). */
  lazy?: boolean;
}): string[] {
  const a = [o.criu, "restore", "-D", o.dir, "-o", RESTORE_LOG, o.verbose ? "-v4" : "-v2"];
  if (o.lazy) a.push("--lazy-pages");
  a.push("--root", o.rootfs, "--restore-detached", "--restore-sibling");
  a.push("--pidfile", join(o.dir, PIDFILE));
  a.push("--network-lock", o.manifest.networkLock ?? "skip", "--tcp-established", "--file-locks");
  a.push(`--manage-cgroups=${o.manifest.cgroupRoots ? "soft" : "ignore"}`, "--enable-fs", AUTO_FS);
  for (const { target, source } of o.manifest.externalMounts)
    a.push("--external", `mnt[${mountKey(target)}]:${source}`);
  for (const t of o.manifest.ttys) {
    a.push("--external", `mnt[${mountKey(t.target)}]:{tty-pts:${t.index}}`);
    a.push("--inherit-fd", `fd[{tty:${t.index}}]:tty[${t.key}]`);
  }
  return a;
}

/** Why CRIU would fail on the processes under running init `pid` (checkpoint-tasks.ts), or undefined. */
export function taskRefusal(ctx: Context, plan: RuntimePlan, pid: number): string | undefined {
  return refuseTasks(readTasks(pid), {
    privileged: !plan.records.has("idmap"),
    canReadLimits: hasCapSysResource(readFileSync(`/proc/${ctx.pid}/status`, "utf8")),
  });
}

/** Errors CRIU logs on every run here and survives: its own fd limit, probes for iptables tools. */
const NOISE = /RLIMIT_NOFILE|tables(-legacy)?-save|-V failed/;

/**
 * A CRIU log's `Error` lines for the message: the first (where a restored
 * task's own failure is, before criu's summary of it) and the last two.
 */
export function criuLogError(log: string): string {
  const all = log
    .split("\n")
    .filter((l) => /\bError\b|\berror\b/.test(l) && !NOISE.test(l))
    .map((l) => l.replace(/^\(\s*[\d.]+\)\s*/, "").trim());
  const errs = all.length > 3 ? [all[0], "…", ...all.slice(-2)] : all;
  return errs.length > 0 ? errs.join("; ") : "no error in its log";
}

function readLog(dir: string, name: string): string {
  return readText(join(dir, name));
}

async function requireCriu(ctx: Context, verb: string, name: string): Promise<CriuStatus> {
  const s = await probeCriu(ctx.host.run);
  const problem = criuProblem(s);
  if (problem) throw new LxtError("host", `${verb} ${name}: ${problem}`);
  return s;
}

function prepareDir(dir: string, name: string): void {
  if (existsSync(join(dir, MANIFEST)) || existsSync(join(dir, "inventory.img")))
    throw new LxtError(
      "exists",
      `checkpoint ${name}: ${dir} already holds a checkpoint (use another directory)`,
    );
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new LxtError(
      "system",
      `checkpoint ${name}: mkdir ${dir}: ${(err as Error).message}`,
      err,
    );
  }
}

/** Dumps a running container into `opts.dir` (lxc-checkpoint). */
export async function checkpointContainer(
  ctx: Context,
  paths: ContainerPaths,
  opts: CheckpointOptions,
): Promise<CheckpointResult> {
  requireExists(paths, "checkpoint");
  const criu = await requireCriu(ctx, "checkpoint", paths.name);
  const result = await withLock(ctx, paths, async () => {
    const seen = await repairStale(ctx, paths);
    requireState("checkpoint", paths.name, seen.state);
    const plan = readRuntimePlan(ctx, paths);
    const init = seen.init;
    if (!plan || !init)
      throw new LxtError("state", `checkpoint ${paths.name}: no running init to dump`);
    const refusal =
      refuseCheckpoint(plan) ??
      (plan.records.has("net") ? criuInetProblem(criu.version) : undefined) ??
      (plan.records.has("idmap") ? criuUsernsProblem(criu.version) : undefined);
    if (refusal) throw new LxtError("unsupported", `checkpoint ${paths.name}: ${refusal}`);
    const tasks = taskRefusal(ctx, plan, init.pid);
    if (tasks) throw new LxtError("unsupported", `checkpoint ${paths.name}: ${tasks}`);
    prepareDir(opts.dir, paths.name);
    const lazyPort = opts.lazy ? await freeLoopbackPort() : undefined;
    const mountinfo = readFileSync(`/proc/${init.pid}/mountinfo`, "utf8");
    const ttys = ptyKeys(plan, mountinfo);
    const ext = externalMounts(plan, mountinfo);
    const veths = vethsOf(plan.records.get("net") ?? []);
    const dirs = {
      v2: plan.records.get("cgroup2")?.[0]?.[0],
      v1: (plan.records.get("cgroup1") ?? []).flatMap((f) => f.slice(0, 1)),
    };
    // CRIU dumps and remakes the cgroups only for a container that made a
    // subtree of its own (systemd's init.scope, system.slice): without one
    // the restore's own cgroups are all it needs, under any name.
    const roots = hasSubtree(dirs) ? cgroupRoots(hostLayout(ctx), dirs) : undefined;
    // Without a NIC nothing outside can reach the namespace's sockets: no
    // lock needed. With one, CRIU's nftables table in the container's own
    // namespace drops all but its repair traffic from freeze to restore, so
    // a peer's packets meet no socket and get no RST.
    const networkLock: NetworkLock = veths.length > 0 ? "nftables" : "skip";
    const args = dumpArgs({
      manageCgroups: roots !== undefined,
      pid: init.pid,
      dir: opts.dir,
      leaveRunning: !opts.stop,
      verbose: !!opts.verbose,
      externalMounts: ext,
      ttys,
      networkLock,
      lazyPort,
    });
    const dumpFailed = (err?: unknown, stderr = "") =>
      new LxtError(
        "checkpoint",
        `checkpoint ${paths.name}: criu dump failed: ${stderr || criuLogError(readLog(opts.dir, DUMP_LOG))} (log: ${join(opts.dir, DUMP_LOG)})`,
        err,
      );
    const t0 = ctx.host.clock.now();
    let serving: CriuChild | undefined;
    try {
      if (opts.lazy)
        serving = await spawnReady(ctx.settings.hostEnv, args, (_, stderr) =>
          dumpFailed(undefined, stderr),
        );
      else await ctx.host.run.run("criu", args);
    } catch (err) {
      throw err instanceof LxtError && err.code === "checkpoint" ? err : dumpFailed(err);
    }
    const dumpMs = ctx.host.clock.now() - t0;
    const manifest: CheckpointManifest = {
      version: 1,
      name: paths.name,
      criu: criu.version ?? "unknown",
      externalMounts: ext,
      ttys,
      dumpMs,
      ...(roots ? { cgroupRoots: roots } : {}),
      ...(veths.length > 0 ? { networkLock, veths } : {}),
      ...(plan.records.has("idmap")
        ? { idmap: (plan.records.get("idmap") ?? []).map((f) => f.join(":")).join(",") }
        : {}),
    };
    try {
      writeFileSync(join(opts.dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, {
        mode: 0o600,
      });
    } catch (err) {
      // A lazy dump still serving must not outlive this: its tree runs on.
      if (serving && lazyPort) await failDump(serving, lazyPort);
      throw err;
    }
    return {
      dir: opts.dir,
      dumpMs,
      stopped: !!opts.stop,
      monitor: seen.monitor,
      serving,
      lazyPort,
    };
  });
  if (result.serving && opts.lazy && result.lazyPort) {
    const { dir } = opts;
    const lazy = await serveLazy({
      ...opts.lazy,
      serving: result.serving,
      criuPort: result.lazyPort,
      failed: (what) =>
        new LxtError(
          "checkpoint",
          `checkpoint ${paths.name}: ${what}: ${criuLogError(readLog(dir, DUMP_LOG))} (log: ${join(dir, DUMP_LOG)})`,
        ),
      stopped: () => monitorEnded(ctx, paths),
      running: () => observe(ctx, paths).state === "RUNNING",
    });
    return { dir: result.dir, dumpMs: result.dumpMs, stopped: false, lazy };
  }
  if (opts.stop && result.monitor) await monitorEnded(ctx, paths);
  return { dir: result.dir, dumpMs: result.dumpMs, stopped: result.stopped };
}

/**
 * With -s, CRIU killed the tree: the monitor ends it as any end of the
 * init (cgroups removed, exit recorded); the verb returns once it has.
 */
async function monitorEnded(ctx: Context, paths: ContainerPaths): Promise<void> {
  const gone = await waitFor(
    ctx.host.clock,
    () => observe(ctx, paths).state === "STOPPED",
    STOP_CLEANUP_GRACE_MS,
  );
  if (!gone)
    throw new LxtError(
      "timeout",
      `checkpoint ${paths.name}: dumped, but its monitor did not end within ${STOP_CLEANUP_GRACE_MS / 1000} s`,
    );
}

/** Reads and checks a checkpoint directory's manifest. */
export function readManifest(dir: string, name: string): CheckpointManifest {
  let m: CheckpointManifest;
  try {
    m = JSON.parse(readFileSync(join(dir, MANIFEST), "utf8")) as CheckpointManifest;
  } catch (err) {
    throw new LxtError(
      "not-found",
      `restore ${name}: ${dir} holds no lxt checkpoint (${MANIFEST} missing or unreadable)`,
      err,
    );
  }
  if (
    m.version !== 1 ||
    !Array.isArray(m.externalMounts) ||
    (m.networkLock !== undefined && m.networkLock !== "skip" && m.networkLock !== "nftables") ||
    (m.veths !== undefined && !Array.isArray(m.veths))
  )
    throw new LxtError(
      "usage",
      `restore ${name}: ${join(dir, MANIFEST)}: not a version 1 manifest`,
    );
  return m;
}

export interface RestoreOptions extends LaunchOptions {
  dir: string;
  verbose?: boolean;
  /** Post-copy: the memory comes from `criu lazy-pages` already serving `dir` (`startLazyPages`). */
  lazyPages?: boolean;
  signal?: AbortSignal;
}

/**
 * Restores a stopped container from `opts.dir`: a start whose monitor runs
 * `criu restore`. A failure undoes everything the start made (cgroups,
 * runtime files, the monitor) and names CRIU's error.
 */
export async function restoreContainer(
  ctx: Context,
  paths: ContainerPaths,
  opts: RestoreOptions,
): Promise<Started & { restoreMs: number }> {
  requireExists(paths, "restore");
  const { dir, verbose, signal, lazyPages, ...launch } = opts;
  const manifest = readManifest(dir, paths.name);
  const criu = await requireCriu(ctx, "restore", paths.name);
  const inet = (manifest.veths?.length ?? 0) > 0 ? criuInetProblem(criu.version) : undefined;
  if (inet) throw new LxtError("unsupported", `restore ${paths.name}: ${inet}`);
  const criuPath = await whichCriu(ctx);
  return withLock(
    ctx,
    paths,
    async () => {
      const seen = await repairStale(ctx, paths);
      requireState("restore", paths.name, seen.state);
      const plan = planStart(ctx, paths, launch);
      const userns =
        idmapSource(plan.config.security) !== "privileged"
          ? criuUsernsProblem(criu.version)
          : undefined;
      if (userns) throw new LxtError("unsupported", `restore ${paths.name}: ${userns}`);
      // criu opens timens-0.img in the new user namespace before its maps
      // are written, as an unmapped id (native/src/restore.c): every
      // directory above the images must be searchable by others, as start
      // makes those leading to the rootfs.
      if (idmapSource(plan.config.security) !== "privileged") {
        try {
          ensureTraversable(
            paths.lxcpath,
            [resolve(dir)],
            `an unprivileged restore needs every directory above ${dir} to be (criu reads a clock image there before the user namespace's maps are written)`,
          );
        } catch (err) {
          throw err instanceof LxtError ? err.wrap(`restore ${paths.name}`) : err;
        }
      }
      const nicRefusal = refuseRestoreNics(plan.nics, manifest.veths ?? []);
      if (nicRefusal) throw new LxtError("unsupported", `restore ${paths.name}: ${nicRefusal}`);
      const kept = keptAddresses(paths.name, plan.nics, manifest.veths ?? [], (net, key, a) =>
        keptAddressProblem(ctx, net, key, a),
      );
      if (typeof kept === "string") throw new LxtError("state", `restore ${paths.name}: ${kept}`);
      plan.nics = kept;
      const moved = cgroupRootArgs(
        manifest.cgroupRoots ?? [],
        cgroupRoots(plan.layout, plan.launch.cgroups),
      );
      if ("refusal" in moved)
        throw new LxtError("unsupported", `restore ${paths.name}: ${moved.refusal}`);
      plan.criuCgroupRoots = manifest.cgroupRoots;
      plan.launch = {
        ...plan.launch,
        restore: [
          join(dir, PIDFILE),
          ...restoreArgs({
            criu: criuPath,
            dir,
            rootfs: plan.launch.rootfs,
            verbose: !!verbose,
            manifest,
            lazy: lazyPages,
          }),
          ...vethRestoreArgs(plan.nics),
          ...moved.args,
        ],
      };
      // criu refuses to overwrite a pidfile, and the log must be this restore's: an earlier restore's go.
      rmSync(join(dir, PIDFILE), { force: true });
      rmSync(join(dir, RESTORE_LOG), { force: true });
      const t0 = ctx.host.clock.now();
      try {
        const started = await applyStart(ctx, plan, { signal });
        return { ...started, restoreMs: ctx.host.clock.now() - t0 };
      } catch (err) {
        const log = readLog(dir, RESTORE_LOG);
        // A step before the monitor ran criu (cgroups, the plan) failed: say that one.
        if (!log) throw err instanceof LxtError ? err.wrap(`restore ${paths.name}`) : err;
        throw new LxtError(
          "checkpoint",
          `restore ${paths.name}: criu restore failed: ${criuLogError(log)} (log: ${join(dir, RESTORE_LOG)})`,
          err,
          err instanceof LxtError ? err.step : undefined,
        );
      }
    },
    { signal },
  );
}

/** The absolute path of `criu` on the host's PATH (the monitor execs it without a search). */
async function whichCriu(ctx: Context): Promise<string> {
  const path = ctx.settings.hostEnv.PATH ?? "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const d of path.split(":")) {
    const p = join(d, "criu");
    try {
      if (statSync(p).isFile()) return p;
    } catch {}
  }
  throw new LxtError("host", "criu is not on PATH");
}

/** Names of the files in a checkpoint directory (for `-v` reports and tests). */
export function checkpointFiles(dir: string): string[] {
  return readdirSync(dir).sort();
}
