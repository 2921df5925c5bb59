/**
 * The address claims of spanning networks (docs/cluster.md, "Networks
 * across members"): one store key per address (`/lxt/netips/NAME/IP`,
 * holding the NIC, its member and MAC), so that an address is unique in
 * the cluster and follows its container to another member. A `ClusterNet`
 * owns one of these; its syncs call `reconcile`, a start calls `reserve`.
 */

import {
  freeAddress,
  type HostEntry,
  hostEntries,
  inSubnet,
  mirrorNetworkHosts,
  reserveNic,
  stableHwaddr,
} from "../container/overlay.js";
import type { Context } from "../core/context.js";
import {
  type AddressClaim,
  type ClusterNetRecord,
  containerOf,
  NET_KEYS,
  parse,
} from "./cluster-net-model.js";
import { type ClusterStore, KEYS } from "./cluster-store.js";
import { ApiError } from "./envelope.js";

/** Syncs a claim may stay without a held name before it is dropped (a move frees the name briefly). */
const ORPHAN_SYNCS = 6;

export interface AddressClaimsOptions {
  member: string;
  store: ClusterStore;
  /** The sync period: a claim orphaned for `ORPHAN_SYNCS` of these is dropped. */
  periodMs: number;
  /** Says a warning once per `what`. */
  warnOnce: (what: string, fields: Record<string, unknown>, msg: string) => void;
}

export class AddressClaims {
  /** Claims seen without a held name (etcd key + value), and since when (ms). */
  private readonly orphans = new Map<string, number>();

  constructor(
    private readonly ctx: Context,
    private readonly o: AddressClaimsOptions,
  ) {}

  private warnOnce(what: string, fields: Record<string, unknown>, msg: string): void {
    this.o.warnOnce(what, fields, msg);
  }

  /**
   * Publishes this member's reservations on `rec` (a moved-in container's
   * claim changes member once the name is no longer held elsewhere), drops
   * the claims of containers whose name has been free for `ORPHAN_SYNCS`
   * periods (a move that frees the name and takes it again on another
   * member keeps its address), and mirrors the others' claims into the
   * local dnsmasq.
   */
  async reconcile(
    rec: ClusterNetRecord,
    claims: Map<string, string>,
    names: Map<string, string>,
    local: Set<string>,
  ): Promise<void> {
    const { store, member } = this.o;
    const prefix = NET_KEYS.address(rec.name, "");
    const byKey = new Map<string, { ip: string; claim: AddressClaim }>();
    const now = this.ctx.host.clock.now();
    for (const [k, v] of claims) {
      if (!k.startsWith(prefix)) continue;
      const claim = parse<AddressClaim>(v);
      if (!claim) continue;
      if (!names.has(KEYS.name(containerOf(claim.key))) && !local.has(containerOf(claim.key))) {
        const since = this.orphans.get(k + v) ?? now;
        this.orphans.set(k + v, since);
        if (now - since >= ORPHAN_SYNCS * this.o.periodMs) {
          await store.deleteIf(k, v);
          this.orphans.delete(k + v);
          continue;
        }
      } else this.orphans.delete(k + v);
      byKey.set(claim.key, { ip: k.slice(prefix.length), claim });
    }
    const mine = (key: string) => local.has(containerOf(key));
    for (const e of hostEntries(this.ctx, rec.name)) {
      if (!mine(e.key)) continue;
      const held = byKey.get(e.key);
      const want: AddressClaim = { key: e.key, member, hwaddr: e.hwaddr };
      if (held?.ip === e.ipv4) {
        // Another member's claim is taken over once that member no longer
        // holds the name (a move: the old copy may still be there until then).
        const holder = names.get(KEYS.name(containerOf(e.key)));
        const ours = holder === undefined || holder === member;
        if (ours && (held.claim.member !== member || held.claim.hwaddr !== e.hwaddr))
          await store.put(NET_KEYS.address(rec.name, e.ipv4), JSON.stringify(want));
        continue;
      }
      const other = await store.claim(NET_KEYS.address(rec.name, e.ipv4), JSON.stringify(want));
      if (other !== undefined) {
        this.warnOnce(
          `addr ${rec.name} ${e.ipv4}`,
          { network: rec.name, address: e.ipv4, holder: parse<AddressClaim>(other)?.key },
          "cluster networks: a local container's address is held by another NIC in the cluster",
        );
      }
    }
    const theirs: HostEntry[] = [...byKey.values()]
      .filter(({ claim }) => !mine(claim.key))
      .map(({ ip, claim }) => ({
        key: claim.key,
        hwaddr: claim.hwaddr,
        ipv4: ip,
        hostname: containerOf(claim.key),
      }));
    await mirrorNetworkHosts(this.ctx, rec.name, theirs, mine);
  }

  /** NIC `index` of `container` on `net` gets an address claimed in the store (its static one, the one it holds, else the first free one) and reserved locally. */
  async reserve(container: string, index: number, net: string, statics: string[]): Promise<void> {
    const { store, member } = this.o;
    const key = `${container}.${index}`;
    const prefix = NET_KEYS.address(net, "");
    const hwaddr =
      hostEntries(this.ctx, net).find((e) => e.key === key)?.hwaddr ??
      stableHwaddr(`${container}/${index}`);
    const mineNow: AddressClaim = { key, member, hwaddr };
    const claimed = await store.getPrefix(prefix);
    const holderOf = (ip: string) => parse<AddressClaim>(claimed.get(prefix + ip))?.key;
    const wanted = statics.find((ip) => inSubnet(this.ctx, net, ip));
    let ip: string | undefined;
    if (wanted) {
      const held = holderOf(wanted);
      if (held !== undefined && held !== key)
        throw new ApiError(409, `Address ${wanted} on network "${net}" is used by ${held}`);
      ip = wanted;
      if (
        held === undefined &&
        (await store.claim(prefix + wanted, JSON.stringify(mineNow))) !== undefined
      )
        throw new ApiError(409, `Address ${wanted} on network "${net}" is already in use`);
      // The NIC's earlier address (before its static one was set) is free again.
      for (const [k, v] of claimed) {
        if (k !== prefix + wanted && parse<AddressClaim>(v)?.key === key)
          await store.deleteIf(k, v);
      }
    } else {
      ip = [...claimed]
        .find(([, v]) => parse<AddressClaim>(v)?.key === key)?.[0]
        .slice(prefix.length);
      const taken = [...claimed.keys()].map((k) => k.slice(prefix.length));
      for (let tries = 0; ip === undefined && tries < 16; tries++) {
        const next = freeAddress(this.ctx, net, taken);
        if ((await store.claim(prefix + next, JSON.stringify(mineNow))) === undefined) ip = next;
        else taken.push(next);
      }
      if (ip === undefined)
        throw new ApiError(503, `No address could be claimed on network "${net}"`);
    }
    await reserveNic(this.ctx, net, { key, hwaddr, ipv4: ip, hostname: container });
  }
}
