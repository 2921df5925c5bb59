/**
 * `/1.0/profiles`: list, create, get, replace (`PUT`), merge (`PATCH`),
 * delete and rename (`POST`), with `used_by` and ETags. A profile edit
 * reaches the instances that use it, as in LXD: each one's config is
 * re-rendered from its profiles and its own part, every instance is checked
 * before anything is written, and a failure while writing puts back the
 * profile and the instances already changed.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { entryChecker } from "../../container/config-replace.js";
import { listNames } from "../../container/list.js";
import { containerPaths } from "../../container/paths.js";
import type { Daemon } from "../daemon.js";
import { ApiError, badRequest, syncBody } from "../envelope.js";
import { checkIfMatch, etagOf, sendWithEtag } from "../etag.js";
import {
  applyChange,
  checkChange,
  deviceMap,
  instanceConfig,
  type Profiles,
  requireObject,
  stringMap,
} from "../instance-config.js";
import { readMeta, writeMeta } from "../instance-meta.js";
import { renderLxc } from "../lxd-config.js";
import { type Profile, ProfileStore } from "../profiles.js";
import type { ProfileJson } from "../types.js";
import { recursion } from "./params.js";

const PROFILES = "/1.0/profiles";
const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** The instances whose profiles include `name`. */
function usersOf(d: Daemon, name: string): string[] {
  return listNames(d.ctx.lxcpath).filter((n) =>
    readMeta(containerPaths(d.ctx, n)).profiles.includes(name),
  );
}

function profileJson(d: Daemon, p: Profile): ProfileJson {
  return {
    name: p.name,
    description: p.description,
    config: p.config,
    devices: p.devices,
    used_by: usersOf(d, p.name).map((n) => `/1.0/instances/${n}`),
  };
}

const editableOf = (p: Profile) => ({
  config: p.config,
  description: p.description,
  devices: p.devices,
});

/** Refuses a profile whose keys or devices have no meaning here (LXD's words). */
function checkProfile(d: Daemon, p: Profile): void {
  renderLxc({ config: p.config, devices: p.devices }, [], entryChecker(d.ctx));
}

/** The store, with `p` in place of the stored profile of its name. */
function overlay(store: ProfileStore, p: Profile): Profiles {
  return {
    get: (n) => (n === p.name ? p : store.get(n)),
    find: (n) => (n === p.name ? p : store.find(n)),
  };
}

/** One profile change at a time: its check of every instance and its writes are one step. */
const queues = new WeakMap<Daemon, Promise<unknown>>();
function serial<T>(d: Daemon, fn: () => Promise<T>): Promise<T> {
  const run = (queues.get(d) ?? Promise.resolve()).then(fn, fn);
  queues.set(
    d,
    run.catch(() => {}),
  );
  return run;
}

/** Saves `next` and re-renders every instance that uses it; all or nothing. */
async function updateProfile(
  d: Daemon,
  store: ProfileStore,
  old: Profile,
  next: Profile,
): Promise<void> {
  checkProfile(d, next);
  const users = usersOf(d, next.name).map((n) => {
    const paths = containerPaths(d.ctx, n);
    const { meta, local } = instanceConfig(store, paths);
    return { paths, change: { profiles: meta.profiles, local } };
  });
  const after = overlay(store, next);
  for (const u of users) {
    try {
      checkChange(d.ctx, after, u.paths, u.change);
    } catch (err) {
      if (err instanceof ApiError)
        throw new ApiError(
          err.status,
          `Failed to update instance "${u.paths.name}": ${err.message}`,
        );
      throw err;
    }
  }
  store.save(next);
  const done: typeof users = [];
  try {
    for (const u of users) {
      await applyChange(d.ctx, d.caller, store, u.paths, u.change);
      done.push(u);
    }
  } catch (err) {
    store.save(old);
    for (const u of done)
      await applyChange(d.ctx, d.caller, store, u.paths, u.change).catch(() => {});
    throw err;
  }
  d.events.lifecycle("profile-updated", `${PROFILES}/${next.name}`);
}

export function registerProfileRoutes(app: FastifyInstance, d: Daemon): void {
  const store = () => new ProfileStore(d.profilesDir);

  app.get(PROFILES, async (req) => {
    const names = store().names();
    if (recursion(req) === 0) return syncBody(names.map((n) => `${PROFILES}/${n}`));
    const s = store();
    return syncBody(
      names.flatMap((n) => {
        const p = s.find(n);
        return p ? [profileJson(d, p)] : [];
      }),
    );
  });

  app.post(PROFILES, async (req, reply) => {
    const body = requireObject(req.body);
    const name = body.name;
    if (typeof name !== "string" || name === "") throw badRequest("No name provided");
    if (name.includes("/")) throw badRequest("Profile names may not contain slashes");
    if (!PROFILE_NAME.test(name)) throw badRequest(`Invalid profile name "${name}"`);
    const s = store();
    const p: Profile = {
      name,
      description: typeof body.description === "string" ? body.description : "",
      config: stringMap(body.config, "config"),
      devices: deviceMap(body.devices),
    };
    return serial(d, async () => {
      if (s.find(name)) throw new ApiError(409, "The profile already exists");
      checkProfile(d, p);
      s.save(p);
      d.events.lifecycle("profile-created", `${PROFILES}/${name}`);
      return reply.code(201).header("Location", `${PROFILES}/${name}`).send(syncBody({}));
    });
  });

  app.get<{ Params: { name: string } }>(`${PROFILES}/:name`, async (req, reply) => {
    const p = store().get(req.params.name);
    return sendWithEtag(reply, syncBody(profileJson(d, p)), etagOf(editableOf(p)));
  });

  const edit = (merge: boolean) => async (req: FastifyRequest<{ Params: { name: string } }>) => {
    const body = requireObject(req.body);
    const s = store();
    return serial(d, async () => {
      const old = s.get(req.params.name);
      checkIfMatch(req, etagOf(editableOf(old)));
      const config = stringMap(body.config, "config");
      const devices = deviceMap(body.devices);
      const next: Profile = {
        name: old.name,
        description:
          typeof body.description === "string" ? body.description : merge ? old.description : "",
        config: merge ? { ...old.config, ...config } : config,
        devices: merge ? { ...old.devices, ...devices } : devices,
      };
      await updateProfile(d, s, old, next);
      return syncBody({});
    });
  };
  app.put(`${PROFILES}/:name`, edit(false));
  app.patch(`${PROFILES}/:name`, edit(true));

  app.delete<{ Params: { name: string } }>(`${PROFILES}/:name`, async (req) => {
    const name = req.params.name;
    if (name === "default") throw new ApiError(403, 'The "default" profile cannot be deleted');
    return serial(d, async () => {
      const s = store();
      s.get(name);
      if (usersOf(d, name).length > 0) throw badRequest("Profile is currently in use");
      s.remove(name);
      d.events.lifecycle("profile-deleted", `${PROFILES}/${name}`);
      return syncBody({});
    });
  });

  app.post<{ Params: { name: string } }>(`${PROFILES}/:name`, async (req) => {
    const name = req.params.name;
    if (name === "default") throw new ApiError(403, 'The "default" profile cannot be renamed');
    const body = requireObject(req.body);
    const to = body.name;
    if (typeof to !== "string" || to === "") throw badRequest("No name provided");
    if (to.includes("/")) throw badRequest("Profile names may not contain slashes");
    if (!PROFILE_NAME.test(to)) throw badRequest(`Invalid profile name "${to}"`);
    return serial(d, async () => {
      const s = store();
      const p = s.get(name);
      if (s.find(to)) throw new ApiError(409, `Name "${to}" already in use`);
      s.save({ ...p, name: to });
      for (const n of usersOf(d, name)) {
        const paths = containerPaths(d.ctx, n);
        const meta = readMeta(paths);
        writeMeta(paths, { ...meta, profiles: meta.profiles.map((x) => (x === name ? to : x)) });
      }
      s.remove(name);
      d.events.lifecycle("profile-renamed", `${PROFILES}/${to}`, { old_name: name });
      return syncBody({});
    });
  });
}
