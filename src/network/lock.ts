/**
 * The locks of a state root's managed networks, beside its containers'
 * under `<rundir>/<root-id>/locks/` (a container's name never starts with a
 * dot): `.network-NAME` serialises whatever changes network NAME (its
 * bridge, nft table and dnsmasq, the DHCP registrations of NICs, the
 * forwards applied on it), `.ports` the claims of host ports by port
 * forwards across the state root. They are taken in one order only: a
 * container's lock, then one network's, then `.ports`.
 */
import { join } from "node:path";
import { runtimeRoot } from "../container/paths.js";
import type { WaitLimit } from "../core/wait.js";
import { withFileLock } from "../host/shim.js";

/** The lock file of network `name` under a state root. */
export function networkLockFile(lxcpath: string, name: string): string {
  return join(runtimeRoot(lxcpath), "locks", `.network-${name}`);
}

/** Runs `fn` with network `name`'s lock held (released even if `fn` throws). */
export function withNetworkLock<T>(
  lxcpath: string,
  name: string,
  fn: () => Promise<T>,
  wait: WaitLimit = {},
): Promise<T> {
  return withFileLock(networkLockFile(lxcpath, name), `network ${name}`, fn, wait);
}

/**
 * Runs `fn` with the state root's port-claims lock held: the check of a
 * forward against every other claim and the write of the claim are one step.
 */
export function withPortsLock<T>(
  lxcpath: string,
  fn: () => Promise<T>,
  wait: WaitLimit = {},
): Promise<T> {
  return withFileLock(join(runtimeRoot(lxcpath), "locks", ".ports"), "ports", fn, wait);
}
