/**
 * Evacuating a cluster member and restoring it (LXD's `lxc cluster
 * evacuate/restore`, docs/cluster.md "Evacuate and restore"). An evacuation
 * marks the member (`/lxt/evacuation/MEMBER`: it shows "Evacuated" and takes
 * no placements), then moves each of its instances to the least loaded
 * other online member as its `cluster.evacuate` key says (`auto`: live when
 * it runs and can be checkpointed, else stopped, moved and started there;
 * `migrate`: stopped, moved, started; `live-migrate`: live or refused;
 * `stop`: stopped and left here), recording under
 * `/lxt/evacuated/MEMBER/NAME` where it went and whether it ran. A restore
 * asks each of those members to send the instance back (the same modes) and
 * starts the ones stopped in place that ran. The moves are the migration
 * code's (migrate-send.ts) over member trust (cluster-link.ts); a name's
 * claim changes member in one compare-and-set before its container leaves.
 */
import { summarize } from "../container/list.js";
import { checkpointRefusal } from "../container/migrate.js";
import { listNames } from "../container/paths.js";
import type { Cluster } from "./cluster.js";
import { memberLink } from "./cluster-link.js";
import { leastLoaded } from "./cluster-place.js";
import { KEYS } from "./cluster-store.js";
import type { Daemon } from "./daemon.js";
import { ApiError } from "./envelope.js";
import { readMeta } from "./instance-meta.js";
import { type EvacuateMode, evacuateMode } from "./lxd-config.js";
import { sendContainer } from "./migrate-send.js";
import { changeState, instancePaths } from "./routes/instances.js";
import type { MemberView } from "./types.js";

/** Where an evacuation put one instance (`/lxt/evacuated/MEMBER/NAME`). */
export interface EvacuatedRecord {
  /** The member it went to; the evacuated member itself for `stop`. */
  member: string;
  /** It ran when the evacuation began: the restore starts it if it is stopped. */
  running: boolean;
  mode: EvacuateMode;
}

/** How long a clean stop of an instance may take before it is killed (seconds). */
const STOP_TIMEOUT_S = 30;

function clusterOf(d: Daemon): Cluster {
  if (!d.cluster) throw new ApiError(400, "Server isn't part of a cluster");
  return d.cluster;
}

async function running(d: Daemon, name: string): Promise<boolean> {
  return (await summarize(d.ctx, instancePaths(d, name))).state !== "STOPPED";
}

/**
 * Sends local instance `name` to member `to` for good: live when it runs
 * and `mode` allows (`auto`, `live-migrate`) and it can be checkpointed;
 * otherwise a running one is stopped, sent, and started there. The name's
 * claim passes to `to` in one transaction first (it goes back if the send
 * fails, and the instance runs here again as it did).
 *
 * @throws ApiError 400 for `live-migrate` of an instance that cannot be
 *   checkpointed (nothing moved); the send's error otherwise.
 */
export async function moveTo(
  d: Daemon,
  name: string,
  to: MemberView,
  mode: EvacuateMode,
): Promise<{ live: boolean }> {
  const cluster = clusterOf(d);
  const paths = instancePaths(d, name);
  const what = `move ${name} to cluster member ${to.name}`;
  const ran = await running(d, name);
  const refusal = ran ? checkpointRefusal(d.ctx, paths) : undefined;
  if (ran && mode === "live-migrate" && refusal) {
    throw new ApiError(400, `${what}: cluster.evacuate is live-migrate but ${refusal}`);
  }
  const live = ran && mode !== "migrate" && refusal === undefined;
  const key = KEYS.name(name);
  if (!(await cluster.store.swap(key, cluster.member, to.name))) {
    throw new ApiError(409, `${what}: the cluster does not say this member holds ${name}`);
  }
  let stopped = false;
  try {
    if (ran && !live) {
      await changeState(d, paths, "stop", { timeout: STOP_TIMEOUT_S, force: false });
      stopped = true;
    }
    await sendContainer(memberLink(d, to, what), paths, {
      newName: name,
      move: true,
      caller: d.caller,
    });
  } catch (err) {
    // The receiver frees the name if its import failed: take it back either way.
    if (!(await cluster.store.swap(key, to.name, cluster.member).catch(() => false))) {
      await cluster.store.claim(key, cluster.member).catch(() => undefined);
    }
    if (stopped) {
      await changeState(d, paths, "start", { timeout: 0, force: false }).catch((e: unknown) =>
        d.log.warn({ err: e, instance: name }, "evacuate: not started again after a failed move"),
      );
    }
    throw err;
  }
  // Its record here goes now, not at the next heartbeat (no name listed twice).
  await cluster.release(name);
  if (stopped) {
    const link = memberLink(d, to, `start ${name} on cluster member ${to.name}`);
    const op = await link.request({
      method: "PUT",
      path: `/1.0/instances/${encodeURIComponent(name)}/state`,
      body: { action: "start" },
    });
    if (op.operation) await link.wait(op.operation);
  }
  return { live };
}

/** What an evacuation will do, decided before anything changes. */
export interface EvacuationPlan {
  instances: { name: string; mode: EvacuateMode }[];
  targets: MemberView[];
}

/**
 * Checks that this member can be evacuated: not evacuated already, every
 * instance's `cluster.evacuate` valid, and another online member that is not
 * evacuated when any instance is to move. Nothing changes.
 */
export async function planEvacuation(d: Daemon): Promise<EvacuationPlan> {
  const cluster = clusterOf(d);
  const members = await cluster.members();
  if (members.find((m) => m.name === cluster.member)?.evacuated) {
    throw new ApiError(400, "Cluster member is already evacuated");
  }
  const instances = listNames(d.ctx.lxcpath).map((name) => {
    const v = readMeta(instancePaths(d, name)).config["cluster.evacuate"];
    try {
      return { name, mode: evacuateMode(v) };
    } catch (err) {
      throw new ApiError(400, `Instance "${name}": ${(err as Error).message}`);
    }
  });
  const targets = members.filter((m) => m.online && !m.evacuated && m.name !== cluster.member);
  const moving = instances.filter((i) => i.mode !== "stop");
  if (moving.length > 0 && targets.length === 0) {
    throw new ApiError(
      400,
      `No other online cluster member to evacuate ${cluster.member}'s instances to (${moving.map((i) => i.name).join(", ")}): nothing was moved`,
    );
  }
  return { instances, targets };
}

/**
 * Evacuates this member as `plan` says (see the module's comment). A move
 * that fails stops the evacuation: the member is not marked evacuated any
 * more (it takes placements again), and what had moved stays recorded, so
 * a restore brings it back.
 */
export async function evacuate(d: Daemon, plan: EvacuationPlan): Promise<void> {
  const cluster = clusterOf(d);
  const { store, member } = cluster;
  await store.put(
    KEYS.evacuation(member),
    JSON.stringify({ at: new Date(d.ctx.host.clock.now()).toISOString() }),
  );
  try {
    for (const { name, mode } of plan.instances) {
      const ran = await running(d, name);
      let to = member;
      if (mode === "stop") {
        if (ran) {
          await changeState(d, instancePaths(d, name), "stop", {
            timeout: STOP_TIMEOUT_S,
            force: false,
          });
        }
      } else {
        const target = leastLoaded(plan.targets, "");
        if (!target) throw new ApiError(503, `No online cluster member left to move ${name} to`);
        await moveTo(d, name, target, mode);
        // The loads are the last heartbeat's: count this one before the next choice.
        target.load.containers++;
        if (ran) target.load.running++;
        to = target.name;
      }
      const rec: EvacuatedRecord = { member: to, running: ran, mode };
      await store.put(KEYS.evacuated(member, name), JSON.stringify(rec));
    }
  } catch (err) {
    await store.delete(KEYS.evacuation(member)).catch(() => undefined);
    throw err;
  }
}

/** The records of this member's evacuation (name → record). */
async function evacuatedRecords(cluster: Cluster): Promise<Map<string, EvacuatedRecord>> {
  const prefix = KEYS.memberEvacuated(cluster.member);
  const out = new Map<string, EvacuatedRecord>();
  for (const [key, value] of await cluster.store.getPrefix(prefix)) {
    try {
      out.set(key.slice(prefix.length), JSON.parse(value) as EvacuatedRecord);
    } catch {
      // Not ours: left alone.
    }
  }
  return out;
}

/**
 * Checks that this member can be restored: it is evacuated (or an
 * evacuation cut short left records), and every member holding one of its
 * instances is online. Nothing changes.
 */
export async function planRestore(d: Daemon): Promise<Map<string, EvacuatedRecord>> {
  const cluster = clusterOf(d);
  const records = await evacuatedRecords(cluster);
  const members = await cluster.members();
  const self = members.find((m) => m.name === cluster.member);
  if (!self?.evacuated && records.size === 0) {
    throw new ApiError(400, "Cluster member is not evacuated");
  }
  for (const [name, rec] of records) {
    if (rec.member === cluster.member) continue;
    const m = members.find((x) => x.name === rec.member);
    if (!m?.online) {
      throw new ApiError(
        503,
        `Cluster member ${rec.member}, which holds ${name}, is offline: nothing was restored`,
      );
    }
  }
  return records;
}

/**
 * Restores this member: each recorded instance comes back (its member
 * sends it, `POST /1.0/cluster/moves`), the ones that ran and are stopped
 * here are started, and the member takes placements again. A failure stops
 * the restore with what is left still recorded (a second restore goes on).
 */
export async function restore(d: Daemon, records: Map<string, EvacuatedRecord>): Promise<void> {
  const cluster = clusterOf(d);
  const { store, member } = cluster;
  for (const [name, rec] of records) {
    if (rec.member !== member) {
      const m = (await cluster.members()).find((x) => x.name === rec.member);
      if (!m) throw new ApiError(404, `Cluster member "${rec.member}" not found`);
      const link = memberLink(d, m, `bring ${name} back from cluster member ${m.name}`);
      const op = await link.request({
        method: "POST",
        path: "/1.0/cluster/moves",
        body: { name, member, mode: rec.mode },
      });
      if (op.operation) await link.wait(op.operation);
    }
    if (rec.running && !(await running(d, name))) {
      await changeState(d, instancePaths(d, name), "start", { timeout: 0, force: false });
    }
    await store.delete(KEYS.evacuated(member, name));
  }
  await store.delete(KEYS.evacuation(member));
}
