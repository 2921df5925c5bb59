/**
 * `lxc.cgroup.relative` and `lxc.cgroup.dir*`: where a container's cgroups
 * and its monitor's go (lxc.container.conf(5), "CONTROL GROUPS"). Pure: the
 * keys are read into a `CgroupPlacementConfig` and checked together once
 * every entry is seen, as LXC checks them (`check_cgroup_dir_config`).
 */

import { configError } from "../core/errors.js";
import type { ConfigEntry } from "./parse.js";
import { parseBool01 } from "./values.js";

/** The placement keys as set; every path is relative (the key validators refuse `/x` and `..`). */
export interface CgroupPlacementConfig {
  /** `lxc.cgroup.relative`: stay beneath the caller's cgroup (on a systemd host: no scope of its own). */
  relative: boolean;
  /** `lxc.cgroup.dir`: a path beneath which `lxt.payload.NAME` and `lxt.monitor.NAME` go. */
  dir?: string;
  /** `lxc.cgroup.dir.container`: the container's cgroup itself (limits are written here). */
  container?: string;
  /** `lxc.cgroup.dir.monitor`: the monitor's cgroup itself. */
  monitor?: string;
  /** `lxc.cgroup.dir.monitor.pivot`: where the monitor moves when it ends, so its own cgroup can go. */
  pivot?: string;
  /** `lxc.cgroup.dir.container.inner`: one directory below `container` that is the container's cgroup namespace root. */
  inner?: string;
}

const FIELDS = {
  "lxc.cgroup.dir": "dir",
  "lxc.cgroup.dir.container": "container",
  "lxc.cgroup.dir.monitor": "monitor",
  "lxc.cgroup.dir.monitor.pivot": "pivot",
  "lxc.cgroup.dir.container.inner": "inner",
} as const satisfies Record<string, keyof CgroupPlacementConfig>;

export function defaultPlacement(): CgroupPlacementConfig {
  return { relative: false };
}

/** Whether a config sets any placement of its own (anything but the default). */
export function hasExplicitPlacement(p: CgroupPlacementConfig): boolean {
  return p.relative || Object.values(FIELDS).some((f) => p[f] !== undefined);
}

/**
 * Applies one entry if it is a placement key; returns false otherwise. An
 * empty value unsets the key. Values were checked by the key registry.
 */
export function applyPlacementEntry(p: CgroupPlacementConfig, key: string, value: string): boolean {
  if (key === "lxc.cgroup.relative") {
    p.relative = value === "" ? false : parseBool01(value);
    return true;
  }
  const field = FIELDS[key as keyof typeof FIELDS];
  if (!field) return false;
  // Trailing slashes carry no meaning; "a/b/" is "a/b".
  const v = value.replace(/\/+$/, "");
  if (v === "") delete p[field];
  else p[field] = v;
  return true;
}

/**
 * The combination rules LXC enforces: `lxc.cgroup.dir` excludes the
 * `.container`/`.monitor`/`.container.inner` keys, and `.container` and
 * `.monitor` come together (`.container.inner` needs them). The error names
 * the last entry that set one of the keys involved.
 *
 * @throws LxtError("config") naming the file and line.
 */
export function checkPlacement(p: CgroupPlacementConfig, entries: readonly ConfigEntry[]): void {
  if (p.pivot !== undefined) {
    const inside = [p.dir, p.container, p.monitor].find(
      (d) => d !== undefined && (p.pivot === d || p.pivot?.startsWith(`${d}/`)),
    );
    if (inside !== undefined) {
      const e = [...entries].reverse().find((x) => x.key === "lxc.cgroup.dir.monitor.pivot");
      throw configError(
        e?.file ?? "config",
        e?.line ?? 0,
        `lxc.cgroup.dir.monitor.pivot: "${p.pivot}" lies in "${inside}", which is removed with the container (the pivot must be outside the other cgroup dirs)`,
      );
    }
  }
  const split = p.container !== undefined || p.monitor !== undefined || p.inner !== undefined;
  if (!split) return;
  const at = (keys: string[]) => {
    const e = [...entries].reverse().find((x) => keys.includes(x.key) && x.value !== "");
    return e ?? { file: "config", line: 0, key: keys[0] ?? "" };
  };
  if (p.dir !== undefined) {
    const e = at([
      "lxc.cgroup.dir.container",
      "lxc.cgroup.dir.monitor",
      "lxc.cgroup.dir.container.inner",
    ]);
    throw configError(
      e.file,
      e.line,
      `${e.key}: conflicts with lxc.cgroup.dir (set one or the other)`,
    );
  }
  if (p.container === undefined || p.monitor === undefined) {
    const e = at([
      "lxc.cgroup.dir.container",
      "lxc.cgroup.dir.monitor",
      "lxc.cgroup.dir.container.inner",
    ]);
    const missing =
      p.container === undefined ? "lxc.cgroup.dir.container" : "lxc.cgroup.dir.monitor";
    throw configError(
      e.file,
      e.line,
      `${e.key}: needs ${missing} too (lxc.cgroup.dir.container and lxc.cgroup.dir.monitor are set together)`,
    );
  }
  if (
    p.container === p.monitor ||
    p.monitor.startsWith(`${p.container}/`) ||
    p.container.startsWith(`${p.monitor}/`)
  ) {
    const e = at(["lxc.cgroup.dir.monitor"]);
    throw configError(
      e.file,
      e.line,
      `${e.key}: "${p.monitor}" and lxc.cgroup.dir.container "${p.container}" must not contain one another (the monitor must stay out of the container's cgroup)`,
    );
  }
}
