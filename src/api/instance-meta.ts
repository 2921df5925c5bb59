/**
 * What LXD keeps of an instance that the LXC config has no place for: its
 * description, profiles, `user.*`/`image.*` keys, creation time. A sidecar
 * beside the config (`<name>/lxd.yaml`), written by lxtd; a container made
 * by the CLI has none and shows LXD's defaults.
 */
import { statSync } from "node:fs";
import { stringify } from "yaml";
import type { ContainerPaths } from "../container/paths.js";
import { writeFileAtomic, writeFileAtomicAsync } from "../host/atomic.js";
import { readYamlFile } from "./yaml-files.js";

export interface InstanceMeta {
  description: string;
  profiles: string[];
  /** `user.*`, `image.*` and other keys LXD only stores. */
  config: Record<string, string>;
  created_at: string;
  last_used_at?: string;
  /** The expanded config and devices lxtd wrote last, in LXD's own words (hints for the view). */
  expanded?: { config: Record<string, string>; devices: Record<string, Record<string, string>> };
}

export function metaFile(paths: ContainerPaths): string {
  return `${paths.dir}/lxd.yaml`; // dir is normalized (a join): no join per list entry
}

export function readMeta(paths: ContainerPaths): InstanceMeta {
  let raw: Partial<InstanceMeta> = {};
  try {
    raw = (readYamlFile(metaFile(paths)) ?? {}) as Partial<InstanceMeta>;
  } catch {
    // made by the CLI: LXD's defaults
  }
  let created = raw.created_at;
  if (!created) {
    const st = statSync(paths.config, { throwIfNoEntry: false });
    created = new Date(st ? st.birthtimeMs || st.ctimeMs : 0).toISOString();
  }
  return {
    description: raw.description ?? "",
    profiles: raw.profiles ?? ["default"],
    config: raw.config ?? {},
    created_at: created,
    ...(raw.last_used_at ? { last_used_at: raw.last_used_at } : {}),
    ...(raw.expanded ? { expanded: raw.expanded } : {}),
  };
}

/**
 * Writes the sidecar atomically; `durable` (the default) syncs it to disk
 * first. A write that another durable one follows at once may skip it.
 */
export function writeMeta(paths: ContainerPaths, meta: InstanceMeta, durable = true): void {
  writeFileAtomic(metaFile(paths), stringify(meta), 0o600, durable);
}

/** `writeMeta`, durable, its fsync in the thread pool (a request's path: the event loop goes on). */
export function writeMetaAsync(paths: ContainerPaths, meta: InstanceMeta): Promise<void> {
  return writeFileAtomicAsync(metaFile(paths), stringify(meta), 0o600);
}
