/**
 * This lxtd as a member of a cluster on a shared store (etcd): its record
 * and heartbeat, whether the others are online, and the one namespace of
 * instance names. The data model is in docs/cluster.md:
 *
 * - `/lxt/members/NAME`: the member's record, rewritten at each heartbeat
 *   and kept when it goes offline (the list shows it Offline);
 * - `/lxt/alive/NAME`: attached to the member's lease, so it vanishes when
 *   the member stops cleanly (revoke) or stops heartbeating (expiry);
 * - `/lxt/names/NAME`: the member that holds an instance name, claimed in
 *   one transaction at create and released at delete;
 * - `/lxt/instances/MEMBER/NAME`: the instance as its member last
 *   published it, so every member lists every instance with its location;
 * - `/lxt/removed/NAME`: the member was removed (cluster-remove.ts); its
 *   record is written only while this key is absent.
 */
import { cpus, freemem, loadavg, totalmem } from "node:os";
import { listNames } from "../container/list.js";
import { containerPaths } from "../container/paths.js";
import { type ClusterStore, KEYS, type StoreLease } from "./cluster-store.js";
import type { Daemon } from "./daemon.js";
import { ApiError } from "./envelope.js";
import { instanceJson } from "./instance-view.js";
import { ProfileStore } from "./profiles.js";
import type { InstanceJson, MemberRecord, MemberView } from "./types.js";

export interface ClusterOptions {
  /** This member's name (unique in the cluster). */
  member: string;
  address: string;
  architecture: string;
  /** The lease's TTL: a member silent this long is offline. Heartbeats come at a third of it. */
  ttlSeconds: number;
  store: ClusterStore;
  /**
   * Where the local instances come from: the state root's containers by
   * default; the scale simulation (bench/cluster-sim.ts) gives records
   * without containers, so the same code heartbeats and publishes them.
   */
  local?: { names(): string[]; instances(): Promise<InstanceJson[]> };
  /**
   * Called once when a heartbeat finds this member removed from the
   * cluster (cluster-remove.ts), before it leaves: the daemon stops
   * answering as a member.
   */
  onRemoved?: () => Promise<void>;
}

/** LXD's status code of an instance whose member cannot be reached. */
const STATUS_ERROR = 112;

export class Cluster {
  readonly member: string;
  private lease?: StoreLease;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /** What this member has published under its instances prefix (key → value). */
  private published = new Map<string, string>();
  /** Names claimed by a create still running: not released by the start's reconcile. */
  private readonly pending = new Set<string>();
  /** Names another member holds that a local container also has: warned once. */
  private readonly conflicts = new Set<string>();
  /** Store writes one at a time: a heartbeat never interleaves with a claim or release. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly d: Daemon,
    private readonly o: ClusterOptions,
  ) {
    this.member = o.member;
  }

  /** The URL others reach this member at (`--address`). */
  get address(): string {
    return this.o.address;
  }

  /** The shared store (forwarding and join tokens read it too). */
  get store(): ClusterStore {
    return this.o.store;
  }

  /** The member holding instance name `name`, or undefined when none does. */
  async holder(name: string): Promise<string | undefined> {
    return await this.o.store.get(KEYS.name(name));
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * Registers this member: its lease and alive key (refused while another
   * member of that name is online, unless it has this member's certificate:
   * the same lxtd restarted), its record, and its instances reconciled
   * with the store. Then heartbeats until `leave()`.
   */
  async join(): Promise<void> {
    await this.takeLease();
    await this.serial(() => this.reconcileNames());
    await this.heartbeat();
    this.schedule();
  }

  private async takeLease(): Promise<void> {
    const { store, member } = this.o;
    const lease = await store.lease(this.o.ttlSeconds);
    if (!(await lease.create(KEYS.alive(member), this.o.address))) {
      const rec = parseRecord(await store.get(KEYS.member(member)));
      if (rec?.fingerprint !== this.d.fingerprint()) {
        await lease.revoke();
        throw new Error(
          `member ${member} is already online in the cluster (at ${rec?.address ?? "an unknown address"}); pick another --member name`,
        );
      }
      await lease.put(KEYS.alive(member), this.o.address);
    }
    lease.onLost((err) => {
      if (this.stopped) return;
      this.d.log.warn(
        { err },
        "cluster: lease lost (store unreachable longer than the TTL); rejoining",
      );
      this.lease = undefined;
      this.takeLease().catch((e: unknown) =>
        this.d.log.error({ err: e }, "cluster: rejoin failed; the next heartbeat retries"),
      );
    });
    this.lease = lease;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(
      () => {
        this.heartbeat()
          .catch((err: unknown) => this.d.log.warn({ err }, "cluster: heartbeat failed"))
          .finally(() => this.schedule());
      },
      (this.o.ttlSeconds * 1000) / 3,
    );
    // The daemon lives by its listeners; the heartbeat alone keeps no process up.
    this.timer.unref();
  }

  /**
   * Writes this member's record and publishes its instances (only those
   * that changed). The record is written only while this member is not
   * removed (one transaction): once it is, the member drops what it still
   * has in the store and leaves (`removedFromCluster`).
   */
  async heartbeat(): Promise<void> {
    if (this.stopped) return;
    if (!this.lease) await this.takeLease();
    const kept = await this.serial(async () => {
      const local = await this.localInstances();
      const running = local.filter((i) => i.status === "Running").length;
      const rec: MemberRecord = {
        name: this.member,
        address: this.o.address,
        fingerprint: this.d.fingerprint(),
        architecture: this.o.architecture,
        load: {
          containers: local.length,
          running,
          cpus: cpus().length,
          load1: loadavg()[0] ?? 0,
          memory_free: freemem(),
          memory_total: totalmem(),
        },
        heartbeat: new Date(this.d.ctx.host.clock.now()).toISOString(),
      };
      const record = JSON.stringify(rec);
      if (
        !(await this.o.store.putUnless(KEYS.member(this.member), record, KEYS.removed(this.member)))
      ) {
        return false;
      }
      await this.publish(local);
      return true;
    });
    if (!kept) await this.removedFromCluster();
  }

  /**
   * This member was removed: it stops heartbeating, frees the names it
   * still holds and drops its records (a create racing the removal may
   * have claimed one), tells the daemon, and revokes its lease.
   */
  private async removedFromCluster(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    await this.serial(async () => {
      const { store } = this.o;
      for (const key of (await store.getPrefix(KEYS.memberInstances(this.member))).keys()) {
        await store.delete(key);
      }
      for (const [key, holder] of await store.getPrefix(KEYS.name(""))) {
        if (holder === this.member) await store.deleteIf(key, this.member);
      }
      this.published.clear();
    }).catch((err: unknown) =>
      this.d.log.warn({ err }, "cluster: removed, but its names could not all be freed"),
    );
    await this.o.onRemoved?.();
    await this.leave().catch((err: unknown) =>
      this.d.log.warn({ err }, "cluster: removed; revoking the lease failed (it expires)"),
    );
  }

  private localNames(): string[] {
    return this.o.local ? this.o.local.names() : listNames(this.d.ctx.lxcpath);
  }

  /** Every local instance as the others will list it. */
  private async localInstances(): Promise<InstanceJson[]> {
    if (this.o.local) return this.o.local.instances();
    const profiles = new ProfileStore(this.d.profilesDir);
    const out = await Promise.all(
      listNames(this.d.ctx.lxcpath).map((n) =>
        instanceJson(this.d.ctx, containerPaths(this.d.ctx, n), undefined, profiles).catch(
          () => undefined,
        ),
      ),
    );
    return out.filter((i) => i !== undefined).map((i) => ({ ...i, location: this.member }));
  }

  private async publish(local: InstanceJson[]): Promise<void> {
    const { store } = this.o;
    const seen = new Set<string>();
    for (const inst of local) {
      const key = KEYS.instance(this.member, inst.name);
      const value = JSON.stringify(inst);
      if (this.published.get(key) === value) {
        seen.add(key);
        continue;
      }
      const holder = await store.claim(KEYS.name(inst.name), this.member);
      if (holder !== undefined && holder !== this.member) {
        if (!this.conflicts.has(inst.name)) {
          this.conflicts.add(inst.name);
          this.d.log.warn(
            { instance: inst.name, holder },
            "cluster: a local container has a name another member holds; it is not published",
          );
        }
        continue;
      }
      await store.put(key, value);
      this.published.set(key, value);
      seen.add(key);
    }
    for (const key of [...this.published.keys()]) {
      if (seen.has(key)) continue;
      const name = key.slice(KEYS.memberInstances(this.member).length);
      await store.delete(key);
      if (!this.pending.has(name)) await store.deleteIf(KEYS.name(name), this.member);
      this.published.delete(key);
    }
  }

  /**
   * At start: what the store says this member published is read back, and
   * every name it holds without a local container (a delete or create cut
   * short by a crash) is released.
   */
  private async reconcileNames(): Promise<void> {
    const { store } = this.o;
    this.published = await store.getPrefix(KEYS.memberInstances(this.member));
    const local = new Set(this.localNames());
    for (const [key, holder] of await store.getPrefix(KEYS.name(""))) {
      const name = key.slice(KEYS.name("").length);
      if (holder === this.member && !local.has(name) && !this.pending.has(name)) {
        await store.deleteIf(key, this.member);
      }
    }
  }

  /**
   * Claims `name` for an instance this member is about to make (create,
   * copy, rename): 409 with `taken` (LXD's words for the verb) when another
   * member holds it. Then `holding()` runs the work.
   */
  async claim(name: string, taken = `Instance "${name}" already exists`): Promise<void> {
    await this.serial(async () => {
      const holder = await this.o.store.claim(KEYS.name(name), this.member).catch(this.unwritable);
      if (holder !== undefined && holder !== this.member) throw new ApiError(409, taken);
      this.pending.add(name);
    });
  }

  /**
   * Before a delete: proves the store takes writes (one transaction on the
   * name, which this member then holds), so a delete is refused while it
   * could not release the name rather than half done. 503 naming the store.
   */
  async writable(name: string): Promise<void> {
    await this.serial(() =>
      this.o.store.claim(KEYS.name(name), this.member).catch(this.unwritable),
    );
  }

  /** A store error as the client sees it: 503 naming the store (quorum lost, unreachable). */
  private readonly unwritable = (err: unknown): never => {
    throw new ApiError(
      503,
      `The cluster's store (${this.o.store.where ?? "etcd"}) cannot be written: ${(err as Error).message}`,
    );
  };

  /** Runs the work a `claim(name)` was for: the name is released if it fails. */
  async holding<T>(name: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      await this.release(name);
      throw err;
    } finally {
      // Made or not, the next heartbeat publishes it or frees its name.
      this.pending.delete(name);
    }
  }

  /** Frees `name` (its instance is deleted or its create failed) and drops its record. */
  async release(name: string): Promise<void> {
    await this.serial(async () => {
      this.pending.delete(name);
      const key = KEYS.instance(this.member, name);
      await this.o.store.delete(key);
      this.published.delete(key);
      await this.o.store.deleteIf(KEYS.name(name), this.member);
    });
  }

  /** Every member, with online = its lease is alive. */
  async members(): Promise<MemberView[]> {
    const { store } = this.o;
    const [records, alive, evacuations] = await Promise.all([
      store.getPrefix(KEYS.members),
      store.getPrefix(KEYS.alives),
      store.getPrefix(KEYS.evacuations),
    ]).catch((err: unknown) => {
      throw new ApiError(
        503,
        `The cluster's store (${store.where ?? "etcd"}) cannot be read: ${(err as Error).message}`,
      );
    });
    const out: MemberView[] = [];
    for (const value of records.values()) {
      const rec = parseRecord(value);
      if (!rec) continue;
      const online = alive.has(KEYS.alive(rec.name));
      out.push({ ...rec, online, evacuated: evacuations.has(KEYS.evacuation(rec.name)) });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * The instances of the other members as they published them; an offline
   * member's are in Error. A name a local container also has is left out
   * (the local one is listed: no name twice).
   */
  async remoteInstances(): Promise<InstanceJson[]> {
    const [records, alive] = await Promise.all([
      this.o.store.getPrefix(KEYS.instances),
      this.o.store.getPrefix(KEYS.alives),
    ]);
    const here = new Set(this.localNames());
    const out: InstanceJson[] = [];
    for (const [key, value] of records) {
      const [member = "", name = ""] = key.slice(KEYS.instances.length).split("/");
      if (member === this.member || here.has(name)) continue;
      let inst: InstanceJson;
      try {
        inst = JSON.parse(value) as InstanceJson;
      } catch {
        continue;
      }
      if (!alive.has(KEYS.alive(member))) {
        inst = { ...inst, status: "Error", status_code: STATUS_ERROR };
      }
      out.push({ ...inst, location: member });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Stops heartbeating and revokes the lease: the others see this member offline at once. */
  async leave(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.queue;
    await this.lease?.revoke();
    this.o.store.close();
  }
}

function parseRecord(value: string | undefined): MemberRecord | undefined {
  if (!value) return undefined;
  try {
    return JSON.parse(value) as MemberRecord;
  } catch {
    return undefined;
  }
}
