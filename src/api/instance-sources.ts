/**
 * `POST /1.0/instances` with `source.type: "copy"`: a new instance from an
 * instance (`c1`) or one of its snapshots (`c1/snap0`), on this host. lxt's
 * copy rules hold: a stopped source is copied in full; a running one only
 * where its backend snapshots atomically (btrfs, zfs), else refused. The
 * source's snapshots come along unless `instance_only`. The request carries
 * the source's config as the client read it; keys it changes are applied,
 * keys LXD only stores (`user.*`) go to the new `lxd.yaml`.
 */
import { existsSync } from "node:fs";
import { entryChecker } from "../container/config-replace.js";
import { copyContainer } from "../container/copy.js";
import { destroyContainer } from "../container/destroy.js";
import { containerPaths } from "../container/paths.js";
import { restoreSnapshot } from "../container/snapshot.js";
import { listSnapshotNames, snapshotPaths } from "../container/storage.js";
import type { Daemon } from "./daemon.js";
import { ApiError, badRequest } from "./envelope.js";
import { etagOf } from "./etag.js";
import { applyChange, instanceConfig } from "./instance-config.js";
import { readMeta, writeMeta } from "./instance-meta.js";
import { renderLxc } from "./lxd-config.js";
import type { Devices } from "./profiles.js";
import { ProfileStore } from "./profiles.js";
import { instancePaths } from "./routes/instances.js";
import { copySnapshotSidecars, findSnapshot } from "./snapshot-store.js";

/**
 * Why LXD's migration protocol (`POST /1.0/instances/NAME` with
 * `migration: true` on the source, a `migration` source on the target, and
 * websockets between the two daemons) is refused: lxt moves containers by
 * its own documented form, which the stock client gets named instead of a
 * hang (docs/migrate.md, docs/api.md).
 */
export const LXD_MIGRATION_REFUSED =
  "Migration over LXD's protocol is not supported by lxt: move it with \"lxt move NAME REMOTE:\" (lxt remote add REMOTE URL first), which uses POST /1.0/migrations (see lxt's docs/migrate.md)";

export interface CopySource {
  type?: string;
  source?: string;
  instance_only?: boolean;
  container_only?: boolean;
  live?: boolean;
  refresh?: boolean;
  project?: string;
}

export interface CopyBody {
  description?: string;
  config?: Record<string, string>;
  devices?: Devices;
  profiles?: string[] | null;
  ephemeral?: boolean;
  source?: CopySource;
}

/** Config keys LXD only stores, or derives, that a copy does not apply to the LXC config. */
function stored(key: string): boolean {
  return key.startsWith("user.") || key.startsWith("image.") || key.startsWith("volatile.");
}

/** Makes instance `name` a copy of `source.source`; the new instance exists only if it all worked. */
export async function copyInstance(d: Daemon, body: CopyBody, name: string): Promise<void> {
  const src = body.source ?? {};
  if (src.refresh) throw badRequest("Refreshing a copy is not supported");
  if (src.project && src.project !== "default") throw new ApiError(404, "Project not found");
  if (typeof src.source !== "string" || src.source === "") {
    throw badRequest("No source instance given for the copy");
  }
  const [instance = "", snap, ...rest] = src.source.split("/");
  if (rest.length > 0 || snap === "") throw badRequest(`Invalid copy source "${src.source}"`);
  const from = instancePaths(d, instance);
  const snapshot = snap === undefined ? undefined : findSnapshot(d.ctx, from, snap);
  // The client sends the source's config and devices back (its own part, as
  // GET shows them; older clients the expanded ones): only what differs from
  // both is a change, applied after the copy; the rest came with it.
  const store = new ProfileStore(d.profilesDir);
  const cur = instanceConfig(store, snapshot?.paths ?? from);
  const changed: Record<string, string> = {};
  for (const [k, v] of Object.entries(body.config ?? {})) {
    if (!stored(k) && cur.local.config[k] !== v && cur.expanded.config[k] !== v) changed[k] = v;
  }
  if (
    body.devices &&
    etagOf(body.devices) !== etagOf(cur.local.devices) &&
    etagOf(body.devices) !== etagOf(cur.expanded.devices)
  ) {
    throw badRequest("Invalid devices: changing devices in a copy is not supported yet");
  }
  // Refused before anything is copied.
  renderLxc({ config: changed, devices: {} }, [], entryChecker(d.ctx));
  const to = containerPaths(d.ctx, name);
  if (snapshot) {
    await restoreSnapshot(d.ctx, from, snapshot.dir, to, d.caller);
  } else {
    await copyContainer(d.ctx, from, to, {
      caller: d.caller,
      liveIfRunning: true,
      withSnapshots: !(src.instance_only || src.container_only),
    });
    for (const s of listSnapshotNames(to)) {
      copySnapshotSidecars(snapshotPaths(d.ctx, from, s), snapshotPaths(d.ctx, to, s));
    }
  }
  try {
    const meta = readMeta(snapshot?.paths ?? from);
    const config: Record<string, string> = {};
    for (const [k, v] of Object.entries(body.config ?? meta.config)) {
      if (k.startsWith("user.") || k.startsWith("image.")) config[k] = v;
    }
    writeMeta(to, {
      description: body.description ?? meta.description,
      profiles: body.profiles ?? meta.profiles,
      config,
      created_at: new Date(d.ctx.host.clock.now()).toISOString(),
    });
    if (Object.keys(changed).length > 0) {
      const now = instanceConfig(store, to);
      await applyChange(d.ctx, d.caller, store, to, {
        profiles: now.meta.profiles,
        local: { config: { ...now.local.config, ...changed }, devices: now.local.devices },
      });
    }
  } catch (err) {
    if (existsSync(to.config)) await destroyContainer(d.ctx, to, { force: true, snapshots: true });
    throw err;
  }
}
