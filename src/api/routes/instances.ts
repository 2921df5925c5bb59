/**
 * `/1.0/instances`: list, create, get, delete and `/state`. Every verb is
 * the core's own (the same locks as the CLI), so what lxtd does the CLI sees
 * at once and the other way round.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import type { FastifyInstance, FastifyReply } from "fastify";
import { entryChecker } from "../../container/config-replace.js";
import { createContainer } from "../../container/create.js";
import { destroyContainer } from "../../container/destroy.js";
import { hostLayout } from "../../container/host-layout.js";
import { haltSignal } from "../../container/launch-input.js";
import { containerInfo, listNames, liveState, summarize } from "../../container/list.js";
import { type ContainerPaths, containerPaths } from "../../container/paths.js";
import { freezeContainer } from "../../container/resources.js";
import { startContainer } from "../../container/start.js";
import { stopContainer } from "../../container/stop.js";
import { checkName } from "../../core/names.js";
import { backupJson, backupRecords } from "../backup-store.js";
import type { Daemon } from "../daemon.js";
import { ApiError, asyncBody, badRequest, syncBody } from "../envelope.js";
import { etagOf, sendWithEtag } from "../etag.js";
import { pullImage } from "../image-pull.js";
import { findImageJson, imageSource } from "../images-view.js";
import { applyChange, creationChange, expandProfiles } from "../instance-config.js";
import { matchesFilter, parseFilter } from "../instance-filter.js";
import { writeMeta } from "../instance-meta.js";
import { copyInstance, LXD_MIGRATION_REFUSED } from "../instance-sources.js";
import {
  editable,
  type InstanceJson,
  instanceJson,
  instanceState,
  listedInstance,
  STATE_USAGE,
  stateJson,
} from "../instance-view.js";
import { renderLxc } from "../lxd-config.js";
import type { Operation } from "../operations.js";
import { type Devices, ProfileStore } from "../profiles.js";
import { type InstancesPost, instanceStatePut, instancesPost, parseBody } from "../schemas.js";
import type { InstanceFull, InstanceState } from "../types.js";
import { importUpload, isUpload } from "./backups.js";
import { recursion } from "./params.js";
import { snapshotsJson } from "./snapshots.js";

export const INSTANCES = "/1.0/instances";

/** Instances a list reads before it lets other requests in. */
const LIST_SLICE = 100;

/** The container a path names, which must exist (LXD's 404 otherwise). */
export function instancePaths(d: Daemon, name: string): ContainerPaths {
  let checked: string;
  try {
    checked = checkName(name);
  } catch {
    throw new ApiError(404, "Instance not found");
  }
  const paths = containerPaths(d.ctx, checked);
  if (!existsSync(paths.config)) throw new ApiError(404, "Instance not found");
  return paths;
}

/**
 * Starts an async operation on one instance (and `more` resources) and
 * answers 202 with it; with `startNow` its work begins before the 202 is
 * written (`OperationSpec.startNow`).
 */
export function instanceOperation(
  d: Daemon,
  reply: FastifyReply,
  name: string,
  description: string,
  run: (op: Operation) => Promise<unknown>,
  more: Record<string, string[]> = {},
  startNow = false,
) {
  const op = d.operations.start({
    description,
    resources: {
      instances: [`${INSTANCES}/${name}`],
      containers: [`/1.0/containers/${name}`],
      ...more,
    },
    run,
    ...(startNow ? { startNow } : {}),
  });
  return reply.code(202).header("Location", op.url).send(asyncBody(op.url, op.json()));
}

const ADJECTIVES = [
  "brave",
  "calm",
  "eager",
  "fair",
  "gentle",
  "keen",
  "lucid",
  "merry",
  "noble",
  "proud",
  "quick",
  "sunny",
  "tidy",
  "vivid",
  "witty",
];
const NOUNS = [
  "otter",
  "heron",
  "lynx",
  "finch",
  "marten",
  "ibex",
  "panda",
  "raven",
  "seal",
  "tapir",
  "vole",
  "wren",
  "yak",
  "zebu",
  "koala",
];

/** A free name for an instance created without one, as LXD picks one. */
function freeName(d: Daemon): string {
  for (;;) {
    const b = randomBytes(2);
    const name = `${ADJECTIVES[(b[0] ?? 0) % ADJECTIVES.length]}-${NOUNS[(b[1] ?? 0) % NOUNS.length]}`;
    if (!existsSync(containerPaths(d.ctx, name).config)) return name;
  }
}

type CreateBody = InstancesPost;

/** Merges profiles (in order) and the instance's own config and devices, as LXD expands them. */
export function expand(
  store: ProfileStore,
  profiles: readonly string[],
  config: Record<string, string>,
  devices: Devices,
) {
  return expandProfiles(store, profiles, { config, devices });
}

async function create(d: Daemon, body: CreateBody, name: string): Promise<void> {
  const src = body.source ?? { type: "none" };
  if (src.type === "copy") return copyInstance(d, body, name);
  if (src.type !== "image" && src.type !== "none") {
    throw new ApiError(501, `Source type "${src.type}" is not supported yet`);
  }
  const store = new ProfileStore(d.profilesDir);
  const profiles = body.profiles ?? ["default"];
  const own = Object.fromEntries(
    Object.entries(body.config ?? {}).filter(([k]) => !k.startsWith("volatile.")),
  );
  const expanded = expand(store, profiles, own, body.devices ?? {});
  // Refused before anything is made: the whole config, as the update will write it.
  renderLxc(expanded, [], entryChecker(d.ctx));
  const nic = Object.values(expanded.devices).find((dev) => dev.type === "nic");
  const network = nic?.network ?? nic?.parent ?? "empty";
  const paths = containerPaths(d.ctx, name);
  let properties: Record<string, string> = {};
  if (src.type === "none") {
    await createContainer(d.ctx, paths, { empty: true, network, caller: d.caller });
  } else {
    // From another server (mode pull): its image, fetched unless this server has it.
    const pulled =
      src.mode === "pull" && src.server
        ? await pullImage(d, { ...src, server: src.server })
        : undefined;
    const ref = pulled ?? src.alias ?? src.fingerprint;
    if (!ref) throw badRequest("No image alias or fingerprint given");
    const img = findImageJson(d.ctx.lxcpath, ref, !pulled && !!src.alias);
    if (!img) throw new ApiError(404, src.alias ? "Image alias not found" : "Image not found");
    const source = imageSource(img);
    const template = "template" in source ? source.template : source.fingerprint;
    await createContainer(d.ctx, paths, {
      template,
      network,
      caller: d.caller,
      sharedBase: d.sharedBusybox,
    });
    properties = img.properties;
  }
  try {
    const imageKeys = Object.fromEntries(
      Object.entries(properties).map(([k, v]) => [`image.${k}`, v]),
    );
    // Not synced: applyChange rewrites it (synced) right after; a create cut
    // short between the two is removed as a whole.
    writeMeta(
      paths,
      {
        description: body.description ?? "",
        profiles,
        config: {},
        created_at: new Date(d.ctx.host.clock.now()).toISOString(),
      },
      false,
    );
    await applyChange(
      d.ctx,
      d.caller,
      store,
      paths,
      creationChange(store, paths, profiles, {
        config: { ...imageKeys, ...own },
        devices: body.devices ?? {},
      }),
    );
  } catch (err) {
    await destroyContainer(d.ctx, paths, { force: true }).catch(() => {});
    throw err;
  }
}

export function registerInstanceRoutes(app: FastifyInstance, d: Daemon): void {
  app.get<{ Querystring: { filter?: string; "all-projects"?: string } }>(INSTANCES, async (req) => {
    const depth = recursion(req);
    const filter = req.query.filter ? parseFilter(req.query.filter) : undefined;
    const names = listNames(d.ctx.lxcpath);
    if (depth === 0 && !filter) {
      const remote = (await othersInstances(d)).map((i) => i.name);
      return syncBody([...names, ...remote].map((n) => `${INSTANCES}/${n}`));
    }
    // Read once for the whole list: the cgroup layout (the freezer's dir is then known, not
    // searched for in every hierarchy) and the profiles' versions. Without the state, a layout
    // that cannot be read leaves each running instance's freezer to be searched for.
    const layout = depth > 1 ? hostLayout(d.ctx) : layoutIfReadable(d);
    const store = new ProfileStore(d.profilesDir).forOneRequest();
    const one = async (n: string) => {
      const paths = containerPaths(d.ctx, n);
      // With the state wanted, it is read once and the instance's status taken from it.
      const live =
        depth > 1
          ? await liveState(d.ctx, paths, { layout, usage: STATE_USAGE }).catch(() => undefined)
          : undefined;
      if (depth > 1 && !live) return undefined; // destroyed meanwhile
      let found: InstanceJson;
      try {
        const state =
          live?.state ?? (await summarize(d.ctx, paths, { layout, addresses: false })).state;
        found = listedInstance(d.ctx, paths, state, store);
      } catch {
        return undefined;
      }
      const inst = located(d, found);
      if (filter && !matchesFilter(filter, inst)) return undefined;
      if (depth === 0) return `${INSTANCES}/${n}`;
      if (depth === 1 || !live) return inst;
      return fullInstance(d, paths, inst, stateJson(live));
    };
    // In slices, the event loop free between them: other requests are answered meanwhile
    // (a list of 1000 running is ~150 ms of work).
    const out: Awaited<ReturnType<typeof one>>[] = [];
    for (let i = 0; i < names.length; i += LIST_SLICE) {
      if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      out.push(...(await Promise.all(names.slice(i, i + LIST_SLICE).map(one))));
    }
    const local = out.filter((x) => x !== undefined);
    if (!d.cluster) return syncBody(local);
    // The other members' instances, as they last published them (not forwarded: a summary).
    const remote = (await othersInstances(d)).filter((i) => !filter || matchesFilter(filter, i));
    return syncBody([
      ...local,
      ...remote.map((i) =>
        depth === 0 ? `${INSTANCES}/${i.name}` : depth === 1 ? i : remoteFull(i),
      ),
    ]);
  });

  app.post(INSTANCES, async (req, reply) => {
    if (isUpload(req.body)) return importUpload(d, req, reply);
    const body = parseBody(instancesPost, req.body);
    if (body.type && body.type !== "container") {
      throw badRequest(`Instance type "${body.type}" is not supported (lxt runs containers only)`);
    }
    // Refused before an operation starts: the client prints it at once.
    if (body.source?.type === "migration") throw new ApiError(501, LXD_MIGRATION_REFUSED);
    const name = body.name ? body.name : freeName(d);
    try {
      checkName(name);
    } catch (err) {
      throw badRequest(`Invalid instance name: ${(err as Error).message}`);
    }
    if (existsSync(containerPaths(d.ctx, name).config)) {
      throw new ApiError(409, `Instance "${name}" already exists`);
    }
    // In a cluster the name is claimed first: one transaction decides between members.
    const cluster = d.cluster;
    await cluster?.claim(name);
    return instanceOperation(d, reply, name, "Creating instance", async () => {
      await (cluster ? cluster.holding(name, () => create(d, body, name)) : create(d, body, name));
      d.events.lifecycle("instance-created", `${INSTANCES}/${name}`);
      if (body.start) {
        await startOne(d, instancePaths(d, name));
      }
    });
  });

  app.get<{ Params: { name: string } }>(`${INSTANCES}/:name`, async (req, reply) => {
    const paths = instancePaths(d, req.params.name);
    const inst = located(d, await instanceJson(d.ctx, paths));
    const etag = etagOf(editable(inst));
    // instance_get_full: recursion=1 adds the state, snapshots and backups (what `lxc info` shows).
    if (recursion(req) > 0) {
      const full = await fullInstance(d, paths, inst);
      return sendWithEtag(reply, syncBody(full), etag);
    }
    return sendWithEtag(reply, syncBody(inst), etag);
  });

  app.delete<{ Params: { name: string } }>(`${INSTANCES}/:name`, async (req, reply) => {
    const paths = instancePaths(d, req.params.name);
    const seen = await summarize(d.ctx, paths);
    if (seen.state !== "STOPPED") throw badRequest("Instance is running");
    await d.cluster?.writable(paths.name);
    return instanceOperation(d, reply, paths.name, "Deleting instance", async (op) => {
      await destroyContainer(d.ctx, paths, { snapshots: true, signal: op.signal });
      await d.cluster?.release(paths.name);
      d.events.lifecycle("instance-deleted", `${INSTANCES}/${paths.name}`);
    });
  });

  app.get<{ Params: { name: string } }>(`${INSTANCES}/:name/state`, async (req) =>
    syncBody(await instanceState(d.ctx, instancePaths(d, req.params.name))),
  );

  app.put<{ Params: { name: string } }>(`${INSTANCES}/:name/state`, async (req, reply) => {
    const paths = instancePaths(d, req.params.name);
    const body = parseBody(instanceStatePut, req.body);
    const action = body.action;
    if (!action || !["start", "stop", "restart", "freeze", "unfreeze"].includes(action)) {
      throw badRequest(`Unknown action "${action ?? ""}"`);
    }
    const timeout = typeof body.timeout === "number" ? body.timeout : -1;
    return instanceOperation(
      d,
      reply,
      paths.name,
      `${cap(action)}ing instance`.replace("Stoping", "Stopping"),
      async () => {
        await changeState(d, paths, action, { timeout, force: !!body.force });
      },
      {},
      // The state read and the lock's request go before the 202 is written,
      // so the lock is taken while the client reads it and sends its wait.
      true,
    );
  });
}

/**
 * The other members' instances; none (and a warning in the log) while the
 * cluster's store cannot be read: this member's own list keeps working.
 */
async function othersInstances(d: Daemon): Promise<InstanceJson[]> {
  if (!d.cluster) return [];
  try {
    return await d.cluster.remoteInstances();
  } catch (err) {
    d.log.warn({ err }, "cluster: the store cannot be read; listing this member's instances only");
    return [];
  }
}

function layoutIfReadable(d: Daemon): ReturnType<typeof hostLayout> | undefined {
  try {
    return hostLayout(d.ctx);
  } catch {
    return undefined;
  }
}

/** `inst` with its member as `location` (LXD's "none" outside a cluster). */
function located(d: Daemon, inst: InstanceJson): InstanceJson {
  return d.cluster ? { ...inst, location: d.cluster.member } : inst;
}

/** Another member's instance at recursion=2: its published record, no live state. */
function remoteFull(inst: InstanceJson): InstanceFull {
  return {
    ...inst,
    state: {
      status: inst.status,
      status_code: inst.status_code,
      disk: {},
      memory: { usage: 0, usage_peak: 0, swap_usage: 0, swap_usage_peak: 0 },
      network: null,
      pid: 0,
      processes: 0,
      cpu: { usage: 0 },
    },
    snapshots: [],
    backups: [],
  };
}

/** An instance with its state, snapshots and backups (recursion=2 lists, recursion=1 gets). */
export async function fullInstance(
  d: Daemon,
  paths: ContainerPaths,
  inst: InstanceJson,
  known?: InstanceState,
): Promise<InstanceFull> {
  const state = known ?? (await instanceState(d.ctx, paths));
  const snapshots = await snapshotsJson(d, paths);
  return { ...inst, state, snapshots, backups: backupRecords(paths).map(backupJson) };
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

async function startOne(d: Daemon, paths: ContainerPaths): Promise<void> {
  await d.clusterNet?.beforeStart(paths);
  const started = await startContainer(d.ctx, paths, { caller: d.caller });
  for (const w of started.warnings) d.events.log("warning", `${paths.name}: ${w}`);
  d.events.lifecycle("instance-started", `${INSTANCES}/${paths.name}`);
}

async function stopOne(
  d: Daemon,
  paths: ContainerPaths,
  timeout: number,
  force: boolean,
): Promise<void> {
  await stopContainer(d.ctx, paths, {
    kill: force,
    timeout: force ? 0 : timeout,
    haltSignal: force ? 9 : haltSignal(paths, d.caller.env),
  });
  d.events.lifecycle("instance-stopped", `${INSTANCES}/${paths.name}`);
}

/** One state change as `PUT /1.0/instances/NAME/state` asks it. */
export async function changeState(
  d: Daemon,
  paths: ContainerPaths,
  action: string,
  o: { timeout: number; force: boolean },
): Promise<void> {
  const { state } = await summarize(d.ctx, paths);
  switch (action) {
    case "start":
      if (state !== "STOPPED") throw badRequest("The instance is already running");
      await startOne(d, paths);
      return;
    case "stop":
      if (state === "STOPPED") throw badRequest("The instance is already stopped");
      await stopOne(d, paths, o.timeout, o.force);
      return;
    case "restart":
      if (state === "STOPPED") throw badRequest("The instance isn't running");
      await stopOne(d, paths, o.timeout, o.force);
      await startOne(d, paths);
      d.events.lifecycle("instance-restarted", `${INSTANCES}/${paths.name}`);
      return;
    case "freeze":
      if (state !== "RUNNING") throw badRequest("The instance isn't running");
      await freezeContainer(d.ctx, paths, true);
      d.events.lifecycle("instance-paused", `${INSTANCES}/${paths.name}`);
      return;
    case "unfreeze":
      if (state !== "FROZEN") throw badRequest("The instance isn't frozen");
      await freezeContainer(d.ctx, paths, false);
      d.events.lifecycle("instance-resumed", `${INSTANCES}/${paths.name}`);
      return;
  }
}

export { containerInfo };
