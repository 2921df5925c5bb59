/**
 * Freezing a container's cgroup. v1: `freezer.state` takes FROZEN or THAWED
 * and reads FREEZING until every task is stopped. v2 (Linux 5.2+):
 * `cgroup.freeze` takes 1 or 0 and `cgroup.events` says `frozen 1` once
 * done. As LXC does, a v1 freezer hierarchy is used when there is one (hybrid
 * hosts), else the v2 one. Frozen v1 tasks do not die of SIGKILL until they
 * are thawed (v2 ones do), so removal and stop thaw first.
 */

import { setTimeout as sleep } from "node:timers/promises";
import { LxtError, wrapError } from "../core/errors.js";
import type { CgroupFs } from "../host/cgroup-fs.js";
import type { ContainerCgroupDirs } from "./container.js";
import { type CgroupLayout, v1DirWith } from "./layout.js";
import { flatKeyed } from "./stats.js";

/** The freezer a container uses: the v1 dir with `freezer.state`, else the v2 dir. */
export function freezerOf(
  dirs: ContainerCgroupDirs,
  fs: CgroupFs,
): { version: 1 | 2; dir: string } | undefined {
  const v1 = dirs.v1.find((d) => fs.exists(`${d}/freezer.state`));
  if (v1) return { version: 1, dir: v1 };
  if (dirs.v2 !== undefined && fs.exists(`${dirs.v2}/cgroup.freeze`))
    return { version: 2, dir: dirs.v2 };
  return undefined;
}

function read(fs: CgroupFs, path: string): string | undefined {
  try {
    return fs.readFile(path);
  } catch {
    return undefined;
  }
}

/**
 * Whether a v1 `freezer.state` or v2 `cgroup.events` of the container says
 * frozen. With the host's `layout`, only the v1 freezer hierarchy's dir is
 * read (a list of many containers would otherwise try every v1 dir in turn).
 */
export function isFrozen(dirs: ContainerCgroupDirs, fs: CgroupFs, layout?: CgroupLayout): boolean {
  const freezer = layout ? v1DirWith(dirs.v1, layout, "freezer") : undefined;
  for (const d of layout ? (freezer ? [freezer] : []) : dirs.v1) {
    const state = read(fs, `${d}/freezer.state`);
    if (state !== undefined) {
      if (state.trim() === "FROZEN") return true;
      break;
    }
  }
  if (dirs.v2 === undefined) return false;
  const events = read(fs, `${dirs.v2}/cgroup.events`);
  return events !== undefined && flatKeyed(events, "frozen") === "1";
}

function done(version: 1 | 2, dir: string, frozen: boolean, fs: CgroupFs): boolean {
  if (version === 1)
    return read(fs, `${dir}/freezer.state`)?.trim() === (frozen ? "FROZEN" : "THAWED");
  const events = read(fs, `${dir}/cgroup.events`);
  return events !== undefined && flatKeyed(events, "frozen") === (frozen ? "1" : "0");
}

function request(version: 1 | 2, dir: string, frozen: boolean, fs: CgroupFs): void {
  if (version === 1) fs.writeFile(`${dir}/freezer.state`, frozen ? "FROZEN" : "THAWED");
  else fs.writeFile(`${dir}/cgroup.freeze`, frozen ? "1" : "0");
}

/**
 * Freezes or thaws a container's cgroup and waits until the kernel says it
 * is done. A freeze that does not complete in time is undone (thawed).
 * Thawing thaws every freezer of the container, v1 and v2, so that a freeze
 * made by hand through the other one is undone too.
 *
 * @throws LxtError("host") when the container has no freezer,
 *   LxtError("timeout") when the state is not reached in `timeoutMs`.
 */
export async function setFrozen(
  dirs: ContainerCgroupDirs,
  fs: CgroupFs,
  frozen: boolean,
  timeoutMs = 5000,
): Promise<void> {
  const freezer = freezerOf(dirs, fs);
  if (!freezer) throw new LxtError("host", "no cgroup freezer (v1 freezer or v2 cgroup.freeze)");
  const targets = frozen ? [freezer] : allFreezers(dirs, fs);
  for (const { version, dir } of targets) {
    try {
      request(version, dir, frozen, fs);
    } catch (err) {
      throw wrapError(`${frozen ? "freeze" : "thaw"} ${dir}`, err);
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (const { version, dir } of targets) {
    while (!done(version, dir, frozen, fs)) {
      if (Date.now() > deadline) {
        if (frozen) thawQuietly(dirs, fs);
        throw new LxtError(
          "timeout",
          `${frozen ? "freeze" : "thaw"} ${dir}: not ${frozen ? "frozen" : "thawed"} after ${timeoutMs} ms`,
        );
      }
      await sleep(10);
    }
  }
}

function allFreezers(dirs: ContainerCgroupDirs, fs: CgroupFs): { version: 1 | 2; dir: string }[] {
  const out: { version: 1 | 2; dir: string }[] = dirs.v1
    .filter((d) => fs.exists(`${d}/freezer.state`))
    .map((dir) => ({ version: 1, dir }));
  if (dirs.v2 !== undefined && fs.exists(`${dirs.v2}/cgroup.freeze`))
    out.push({ version: 2, dir: dirs.v2 });
  return out;
}

/** Thaws one dir if it has a freezer, ignoring errors (for removal paths). */
export function thawDirQuietly(dir: string, fs: CgroupFs): void {
  for (const [file, value] of [
    ["freezer.state", "THAWED"],
    ["cgroup.freeze", "0"],
  ] as const) {
    try {
      if (fs.exists(`${dir}/${file}`)) fs.writeFile(`${dir}/${file}`, value);
    } catch {
      // Best effort: the caller's kill and rmdir report what matters.
    }
  }
}

/** Thaws every freezer of the container without waiting, ignoring errors. */
export function thawQuietly(dirs: ContainerCgroupDirs, fs: CgroupFs): void {
  for (const d of [...dirs.v1, ...(dirs.v2 === undefined ? [] : [dirs.v2])]) thawDirQuietly(d, fs);
}
