/**
 * Reader for LXC-format config files (lxc.container.conf(5)): `key = value`
 * lines, `#` comments, blank lines and `lxc.include` of files or directories.
 * This layer knows syntax only; keys and values are checked by the registry
 * (keys.ts) when the entries are resolved (model.ts).
 */

import * as nodeFs from "node:fs";
import * as path from "node:path";
import { configError, errnoCode, LxtError } from "../core/errors.js";

/** One `key = value` line, with where it came from. */
export interface ConfigEntry {
  key: string;
  value: string;
  /** The file the line is in (as given, or resolved for includes). */
  file: string;
  /** 1-based line number. */
  line: number;
}

/**
 * The few file operations the parser needs, so tests can pass a fake. They
 * are synchronous: configs are small, and callers (create, stop, destroy)
 * read them on synchronous paths. Errors are Node-style (`code: "ENOENT"`).
 */
export interface ConfigFs {
  readFile(file: string): string;
  stat(file: string): { isDirectory(): boolean };
  readdir(dir: string): string[];
}

/** ConfigFs over the real file system. */
export const nodeConfigFs: ConfigFs = {
  readFile: (file) => nodeFs.readFileSync(file, "utf8"),
  stat: (file) => nodeFs.statSync(file),
  readdir: (dir) => nodeFs.readdirSync(dir),
};

/** One line of a config file, classified. */
export type ConfigLine =
  | { kind: "blank"; raw: string }
  | { kind: "comment"; raw: string }
  | { kind: "entry"; raw: string; key: string; value: string };

const KEY_RE = /^[A-Za-z0-9_][A-Za-z0-9_.+\-/:]*$/;

/** Include nesting deeper than this is treated as a runaway. */
const MAX_INCLUDE_DEPTH = 32;

/**
 * Classifies one line. The value is trimmed and, as LXC does, one pair of
 * matching surrounding quotes (`"..."` or `'...'`) is removed; there are no
 * inline comments (a `#` after a value is part of the value, as in LXC).
 * Returns an error message (without place) for a malformed line.
 */
export function parseConfigLine(raw: string): ConfigLine | string {
  const text = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
  const trimmed = text.trim();
  if (trimmed === "") return { kind: "blank", raw };
  if (trimmed.startsWith("#")) return { kind: "comment", raw };
  const eq = trimmed.indexOf("=");
  if (eq < 0) return `missing '=' in line: ${trimmed}`;
  const key = trimmed.slice(0, eq).trim();
  if (key === "") return `missing key before '=' in line: ${trimmed}`;
  if (!KEY_RE.test(key)) return `malformed key "${key}"`;
  return { kind: "entry", raw, key, value: unquote(trimmed.slice(eq + 1).trim()) };
}

function unquote(value: string): string {
  const q = value[0];
  if ((q === '"' || q === "'") && value.length > 1 && value.endsWith(q)) {
    return value.slice(1, -1);
  }
  return value;
}

/** Splits text into lines; a final newline does not start an extra line. */
export function splitLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/**
 * Parses config text without following includes: `lxc.include` lines stay in
 * the result as ordinary entries. `fileLabel` names the text in errors.
 */
export function parseConfigText(text: string, fileLabel: string): ConfigEntry[] {
  const entries: ConfigEntry[] = [];
  splitLines(text).forEach((raw, i) => {
    const parsed = parseConfigLine(raw);
    if (typeof parsed === "string") throw configError(fileLabel, i + 1, parsed);
    if (parsed.kind === "entry") {
      entries.push({ key: parsed.key, value: parsed.value, file: fileLabel, line: i + 1 });
    }
  });
  return entries;
}

/**
 * Parses a config file and everything it includes, in order. `lxc.include`
 * names a file, or a directory whose `*.conf` files are read in sorted order;
 * a relative path is taken from the including file's directory. The include
 * lines themselves are replaced by what they include. A missing include is an
 * error at its line, except a path ending in `/` (a drop-in directory such as
 * LXC's own `userns.conf.d/`, which packages do not always create); an
 * include cycle is an error.
 */
export function parseConfigFile(file: string, fs: ConfigFs = nodeConfigFs): ConfigEntry[] {
  const out: ConfigEntry[] = [];
  let text: string;
  try {
    text = fs.readFile(file);
  } catch (err) {
    throw new LxtError("config", `read config ${file}: ${describeFsError(err)}`, err);
  }
  expand(text, file, [path.resolve(file)], fs, out);
  return out;
}

/** Same as parseConfigFile (the name the container layer uses). */
export const readConfigFile = parseConfigFile;

function expand(
  text: string,
  file: string,
  stack: string[],
  fs: ConfigFs,
  out: ConfigEntry[],
): void {
  for (const entry of parseConfigText(text, file)) {
    if (entry.key !== "lxc.include") {
      out.push(entry);
      continue;
    }
    // An empty include is LXC's "clear includes": nothing to read.
    if (entry.value === "") continue;
    include(entry, stack, fs, out);
  }
}

function include(entry: ConfigEntry, stack: string[], fs: ConfigFs, out: ConfigEntry[]): void {
  const target = path.resolve(path.dirname(entry.file), entry.value);
  const fail = (msg: string) =>
    configError(entry.file, entry.line, `lxc.include ${entry.value}: ${msg}`);
  if (stack.length >= MAX_INCLUDE_DEPTH)
    throw fail(`includes nested deeper than ${MAX_INCLUDE_DEPTH}`);

  let isDir: boolean;
  try {
    isDir = fs.stat(target).isDirectory();
  } catch (err) {
    if (errnoCode(err) === "ENOENT" && entry.value.endsWith("/")) return;
    throw fail(describeFsError(err));
  }
  if (entry.value.endsWith("/") && !isDir) throw fail("not a directory");

  let files: string[];
  if (isDir) {
    try {
      files = fs
        .readdir(target)
        .filter((name) => name.length > ".conf".length && name.endsWith(".conf"))
        .sort()
        .map((name) => path.join(target, name));
    } catch (err) {
      throw fail(describeFsError(err));
    }
  } else {
    files = [target];
  }

  for (const f of files) {
    if (stack.includes(f)) {
      throw fail(`include cycle: ${[...stack, f].join(" -> ")}`);
    }
    let text: string;
    try {
      text = fs.readFile(f);
    } catch (err) {
      throw fail(`${f}: ${describeFsError(err)}`);
    }
    expand(text, f, [...stack, f], fs, out);
  }
}

function describeFsError(err: unknown): string {
  const code = errnoCode(err);
  if (code === "ENOENT") return "no such file or directory";
  if (code === "EACCES") return "permission denied";
  if (code === "EISDIR") return "is a directory";
  if (code) return code;
  return err instanceof Error ? err.message : String(err);
}
