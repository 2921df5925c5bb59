/**
 * A member leaving the cluster for good (`DELETE /1.0/cluster/members/NAME`,
 * what `lxc cluster remove NAME [--force]` sends; `lxt cluster remove`).
 * Any member does it in the store alone:
 *
 * 1. `/lxt/removed/NAME` is put first. From then on the member's heartbeat
 *    cannot write its record (a transaction guarded by that key,
 *    cluster.ts), so a removed member never comes back by itself: at its
 *    next heartbeat it frees what it still holds and leaves the cluster,
 *    serving its own containers alone, as LXD's removed member goes back
 *    to standalone. A restart with `--cluster` and that name is refused
 *    unless it brings a new join token.
 * 2. Without `force`, a member that still holds an instance name (an
 *    evacuate empties it) or an image no other online member has, the
 *    only member, or one that is offline is refused before anything
 *    changes (a name claimed while the mark goes in: the mark is taken back).
 * 3. Its record, alive key, trust (its certificate no longer acts as a
 *    member's), evacuation records and, with `force`, the names it held
 *    and its instance records are deleted.
 */
import type { Cluster } from "./cluster.js";
import { memberAsked, peerJson } from "./cluster-peers.js";
import { type ClusterStore, KEYS } from "./cluster-store.js";
import { TRUST_KEYS } from "./cluster-tokens.js";
import type { Daemon } from "./daemon.js";
import { ApiError, badRequest } from "./envelope.js";
import { allImages, BUSYBOX_FINGERPRINT, findImageJson } from "./images-view.js";
import type { MemberView } from "./types.js";

/** `/lxt/removed/NAME`: when and by whom a member was removed. */
export interface RemovedRecord {
  at: string;
  /** The member that served the removal. */
  by: string;
  force: boolean;
  /** The removed member's certificate, as its record last named it. */
  fingerprint: string;
}

/** The instance names `member` holds, sorted. */
async function namesHeldBy(store: ClusterStore, member: string): Promise<string[]> {
  const names = await store.getPrefix(KEYS.name(""));
  return [...names]
    .filter(([, holder]) => holder === member)
    .map(([key]) => key.slice(KEYS.name("").length))
    .sort();
}

/**
 * The images member `m` has that no other online member has, sorted: LXD
 * refuses to remove a member that would take an image out of the cluster
 * (images are each member's own here, copied on first use). The built-in
 * busybox template is every lxtd's.
 */
async function imagesOnlyOn(
  d: Daemon,
  cluster: Cluster,
  m: MemberView,
  members: MemberView[],
): Promise<string[]> {
  const own =
    m.name === cluster.member
      ? allImages(d.ctx.lxcpath).map((i) => i.fingerprint)
      : ((await memberAsked(d, m, "GET", "/1.0/images")) as unknown as string[]).map((url) =>
          url.slice(url.lastIndexOf("/") + 1),
        );
  const others = members.filter((x) => x.name !== m.name && x.online);
  const alone: string[] = [];
  for (const fp of own) {
    if (fp === BUSYBOX_FINGERPRINT) continue;
    let held = false;
    for (const o of others) {
      held =
        o.name === cluster.member
          ? findImageJson(d.ctx.lxcpath, fp, false) !== undefined
          : (await peerJson(d, o, "GET", `/1.0/images/${fp}`).catch(() => undefined))?.status ===
            200;
      if (held) break;
    }
    if (!held) alone.push(fp);
  }
  return alone.sort();
}

/** Deletes every key under `prefix`. */
async function deletePrefix(store: ClusterStore, prefix: string): Promise<void> {
  for (const key of (await store.getPrefix(prefix)).keys()) await store.delete(key);
}

/**
 * Removes member `name` from the cluster (the steps above). 404 for a
 * member the cluster does not have; LXD's words for the refusals.
 */
export async function removeMember(
  d: Daemon,
  cluster: Cluster,
  name: string,
  force: boolean,
): Promise<void> {
  const { store } = cluster;
  const members = await cluster.members();
  const m = members.find((x) => x.name === name);
  if (!m) throw new ApiError(404, "Cluster member not found");
  if (!force) {
    if (members.length === 1) throw badRequest("Member is the only member in the cluster");
    if (!m.online) {
      throw new ApiError(
        503,
        `Cluster member ${name} is offline: remove it with --force (its records are dropped, and its instances with them)`,
      );
    }
  }
  const unwritable = (err: unknown): never => {
    throw new ApiError(
      503,
      `The cluster's store (${store.where ?? "etcd"}) cannot be written: ${(err as Error).message}`,
    );
  };
  const stillHolds = (held: string[]) =>
    badRequest(`Node still has the following instances: ${held.join(", ")}`);
  if (!force) {
    const held = await namesHeldBy(store, name).catch(unwritable);
    if (held.length > 0) throw stillHolds(held);
    const images = await imagesOnlyOn(d, cluster, m, members);
    if (images.length > 0) {
      throw badRequest(`Node still has the following images: ${images.join(", ")}`);
    }
  }
  const mark: RemovedRecord = {
    at: new Date(d.ctx.host.clock.now()).toISOString(),
    by: cluster.member,
    force,
    fingerprint: m.fingerprint,
  };
  // The mark first: the member can no longer write its record. A name it
  // claimed since the check above (a create racing the removal) refuses the
  // removal; should the member have met the mark meanwhile, it has left
  // and freed its names itself (cluster.ts): nothing is left half made.
  await store.put(KEYS.removed(name), JSON.stringify(mark)).catch(unwritable);
  const held = await namesHeldBy(store, name).catch(async (err: unknown) => {
    await store.delete(KEYS.removed(name)).catch(() => undefined);
    return unwritable(err);
  });
  if (!force && held.length > 0) {
    await store.delete(KEYS.removed(name));
    throw stillHolds(held);
  }
  await store.delete(KEYS.member(name));
  await store.delete(KEYS.alive(name));
  for (const [key, holder] of await store.getPrefix(TRUST_KEYS.trusts)) {
    if (holder === name || key === TRUST_KEYS.trust(m.fingerprint)) await store.delete(key);
  }
  await store.delete(KEYS.evacuation(name));
  await deletePrefix(store, KEYS.memberEvacuated(name));
  await deletePrefix(store, KEYS.memberInstances(name));
  for (const n of held) await store.deleteIf(KEYS.name(n), name);
  d.log.info({ member: name, force, instances: held }, "cluster: member removed");
  d.events.lifecycle("cluster-member-removed", `/1.0/cluster/members/${name}`);
}

/**
 * Before member `member` joins: refused when it was removed, unless it
 * comes with a join token (`withToken`), in which case `readmitted()`
 * clears the mark once the token admitted it.
 */
export async function checkNotRemoved(
  store: ClusterStore,
  member: string,
  withToken: boolean,
): Promise<{ readmitted(): Promise<void> }> {
  const raw = await store.get(KEYS.removed(member));
  if (raw !== undefined && !withToken) {
    let at = "";
    try {
      at = ` at ${(JSON.parse(raw) as RemovedRecord).at}`;
    } catch {
      // a mark of another shape still refuses
    }
    throw new Error(
      `member ${member} was removed from the cluster${at}: join it again with a token (lxt cluster add ${member} on a member, then --cluster-token)`,
    );
  }
  return {
    async readmitted() {
      if (raw !== undefined) await store.delete(KEYS.removed(member));
    },
  };
}
