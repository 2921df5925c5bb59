/**
 * A file's parsed content kept in a daemon's cache with the file's version
 * (device, inode, size, mtime: one stat), read and parsed again only when
 * that changed. Files lxt replaces by rename (a config, a runtime plan) get
 * a new inode each time, so a replaced one is always seen.
 */
import { readFileSync, statSync } from "node:fs";
import type { BoundedCache } from "../core/cache.js";

/** A cache entry: what `parse` made of the file at this version. */
export interface Versioned<V> {
  identity: string;
  value: V;
}

/** `parse` of `file`'s text, from `cache` while its version holds; undefined when it cannot be read. */
export function readVersioned<V>(
  cache: BoundedCache<Versioned<V>>,
  file: string,
  parse: (text: string) => V,
): V | undefined {
  let identity: string;
  try {
    const st = statSync(file, { bigint: true });
    identity = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
  } catch {
    cache.delete(file);
    return undefined;
  }
  const hit = cache.get(file);
  if (hit?.identity === identity) return hit.value;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  const value = parse(text);
  cache.set(file, { identity, value });
  return value;
}
