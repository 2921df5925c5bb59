/**
 * The keys table of docs/config.md, rendered from the registry so the docs
 * cannot drift (a unit test compares them).
 */

import { allKeySpecs } from "./keys.js";

/** Markers around the generated table in docs/config.md. */
export const KEYS_TABLE_BEGIN =
  "<!-- keys-table:begin (generated from src/config; see docs test) -->";
export const KEYS_TABLE_END = "<!-- keys-table:end -->";

function cell(text: string): string {
  return text.replace(/\|/g, "\\|");
}

/** The Markdown table of every registered key, sorted by key. */
export function renderKeysTable(): string {
  const specs = allKeySpecs().sort((a, b) => a.name.localeCompare(b.name));
  const rows = specs.map(
    (s) =>
      `| \`${s.name}\` | ${s.status} | ${s.list ? "yes" : ""} | ${cell(s.summary)} | ${cell(s.default ?? "")} |`,
  );
  return [
    "| key | status | list | meaning | default |",
    "| --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}

/** Replaces the generated part of docs/config.md's text with a fresh table. */
export function updateKeysTable(doc: string): string {
  const begin = doc.indexOf(KEYS_TABLE_BEGIN);
  const end = doc.indexOf(KEYS_TABLE_END);
  if (begin < 0 || end < begin) throw new Error("docs/config.md: keys table markers not found");
  return `${doc.slice(0, begin + KEYS_TABLE_BEGIN.length)}\n${renderKeysTable()}\n${doc.slice(end)}`;
}
