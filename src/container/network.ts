/**
 * `lxt network ...` through the core: the managed-network driver's verbs
 * with the context's doors, and what a network change means for the
 * containers on it (their port forwards follow their pinned addresses).
 */
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import {
  createNetwork as createNet,
  deleteNetwork as deleteNet,
  listNetworkDefs,
  loadNetwork,
  type NetworkOptions,
} from "../network/manage.js";
import type { NetworkDef } from "../network/render.js";
import { setNetworkKey } from "../network/set.js";
import { type NetworkStatus, networkStatus } from "../network/status.js";
import { resyncNetworkForwards } from "./forward.js";

export type { NetworkDef, NetworkOptions, NetworkStatus };

/** Creates a network and brings it up; returns its status (with warnings about other firewalls). */
export async function createNetwork(
  ctx: Context,
  name: string,
  opts: NetworkOptions,
): Promise<NetworkStatus> {
  const def = await createNet(ctx, name, opts, ctx.host.run);
  return networkStatus(ctx, def, ctx.host.run);
}

/** Every network with its live state. */
export function listNetworks(ctx: Context): Promise<NetworkStatus[]> {
  return Promise.all(listNetworkDefs(ctx).map((d) => networkStatus(ctx, d, ctx.host.run)));
}

/** One network with its live state and leases. */
export async function showNetwork(ctx: Context, name: string): Promise<NetworkStatus> {
  const def = loadNetwork(ctx, name);
  if (!def) throw new LxtError("not-found", `network show ${name}: no such network`);
  return networkStatus(ctx, def, ctx.host.run);
}

/** Sets a key (`value` undefined: back to its default), applied live, forwards included. */
export async function setNetwork(
  ctx: Context,
  name: string,
  key: string,
  value: string | undefined,
): Promise<NetworkDef> {
  const next = await setNetworkKey(ctx, name, key, value, ctx.host.run);
  await resyncNetworkForwards(ctx, name);
  return next;
}

/** Deletes a network (refused while containers use it). */
export function deleteNetwork(ctx: Context, name: string): Promise<void> {
  return deleteNet(ctx, name, ctx.host.run);
}
