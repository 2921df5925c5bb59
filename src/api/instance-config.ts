/**
 * An instance's config as LXD keeps it: its own (local) config and devices,
 * its profiles, and the expanded result the container runs with. lxt keeps
 * only the expanded result (the LXC config is the truth, and the CLI edits
 * it too); the local part is what the expanded one has beyond its profiles.
 * A change (a `PUT` of the instance, an edit of one of its profiles) is
 * re-rendered from profiles + local and written in one step.
 */

import { entryChecker, type KeyValue, replaceConfig } from "../container/config-replace.js";
import { readForwards, replaceForwards } from "../container/forward.js";
import type { ContainerPaths } from "../container/paths.js";
import { configFileEntries } from "../container/resources.js";
import type { Caller, Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { ApiError, badRequest } from "./envelope.js";
import { type InstanceMeta, readMeta, writeMetaAsync } from "./instance-meta.js";
import { isStoredKey, type LxdConfig, lxdView, renderLxc } from "./lxd-config.js";
import type { Devices, ProfileStore } from "./profiles.js";

/** Where profiles are looked up: the store, or the store with one profile changed. */
export type Profiles = Pick<ProfileStore, "get" | "find">;

const rawLines = (text: string | undefined) =>
  (text ?? "").split("\n").filter((l) => l.trim() !== "");

/**
 * Profiles (in order) and then the instance's own config and devices, as
 * LXD expands them: later keys and devices win, except `raw.lxc`, whose
 * lines are joined (a profile's LXC lines and the instance's both apply).
 */
export function expandProfiles(
  store: Profiles,
  profiles: readonly string[],
  local: LxdConfig,
): LxdConfig {
  const out: LxdConfig = { config: {}, devices: {} };
  const raw: string[] = [];
  for (const p of [...profiles.map((n) => store.get(n)), local]) {
    for (const [k, v] of Object.entries(p.config ?? {})) {
      if (k === "raw.lxc") raw.push(...rawLines(v));
      else out.config[k] = v;
    }
    Object.assign(out.devices, p.devices ?? {});
  }
  if (raw.length > 0) out.config["raw.lxc"] = `${raw.join("\n")}\n`;
  return out;
}

function sameDevice(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  if (!a) return false;
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/** What `expanded` has beyond what its profiles give (`fromProfiles`): the instance's own part. */
export function localPart(expanded: LxdConfig, fromProfiles: LxdConfig): LxdConfig {
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(expanded.config)) {
    if (k === "raw.lxc") {
      const theirs = rawLines(fromProfiles.config[k]);
      const mine = rawLines(v).filter((l) => {
        const i = theirs.indexOf(l);
        if (i < 0) return true;
        theirs.splice(i, 1);
        return false;
      });
      if (mine.length > 0) config[k] = `${mine.join("\n")}\n`;
    } else if (fromProfiles.config[k] !== v) config[k] = v;
  }
  const devices: Devices = {};
  for (const [k, d] of Object.entries(expanded.devices)) {
    if (!sameDevice(fromProfiles.devices[k], d)) devices[k] = d;
  }
  return { config, devices };
}

/** The expanded LXD config of a container now: its LXC config, forwards and sidecar. */
export function expandedNow(
  paths: ContainerPaths,
  meta: InstanceMeta = readMeta(paths),
): LxdConfig {
  const view = lxdView(configFileEntries(paths), readForwards(paths), {
    name: paths.name,
    ...(meta.expanded ? { hints: meta.expanded } : {}),
  });
  return { config: { ...meta.config, ...view.config }, devices: view.devices };
}

/** An instance's config: local, expanded and its profiles. */
export function instanceConfig(store: Profiles, paths: ContainerPaths) {
  const meta = readMeta(paths);
  const expanded = expandedNow(paths, meta);
  let fromProfiles: LxdConfig;
  try {
    fromProfiles = expandProfiles(store, meta.profiles, { config: {}, devices: {} });
  } catch {
    // a profile gone behind lxtd's back: everything is the instance's own
    fromProfiles = { config: {}, devices: {} };
  }
  return { meta, expanded, local: localPart(expanded, fromProfiles) };
}

/**
 * The change that makes a just-created container what an LXD create asks:
 * the template's or image's own entries stay (its `raw.lxc`, its keys) but
 * for its NICs (the devices asked for are the NICs); the profiles go over
 * them, and the instance's own config and devices over the profiles.
 */
export function creationChange(
  store: Profiles,
  paths: ContainerPaths,
  profiles: string[],
  own: LxdConfig,
): InstanceChange {
  const base = lxdView(configFileEntries(paths), [], { name: paths.name });
  const asked = expandProfiles(store, profiles, own);
  const devices: Devices = Object.fromEntries(
    Object.entries(base.devices).filter(([, dev]) => dev.type !== "nic"),
  );
  const raw = [...rawLines(base.config["raw.lxc"]), ...rawLines(asked.config["raw.lxc"])];
  const full: LxdConfig = {
    config: { ...base.config, ...asked.config },
    devices: { ...devices, ...asked.devices },
  };
  if (raw.length > 0) full.config["raw.lxc"] = `${raw.join("\n")}\n`;
  const fromProfiles = expandProfiles(store, profiles, { config: {}, devices: {} });
  return { profiles, local: localPart(full, fromProfiles) };
}

/** What a change of an instance asks for. */
export interface InstanceChange {
  profiles: string[];
  local: LxdConfig;
  description?: string;
}

/** The LXC config of a change, checked: refuses changed `volatile.*` keys. */
function plan(ctx: Context, store: Profiles, paths: ContainerPaths, change: InstanceChange) {
  for (const p of change.profiles) {
    if (!store.find(p)) throw badRequest(`Profile "${p}" doesn't exist`);
  }
  const expanded = expandProfiles(store, change.profiles, change.local);
  const now = expandedNow(paths);
  for (const [k, v] of Object.entries(expanded.config)) {
    if (k.startsWith("volatile.") && now.config[k] !== v)
      throw badRequest(`Invalid config: ${k} is read-only here`);
  }
  const current = configFileEntries(paths);
  const rendered = renderLxc(expanded, current, entryChecker(ctx));
  return { expanded, rendered };
}

/** Checks a change without writing anything (a profile edit checks every instance first). */
export function checkChange(
  ctx: Context,
  store: Profiles,
  paths: ContainerPaths,
  change: InstanceChange,
): void {
  plan(ctx, store, paths, change);
}

/**
 * Applies a change to an instance: its LXC config replaced in one step
 * (checked whole first; limits applied live when it runs), its forwards,
 * then the sidecar. An lxt refusal is a 400 naming the key.
 */
export async function applyChange(
  ctx: Context,
  caller: Caller,
  store: Profiles,
  paths: ContainerPaths,
  change: InstanceChange,
): Promise<string[]> {
  const { expanded, rendered } = plan(ctx, store, paths, change);
  const stripVolatile = (c: Record<string, string>) =>
    Object.fromEntries(Object.entries(c).filter(([k]) => !k.startsWith("volatile.")));
  let warnings: string[];
  try {
    const done = await replaceConfig(
      ctx,
      paths,
      // The preserved keys and NIC indexes come from the config as it is under the lock.
      (current: KeyValue[]) => renderLxc(expanded, current, entryChecker(ctx)).entries,
      {
        caller,
        verb: "update",
        beforeWrite: () => replaceForwards(ctx, paths, rendered.forwards),
      },
    );
    warnings = done.warnings;
  } catch (err) {
    if (err instanceof LxtError && (err.code === "config" || err.code === "usage"))
      throw badRequest(`Invalid config: ${err.message}`);
    throw err;
  }
  const meta = readMeta(paths);
  const stored = Object.fromEntries(
    Object.entries(expanded.config).filter(([k]) => isStoredKey(k)),
  );
  await writeMetaAsync(paths, {
    ...meta,
    description: change.description ?? meta.description,
    profiles: change.profiles,
    config: stored,
    expanded: { config: stripVolatile(expanded.config), devices: expanded.devices },
  });
  return warnings;
}

/** An `ApiError` for a body that is not the JSON object a change needs. */
export function requireObject(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== "object" || Array.isArray(body))
    throw new ApiError(400, "Invalid request body");
  return body as Record<string, unknown>;
}

/** A body's map of strings (`config`, a device): absent is empty; anything else is LXD's 400. */
export function stringMap(v: unknown, what: string): Record<string, string> {
  if (v === null || v === undefined) return {};
  if (typeof v !== "object" || Array.isArray(v))
    throw badRequest(`Invalid ${what}: expected a map`);
  for (const [k, x] of Object.entries(v))
    if (typeof x !== "string") throw badRequest(`Invalid ${what}: "${k}" must be a string`);
  return v as Record<string, string>;
}

/** A body's `devices`: a map of devices, each a map of strings. */
export function deviceMap(v: unknown): Devices {
  if (v === null || v === undefined) return {};
  if (typeof v !== "object" || Array.isArray(v))
    throw badRequest("Invalid devices: expected a map");
  return Object.fromEntries(Object.entries(v).map(([k, d]) => [k, stringMap(d, `device "${k}"`)]));
}
