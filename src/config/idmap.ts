/**
 * User-namespace id maps: `lxc.idmap` lines, the `/etc/subuid` and
 * `/etc/subgid` formats, and the allocation of a container's own slice of
 * root's subordinate ids (LXD's `security.idmap.isolated`). Pure: the host
 * files are read and written in src/host/subid.ts.
 */

import { ValueError } from "./values.js";

/** One `lxc.idmap` line: NSID..NSID+RANGE-1 inside is HOSTID.. on the host. */
export interface IdmapLine {
  kind: "u" | "g";
  nsid: number;
  hostid: number;
  range: number;
}

/** What each container gets by default: 65536 ids, as LXD and LXC's examples. */
export const SLICE_SIZE = 65536;
/** Where lxt's range for root starts when it adds one to /etc/subuid (LXD's default). */
export const DEFAULT_SUBID_START = 1000000;
/** Its size: room for 15258 containers of 65536 ids (LXD's default range). */
export const DEFAULT_SUBID_COUNT = 1000000000;

const U32 = 0xffffffff;

function u32(text: string, what: string, raw: string): number {
  if (!/^\d+$/.test(text)) throw new ValueError(`invalid value "${raw}": ${what} is not a number`);
  const n = Number(text);
  if (n > U32) throw new ValueError(`invalid value "${raw}": ${what} is out of range`);
  return n;
}

/** Parses `u|g NSID HOSTID RANGE` (lxc.container.conf(5)); throws ValueError. */
export function parseIdmapLine(value: string): IdmapLine {
  const f = value.trim().split(/\s+/);
  if (f.length !== 4 || (f[0] !== "u" && f[0] !== "g")) {
    throw new ValueError(`invalid value "${value}": expected u|g NSID HOSTID RANGE`);
  }
  const nsid = u32(f[1] as string, "NSID", value);
  const hostid = u32(f[2] as string, "HOSTID", value);
  const range = u32(f[3] as string, "RANGE", value);
  if (range === 0) throw new ValueError(`invalid value "${value}": RANGE must be at least 1`);
  if (nsid + range > U32 + 1 || hostid + range > U32 + 1) {
    throw new ValueError(`invalid value "${value}": the range passes 2^32`);
  }
  return { kind: f[0], nsid, hostid, range };
}

const overlaps = (a0: number, an: number, b0: number, bn: number) => a0 < b0 + bn && b0 < a0 + an;

/**
 * Why a whole map cannot be a user namespace's, or undefined: both kinds
 * present, root (id 0) mapped in each, no two lines of a kind overlapping
 * inside or on the host (the kernel refuses them, user_namespaces(7)).
 */
export function idmapProblem(map: readonly IdmapLine[]): string | undefined {
  for (const kind of ["u", "g"] as const) {
    const lines = map.filter((l) => l.kind === kind);
    const name = kind === "u" ? "uid" : "gid";
    if (lines.length === 0) return `no ${name} line (${kind} NSID HOSTID RANGE)`;
    if (lines.length > 64) return `more than 64 ${name} lines`;
    if (!lines.some((l) => l.nsid === 0)) return `${name} 0 (the container's root) is not mapped`;
    for (let i = 0; i < lines.length; i++) {
      for (let j = i + 1; j < lines.length; j++) {
        const a = lines[i] as IdmapLine;
        const b = lines[j] as IdmapLine;
        if (overlaps(a.nsid, a.range, b.nsid, b.range))
          return `${name} lines overlap inside the container`;
        if (overlaps(a.hostid, a.range, b.hostid, b.range))
          return `${name} lines overlap on the host`;
      }
    }
  }
  return undefined;
}

/** The default map of a slice: ids 0..65535 inside are BASE.. on the host, for users and groups. */
export function sliceMap(base: number): IdmapLine[] {
  return [
    { kind: "u", nsid: 0, hostid: base, range: SLICE_SIZE },
    { kind: "g", nsid: 0, hostid: base, range: SLICE_SIZE },
  ];
}

/** Compact text of a map, `u:0:1000000:65536,g:0:1000000:65536` (the helper's `shift` and lxt's volatile keys). */
export function formatIdmap(map: readonly IdmapLine[]): string {
  return map.map((l) => `${l.kind}:${l.nsid}:${l.hostid}:${l.range}`).join(",");
}

/** Inverse of formatIdmap; throws ValueError. */
export function parseIdmapText(text: string): IdmapLine[] {
  if (text === "") return [];
  return text.split(",").map((part) => {
    if (!/^[ug](:\d+){3}$/.test(part))
      throw new ValueError(`invalid value "${text}": expected u:NSID:HOSTID:RANGE,...`);
    return parseIdmapLine(part.replaceAll(":", " "));
  });
}

export function sameIdmap(a: readonly IdmapLine[], b: readonly IdmapLine[]): boolean {
  return formatIdmap(a) === formatIdmap(b);
}

/** The host id that is the container's root (id 0) for `kind`. */
export function hostRoot(map: readonly IdmapLine[], kind: "u" | "g"): number {
  const l = map.find((x) => x.kind === kind && x.nsid === 0);
  if (!l) throw new ValueError(`the id map has no ${kind === "u" ? "uid" : "gid"} 0`);
  return l.hostid;
}

/** One `/etc/subuid` or `/etc/subgid` entry (subuid(5)). */
export interface SubidRange {
  owner: string;
  start: number;
  count: number;
}

/** Parses subuid(5) text: `NAME-or-ID:START:COUNT` lines; `#` comments and blank lines skipped. */
export function parseSubid(text: string, file: string): SubidRange[] {
  const out: SubidRange[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const m = /^([^:\s]+):(\d+):(\d+)$/.exec(line);
    const start = Number(m?.[2]);
    const count = Number(m?.[3]);
    if (!m || start > U32 || count > U32 || count === 0) {
      throw new ValueError(`${file}:${i + 1}: expected NAME:START:COUNT, got "${line}"`);
    }
    out.push({ owner: m[1] as string, start, count });
  });
  return out;
}

/** Root's ranges (by name or uid 0). */
export function rootRanges(ranges: readonly SubidRange[]): SubidRange[] {
  return ranges.filter((r) => r.owner === "root" || r.owner === "0");
}

/**
 * Where lxt's root range starts when the file has none for root: past every
 * existing range and at least DEFAULT_SUBID_START, so it overlaps nobody's.
 */
export function newRootRangeStart(ranges: readonly SubidRange[]): number {
  let start = DEFAULT_SUBID_START;
  for (const r of ranges) start = Math.max(start, r.start + r.count);
  return start;
}

/**
 * The lowest base of a free SIZE-id slice that lies inside one of `uids`
 * AND one of `gids` (a slice uses the same numbers for both) and overlaps no
 * `used` slice; undefined when root's ranges are full.
 */
export function allocateSlice(
  uids: readonly SubidRange[],
  gids: readonly SubidRange[],
  used: readonly { start: number; count: number }[],
  size = SLICE_SIZE,
): number | undefined {
  const sorted = [...used].sort((a, b) => a.start - b.start);
  const candidates = [...uids].sort((a, b) => a.start - b.start);
  for (const r of candidates) {
    let base = r.start;
    while (base + size <= r.start + r.count) {
      const clash = sorted.find((u) => overlaps(base, size, u.start, u.count));
      if (clash) {
        base = clash.start + clash.count;
        continue;
      }
      const inGids = gids.some((g) => base >= g.start && base + size <= g.start + g.count);
      if (inGids) return base;
      // Skip to the next gid range that could hold it, or give up on this uid range.
      const next = gids
        .map((g) => g.start)
        .filter((s) => s > base)
        .sort((a, b) => a - b)[0];
      if (next === undefined) break;
      base = next;
    }
  }
  return undefined;
}
