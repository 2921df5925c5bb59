/**
 * Crash safety for verbs that fill a container directory in place (create,
 * copy, snapshot): `.lxt-incomplete` is written into the directory before
 * its rootfs is made and removed once its config is written. The marker
 * names the writer (pid + start time) and the rootfs it is making, so the
 * next `ls`, `create` or `copy` can tell a copy in progress from one whose
 * process was killed, and remove the latter through its storage driver.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../host/atomic.js";
import { readStartTime } from "../host/proc.js";
import {
  type CommandRunner,
  execRunner,
  formatRootfsSpec,
  parseRootfsSpec,
  type RootfsRef,
  storageDriver,
} from "../storage/index.js";
import { containerPaths } from "./paths.js";
import { withLock } from "./runtime.js";
import { cleanStaleStaging } from "./staging.js";

export const INCOMPLETE = ".lxt-incomplete";

interface Marker {
  pid: number;
  start: string;
  /** What was being made: `copy of c1`, `create -t busybox`, ... */
  what: string;
  /** `lxc.rootfs.path` form of the rootfs being made. */
  rootfs: string;
}

/** Marks `ref.dir` as being filled by this process. */
export function markIncomplete(ref: RootfsRef, what: string): void {
  const m: Marker = {
    pid: process.pid,
    start: readStartTime(process.pid) ?? "",
    what,
    rootfs: formatRootfsSpec(ref.spec),
  };
  writeFileAtomic(join(ref.dir, INCOMPLETE), `${JSON.stringify(m)}\n`);
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

/** Whether the marker's writer still runs (same pid and start time). */
export function writerAlive(m: Pick<Marker, "pid" | "start">): boolean {
  const now = readStartTime(m.pid);
  return now !== undefined && now === m.start;
}

/** Removes one dead writer's directory: rootfs through its driver, then the directory. */
async function removeDir(dir: string, m: Marker | undefined, run: CommandRunner): Promise<void> {
  const spec = m ? parseRootfsSpec(m.rootfs) : undefined;
  if (spec && !("unsupported" in spec)) {
    try {
      await storageDriver(spec.backend, run).destroy({ spec, dir });
    } catch {
      // A half-made rootfs may not be what its driver expects; the directory goes anyway.
    }
  }
  // A killed writer's child may still be finishing a file: retry while entries reappear.
  for (let i = 0; ; i++) {
    try {
      rmSync(dir, { recursive: true, force: true });
      return;
    } catch (err) {
      if (i >= 20) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** One thing the sweep removed, for the front-end to report. */
export interface Swept {
  name: string;
  what: string;
  pid?: number;
}

/**
 * Removes what crashed writers left under `lxcpath`: container (and
 * snapshot) directories still marked incomplete whose writer is dead, and
 * dead export/import/image staging directories. Directories being made by a
 * live process are left alone.
 */
export async function sweepIncomplete(
  lxcpath: string,
  run: CommandRunner = execRunner,
): Promise<Swept[]> {
  const out: Swept[] = cleanStaleStaging(lxcpath).map((n) => ({ name: n, what: "staging" }));
  let names: string[];
  try {
    names = readdirSync(lxcpath);
  } catch {
    return out;
  }
  for (const name of names) {
    if (name.startsWith(".")) continue;
    const dir = join(lxcpath, name);
    const dirs = [dir];
    try {
      for (const s of readdirSync(join(dir, "snaps"))) dirs.push(join(dir, "snaps", s));
    } catch {}
    for (const d of dirs) {
      const m = readMarker(d);
      if (!existsSync(join(d, INCOMPLETE)) || (m && writerAlive(m))) continue;
      const label = d === dir ? name : `${name}/${d.slice(dir.length + 1)}`;
      const sweep = async () => {
        // Re-read under the lock: a writer may have finished in between.
        const again = readMarker(d);
        if (!existsSync(join(d, INCOMPLETE)) || (again && writerAlive(again))) return;
        await removeDir(d, again, run);
        out.push({ name: label, what: again?.what ?? "unknown", pid: again?.pid });
      };
      if (d === dir) await withLock(containerPaths(lxcpath, name), sweep);
      else await sweep();
    }
  }
  return out;
}
