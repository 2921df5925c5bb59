/**
 * systemd as the host's cgroup manager: a transient scope per container in
 * `machine.slice` with `Delegate=yes`, and its registration with
 * systemd-machined, as systemd-nspawn and podman do.
 *
 * Talks to systemd over D-Bus through `busctl`, systemd's own client, which
 * every systemd host has (package `systemd`): no D-Bus library in the CLI's
 * bundle, and the calls are three per start. The npm D-Bus clients
 * (`dbus-next`, `@homebridge/dbus-native`) are unmaintained or narrow forks.
 * Method signatures are systemd's (org.freedesktop.systemd1(5),
 * org.freedesktop.machine1(5)).
 */

import { LxtError } from "../core/errors.js";
import type { CommandRunner } from "./runner.js";

/** Where a container's scope goes, as `machinectl` expects containers to be. */
export const MACHINE_SLICE = "machine.slice";

const SYSTEMD = ["org.freedesktop.systemd1", "/org/freedesktop/systemd1"] as const;
const SYSTEMD_MANAGER = "org.freedesktop.systemd1.Manager";
const MACHINED = ["org.freedesktop.machine1", "/org/freedesktop/machine1"] as const;
const MACHINED_MANAGER = "org.freedesktop.machine1.Manager";

/**
 * Whether the host runs systemd as its service manager: sd_booted(3)'s test,
 * `/run/systemd/system` is a directory.
 */
export function systemdBooted(isDirectory: (path: string) => boolean): boolean {
  return isDirectory("/run/systemd/system");
}

/** `lxt-NAME.scope`, or `lxt-NAME-N.scope` when another state root's container holds the name. */
export function scopeUnitName(container: string, attempt = 0): string {
  return `lxt-${container}${attempt > 0 ? `-${attempt}` : ""}.scope`;
}

/** The machine name machined lists for a scope unit: the unit name without `lxt-` and `.scope`. */
export function machineNameOf(unit: string): string {
  return unit.replace(/^lxt-/, "").replace(/\.scope$/, "");
}

/** What a transient scope is made with. */
export interface ScopeSpec {
  unit: string;
  slice: string;
  description: string;
  /** Processes that make up the scope (at least one: systemd refuses an empty scope). */
  pids: number[];
}

/**
 * `busctl call` arguments for `StartTransientUnit(ssa(sv)a(sa(sv)))`:
 * Delegate=yes (the container's cgroups beneath the scope are lxt's),
 * CollectMode=inactive-or-failed (a scope whose monitor crashed is still
 * garbage-collected), AddRef is not used (the scope lives while its
 * processes do).
 */
export function startScopeArgs(s: ScopeSpec): string[] {
  return [
    "call",
    "--json=short",
    ...SYSTEMD,
    SYSTEMD_MANAGER,
    "StartTransientUnit",
    "ssa(sv)a(sa(sv))",
    s.unit,
    "fail",
    "5",
    "Slice",
    "s",
    s.slice,
    "Delegate",
    "b",
    "true",
    "CollectMode",
    "s",
    "inactive-or-failed",
    "Description",
    "s",
    s.description,
    "PIDs",
    "au",
    String(s.pids.length),
    ...s.pids.map(String),
    "0",
  ];
}

/** Why a busctl call failed: its `Call failed: ...` text, else the runner's message. */
function callFailure(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const m = /Call failed: ([^;]*)/.exec(msg);
  return (m?.[1] ?? msg).trim();
}

/** Whether a busctl failure says the unit or machine name is taken. */
export function isNameTaken(err: unknown): boolean {
  return /already exists/i.test(callFailure(err));
}

/**
 * Asks systemd for the scope. Resolves once systemd has queued the job;
 * the caller waits for the processes to arrive in the scope's cgroup.
 *
 * @throws LxtError("exists") when a unit of that name exists;
 *   LxtError("host") for any other refusal, with systemd's words.
 */
export async function startScope(run: CommandRunner, s: ScopeSpec): Promise<void> {
  try {
    await run.run("busctl", startScopeArgs(s));
  } catch (err) {
    if (err instanceof LxtError && err.code === "host") throw err;
    const why = callFailure(err);
    throw new LxtError(
      isNameTaken(err) ? "exists" : "host",
      `systemd: start transient unit ${s.unit}: ${why}`,
      err,
    );
  }
}

/**
 * Stops a unit (`StopUnit(ss)`, mode `replace`). A unit that is already gone
 * is not an error: a scope stops by itself once its last process exits.
 */
export async function stopUnit(run: CommandRunner, unit: string): Promise<void> {
  try {
    await run.run("busctl", [
      "call",
      ...SYSTEMD,
      SYSTEMD_MANAGER,
      "StopUnit",
      "ss",
      unit,
      "replace",
    ]);
  } catch (err) {
    const why = callFailure(err);
    if (/not loaded|no such unit|not found/i.test(why)) return;
    throw new LxtError("host", `systemd: stop ${unit}: ${why}`, err);
  }
}

/** What a container is registered with systemd-machined as. */
export interface MachineSpec {
  name: string;
  /** The container's init, as the host sees it: `machinectl` enters its namespaces. */
  leader: number;
  /** The container's root directory, as the host sees it. */
  rootDirectory: string;
}

/** `busctl call` arguments for `RegisterMachine(sayssus)`: no id, service "lxt", class "container". */
export function registerMachineArgs(m: MachineSpec): string[] {
  return [
    "call",
    ...MACHINED,
    MACHINED_MANAGER,
    "RegisterMachine",
    "sayssus",
    m.name,
    "0",
    "lxt",
    "container",
    String(m.leader),
    m.rootDirectory,
  ];
}

/**
 * Registers a running container with systemd-machined, so that
 * `machinectl list/status` show it. machined finds the unit (the scope) from
 * the leader's cgroup and forgets the machine when the unit stops.
 *
 * @throws LxtError("exists") when machined has a machine of that name;
 *   LxtError("host") when machined is not there (package systemd-container)
 *   or refuses.
 */
export async function registerMachine(run: CommandRunner, m: MachineSpec): Promise<void> {
  try {
    await run.run("busctl", registerMachineArgs(m));
  } catch (err) {
    const why = callFailure(err);
    if (isNameTaken(err)) {
      throw new LxtError("exists", `systemd-machined: register ${m.name}: ${why}`, err);
    }
    const missing = /not provided by any \.service|ServiceUnknown|was not provided/i.test(why);
    throw new LxtError(
      "host",
      `systemd-machined: register ${m.name}: ${missing ? "machined is not installed (Debian package systemd-container)" : why}`,
      err,
    );
  }
}
