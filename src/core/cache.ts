/**
 * Per-process caches a front-end hands the core in its context (a one-shot
 * CLI and a long-running daemon alike): each bounded, so that a daemon that
 * sees thousands of containers keeps only the most recently used entries.
 * Entries must be safe to share between concurrent calls: immutable values,
 * validated by their key (e.g. a file's identity) on every use.
 */

/** A map of at most `max` entries that forgets the least recently used first. */
export class BoundedCache<V> {
  private readonly entries = new Map<string, V>();

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`cache size ${max}: not >= 1`);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The entry, now the most recently used; undefined when absent. */
  get(key: string): V | undefined {
    const v = this.entries.get(key);
    if (v === undefined) return undefined;
    // A Map iterates in insertion order: re-inserting makes it the newest.
    this.entries.delete(key);
    this.entries.set(key, v);
    return v;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}

/** Names one cache and the type of its values; made once by the module that owns the cache. */
export interface CacheKey<V> {
  readonly name: string;
  readonly max: number;
  /** Never set: carries `V` for the type checker. */
  readonly value?: V;
}

export function cacheKey<V>(name: string, max: number): CacheKey<V> {
  return { name, max };
}

/** The caches of one context, each made on first use. */
export class Caches {
  private readonly byName = new Map<string, BoundedCache<unknown>>();

  of<V>(key: CacheKey<V>): BoundedCache<V> {
    let c = this.byName.get(key.name);
    if (!c) {
      c = new BoundedCache<unknown>(key.max);
      this.byName.set(key.name, c);
    }
    return c as BoundedCache<V>;
  }
}
