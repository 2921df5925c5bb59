/**
 * Writing LXC-format config text: entries back to `key = value` lines, and a
 * ConfigDocument that edits a file's entries while keeping its comments,
 * blank lines and layout (for `config set`). Writing the file (atomically)
 * is the caller's job.
 */

import { configError, LxtError } from "../core/errors.js";
import { type ConfigEntry, type ConfigLine, parseConfigLine, splitLines } from "./parse.js";

/**
 * Renders a value so that parsing gives it back: values with surrounding
 * blanks or surrounding matching quotes are wrapped in one more pair of
 * quotes (the parser removes exactly one pair). Throws for values that
 * cannot be written on one line.
 */
export function renderValue(value: string): string {
  if (/[\n\r\0]/.test(value)) {
    throw new LxtError(
      "config",
      `config value ${JSON.stringify(value)}: values cannot contain newlines`,
    );
  }
  const first = value[0];
  const quoted = (first === '"' || first === "'") && value.length > 1 && value.endsWith(first);
  if (value !== value.trim() || quoted) {
    const q = value.includes('"') && !value.includes("'") ? "'" : '"';
    return `${q}${value}${q}`;
  }
  return value;
}

/** One `key = value` line (`key =` for an empty value, as LXC writes it). */
export function renderEntry(key: string, value: string): string {
  return value === "" ? `${key} =` : `${key} = ${renderValue(value)}`;
}

/** Renders entries as config text, one line each, ending with a newline. */
export function renderEntries(entries: Pick<ConfigEntry, "key" | "value">[]): string {
  return entries.map((e) => `${renderEntry(e.key, e.value)}\n`).join("");
}

/**
 * A config file held as its lines, for editing in place. `lxc.include` lines
 * are entries like any other (they are not followed).
 */
export class ConfigDocument {
  private lines: ConfigLine[];
  private readonly finalNewline: boolean;

  private constructor(
    lines: ConfigLine[],
    finalNewline: boolean,
    readonly file: string,
  ) {
    this.lines = lines;
    this.finalNewline = finalNewline;
  }

  /** Parses text; a malformed line is an error naming `file` and the line. */
  static parse(text: string, file: string): ConfigDocument {
    const lines = splitLines(text).map((raw, i) => {
      const parsed = parseConfigLine(raw);
      if (typeof parsed === "string") throw configError(file, i + 1, parsed);
      return parsed;
    });
    return new ConfigDocument(lines, text === "" || text.endsWith("\n"), file);
  }

  /** The effective (last) value of a key, or undefined if it is not set. */
  get(key: string): string | undefined {
    return this.getAll(key).at(-1);
  }

  /** Every value of a key, in file order. */
  getAll(key: string): string[] {
    return this.entries()
      .filter((e) => e.key === key)
      .map((e) => e.value);
  }

  /** The entries, with this document's file and line numbers. */
  entries(): ConfigEntry[] {
    const out: ConfigEntry[] = [];
    this.lines.forEach((l, i) => {
      if (l.kind === "entry")
        out.push({ key: l.key, value: l.value, file: this.file, line: i + 1 });
    });
    return out;
  }

  /**
   * Sets a key: the first occurrence is rewritten in place and later ones are
   * dropped; without one, the line is appended.
   */
  set(key: string, value: string): void {
    const line = entryLine(key, value);
    const first = this.lines.findIndex((l) => l.kind === "entry" && l.key === key);
    if (first < 0) {
      this.lines.push(line);
      return;
    }
    this.lines = this.lines.flatMap((l, i) => {
      if (i === first) return [line];
      return l.kind === "entry" && l.key === key ? [] : [l];
    });
  }

  /** Adds a value to a list key, after its last occurrence (or at the end). */
  add(key: string, value: string): void {
    const line = entryLine(key, value);
    let last = -1;
    this.lines.forEach((l, i) => {
      if (l.kind === "entry" && l.key === key) last = i;
    });
    if (last < 0) this.lines.push(line);
    else this.lines.splice(last + 1, 0, line);
  }

  /** Removes every occurrence of a key; returns how many there were. */
  remove(key: string): number {
    const before = this.lines.length;
    this.lines = this.lines.filter((l) => !(l.kind === "entry" && l.key === key));
    return before - this.lines.length;
  }

  /** The text, with untouched lines exactly as they were. */
  toString(): string {
    const body = this.lines.map((l) => l.raw).join("\n");
    return this.finalNewline && this.lines.length > 0 ? `${body}\n` : body;
  }
}

function entryLine(key: string, value: string): ConfigLine {
  const parsed = parseConfigLine(renderEntry(key, value));
  if (typeof parsed === "string" || parsed.kind !== "entry" || parsed.key !== key) {
    throw new LxtError("config", `config key ${JSON.stringify(key)}: not a valid key`);
  }
  return parsed;
}
