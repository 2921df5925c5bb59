/**
 * The locks of a state root's managed networks, beside its containers'
 * under `<rundir>/<root-id>/locks/` (a container's name never starts with a
 * dot): `.network-NAME` serialises whatever changes network NAME (its
 * bridge, nft table and dnsmasq, the DHCP registrations of NICs, the
 * forwards applied on it), `.ports` the claims of host ports by port
 * forwards across the state root. They are taken through the context's
 * lock door, in one order only: a container's lock, then one network's,
 * then `.ports`.
 */
import { join } from "node:path";
import { type Context, runtimeRoot } from "../core/context.js";
import type { WaitLimit } from "../core/wait.js";
import { withFileLock } from "../host/shim.js";

/** The lock file of network `name` of the context's state root. */
export function networkLockFile(ctx: Context, name: string): string {
  return join(runtimeRoot(ctx.runDir, ctx.lxcpath), "locks", `.network-${name}`);
}

/** Runs `fn` with network `name`'s lock held (released even if `fn` throws). */
export function withNetworkLock<T>(
  ctx: Context,
  name: string,
  fn: () => Promise<T>,
  wait: WaitLimit = {},
): Promise<T> {
  return withFileLock(ctx.host.lock, networkLockFile(ctx, name), `network ${name}`, fn, wait);
}

/**
 * Runs `fn` with the state root's port-claims lock held: the check of a
 * forward against every other claim and the write of the claim are one step.
 */
export function withPortsLock<T>(
  ctx: Context,
  fn: () => Promise<T>,
  wait: WaitLimit = {},
): Promise<T> {
  const file = join(runtimeRoot(ctx.runDir, ctx.lxcpath), "locks", ".ports");
  return withFileLock(ctx.host.lock, file, "ports", fn, wait);
}
