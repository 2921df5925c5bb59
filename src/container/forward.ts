/**
 * Applying a container's port forwards: on the managed network its NIC is
 * registered with, to its pinned address, while it runs. Called at start
 * (after the veths, before the init asks for a lease), at stop, and by
 * `lxt forward add/remove`.
 */
import { existsSync } from "node:fs";
import { LxtError } from "../core/errors.js";
import { type CommandRunner, execRunner } from "../host/runner.js";
import {
  type ActiveForward,
  activeForwards,
  clashes,
  formatForward,
  hasActive,
  type PortForward,
  pinAddress,
  readForwards,
  registeredNic,
  writeActive,
  writeForwards,
} from "../network/forward.js";
import { applyRuleset, listNetworkDefs, networkRunPaths } from "../network/manage.js";
import type { NetworkDef } from "../network/render.js";
import { containerPaths, requireExists } from "./paths.js";
import { withLock } from "./runtime.js";

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
 * Brings the nft rules of `container`'s forwards in line with its state:
 * applied to its pinned address while its runtime directory exists, removed
 * otherwise (or when `running` is false). Returns the forwards in effect.
 * `managed`: the networks of a start in progress, by NIC index.
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
    const had = hasActive(run, container);
    if (target && def.name === target.def.name) {
      const address = pinAddress(run, def, container, target.index);
      active = wanted.map((f) => ({ ...f, container, address }));
      const others = activeForwards(lxcpath, run).filter((f) => f.container !== container);
      for (const f of active) {
        const clash = others.find((o) => clashes(o, f));
        if (clash) {
          throw new LxtError(
            "exists",
            `forward ${container}: ${formatForward(f)} clashes with ${clash.container}'s ${formatForward(clash)}`,
          );
        }
      }
      writeActive(run, container, active);
      await applyRuleset(lxcpath, def, runner);
    } else if (had) {
      writeActive(run, container, []);
      if (existsSync(run.dir)) await applyRuleset(lxcpath, def, runner);
    }
  }
  return active;
}

/** Adds a forward to a container's list and applies it when the container runs. */
export async function addForward(
  lxcpath: string,
  container: string,
  f: PortForward,
): Promise<ActiveForward[]> {
  const paths = containerPaths(lxcpath, container);
  requireExists(paths, "forward add");
  return withLock(paths, async () => {
    const list = readForwards(lxcpath, container);
    const clash = list.find((o) => clashes(o, f));
    if (clash) {
      throw new LxtError(
        "exists",
        `forward add ${container}: ${formatForward(f)} clashes with its forward ${formatForward(clash)}`,
      );
    }
    writeForwards(lxcpath, container, [...list, f]);
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
