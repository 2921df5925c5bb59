/**
 * Replacing a container's whole config in one step (lxtd's `PUT` of an
 * instance, a profile change re-rendered onto its instances): the new text
 * is checked entry by entry and resolved as start would read it before
 * anything is written; on a running container the limits it changes are
 * written to the cgroups (those it drops go back to their defaults), then
 * the file is replaced atomically. Keys that only a start reads (NICs,
 * mounts, the id map) take effect at the next start.
 */
import { readFileSync } from "node:fs";
import {
  applyLimitWrites,
  type LimitWrite,
  planLimitWrites,
  type TargetedWrite,
  targetWrites,
} from "../cgroups/limits.js";
import { resetWrite } from "../cgroups/reset.js";
import { classifyEntry } from "../config/keys.js";
import { loadConfig } from "../config/load.js";
import { hostArch } from "../config/model.js";
import { type ConfigFs, nodeConfigFs } from "../config/parse.js";
import { ConfigDocument } from "../config/write.js";
import type { Caller, Context } from "../core/context.js";
import { LxtError, wrapError } from "../core/errors.js";
import { writeFileAtomicAsync } from "../host/atomic.js";
import { hostLayout, placementLayout } from "./host-layout.js";
import { layoutKind } from "./launch-input.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { repairStale, runtimeCgroups, withLock } from "./runtime.js";

/** One entry of a config as a front-end edits it. */
export interface KeyValue {
  key: string;
  value: string;
}

/** What a replacement did. */
export interface ReplaceResult {
  /** Limits were written to the running container's cgroups. */
  applied: boolean;
  warnings: string[];
  /** The config text before the change (to put back with another replacement). */
  before: string;
}

/**
 * Rewrites `doc` so that its entries are `wanted`, in order: keys whose
 * values are unchanged keep their lines (and the comments around them);
 * changed keys lose every old line and get theirs at the end. Pure.
 */
export function rewriteEntries(doc: ConfigDocument, wanted: readonly KeyValue[]): ConfigDocument {
  const want = new Map<string, string[]>();
  for (const e of wanted) want.set(e.key, [...(want.get(e.key) ?? []), e.value]);
  const have = new Map<string, string[]>();
  for (const e of doc.entries()) have.set(e.key, [...(have.get(e.key) ?? []), e.value]);
  const same = (a: string[] = [], b: string[] = []) =>
    a.length === b.length && a.every((v, i) => v === b[i]);
  for (const key of have.keys()) if (!same(have.get(key), want.get(key))) doc.remove(key);
  for (const e of wanted) if (!same(have.get(e.key), want.get(e.key))) doc.add(e.key, e.value);
  return doc;
}

/**
 * Replaces the entries of a container's config under its lock: `edit`
 * gets the current entries and returns the wanted ones (it may throw to
 * refuse). Every new or changed entry is checked against the key registry
 * (as `config set` does), and the whole result is resolved before anything
 * is written. All or nothing: a refusal changes neither the file nor the
 * cgroups.
 *
 * @throws LxtError("config") naming the key for a bad entry.
 */
export async function replaceConfig(
  ctx: Context,
  paths: ContainerPaths,
  edit: (current: KeyValue[]) => KeyValue[],
  opts: {
    caller: Caller;
    verb?: string;
    /** Run under the lock once the new config is checked, before it is applied; returns its undo. */
    beforeWrite?: () => Promise<() => Promise<void>>;
  },
): Promise<ReplaceResult> {
  const verb = opts.verb ?? "config edit";
  requireExists(paths, verb);
  const what = `${verb} ${paths.name}`;
  const layout = hostLayout(ctx);
  const host = { cgroupLayout: layoutKind(layout), arch: hostArch() };
  return withLock(ctx, paths, async () => {
    const before = readFileSync(paths.config, "utf8");
    const doc = ConfigDocument.parse(before, paths.config);
    const old = doc.entries().map(({ key, value }) => ({ key, value }));
    const wanted = edit(old);
    const known = new Set(old.map((e) => `${e.key}\0${e.value}`));
    const text = rewriteEntries(doc, wanted).toString();
    let writes: LimitWrite[];
    let oldWrites: LimitWrite[];
    let warnings: string[];
    try {
      const check = entryChecker(ctx);
      for (const e of wanted) if (!known.has(`${e.key}\0${e.value}`)) check(e.key, e.value);
      const overlay: ConfigFs = {
        ...nodeConfigFs,
        readFile: (f) => (f === paths.config ? text : nodeConfigFs.readFile(f)),
      };
      const load = (fs: ConfigFs) =>
        loadConfig(paths.config, { cgroupLayout: host.cgroupLayout, env: opts.caller.env, fs });
      const cfg = load(overlay);
      writes = planLimitWrites(
        cfg,
        placementLayout(ctx, layout, cfg.cgroupPlacement),
        ctx.host.limits,
      );
      warnings = cfg.warnings;
      let prev: ReturnType<typeof load> | undefined;
      try {
        prev = load(nodeConfigFs);
      } catch {
        // The old config no longer resolves: nothing of it to undo live.
      }
      oldWrites = prev
        ? planLimitWrites(prev, placementLayout(ctx, layout, prev.cgroupPlacement), ctx.host.limits)
        : [];
    } catch (err) {
      throw err instanceof LxtError ? err.wrap(what) : wrapError(what, err);
    }
    const seen = await repairStale(ctx, paths);
    const undo = opts.beforeWrite ? await opts.beforeWrite() : async () => {};
    let applied = false;
    const key = (w: LimitWrite) => `${w.controller}/${w.file}\0${w.value}`;
    const changed =
      writes.length !== oldWrites.length ||
      writes.some((w, i) => key(w) !== key(oldWrites[i] as LimitWrite));
    if (changed && (seen.state === "RUNNING" || seen.state === "FROZEN")) {
      const dirs = runtimeCgroups(ctx, paths);
      try {
        const next = targetWrites(writes, dirs, layout);
        const files = new Set(next.map((w) => `${w.dir}/${w.file}`));
        const resets: TargetedWrite[] = [];
        for (const w of targetWrites(oldWrites, dirs, layout)) {
          if (files.has(`${w.dir}/${w.file}`)) continue;
          const r = resetWrite(w, ctx.host.cgroupFs);
          if (r) resets.push(r);
          else
            warnings.push(
              `${w.origin.key}: ${w.dir}/${w.file} keeps its value until the next start (no known default)`,
            );
        }
        applyLimitWrites([...resets, ...next], ctx.host.cgroupFs);
        applied = true;
      } catch (err) {
        // Put back what the old config wrote (best effort: the first failure is the one to report).
        try {
          applyLimitWrites(targetWrites(oldWrites, dirs, layout), ctx.host.cgroupFs);
        } catch {}
        await undo().catch(() => {});
        throw err instanceof LxtError ? err.wrap(what) : wrapError(what, err);
      }
    }
    if (text !== before) await writeFileAtomicAsync(paths.config, text);
    return { applied, warnings, before };
  });
}

/** Parses LXC-format text into its entries; a malformed line is an error naming `label` and the line. */
export function parseConfigText(text: string, label: string): KeyValue[] {
  return ConfigDocument.parse(text, label)
    .entries()
    .map(({ key, value }) => ({ key, value }));
}

/**
 * A checker of entries against the key registry, as a config file's would
 * be checked: it throws LxtError("config") naming the key for a bad key or
 * value. The host (its cgroup layout, read from mountinfo) is read once,
 * when the checker is made, not once per entry.
 */
export function entryChecker(ctx: Context): (key: string, value: string) => void {
  const host = { cgroupLayout: layoutKind(hostLayout(ctx)), arch: hostArch() };
  return (key, value) => {
    try {
      classifyEntry({ key, value, file: "-", line: 1 }, host);
    } catch (err) {
      if (err instanceof LxtError) throw new LxtError(err.code, err.message.replace(/^-:1: /, ""));
      throw err;
    }
  };
}
