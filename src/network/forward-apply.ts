/**
 * Applying a container's port forwards: on the managed network its NIC is
 * registered with, to its pinned address, while it runs. Called at start
 * (after the veths, before the init asks for a lease), at stop, and by
 * `lxt forward add/remove`.
 */
import { existsSync } from "node:fs";
import { containerPaths, requireExists } from "../container/paths.js";
import { withLock } from "../container/runtime.js";
import { LxtError } from "../core/errors.js";
import { type CommandRunner, execRunner } from "../storage/runner.js";
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
  pinAddress,
  readForwards,
  registeredNic,
  storedClaims,
  writeActive,
  writeForwards,
} from "./forward.js";
import { withNetworkLock, withPortsLock } from "./lock.js";
import { applyRuleset, listNetworkDefs, networkRunPaths } from "./manage.js";
import type { NetworkDef } from "./render.js";

/** The managed network and NIC index a container is registered on (its lowest NIC index wins). */
export function forwardNetwork(
  lxcpath: string,
  container: string,
  managed?: ReadonlyMap<number, NetworkDef>,
): { def: NetworkDef; index: number } | undefined {
  if (managed) {
    const first = [...managed].sort(([a], [b]) => a - b)[0];
    return first ? { def: first[1], index: first[0] } : undefined;
  }
  let best: { def: NetworkDef; index: number } | undefined;
  for (const def of listNetworkDefs(lxcpath)) {
    const index = registeredNic(networkRunPaths(lxcpath, def.name), container);
    if (index !== undefined && (!best || index < best.index)) best = { def, index };
  }
  return best;
}

/**
 * Every forward applied on a network of the state root, as claims. Call with
 * the ports lock held.
 */
function activeClaims(lxcpath: string): PortClaim[] {
  return listNetworkDefs(lxcpath).flatMap((def) =>
    activeForwards(lxcpath, networkRunPaths(lxcpath, def.name)).map((a) => ({
      container: a.container,
      forward: a,
      network: def.name,
    })),
  );
}

/**
 * Brings the nft rules of `container`'s forwards in line with its state:
 * applied to its pinned address while its runtime directory exists, removed
 * otherwise (or when `running` is false). Returns the forwards in effect.
 * `managed`: the networks of a start in progress, by NIC index. Each
 * network is changed under its lock; the forwards are checked against
 * every other container's applied on any network of the state root, and
 * recorded, under the ports lock.
 */
export async function syncForwards(
  lxcpath: string,
  container: string,
  managed?: ReadonlyMap<number, NetworkDef>,
  runner: CommandRunner = execRunner,
  running = existsSync(containerPaths(lxcpath, container).runtimeDir),
): Promise<ActiveForward[]> {
  const wanted = running ? readForwards(lxcpath, container) : [];
  const target = wanted.length > 0 ? forwardNetwork(lxcpath, container, managed) : undefined;
  if (wanted.length > 0 && !target) {
    throw new LxtError(
      "config",
      `forward ${container}: port forwards need a NIC on a managed network (lxc.net.N.link = a network of lxt network list)`,
    );
  }
  let active: ActiveForward[] = [];
  // Off every other network it had forwards on (a changed config), onto its own.
  for (const def of listNetworkDefs(lxcpath)) {
    const run = networkRunPaths(lxcpath, def.name);
    if (target && def.name === target.def.name) {
      active = await withNetworkLock(lxcpath, def.name, async () => {
        const address = pinAddress(run, def, container, target.index);
        const mine = wanted.map((f) => ({ ...f, container, address }));
        await withPortsLock(lxcpath, async () => {
          const claims = activeClaims(lxcpath);
          for (const f of mine) {
            const clash = findClash(f, container, claims);
            if (clash) {
              throw new LxtError(
                "exists",
                `forward ${container}: ${formatForward(f)} ${describeClash(clash)}`,
              );
            }
          }
          writeActive(run, container, mine);
        });
        await applyRuleset(lxcpath, def, runner);
        return mine;
      });
    } else if (hasActive(run, container)) {
      await withNetworkLock(lxcpath, def.name, async () => {
        writeActive(run, container, []);
        if (existsSync(run.dir)) await applyRuleset(lxcpath, def, runner);
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
  lxcpath: string,
  container: string,
  f: PortForward,
): Promise<ActiveForward[]> {
  const paths = containerPaths(lxcpath, container);
  requireExists(paths, "forward add");
  return withLock(paths, async () => {
    const list = readForwards(lxcpath, container);
    const own = list.find((o) => clashes(o, f));
    if (own) {
      throw new LxtError(
        "exists",
        `forward add ${container}: ${formatForward(f)} clashes with its forward ${formatForward(own)}`,
      );
    }
    await withPortsLock(lxcpath, async () => {
      const clash = findClash(f, container, [...activeClaims(lxcpath), ...storedClaims(lxcpath)]);
      if (clash) {
        throw new LxtError(
          "exists",
          `forward add ${container}: ${formatForward(f)} ${describeClash(clash)}`,
        );
      }
      writeForwards(lxcpath, container, [...list, f]);
    });
    try {
      return await syncForwards(lxcpath, container);
    } catch (err) {
      writeForwards(lxcpath, container, list);
      await syncForwards(lxcpath, container).catch(() => {});
      throw err;
    }
  });
}

/**
 * Removes forwards matching `proto [ADDR:]PORT` (all of the container's when
 * `proto` is undefined); refuses when nothing matches.
 */
export async function removeForward(
  lxcpath: string,
  container: string,
  match?: { proto: string; host: string },
): Promise<PortForward[]> {
  const paths = containerPaths(lxcpath, container);
  requireExists(paths, "forward remove");
  return withLock(paths, async () => {
    const list = readForwards(lxcpath, container);
    const gone = list.filter(
      (f) => !match || (f.proto === match.proto && formatForward(f).split(" ")[1] === match.host),
    );
    if (gone.length === 0) {
      throw new LxtError(
        "not-found",
        `forward remove ${container}: no forward ${match ? `${match.proto} ${match.host}` : ""}`.trimEnd(),
      );
    }
    writeForwards(
      lxcpath,
      container,
      list.filter((f) => !gone.includes(f)),
    );
    await syncForwards(lxcpath, container);
    return gone;
  });
}
