/**
 * Expired snapshots and backups are removed by the daemon, as LXD prunes
 * them. Expiries are stored with what they expire (`lxd-snapshot.yaml`, a
 * backup's record), never only in memory: a sweep at the daemon's start
 * removes what expired while no daemon ran, and arms one timer for the
 * earliest expiry still ahead (re-armed by each change of an expiry, and at
 * least hourly, so that expiries written by another daemon on the same
 * state root are seen too). The timer is unref'd: it keeps no daemon alive.
 */
import { listNames } from "../container/list.js";
import { containerPaths } from "../container/paths.js";
import { destroySnapshot } from "../container/snapshot.js";
import { backupRecords, removeBackup } from "./backup-store.js";
import type { Daemon } from "./daemon.js";
import { inInstanceQueue } from "./instance-queue.js";
import { snapshotRecords } from "./snapshot-store.js";

/** The longest the timer sleeps before it looks again. */
export const MAX_SLEEP_MS = 3_600_000;

interface Sweeper {
  timer?: NodeJS.Timeout;
  running: boolean;
  /** Callers waiting for a sweep that starts after their call. */
  waiting: (() => void)[];
}

const sweepers = new WeakMap<Daemon, Sweeper>();

/**
 * Sweeps (removing what has expired) and arms the timer for the next
 * expiry. Called at the daemon's start and whenever an expiry is set; a call
 * during a sweep makes it sweep once more when done. Resolves once a sweep
 * that began after the call has ended.
 */
export function armExpiry(d: Daemon): Promise<void> {
  let s = sweepers.get(d);
  if (!s) {
    s = { running: false, waiting: [] };
    sweepers.set(d, s);
  }
  const sw = s;
  const done = new Promise<void>((r) => sw.waiting.push(r));
  if (!sw.running) void run(d, sw);
  return done;
}

async function run(d: Daemon, sw: Sweeper): Promise<void> {
  clearTimeout(sw.timer);
  sw.running = true;
  while (sw.waiting.length > 0) {
    const served = sw.waiting.splice(0);
    const next = await sweep(d).catch((err: unknown) => {
      d.log.error({ err }, "expiry sweep failed");
      return undefined;
    });
    for (const r of served) r();
    if (sw.waiting.length > 0) continue;
    if (sweepers.get(d) !== sw) break; // disarmed meanwhile
    const wait = next === undefined ? MAX_SLEEP_MS : next - d.ctx.host.clock.now();
    sw.timer = setTimeout(() => void armExpiry(d), Math.max(0, Math.min(wait, MAX_SLEEP_MS)));
    sw.timer.unref();
  }
  sw.running = false;
}

/** Stops the timer (a daemon shutting down, a test). */
export function disarmExpiry(d: Daemon): void {
  const s = sweepers.get(d);
  if (s) clearTimeout(s.timer);
  sweepers.delete(d);
}

/** Removes what has expired; returns the earliest expiry still ahead (ms). */
async function sweep(d: Daemon): Promise<number | undefined> {
  let earliest: number | undefined;
  const ahead = (t: number) => {
    if (earliest === undefined || t < earliest) earliest = t;
  };
  for (const name of listNames(d.ctx.lxcpath)) {
    const paths = containerPaths(d.ctx, name);
    for (const rec of snapshotRecords(d.ctx, paths)) {
      if (!rec.expiresAt) continue;
      const t = Date.parse(rec.expiresAt);
      if (t > d.ctx.host.clock.now()) ahead(t);
      else await pruneSnapshot(d, name, rec.dir);
    }
    for (const b of backupRecords(paths)) {
      if (!b.expires_at) continue;
      const t = Date.parse(b.expires_at);
      if (t > d.ctx.host.clock.now()) ahead(t);
      else {
        await inInstanceQueue(d, name, async () => removeBackup(paths, b));
        d.events.lifecycle("instance-backup-deleted", `/1.0/instances/${name}/backups/${b.name}`);
      }
    }
  }
  return earliest;
}

/** Removes one expired snapshot, after checking under the instance's queue that it still is. */
async function pruneSnapshot(d: Daemon, instance: string, dir: string): Promise<void> {
  const paths = containerPaths(d.ctx, instance);
  await inInstanceQueue(d, instance, async () => {
    const rec = snapshotRecords(d.ctx, paths).find((r) => r.dir === dir);
    if (!rec?.expiresAt || Date.parse(rec.expiresAt) > d.ctx.host.clock.now()) return;
    try {
      await destroySnapshot(d.ctx, paths, dir);
    } catch (err) {
      d.log.warn({ err, instance, snapshot: rec.name }, "expired snapshot not removed");
      return;
    }
    d.log.info({ instance, snapshot: rec.name }, "expired snapshot removed");
    d.events.lifecycle(
      "instance-snapshot-deleted",
      `/1.0/instances/${instance}/snapshots/${rec.name}`,
    );
  });
}
