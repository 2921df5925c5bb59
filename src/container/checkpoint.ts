/**
 * `lxt checkpoint`, as lxc-checkpoint: a running container dumped by CRIU
 * into a directory, left running or stopped with `-s` (its monitor ends
 * it as any end of its init); with `lazy`, the memory left out and served
 * from a page server (criu-lazy.ts) for a post-copy move. What the
 * directory holds is checkpoint-images.ts; the restore, restore.ts.
 * docs/checkpoint.md says what works on this kernel and what is refused.
 */

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { cgroupRoots, hasSubtree } from "./checkpoint-cgroups.js";
import {
  type CheckpointManifest,
  criuLogError,
  DUMP_LOG,
  dumpArgs,
  MANIFEST,
  type NetworkLock,
  readLog,
  requireCriu,
} from "./checkpoint-images.js";
import { externalMounts, ptyKeys } from "./checkpoint-mounts.js";
import { refuseNetRecords, vethsOf } from "./checkpoint-net.js";
import { hasCapSysResource, readTasks, refuseTasks } from "./checkpoint-tasks.js";
import { criuInetProblem, criuUsernsProblem } from "./criu.js";
import {
  type CriuChild,
  failDump,
  type LazyDump,
  pageServerLink,
  serveLazy,
  setSockopts,
  spawnReady,
} from "./criu-lazy.js";
import { hostLayout } from "./host-layout.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { repairStale, withLock } from "./runtime.js";
import { type RuntimePlan, readRuntimePlan } from "./runtime-cgroups.js";
import { observe, requireState } from "./state.js";
import { STOP_CLEANUP_GRACE_MS, waitFor } from "./stop.js";

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
   * `lazy.finish`, or until this process ends without it (the dump then
   * fails and the container runs on).
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

/** Why CRIU would fail on the processes under running init `pid` (checkpoint-tasks.ts), or undefined. */
export function taskRefusal(ctx: Context, plan: RuntimePlan, pid: number): string | undefined {
  return refuseTasks(readTasks(pid), {
    privileged: !plan.records.has("idmap"),
    canReadLimits: hasCapSysResource(readFileSync(`/proc/${ctx.pid}/status`, "utf8")),
  });
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
      lazy: !!opts.lazy,
    });
    const dumpFailed = (err?: unknown, stderr = "") =>
      new LxtError(
        "checkpoint",
        `checkpoint ${paths.name}: criu dump failed: ${stderr || criuLogError(readLog(opts.dir, DUMP_LOG))} (log: ${join(opts.dir, DUMP_LOG)})`,
        err,
      );
    const t0 = ctx.host.clock.now();
    let serving: CriuChild | undefined;
    // Made before criu runs, so that from then on this process's end,
    // however it ends, fails the dump unless it was ended with success.
    const link = opts.lazy ? await pageServerLink(ctx.host.helper) : undefined;
    try {
      if (link) {
        const spawned = spawnReady(
          ctx.settings.hostEnv,
          args,
          (_, stderr) => dumpFailed(undefined, stderr),
          link.criu,
        );
        // criu has its copy once spawned: a close of this one sends nothing.
        link.criu.destroy();
        serving = await spawned;
      } else await ctx.host.run.run("criu", args);
    } catch (err) {
      link?.ours.resetAndDestroy();
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
      if (serving && link) await failDump(serving, link.ours);
      throw err;
    }
    return {
      dir: opts.dir,
      dumpMs,
      stopped: !!opts.stop,
      monitor: seen.monitor,
      serving,
      criu: link?.ours,
    };
  });
  if (result.serving && opts.lazy && result.criu) {
    const { dir } = opts;
    const lazy = await serveLazy({
      ...opts.lazy,
      serving: result.serving,
      criu: result.criu,
      protect: (sock) => setSockopts(ctx.host.helper, sock, ["reset-on-close"]),
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
