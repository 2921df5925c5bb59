/**
 * Renaming a stopped container in its state root (`lxc move c1 c2` through
 * lxtd): its directory moves in one rename(2), with its rootfs, snapshots,
 * forwards and lxtd's sidecar inside; every config under it (its own and
 * its snapshots') then names the new directory, and its own hostname
 * (`lxc.uts.name`, when it was the old name) becomes the new name.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import type { Context } from "../core/context.js";
import { LxtError, wrapError } from "../core/errors.js";
import { writeFileAtomic } from "../host/atomic.js";
import { renameHosts } from "../network/reserve.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { repairStale, withLock } from "./runtime.js";
import { listSnapshotNames, overlayDependents, rootfsRef, snapshotPaths } from "./storage.js";

const ENTRY = /^(\s*)((?:lxc|lxt)\.[A-Za-z0-9_.]+)(\s*=\s*)(.*)$/;

/**
 * A config's text for its container's new directory: every value that
 * names a path under `fromDir` names the same path under `toDir`, and
 * `lxc.uts.name = oldName` becomes `newName` (when `names` is given).
 * Comments and layout stay. Pure.
 */
export function relocateConfigText(
  text: string,
  fromDir: string,
  toDir: string,
  names?: { from: string; to: string },
): string {
  return text
    .split("\n")
    .map((line) => {
      const m = ENTRY.exec(line);
      if (!m) return line;
      const [, indent = "", key = "", eq = "", value = ""] = m;
      if (names && key === "lxc.uts.name" && value.trim() === names.from)
        return `${indent}${key}${eq}${names.to}`;
      return `${indent}${key}${eq}${value.split(`${fromDir}/`).join(`${toDir}/`)}`;
    })
    .join("\n");
}

/**
 * Renames container `src` to `dst` (same state root). Only a stopped
 * container is renamed, and not one whose storage others are based on (an
 * overlay over it) or that lives in a ZFS dataset (its name would have to
 * move too). All or nothing: a failure after the move moves it back.
 *
 * @throws LxtError("state") when it runs or others depend on it,
 *   LxtError("exists") when `dst` exists, LxtError("unsupported") for ZFS.
 */
export async function renameContainer(
  ctx: Context,
  src: ContainerPaths,
  dst: ContainerPaths,
): Promise<void> {
  requireExists(src, "rename");
  const what = `rename ${src.name}`;
  if (src.lxcpath !== dst.lxcpath)
    throw new LxtError("usage", `${what}: the new name must be in the same state root`);
  if (src.name === dst.name) throw new LxtError("usage", `${what}: the new name is the old one`);
  await withLock(ctx, src, async () => {
    const seen = await repairStale(ctx, src);
    if (seen.state !== "STOPPED")
      throw new LxtError("state", `${what}: container is ${seen.state} (stop it first)`);
    await withLock(ctx, dst, async () => {
      if (existsSync(dst.dir)) throw new LxtError("exists", `${what}: ${dst.name} already exists`);
      const users = overlayDependents(ctx, src.lxcpath, src.dir);
      if (users.length > 0)
        throw new LxtError(
          "state",
          `${what}: the overlay rootfs of ${users.join(", ")} is based on it`,
        );
      const snaps = listSnapshotNames(src).map((s) => snapshotPaths(ctx, src, s));
      for (const p of [src, ...snaps]) {
        if (rootfsRef(p, "rename").spec.backend === "zfs")
          throw new LxtError("unsupported", `${what}: a ZFS rootfs cannot be renamed yet`);
      }
      // Every config under the directory, with its text for the new place.
      const moved = [src, ...snaps].map((p, i) => {
        const text = readFileSync(p.config, "utf8");
        return {
          text,
          file: dst.dir + p.config.slice(src.dir.length),
          next: relocateConfigText(
            text,
            src.dir,
            dst.dir,
            i === 0 ? { from: src.name, to: dst.name } : undefined,
          ),
        };
      });
      try {
        renameSync(src.dir, dst.dir);
      } catch (err) {
        throw wrapError(`${what}: move ${src.dir} to ${dst.dir}`, err);
      }
      const written: typeof moved = [];
      try {
        for (const m of moved) {
          writeFileAtomic(m.file, m.next);
          written.push(m);
        }
      } catch (err) {
        for (const m of written) writeFileSync(m.file, m.text);
        renameSync(dst.dir, src.dir);
        throw wrapError(`${what}: write the configs of ${dst.name}`, err);
      }
      // Its reserved addresses on managed networks follow it, under the new name.
      await renameHosts(ctx, src.name, dst.name);
    });
  });
}
