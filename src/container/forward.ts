/**
 * A container's port forwards: stored beside its config (`<dir>/forwards`,
 * one `PROTO [ADDR:]PORT CONTAINER_PORT` per line) and applied on the
 * managed network its NIC is registered with, to its pinned address, while
 * it runs. Applied at start (after the veths, before the init asks for a
 * lease), at stop, by `lxt forward add/remove` and after `network set`.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { ValueError } from "../config/values.js";
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { writeFileAtomic } from "../host/atomic.js";
import {
  type ActiveForward,
  activeForwards,
  clashes,
  describeClash,
  findClash,
  formatForward,
  hasActive,
  type PortClaim,
  type PortForward,
  parseForward,
  registeredNic,
  writeActive,
} from "../network/forward.js";
import { withNetworkLock, withPortsLock } from "../network/lock.js";
import { applyRuleset, listNetworkDefs, networkRunPaths } from "../network/manage.js";
import type { NetworkDef } from "../network/render.js";
import { pinAddress } from "../network/reserve.js";
import { type ContainerPaths, containerPaths, requireExists } from "./paths.js";
import { withLock } from "./runtime.js";

export type { ActiveForward, PortForward };

/** Parses `tcp|udp [ADDR:]PORT CONTAINER_PORT` as a user gave it; a bad part is a usage error. */
export function parseForwardArgs(proto: string, host: string, target: string): PortForward {
  try {
    return parseForward(proto, host, target);
  } catch (err) {
    if (err instanceof ValueError) throw new LxtError("usage", `forward: ${err.message}`);
    throw err;
  }
}

/** Where a container's forwards are kept (one `PROTO HOSTPORT CONTAINERPORT` a line). */
export function forwardsFile(paths: ContainerPaths): string {
  return `${paths.dir}/forwards`; // dir is normalized (a join): no join per list entry
}

/** A container's forwards (none when the file is missing). */
export function readForwards(paths: ContainerPaths): PortForward[] {
  const file = forwardsFile(paths);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  return text.split("\n").flatMap((line, i) => {
    const t = line.trim();
    if (!t || t.startsWith("#")) return [];
    const [p = "", h = "", c = "", ...more] = t.split(/\s+/);
    try {
      if (more.length > 0) throw new ValueError("expected PROTO [ADDR:]PORT CONTAINER_PORT");
      return [parseForward(p, h, c)];
    } catch (err) {
      throw new LxtError("config", `${file}:${i + 1}: ${(err as Error).message}`);
    }
  });
}

/**
 * Every container's stored forwards under the context's state root, as
 * claims. A list that does not parse claims nothing here: its own
 * container's start and `forward` verbs report it.
 */
export function storedClaims(ctx: Context): PortClaim[] {
  let names: string[];
  try {
    names = readdirSync(ctx.lxcpath);
  } catch {
    return [];
  }
  return names.sort().flatMap((container) => {
    const paths = containerPaths(ctx, container);
    if (!hasForwards(paths)) return [];
    try {
      return readForwards(paths).map((forward) => ({ container, forward }));
    } catch {
      return [];
    }
  });
}

/**
 * Every forward applied on a network of the state root, as claims. Call
 * with the ports lock held.
 */
function activeClaims(ctx: Context): PortClaim[] {
  return listNetworkDefs(ctx).flatMap((def) =>
    activeForwards(networkRunPaths(ctx, def.name)).map((a) => ({
      container: a.container,
      forward: a,
      network: def.name,
    })),
  );
}

/** Whether the container has forwards at all. */
export function hasForwards(paths: ContainerPaths): boolean {
  return existsSync(forwardsFile(paths));
}

/** Writes a container's forwards (none: removes the file). */
export function writeForwards(paths: ContainerPaths, list: readonly PortForward[]): void {
  const file = forwardsFile(paths);
  if (list.length === 0) rmSync(file, { force: true });
  else writeFileAtomic(file, `${list.map(formatForward).join("\n")}\n`, 0o644);
}

/** The managed network and NIC index a container is registered on (its lowest NIC index wins). */
export function forwardNetwork(
  ctx: Context,
  container: string,
  managed?: ReadonlyMap<number, NetworkDef>,
): { def: NetworkDef; index: number } | undefined {
  if (managed) {
    const first = [...managed].sort(([a], [b]) => a - b)[0];
    return first ? { def: first[1], index: first[0] } : undefined;
  }
  let best: { def: NetworkDef; index: number } | undefined;
  for (const def of listNetworkDefs(ctx)) {
    const index = registeredNic(networkRunPaths(ctx, def.name), container);
    if (index !== undefined && (!best || index < best.index)) best = { def, index };
  }
  return best;
}

/**
 * Brings the nft rules of a container's forwards in line with its state:
 * applied to its pinned address while its runtime directory exists, removed
 * otherwise (or when `running` is false). Returns the forwards in effect.
 * `managed`: the networks of a start in progress, by NIC index. Each
 * network is changed under its lock; the forwards are checked against
 * every other container's applied on any network of the state root, and
 * recorded, under the ports lock.
 */
export async function syncForwards(
  ctx: Context,
  paths: ContainerPaths,
  managed?: ReadonlyMap<number, NetworkDef>,
  running = existsSync(paths.runtimeDir),
): Promise<ActiveForward[]> {
  const container = paths.name;
  const wanted = running ? readForwards(paths) : [];
  const target = wanted.length > 0 ? forwardNetwork(ctx, container, managed) : undefined;
  if (wanted.length > 0 && !target) {
    throw new LxtError(
      "config",
      `forward ${container}: port forwards need a NIC on a managed network (lxc.net.N.link = a network of lxt network list)`,
    );
  }
  let active: ActiveForward[] = [];
  // Off every other network it had forwards on (a changed config), onto its own.
  for (const def of listNetworkDefs(ctx)) {
    const run = networkRunPaths(ctx, def.name);
    if (target && def.name === target.def.name) {
      const index = target.index;
      active = await withNetworkLock(ctx, def.name, async () => {
        const address = pinAddress(run, def, container, index);
        const mine = wanted.map((f) => ({ ...f, container, address }));
        await withPortsLock(ctx, async () => {
          const claims = activeClaims(ctx);
          for (const f of mine) {
            const clash = findClash(f, container, claims);
            if (clash) {
              throw new LxtError(
                "exists",
                `forward ${container}: ${formatForward(f)} ${describeClash(clash)}`,
              );
            }
          }
          writeActive(run, container, mine, paths.runtimeDir);
        });
        await applyRuleset(ctx, def, ctx.host.run);
        return mine;
      });
    } else if (hasActive(run, container)) {
      await withNetworkLock(ctx, def.name, async () => {
        writeActive(run, container, [], paths.runtimeDir);
        if (existsSync(run.dir)) await applyRuleset(ctx, def, ctx.host.run);
      });
    }
  }
  return active;
}

/**
 * Adds a forward to a container's list and applies it when the container
 * runs. The host port must be free: no other container's forward (stored,
 * or applied on any network of the state root) claims the same protocol,
 * port and address; the check and the write of the list are one step under
 * the ports lock, so of two adds of one port exactly one wins.
 */
export async function addForward(
  ctx: Context,
  paths: ContainerPaths,
  f: PortForward,
): Promise<ActiveForward[]> {
  requireExists(paths, "forward add");
  return withLock(ctx, paths, async () => {
    const list = readForwards(paths);
    const own = list.find((o) => clashes(o, f));
    if (own) {
      throw new LxtError(
        "exists",
        `forward add ${paths.name}: ${formatForward(f)} clashes with its forward ${formatForward(own)}`,
      );
    }
    await withPortsLock(ctx, async () => {
      const clash = findClash(f, paths.name, [...activeClaims(ctx), ...storedClaims(ctx)]);
      if (clash) {
        throw new LxtError(
          "exists",
          `forward add ${paths.name}: ${formatForward(f)} ${describeClash(clash)}`,
        );
      }
      writeForwards(paths, [...list, f]);
    });
    try {
      return await syncForwards(ctx, paths);
    } catch (err) {
      writeForwards(paths, list);
      await syncForwards(ctx, paths).catch(() => {});
      throw err;
    }
  });
}

/**
 * Removes forwards matching `proto [ADDR:]PORT` (all of the container's when
 * `match` is undefined); refuses when nothing matches.
 */
export async function removeForward(
  ctx: Context,
  paths: ContainerPaths,
  match?: { proto: string; host: string },
): Promise<PortForward[]> {
  requireExists(paths, "forward remove");
  return withLock(ctx, paths, async () => {
    const list = readForwards(paths);
    const gone = list.filter(
      (f) => !match || (f.proto === match.proto && formatForward(f).split(" ")[1] === match.host),
    );
    if (gone.length === 0) {
      throw new LxtError(
        "not-found",
        `forward remove ${paths.name}: no forward ${match ? `${match.proto} ${match.host}` : ""}`.trimEnd(),
      );
    }
    writeForwards(
      paths,
      list.filter((f) => !gone.includes(f)),
    );
    await syncForwards(ctx, paths);
    return gone;
  });
}

/** A forward as `forward list` shows it: where it goes while its container runs. */
export interface ForwardRow extends PortForward {
  container: string;
  address?: string;
  network?: string;
}

/** The forwards of `names` (every container's when undefined), with where each applies now. */
export function listForwards(ctx: Context, names: readonly string[]): ForwardRow[] {
  const active = listNetworkDefs(ctx).flatMap((d) =>
    activeForwards(networkRunPaths(ctx, d.name)).map((a) => ({ ...a, network: d.name })),
  );
  return names.flatMap((c) =>
    readForwards(containerPaths(ctx, c)).map((f) => {
      const a = active.find(
        (x) =>
          x.container === c && x.proto === f.proto && x.port === f.port && x.listen === f.listen,
      );
      return { container: c, ...f, ...(a ? { address: a.address, network: a.network } : {}) };
    }),
  );
}

/** Re-applies the forwards of every container that has some on network `name` (its subnet changed). */
export async function resyncNetworkForwards(ctx: Context, name: string): Promise<void> {
  const owners = new Set(activeForwards(networkRunPaths(ctx, name)).map((f) => f.container));
  for (const c of owners) await syncForwards(ctx, containerPaths(ctx, c));
}

/**
 * Replaces a container's forwards with `list` (lxtd's proxy devices), as
 * `addForward` checks each: no other container may claim the same host
 * port. Applied at once when the container runs. Call with the container's
 * lock held. Returns the undo (the old list back).
 */
export async function replaceForwards(
  ctx: Context,
  paths: ContainerPaths,
  list: readonly PortForward[],
): Promise<() => Promise<void>> {
  const old = readForwards(paths);
  const same =
    old.length === list.length &&
    old.every((f, i) => formatForward(f) === formatForward(list[i] as PortForward));
  if (same) return async () => {};
  for (const [i, f] of list.entries()) {
    const own = list.slice(0, i).find((o) => clashes(o, f));
    if (own)
      throw new LxtError(
        "config",
        `forward ${paths.name}: ${formatForward(f)} clashes with ${formatForward(own)}`,
      );
  }
  await withPortsLock(ctx, async () => {
    const others = [...activeClaims(ctx), ...storedClaims(ctx)];
    for (const f of list) {
      const clash = findClash(f, paths.name, others);
      if (clash)
        throw new LxtError(
          "exists",
          `forward ${paths.name}: ${formatForward(f)} ${describeClash(clash)}`,
        );
    }
    writeForwards(paths, list);
  });
  const undo = async () => {
    writeForwards(paths, old);
    await syncForwards(ctx, paths).catch(() => {});
  };
  try {
    await syncForwards(ctx, paths);
  } catch (err) {
    await undo();
    throw err;
  }
  return undo;
}
