/**
 * One queue per instance for the daemon's changes that read, then write,
 * its LXD side files (a snapshot's name, a backup's): two requests naming
 * the same new snapshot run one after the other, so the second sees the
 * first's. The core's own lock still guards the container itself.
 */
import type { Daemon } from "./daemon.js";

const queues = new WeakMap<Daemon, Map<string, Promise<unknown>>>();

/** Runs `fn` once every earlier `inInstanceQueue` call for `name` has ended. */
export function inInstanceQueue<T>(d: Daemon, name: string, fn: () => Promise<T>): Promise<T> {
  let q = queues.get(d);
  if (!q) {
    q = new Map();
    queues.set(d, q);
  }
  const prev = q.get(name) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const tail = next.catch(() => {});
  q.set(name, tail);
  void tail.then(() => {
    if (q.get(name) === tail) q.delete(name);
  });
  return next;
}
