/**
 * A busybox tree shared by the busybox containers lxtd makes: the lower of
 * each one's overlay, built once per busybox binary and template text, so
 * that a create makes a handful of inodes instead of ~440 (the applet
 * symlinks, the directories, a 2 MB copy of busybox). On a filesystem that
 * keeps freed inodes from reuse for a while (ext4 without a journal: 60 s,
 * 300 s while the inode table is dirty) every new inode costs a scan of the
 * recently freed ones, and a bulk's creates paid 30 to 290 ms of CPU each
 * for their trees alone (bench/RESULTS.md).
 *
 * Used only where the container stays what a copied tree gives it: an
 * overlay is available, the state root is not btrfs/zfs (their clones are
 * already cheap), and the filesystem takes idmapped mounts (a shared lower
 * is never shifted on disk; userns.ts refuses that). The container's own
 * files (hostname, hosts) go to its upper directory; what it writes stays
 * there, the base never changes. Bases live under `<lxcpath>/.lxt-bases`
 * (not a container name: names cannot start with a dot) and stay for the
 * next create; one that another version of lxt or busybox made is left to
 * the state root's removal (~2.5 MB each).
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Context } from "../core/context.js";
import { canIdmap } from "../host/subid.js";
import { bestBackend, type RootfsRef } from "../storage/index.js";
import { kernelHasFs } from "../storage/tree.js";
import {
  createBusyboxRootfs,
  findStaticBusybox,
  renderFiles,
  renderInittab,
} from "../templates/busybox.js";
import { probeCacheDir } from "./paths.js";

/** The directory of the shared bases under a state root. */
export function basesDir(lxcpath: string): string {
  return join(lxcpath, ".lxt-bases");
}

/** The hostname the base is built with (each container's upper has its own). */
const BASE_NAME = "busybox";

/**
 * Whether a busybox container on `lxcpath` with `backend` (the one asked
 * for, or undefined: the default) can be an overlay over a shared base.
 */
export async function canShareBase(
  ctx: Context,
  lxcpath: string,
  backend: string | undefined,
): Promise<boolean> {
  if (backend !== undefined && backend !== "best" && backend !== "dir") return false;
  if (bestBackend(lxcpath) !== "dir" || !kernelHasFs("overlay")) return false;
  try {
    return await canIdmap(ctx.host.helper, lxcpath, probeCacheDir(ctx.runDir));
  } catch {
    return false;
  }
}

/**
 * The shared base for the busybox found on this host (built now if it is
 * not there yet, under a lock: concurrent creates build it once), as a dir
 * rootfs to clone from.
 */
export async function sharedBusyboxBase(ctx: Context, lxcpath: string): Promise<RootfsRef> {
  const busybox = await findStaticBusybox();
  const st = statSync(busybox);
  // What the tree is made from: the binary (an upgrade is another file) and the template's text.
  const key = createHash("sha256")
    .update(`${busybox}\0${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}\0`)
    .update(JSON.stringify([renderFiles(BASE_NAME, 1), renderInittab(1)]))
    .digest("hex")
    .slice(0, 16);
  const parent = basesDir(lxcpath);
  const dir = join(parent, `busybox-${key}`);
  const ref: RootfsRef = { spec: { backend: "dir", path: join(dir, "rootfs") }, dir };
  if (existsSync(dir)) return ref;
  mkdirSync(parent, { recursive: true, mode: 0o711 });
  const held = await ctx.host.lock(join(parent, `busybox-${key}.lock`), "busybox base");
  try {
    if (existsSync(dir)) return ref;
    // A build cut short (a crash) left its staging: no one else builds this key now.
    for (const n of readdirSync(parent)) {
      if (n.startsWith(`busybox-${key}.tmp-`))
        await rm(join(parent, n), { recursive: true, force: true });
    }
    const staging = join(parent, `busybox-${key}.tmp-${randomBytes(4).toString("hex")}`);
    try {
      mkdirSync(staging, { mode: 0o711 });
      await createBusyboxRootfs(join(staging, "rootfs"), { name: BASE_NAME, network: "empty" });
      renameSync(staging, dir);
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
    return ref;
  } finally {
    await held.release();
  }
}
