/**
 * `lxt network set/unset`: LXD's network keys, validated into a new
 * definition before anything changes, then applied live: the bridge's
 * addresses, the nft table (one transaction), dnsmasq restarted, pinned
 * addresses that left the subnet dropped. The definition is written last.
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ValueError } from "../config/values.js";
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { Reverter } from "../core/reverter.js";
import { writeFileAtomic } from "../host/atomic.js";
import type { CommandRunner } from "../host/runner.js";
import { parseDhcpHost } from "./forward.js";
import { contains, ipToInt } from "./ipv4.js";
import { withNetworkLock } from "./lock.js";
import {
  checkNetworkName,
  loadNetwork,
  type NetworkOptions,
  networkRunPaths,
  planNetwork,
  restartNetwork,
  saveNetwork,
} from "./manage.js";
import { type NetworkDef, subnetOf } from "./render.js";

/** The keys `network set` takes (LXD's names) and their defaults for `unset`. */
export const NETWORK_KEYS = {
  "ipv4.address": "auto",
  "ipv4.nat": "true",
  "ipv4.dhcp.ranges": "",
  "ipv6.address": "none",
  "ipv6.nat": "true",
  "dns.domain": "lxt",
  "dns.upstream": "false",
} as const;
export type NetworkKey = keyof typeof NETWORK_KEYS;

function bool(key: string, v: string): boolean {
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw new ValueError(`${key}: expected true or false, not "${v}"`);
}

/** The options that reproduce `def` (pure). */
function optionsOf(def: NetworkDef): NetworkOptions {
  return {
    ipv4: def.ipv4,
    nat: def.nat,
    dhcpRange: def.dhcpRange.join("-"),
    domain: def.domain,
    dnsUpstream: def.dnsUpstream,
    ipv6: def.ipv6 ?? "none",
    ...(def.nat6 !== undefined ? { nat6: def.nat6 } : {}),
  };
}

/** Sets `key` to `value` in `opts`; throws ValueError for a key or value it cannot take. */
function applyKey(opts: NetworkOptions, key: string, value: string): void {
  switch (key) {
    case "ipv4.address":
      opts.ipv4 = value;
      // The range follows the subnet unless given again.
      delete opts.dhcpRange;
      break;
    case "ipv4.nat":
      opts.nat = bool(key, value);
      break;
    case "ipv4.dhcp.ranges":
      if (value) opts.dhcpRange = value;
      else delete opts.dhcpRange;
      break;
    case "ipv6.address":
      opts.ipv6 = value;
      break;
    case "ipv6.nat":
      opts.nat6 = bool(key, value);
      break;
    case "dns.domain":
      opts.domain = value;
      break;
    case "dns.upstream":
      opts.dnsUpstream = bool(key, value);
      break;
    default:
      throw new ValueError(`unknown key "${key}" (keys: ${Object.keys(NETWORK_KEYS).join(", ")})`);
  }
}

/** Keys in the order they apply: an address before the range that must lie in it. */
function ordered<T>(changes: Record<string, T>): [string, T][] {
  return Object.entries(changes).sort(
    ([a], [b]) => Number(b === "ipv4.address") - Number(a === "ipv4.address"),
  );
}

/** The options that reproduce `def`, with `key` set to `value` (pure). */
export function optionsWith(def: NetworkDef, key: string, value: string): NetworkOptions {
  return optionsWithAll(def, { [key]: value });
}

/** The options that reproduce `def` (none: the defaults) with `changes` applied (pure). */
export function optionsWithAll(
  def: NetworkDef | undefined,
  changes: Record<string, string>,
): NetworkOptions {
  const opts = def ? optionsOf(def) : {};
  for (const [k, v] of ordered(changes)) applyKey(opts, k, v);
  return opts;
}

/**
 * Sets one key (`value` undefined: back to its default) and applies the
 * result live, under the network's lock. The forwards of containers on it
 * follow their pinned addresses afterwards; that is the caller's (a
 * container verb's) part, which takes the lock again for each.
 */
export async function setNetworkKey(
  ctx: Context,
  name: string,
  key: string,
  value: string | undefined,
  runner: CommandRunner,
): Promise<NetworkDef> {
  return setNetworkKeys(ctx, name, { [key]: value }, runner);
}

/**
 * Like `setNetworkKey` for several keys at once (undefined values: back to
 * their defaults): one new definition, validated whole, applied in one step.
 */
export async function setNetworkKeys(
  ctx: Context,
  name: string,
  changes: Record<string, string | undefined>,
  runner: CommandRunner,
): Promise<NetworkDef> {
  checkNetworkName(name);
  return withNetworkLock(ctx, name, () => applyNetworkKeys(ctx, name, changes, runner));
}

/** `setNetworkKeys`'s change of the definition and the live network, with the lock held. */
async function applyNetworkKeys(
  ctx: Context,
  name: string,
  changes: Record<string, string | undefined>,
  runner: CommandRunner,
): Promise<NetworkDef> {
  const verb = Object.values(changes).every((v) => v === undefined) ? "unset" : "set";
  const def = loadNetwork(ctx, name);
  if (!def) throw new LxtError("not-found", `network ${verb} ${name}: no such network`);
  let next: NetworkDef;
  try {
    const values: Record<string, string> = {};
    for (const [k, v] of Object.entries(changes)) {
      values[k] = v ?? NETWORK_KEYS[k as NetworkKey] ?? "";
    }
    // ipv6.address = auto on a network that has IPv6 keeps its prefix.
    if (values["ipv6.address"] === "auto" && def.ipv6) delete values["ipv6.address"];
    next =
      Object.keys(values).length === 0
        ? def
        : await planNetwork(ctx, name, optionsWithAll(def, values), runner);
  } catch (err) {
    if (err instanceof ValueError)
      throw new LxtError("usage", `network ${verb} ${name}: ${err.message}`);
    throw err instanceof LxtError ? err.wrap(`network ${verb} ${name}`) : err;
  }
  const revert = new Reverter();
  try {
    await replaceAddress(name, def.ipv4, next.ipv4, [], runner, revert);
    await replaceAddress(name, def.ipv6, next.ipv6, ["-6"], runner, revert);
    if (next.ipv4 !== def.ipv4) dropPinsOutside(ctx, next);
    saveNetwork(ctx, next);
    revert.add("definition", () => saveNetwork(ctx, def));
    await restartNetwork(ctx, next, runner);
    revert.success();
  } catch (err) {
    await revert.revert();
    await restartNetwork(ctx, def, runner).catch(() => {});
    throw err instanceof LxtError ? err.wrap(`network ${verb} ${name}`) : err;
  }
  return next;
}

async function replaceAddress(
  dev: string,
  from: string | undefined,
  to: string | undefined,
  family: string[],
  runner: CommandRunner,
  revert: Reverter,
): Promise<void> {
  if (from === to) return;
  if (to) {
    await runner.run("ip", [
      ...family,
      "addr",
      "add",
      to,
      "dev",
      dev,
      ...(family.length ? ["nodad"] : []),
    ]);
    revert.add(`address ${to}`, () =>
      runner.run("ip", [...family, "addr", "del", to, "dev", dev]).then(() => {}),
    );
  }
  if (from) {
    await runner.run("ip", [...family, "addr", "del", from, "dev", dev]);
    revert.add(`address ${from}`, () =>
      runner.run("ip", [...family, "addr", "add", from, "dev", dev]).then(() => {}),
    );
  }
}

/** Reservations whose address left the subnet go back to plain name entries. */
function dropPinsOutside(ctx: Context, def: NetworkDef): void {
  const run = networkRunPaths(ctx, def.name);
  const subnet = subnetOf(def);
  let files: string[] = [];
  try {
    files = readdirSync(run.dhcpHosts);
  } catch {}
  for (const f of files) {
    const file = join(run.dhcpHosts, f);
    const e = parseDhcpHost(readFileSync(file, "utf8"));
    if (e.ipv4 && !contains(subnet, ipToInt(e.ipv4)))
      writeFileAtomic(file, `${e.hwaddr},${e.hostname}\n`, 0o644, false);
  }
  // Leases of the old subnet would be offered back by nobody: start afresh.
  rmSync(run.leases, { force: true });
}
