/**
 * Crash safety for verbs that fill a container directory in place (create,
 * copy, snapshot): `.lxt-incomplete` is written into the directory before
 * its rootfs is made and removed once its config is written. Every such
 * verb holds the container's lock (a snapshot's: its container's) for as
 * long as the marker exists, and the lock dies with its holder, so the next
 * `ls`, `create` or `copy` that can take the lock while a marker is there
 * knows the writer is gone, and removes its work through its storage driver.
 * The marker names what was being made and the rootfs, and the pid of the
 * process that made it, for the report.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Context } from "../core/context.js";
import { writeFileAtomicAsync } from "../host/atomic.js";
import {
  formatRootfsSpec,
  parseRootfsSpec,
  type RootfsRef,
  storageDriver,
} from "../storage/index.js";
import { containerPaths } from "./paths.js";
import { cleanStaleStaging } from "./staging.js";

export const INCOMPLETE = ".lxt-incomplete";

interface Marker {
  pid: number;
  /** What was being made: `copy of c1`, `create -t busybox`, ... */
  what: string;
  /** `lxc.rootfs.path` form of the rootfs being made. */
  rootfs: string;
}

/** Marks `ref.dir` as being filled; call with the lock of its container held. */
export async function markIncomplete(ctx: Context, ref: RootfsRef, what: string): Promise<void> {
  const m: Marker = { pid: ctx.pid, what, rootfs: formatRootfsSpec(ref.spec) };
  await writeFileAtomicAsync(join(ref.dir, INCOMPLETE), `${JSON.stringify(m)}\n`);
}

/** Marks `dir` complete (its config is written). */
export function clearIncomplete(dir: string): void {
  rmSync(join(dir, INCOMPLETE), { force: true });
}

function readMarker(dir: string): Marker | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, INCOMPLETE), "utf8")) as Marker;
  } catch {
    return undefined;
  }
}

/** Removes one dead writer's directory: rootfs through its driver, then the directory. */
async function removeDir(ctx: Context, dir: string, m: Marker | undefined): Promise<void> {
  const spec = m ? parseRootfsSpec(m.rootfs) : undefined;
  if (spec && !("block" in spec)) {
    try {
      await storageDriver(spec.backend, ctx.host.run).destroy({ spec, dir });
    } catch {
      // A half-made rootfs may not be what its driver expects; the directory goes anyway.
    }
  }
  // A killed writer's child may still be finishing a file: retry while entries reappear.
  for (let i = 0; ; i++) {
    try {
      await rm(dir, { recursive: true, force: true });
      return;
    } catch (err) {
      if (i >= 20) throw err;
      await ctx.host.clock.sleep(50);
    }
  }
}

/** One thing the sweep removed, for the front-end to report. */
export interface Swept {
  name: string;
  what: string;
  /** The process that was making it. */
  pid?: number;
}

/**
 * Removes what crashed writers left under `lxcpath` (the context's state
 * root unless given): container (and snapshot) directories still marked
 * incomplete whose container's lock is free, and dead export, import and
 * image staging directories. A container whose lock is held (a writer at
 * work, or any other verb) is left for a later sweep.
 */
export async function sweepIncomplete(ctx: Context, lxcpath = ctx.lxcpath): Promise<Swept[]> {
  const out: Swept[] = (await cleanStaleStaging(ctx, lxcpath)).map((n) => ({
    name: n,
    what: "staging",
  }));
  let names: string[];
  try {
    names = readdirSync(lxcpath);
  } catch {
    return out;
  }
  for (const name of names) {
    if (name.startsWith(".")) continue;
    const dir = join(lxcpath, name);
    const marked = () => {
      const dirs = [dir];
      try {
        for (const s of readdirSync(join(dir, "snaps"))) dirs.push(join(dir, "snaps", s));
      } catch {}
      return dirs.filter((d) => existsSync(join(d, INCOMPLETE)));
    };
    if (marked().length === 0) continue;
    const paths = containerPaths(ctx, name, lxcpath);
    const lock = await ctx.host.tryLock(paths.lockFile, name);
    if (!lock) continue;
    try {
      // Under the lock: what is still marked was left by a writer that is gone.
      for (const d of marked()) {
        const m = readMarker(d);
        await removeDir(ctx, d, m);
        const label = d === dir ? name : `${name}/${d.slice(dir.length + 1)}`;
        out.push({ name: label, what: m?.what ?? "unknown", pid: m?.pid });
      }
    } finally {
      await lock.release();
    }
  }
  return out;
}
