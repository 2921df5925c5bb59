/**
 * Puts a container's device plan (devices.ts) in place before its init runs:
 * v1 rules written in order to the container's `devices` cgroup, or the v2
 * eBPF program attached to its cgroup by the helper.
 */

import { execFile } from "node:child_process";
import { errnoCode, LxtError } from "../core/errors.js";
import type { CgroupFs } from "../host/cgroup-fs.js";
import type { ContainerCgroupDirs } from "./container.js";
import type { DevicePlan } from "./devices.js";
import { type CgroupLayout, v1DirWith } from "./layout.js";

/** Runs `lxt-shim devices ARGS...`; rejects with the helper's error line on failure. */
export type DeviceHelper = (args: string[]) => Promise<void>;

/** `DeviceHelper` through the real helper binary. */
export function shimDeviceHelper(shim: string): DeviceHelper {
  return (args) =>
    new Promise((resolve, reject) => {
      execFile(shim, ["devices", ...args], { encoding: "utf8" }, (err, _stdout, stderr) => {
        if (err) reject(new Error(stderr.trim() || err.message));
        else resolve();
      });
    });
}

/** The container's dir in the v1 hierarchy that holds `devices`. */
function devicesDir(dirs: ContainerCgroupDirs, layout: CgroupLayout): string | undefined {
  return v1DirWith(dirs.v1, layout, "devices");
}

/**
 * Applies the plan. Undo is the removal of the cgroups themselves (the
 * program's attachment dies with its cgroup).
 *
 * @throws LxtError("start") naming the rule (and its config line) or the program.
 */
export async function applyDevicePlan(
  plan: DevicePlan,
  dirs: ContainerCgroupDirs,
  layout: CgroupLayout,
  fs: CgroupFs,
  helper: DeviceHelper,
): Promise<void> {
  if (plan.kind === "none") return;
  if (plan.kind === "v1") {
    const dir = devicesDir(dirs, layout);
    if (!dir) throw new LxtError("start", "devices: no container cgroup in the devices hierarchy");
    for (const w of plan.writes) {
      const o = w.origin;
      const where = o.file !== undefined ? `${o.file}:${o.line}: ${o.key}` : `default ${o.key}`;
      try {
        fs.writeFile(`${dir}/${w.file}`, w.value);
      } catch (err) {
        throw new LxtError(
          "start",
          `devices: ${where} = ${w.value}: write ${dir}/${w.file}: ${errnoCode(err) ?? (err as Error).message}`,
          err,
        );
      }
    }
    return;
  }
  if (!dirs.v2) throw new LxtError("start", "devices: the container has no cgroup v2 directory");
  try {
    await helper(["attach", dirs.v2, ...plan.args]);
  } catch (err) {
    throw new LxtError(
      "start",
      `devices: attach the device program to ${dirs.v2}: ${(err as Error).message}`,
      err,
    );
  }
}
