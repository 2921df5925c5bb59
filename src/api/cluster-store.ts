/**
 * What lxtd's cluster needs of its store: a few key operations, a lease
 * and two compare-and-set transactions. etcd serves it (cluster-etcd.ts);
 * unit tests serve it from a map. Keys and values are strings.
 */

/** A lease: keys put through it vanish when it is revoked or expires. */
export interface StoreLease {
  /** Puts `key` attached to this lease. */
  put(key: string, value: string): Promise<void>;
  /** Puts `key` attached to this lease only if `key` does not exist; false when it does. */
  create(key: string, value: string): Promise<boolean>;
  /** Ends the lease at once: its keys are deleted. */
  revoke(): Promise<void>;
  /** Called once when the store says the lease is gone (expired while unreachable). */
  onLost(cb: (err: Error) => void): void;
}

export interface ClusterStore {
  /** What the store is, for errors: `etcd at http://HOST:PORT,...`. */
  readonly where?: string;
  /** A lease of `ttlSeconds`, kept alive by the client until revoked or lost. */
  lease(ttlSeconds: number): Promise<StoreLease>;
  get(key: string): Promise<string | undefined>;
  /** Every key under `prefix`, with its value. */
  getPrefix(prefix: string): Promise<Map<string, string>>;
  put(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * Sets `key` to `value` only if it does not exist (one transaction);
   * resolves with undefined when it was set, else with the value it holds.
   */
  claim(key: string, value: string): Promise<string | undefined>;
  /** Deletes `key` only if it still holds `value` (one transaction). */
  deleteIf(key: string, value: string): Promise<void>;
  /** Sets `key` to `to` only if it holds `from` (one transaction); false when it does not. */
  swap(key: string, from: string, to: string): Promise<boolean>;
  /** Puts `key` only while `guard` does not exist (one transaction); false when it does. */
  putUnless(key: string, value: string, guard: string): Promise<boolean>;
  close(): void;
}

/** The keys of the cluster's data model in the store (docs/cluster.md). */
export const KEYS = {
  /** A member's record (address, fingerprint, load, last heartbeat): kept while it is offline. */
  member: (name: string) => `/lxt/members/${name}`,
  members: "/lxt/members/",
  /** Present while the member is online: attached to its lease. */
  alive: (name: string) => `/lxt/alive/${name}`,
  alives: "/lxt/alive/",
  /** Who holds an instance name: the member's name. */
  name: (name: string) => `/lxt/names/${name}`,
  /** A member's published instance record (LXD's instance JSON, with `location`). */
  instance: (member: string, name: string) => `/lxt/instances/${member}/${name}`,
  instances: "/lxt/instances/",
  memberInstances: (member: string) => `/lxt/instances/${member}/`,
  /** Present while a member is evacuated or being evacuated (cluster-evacuate.ts). */
  evacuation: (member: string) => `/lxt/evacuation/${member}`,
  evacuations: "/lxt/evacuation/",
  /** Where an evacuation sent a member's instance, so a restore brings it back. */
  evacuated: (member: string, name: string) => `/lxt/evacuated/${member}/${name}`,
  memberEvacuated: (member: string) => `/lxt/evacuated/${member}/`,
  /** Present once a member was removed (cluster-remove.ts): it may not write its record again. */
  removed: (member: string) => `/lxt/removed/${member}`,
};

/** A store in memory (one process): the unit tests' etcd. Leases expire only when `expire()`d. */
export class MemoryStore implements ClusterStore {
  readonly where = "a store in memory";
  readonly data = new Map<string, string>();
  private readonly leased = new Map<number, Set<string>>();
  private readonly lost = new Map<number, (err: Error) => void>();
  private next = 1;

  async lease(): Promise<StoreLease> {
    const id = this.next++;
    const keys = new Set<string>();
    this.leased.set(id, keys);
    const store = this;
    const put = (key: string, value: string) => {
      store.data.set(key, value);
      keys.add(key);
    };
    return {
      async put(key, value) {
        put(key, value);
      },
      async create(key, value) {
        if (store.data.has(key)) return false;
        put(key, value);
        return true;
      },
      async revoke() {
        store.drop(id);
      },
      onLost(cb) {
        store.lost.set(id, cb);
      },
    };
  }

  /** Ends every lease as an expiry would, calling their `onLost`. */
  expire(): void {
    for (const id of [...this.leased.keys()]) {
      this.drop(id);
      this.lost.get(id)?.(new Error("lease expired"));
    }
  }

  private drop(id: number): void {
    for (const k of this.leased.get(id) ?? []) this.data.delete(k);
    this.leased.delete(id);
  }

  async get(key: string) {
    return this.data.get(key);
  }
  async getPrefix(prefix: string) {
    return new Map([...this.data].filter(([k]) => k.startsWith(prefix)));
  }
  async put(key: string, value: string) {
    this.data.set(key, value);
  }
  async delete(key: string) {
    this.data.delete(key);
  }
  async claim(key: string, value: string) {
    const held = this.data.get(key);
    if (held !== undefined) return held;
    this.data.set(key, value);
    return undefined;
  }
  async deleteIf(key: string, value: string) {
    if (this.data.get(key) === value) this.data.delete(key);
  }
  async swap(key: string, from: string, to: string) {
    if (this.data.get(key) !== from) return false;
    this.data.set(key, to);
    return true;
  }
  async putUnless(key: string, value: string, guard: string) {
    if (this.data.has(guard)) return false;
    this.data.set(key, value);
    return true;
  }
  close() {}
}
