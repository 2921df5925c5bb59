/**
 * The registry of config keys: every key of lxc.container.conf(5) for LXC 5
 * and 6, plus lxt's own `lxt.*` keys. Each key has a value check, whether it
 * is a list (repeatable; an empty value clears it), and a support status:
 * `implemented` or `ignored` (accepted and harmless). A key that is not
 * registered is an error.
 * Some statuses depend on the value or the host (see `classifyEntry`).
 */

import { configError } from "../core/errors.js";
import { type HostInfo, IMPLEMENTED, impl, type KeySpec, type Verdict } from "./key-spec.js";
import { CONFINEMENT_KEYS, CONFINEMENT_PATTERNS } from "./keys-confinement.js";
import { NET_KEYS, parseNetKey } from "./keys-net.js";
import { RUNTIME_KEYS, RUNTIME_PATTERNS } from "./keys-runtime.js";
import type { ConfigEntry } from "./parse.js";
import { ValueError } from "./values.js";

export type { CgroupLayout, HostInfo, KeySpec, KeyStatus, Verdict } from "./key-spec.js";

const EXACT: KeySpec[] = [...RUNTIME_KEYS, ...CONFINEMENT_KEYS];
// lxc.cgroup2. before lxc.cgroup.: the first matching prefix wins.
const PATTERNS = [...CONFINEMENT_PATTERNS, ...RUNTIME_PATTERNS];
const EXACT_MAP = new Map(EXACT.map((s) => [s.name, s]));

/** The spec of `lxc.net.[i].<sub>` keys, built from keys-net.ts: every type and sub-key is applied. */
function netSpec(sub: string): KeySpec {
  const n = NET_KEYS.get(sub);
  return impl(`lxc.net.[i].${sub}`, n?.summary ?? "", (v) => n?.check(v), {
    list: n?.list ?? false,
  });
}
const NET_SPECS = new Map([...NET_KEYS.keys()].map((sub) => [sub, netSpec(sub)]));

/** Every registered key spec, for docs and tests. */
export function allKeySpecs(): KeySpec[] {
  return [...EXACT, ...PATTERNS.map((p) => p.spec), ...NET_SPECS.values()];
}

/** A key matched to its spec. */
export interface KeyMatch {
  spec: KeySpec;
  /** For `lxc.net.<i>.<sub>` keys. */
  net?: { index: number; sub: string; requiresType?: string };
}

/**
 * Finds the spec of a key; throws ValueError ("unknown key lxc.foo", or a bad
 * network index) when there is none.
 */
export function lookupKey(key: string): KeyMatch {
  const exact = EXACT_MAP.get(key);
  if (exact) return { spec: exact };
  const net = parseNetKey(key);
  if (net) {
    const spec = NET_SPECS.get(net.sub) as KeySpec;
    const requires = net.spec.requiresType;
    return {
      spec,
      net: { index: net.index, sub: net.sub, ...(requires ? { requiresType: requires } : {}) },
    };
  }
  for (const p of PATTERNS) {
    if (key.startsWith(p.prefix) && key.length > p.prefix.length) return { spec: p.spec };
  }
  const near = suggestKey(key);
  throw new ValueError(`unknown key ${key}${near ? ` (did you mean ${near}?)` : ""}`);
}

/** The registered exact key closest to `key`, if it is close (a typo). */
function suggestKey(key: string): string | undefined {
  let best: string | undefined;
  let bestDist = 3;
  for (const name of EXACT_MAP.keys()) {
    const d = editDistance(key, name);
    if (d < bestDist) {
      best = name;
      bestDist = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(
        Math.min(
          (prev[j] as number) + 1,
          (cur[j - 1] as number) + 1,
          (prev[j - 1] as number) + cost,
        ),
      );
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

/**
 * Checks one entry against the registry and returns its match and verdict.
 * An empty value is always accepted (it clears or resets the key), except on
 * keys that take no empty value. Errors name the entry's file and line.
 */
export function classifyEntry(entry: ConfigEntry, host: HostInfo): KeyMatch & { verdict: Verdict } {
  let match: KeyMatch;
  try {
    match = lookupKey(entry.key);
  } catch (err) {
    if (err instanceof ValueError) throw configError(entry.file, entry.line, err.message);
    throw err;
  }
  if (entry.value === "") return { ...match, verdict: IMPLEMENTED };
  try {
    const verdict = match.spec.check(entry.value, entry.key, host) ?? defaultVerdict(match.spec);
    return { ...match, verdict };
  } catch (err) {
    if (err instanceof ValueError)
      throw configError(entry.file, entry.line, `${entry.key}: ${err.message}`);
    throw err;
  }
}

function defaultVerdict(spec: KeySpec): Verdict {
  if (spec.status === "ignored") return { status: "ignored", reason: "", warn: false };
  return IMPLEMENTED;
}

/**
 * Checks a key and value without a file (for `config set`); throws an
 * LxtError naming `label` when either is bad.
 */
export function checkKeyValue(
  key: string,
  value: string,
  host: HostInfo,
  label = "<command line>",
): Verdict {
  return classifyEntry({ key, value, file: label, line: 1 }, host).verdict;
}
