/**
 * Managed networks that span the cluster's members (docs/cluster.md,
 * "Networks across members"). A network created with `cluster.vxlan` is a
 * record in the store; every member runs it as a managed network of its
 * own (same subnet, same gateway address, its own dnsmasq and NAT) whose
 * bridge is joined to the others' by a VXLAN tunnel (one VNI per network,
 * unicast to each online member's underlay address: the host of its
 * `--address`). Addresses are claimed in the store, one key per address,
 * so a container's address is unique in the cluster and follows it to
 * another member; each member mirrors the others' claims into its
 * dnsmasq's host files, so every gateway answers for every name.
 *
 * - `/lxt/networks/NAME`: the network's record (`ClusterNetRecord`);
 * - `/lxt/vnis/VNI`: the network holding a VNI (claimed in a transaction);
 * - `/lxt/netips/NAME/IP`: the NIC (`CONTAINER.N`) holding the address,
 *   with its member and MAC.
 *
 * A sync (at a third of the lease TTL, and before a start) reconciles this
 * member with the store: networks made or removed, the tunnel's flood
 * list set to the online members, claims published and mirrored.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { listNames } from "../container/list.js";
import {
  createNetwork,
  deleteNetwork,
  NETWORK_KEYS,
  networkOptions,
} from "../container/network.js";
import {
  joinOverlay,
  leaveOverlay,
  localNetwork,
  nicLinks,
  setFloodPeers,
  VXLAN_PORT,
} from "../container/overlay.js";
import type { ContainerPaths } from "../container/paths.js";
import { writeFileAtomic } from "../host/atomic.js";
import { AddressClaims } from "./cluster-net-claims.js";
import {
  type AddressClaim,
  CLUSTER_KEY,
  type ClusterNetRecord,
  containerOf,
  NET_KEYS,
  optionsOf,
  parse,
  underlayOf,
} from "./cluster-net-model.js";
import { type ClusterStore, KEYS } from "./cluster-store.js";
import type { Daemon } from "./daemon.js";
import { ApiError, badRequest } from "./envelope.js";
import type { MemberRecord } from "./types.js";

export interface ClusterNetOptions {
  member: string;
  /** This member's `--address` (`https://HOST:PORT`): HOST is its tunnel endpoint. */
  address: string;
  store: ClusterStore;
  /** How often the member reconciles with the store. */
  periodMs: number;
}

export class ClusterNet {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private queue: Promise<unknown> = Promise.resolve();
  private local?: string;
  /** Networks whose tunnel this process has set up (the rest is checked each sync). */
  private readonly attached = new Set<string>();
  /** Warnings said once (a network of that name that is not the cluster's, ...). */
  private readonly said = new Set<string>();

  /** The address claims of the spanning networks. */
  private readonly addresses: AddressClaims;

  constructor(
    private readonly d: Daemon,
    private readonly o: ClusterNetOptions,
  ) {
    this.addresses = new AddressClaims(d.ctx, {
      member: o.member,
      store: o.store,
      periodMs: o.periodMs,
      warnOnce: (what, fields, msg) => this.warnOnce(what, fields, msg),
    });
  }

  private get markers(): string {
    return join(this.d.stateDir, "cluster-networks");
  }

  /** The spanning networks this member has made (marker files under the state dir). */
  spanning(): string[] {
    try {
      return readdirSync(this.markers)
        .filter((f) => f.endsWith(".json"))
        .map((f) => f.slice(0, -5))
        .sort();
    } catch {
      return [];
    }
  }

  /** The cluster keys of network `name` for its LXD view; undefined when it does not span. */
  configOf(name: string): Record<string, string> | undefined {
    const rec = parse<ClusterNetRecord>(this.readMarker(name));
    return rec ? { [CLUSTER_KEY]: String(rec.vni) } : undefined;
  }

  private writeMarker(rec: ClusterNetRecord): void {
    mkdirSync(this.markers, { recursive: true, mode: 0o700 });
    writeFileAtomic(join(this.markers, `${rec.name}.json`), `${JSON.stringify(rec)}\n`);
  }

  private readMarker(name: string): string | undefined {
    try {
      return readFileSync(join(this.markers, `${name}.json`), "utf8");
    } catch {
      return undefined;
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /** Syncs now, then every period until `stop()`. */
  async start(): Promise<void> {
    this.local = await underlayOf(this.o.address);
    await this.sync().catch((err: unknown) =>
      this.d.log.warn({ err }, "cluster networks: first sync failed; retrying"),
    );
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.sync()
        .catch((err: unknown) => this.d.log.warn({ err }, "cluster networks: sync failed"))
        .finally(() => this.schedule());
    }, this.o.periodMs);
    this.timer.unref();
  }

  /** Stops syncing (the networks stay up: running containers keep their network). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.queue;
  }

  /** Reconciles this member with the store (one sync at a time). */
  sync(): Promise<void> {
    return this.serial(() => this.reconcile());
  }

  private warnOnce(what: string, fields: Record<string, unknown>, msg: string): void {
    if (this.said.has(what)) return;
    this.said.add(what);
    this.d.log.warn(fields, msg);
  }

  private async reconcile(): Promise<void> {
    const { store, member } = this.o;
    const [records, members, alive, names, claims] = await Promise.all([
      store.getPrefix(NET_KEYS.networks),
      store.getPrefix(KEYS.members),
      store.getPrefix(KEYS.alives),
      store.getPrefix(KEYS.name("")),
      store.getPrefix(NET_KEYS.addresses),
    ]);
    const peers: string[] = [];
    for (const value of members.values()) {
      const rec = parse<MemberRecord>(value);
      if (!rec || rec.name === member || !alive.has(KEYS.alive(rec.name))) continue;
      try {
        peers.push(await underlayOf(rec.address));
      } catch (err) {
        this.warnOnce(
          `peer ${rec.name}`,
          { err },
          `cluster networks: member ${rec.name}'s address does not resolve`,
        );
      }
    }
    const local = new Set(listNames(this.d.ctx.lxcpath));
    const wanted = new Set<string>();
    for (const value of records.values()) {
      const rec = parse<ClusterNetRecord>(value);
      if (!rec) continue;
      wanted.add(rec.name);
      try {
        if (!(await this.ensure(rec))) continue;
        await setFloodPeers(this.d.ctx, rec.vni, [...new Set(peers)].sort());
        await this.addresses.reconcile(rec, claims, names, local);
      } catch (err) {
        // One network's trouble (its bridge down after a reboot, ...) holds
        // up no other; its tunnel is set up again at the next sync.
        this.attached.delete(rec.name);
        this.d.log.warn({ err, network: rec.name }, "cluster networks: sync of a network failed");
      }
    }
    for (const name of this.spanning()) {
      if (!wanted.has(name)) await this.teardown(name);
    }
  }

  /** Network `rec` made here and on its tunnel; false when a network of this name is not the cluster's. */
  private async ensure(rec: ClusterNetRecord): Promise<boolean> {
    const marker = this.readMarker(rec.name);
    if (localNetwork(this.d.ctx, rec.name) && marker === undefined) {
      this.warnOnce(
        `net ${rec.name}`,
        { network: rec.name },
        "cluster networks: a local network has the name of a cluster network; it is left alone",
      );
      return false;
    }
    if (!localNetwork(this.d.ctx, rec.name)) {
      await createNetwork(this.d.ctx, rec.name, networkOptions(optionsOf(rec)));
      this.attached.delete(rec.name);
    }
    if (marker === undefined) this.writeMarker(rec);
    if (!this.attached.has(rec.name)) {
      await joinOverlay(this.d.ctx, rec.name, {
        vni: rec.vni,
        port: rec.port,
        local: this.local ?? (await underlayOf(this.o.address)),
      });
      this.attached.add(rec.name);
    }
    return true;
  }

  /** A spanning network the store no longer has: taken off its tunnel and deleted here. */
  private async teardown(name: string): Promise<void> {
    const rec = parse<ClusterNetRecord>(this.readMarker(name));
    try {
      if (rec) await leaveOverlay(this.d.ctx, name, rec.vni);
      this.attached.delete(name);
      if (localNetwork(this.d.ctx, name)) await deleteNetwork(this.d.ctx, name);
      rmSync(join(this.markers, `${name}.json`), { force: true });
    } catch (err) {
      this.warnOnce(
        `teardown ${name}`,
        { err, network: name },
        "cluster networks: removing a deleted cluster network failed; retrying",
      );
    }
  }

  /**
   * `POST /1.0/networks` with `cluster.vxlan`: the network made here, its
   * VNI and record claimed in the store; the other members make theirs at
   * their next sync. All or nothing.
   */
  async create(name: string, config: Record<string, string>): Promise<void> {
    const { store } = this.o;
    const { [CLUSTER_KEY]: vxlan, ...rest } = config;
    for (const [k, v] of Object.entries(rest)) {
      if (!(k in NETWORK_KEYS))
        throw badRequest(`Invalid option for network "${name}" option "${k}"`);
      if (k === "ipv6.address" && v !== "none")
        throw badRequest(
          `Invalid value for network "${name}" option "${k}": a cluster network has no IPv6 yet`,
        );
    }
    const asked = vxlan === "true" ? undefined : Number(vxlan);
    if (asked !== undefined && !(Number.isInteger(asked) && asked >= 1 && asked <= 0xffffff))
      throw badRequest(
        `Invalid value for network "${name}" option "${CLUSTER_KEY}": expected true or a VNI from 1 to 16777215`,
      );
    if (await store.get(NET_KEYS.network(name)))
      throw new ApiError(409, `Network "${name}" already exists`);
    await this.serial(async () => {
      const vni = await this.claimVni(name, asked);
      let made = false;
      try {
        const n = await createNetwork(
          this.d.ctx,
          name,
          networkOptions({ ...rest, "ipv6.address": "none" }),
        );
        made = true;
        const rec: ClusterNetRecord = {
          name,
          vni,
          port: VXLAN_PORT,
          ipv4: n.ipv4,
          dhcpRange: n.dhcpRange,
          nat: n.nat,
          domain: n.domain,
          dnsUpstream: n.dnsUpstream,
          member: this.o.member,
        };
        if ((await store.claim(NET_KEYS.network(name), JSON.stringify(rec))) !== undefined)
          throw new ApiError(409, `Network "${name}" already exists`);
        try {
          this.writeMarker(rec);
          await this.ensure(rec);
        } catch (err) {
          await store.deleteIf(NET_KEYS.network(name), JSON.stringify(rec));
          throw err;
        }
      } catch (err) {
        await store.deleteIf(NET_KEYS.vni(vni), name);
        if (made) {
          await leaveOverlay(this.d.ctx, name, vni).catch(() => {});
          rmSync(join(this.markers, `${name}.json`), { force: true });
          await deleteNetwork(this.d.ctx, name).catch(() => {});
        }
        throw err;
      }
    });
    await this.sync();
  }

  private async claimVni(name: string, asked: number | undefined): Promise<number> {
    const { store } = this.o;
    if (asked !== undefined) {
      const holder = await store.claim(NET_KEYS.vni(asked), name);
      if (holder !== undefined)
        throw new ApiError(409, `VXLAN id ${asked} is already used by network "${holder}"`);
      return asked;
    }
    // The lowest free VNI from 1000; a lost race tries the next.
    const used = new Set(
      [...(await store.getPrefix(NET_KEYS.vnis)).keys()].map((k) =>
        Number(k.slice(NET_KEYS.vnis.length)),
      ),
    );
    for (let vni = 1000; vni <= 0xffffff; vni++) {
      if (used.has(vni)) continue;
      if ((await store.claim(NET_KEYS.vni(vni), name)) === undefined) return vni;
    }
    throw new ApiError(503, "No free VXLAN id left");
  }

  /**
   * `DELETE /1.0/networks/NAME` of a spanning network: refused while any
   * member's container holds an address on it; else its record goes and
   * every member deletes its part (this one now, the others at their next
   * sync). False when `name` does not span the cluster.
   */
  async remove(name: string): Promise<boolean> {
    const { store } = this.o;
    const value = await store.get(NET_KEYS.network(name));
    const rec = parse<ClusterNetRecord>(value);
    if (!rec || value === undefined) return false;
    await this.serial(async () => {
      const [claims, names] = await Promise.all([
        store.getPrefix(NET_KEYS.address(name, "")),
        store.getPrefix(KEYS.name("")),
      ]);
      const local = new Set(listNames(this.d.ctx.lxcpath));
      let used = false;
      for (const [k, v] of claims) {
        const c = parse<AddressClaim>(v);
        const live =
          c && (names.has(KEYS.name(containerOf(c.key))) || local.has(containerOf(c.key)));
        if (live) used = true;
        else await store.deleteIf(k, v);
      }
      if (used) throw badRequest("The network is currently in use");
      await leaveOverlay(this.d.ctx, name, rec.vni);
      this.attached.delete(name);
      try {
        if (localNetwork(this.d.ctx, name)) await deleteNetwork(this.d.ctx, name);
      } catch (err) {
        await this.ensure(rec);
        throw err;
      }
      rmSync(join(this.markers, `${name}.json`), { force: true });
      await store.deleteIf(NET_KEYS.network(name), value);
      await store.deleteIf(NET_KEYS.vni(rec.vni), name);
    });
    return true;
  }

  /**
   * Before a start: each NIC on a spanning network gets its address from
   * the store (the one its key holds, its static one, else the first free
   * address claimed now) reserved locally, so the start uses it.
   */
  async beforeStart(paths: ContainerPaths): Promise<void> {
    const spanning = new Set(this.spanning());
    if (spanning.size === 0) return;
    const nics = nicLinks(paths).filter((n) => spanning.has(n.link));
    if (nics.length === 0) return;
    await this.sync();
    await this.serial(async () => {
      for (const nic of nics)
        await this.addresses.reserve(paths.name, nic.index, nic.link, nic.ipv4);
    });
  }
}
