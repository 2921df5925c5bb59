/**
 * LXD's `filter=` on collections (the api_filtering extension):
 * `FIELD eq|ne VALUE` terms joined by `and`/`or`, each optionally preceded
 * by `not`; `and` binds tighter than `or`. FIELD is a dotted path into the
 * object as JSON (`name`, `status`, `config.limits.memory`); a value may be
 * quoted. Comparisons are on the string form, case-sensitive as LXD's.
 */
import { badRequest } from "./envelope.js";

type Term = { field: string; op: "eq" | "ne"; value: string; not: boolean };

function tokenize(text: string): string[] {
  const out: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s"']+))/y;
  let pos = 0;
  while (pos < text.length && text.slice(pos).trim()) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) throw badRequest(`Invalid filter "${text}"`);
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : (m[2] ?? m[3] ?? ""));
    pos = re.lastIndex;
  }
  return out;
}

/** Parses a filter into OR-of-AND groups. */
export function parseFilter(text: string): Term[][] {
  const toks = tokenize(text);
  const groups: Term[][] = [[]];
  let i = 0;
  while (i < toks.length) {
    let not = false;
    if (toks[i]?.toLowerCase() === "not") {
      not = true;
      i++;
    }
    const field = toks[i];
    const op = toks[i + 1]?.toLowerCase();
    const value = toks[i + 2];
    if (!field || (op !== "eq" && op !== "ne") || value === undefined) {
      throw badRequest(`Invalid filter "${text}": expected FIELD eq|ne VALUE`);
    }
    groups[groups.length - 1]?.push({ field, op, value, not });
    i += 3;
    const join = toks[i]?.toLowerCase();
    if (join === undefined) break;
    if (join === "or") groups.push([]);
    else if (join !== "and")
      throw badRequest(`Invalid filter "${text}": "${toks[i]}" is not and/or`);
    i++;
    if (i >= toks.length) throw badRequest(`Invalid filter "${text}": ends with ${join}`);
  }
  return groups;
}

function lookup(obj: unknown, field: string): string | undefined {
  // Config keys hold dots themselves: try the longest key at each level.
  const parts = field.split(".");
  let cur: unknown = obj;
  let i = 0;
  while (i < parts.length) {
    if (cur === null || typeof cur !== "object") return undefined;
    const rec = cur as Record<string, unknown>;
    let found = false;
    for (let j = parts.length; j > i; j--) {
      const key = parts.slice(i, j).join(".");
      if (key in rec) {
        cur = rec[key];
        i = j;
        found = true;
        break;
      }
    }
    if (!found) return undefined;
  }
  if (cur === undefined || cur === null) return undefined;
  return typeof cur === "object" ? JSON.stringify(cur) : String(cur);
}

export function matchesFilter(groups: Term[][], obj: unknown): boolean {
  return groups.some((g) =>
    g.every((t) => {
      const v = lookup(obj, t.field);
      const eq = v === t.value;
      const r = t.op === "eq" ? eq : !eq;
      return t.not ? !r : r;
    }),
  );
}
