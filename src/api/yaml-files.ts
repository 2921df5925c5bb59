/**
 * lxtd's own YAML files (profiles, instances' `lxd.yaml` sidecars), parsed
 * once per version of the file: a list of many instances would otherwise
 * parse each profile once per instance and every sidecar on every request.
 * A version is the file's device, inode, size and mtime: they are written by
 * rename (a new inode), and anything written in place changes the mtime,
 * so an edit is seen by the next read. Copies go out, so no caller's change
 * reaches the cache. Bounded; a read cache only, safe under concurrent requests.
 */
import { readFileSync, statSync } from "node:fs";
import { parse } from "yaml";

const PARSED = new Map<string, { version: string; value: unknown }>();
const PARSED_MAX = 4096;

/**
 * A file's version: device, inode, size and mtime (`-` when there is none).
 * A file written by rename or changed in place gets another.
 */
export function fileVersion(file: string): string {
  const st = statSync(file, { bigint: true, throwIfNoEntry: false });
  return st ? `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}` : "-";
}

/** The parsed YAML of `file`, or undefined when there is none; a YAML error throws. */
export function readYamlFile(file: string): unknown {
  const st = statSync(file, { bigint: true, throwIfNoEntry: false });
  if (!st) {
    PARSED.delete(file);
    return undefined;
  }
  const version = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
  const hit = PARSED.get(file);
  if (hit?.version === version) return structuredClone(hit.value);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  const value = parse(text) as unknown;
  PARSED.delete(file);
  if (PARSED.size >= PARSED_MAX) PARSED.delete(PARSED.keys().next().value as string);
  PARSED.set(file, { version, value: structuredClone(value) });
  return value;
}
