/**
 * The cgroups of a checkpoint (docs/checkpoint.md). An init that makes
 * cgroups of its own beneath the container's (systemd: `init.scope`,
 * `system.slice/…`) watches them (inotify on `cgroup.events`), so a restore
 * must make that subtree again and put each task back in its place: CRIU's
 * `--manage-cgroups=soft` dumps the subtree and makes the missing
 * directories at restore, leaving the existing ones (the container's own,
 * made by the restore's start with the configuration's limits) as they are.
 * The dumped paths are the source's (`/lxt.payload.NAME/…` beneath the
 * source's caller); `--cgroup-root` moves each hierarchy's subtree beneath
 * the container's cgroup where it is restored (CRIU replaces the dumped
 * cgroup namespace root, the init's cgroup, by it). Pure.
 */
import { readdirSync } from "node:fs";
import { posix } from "node:path";
import type { ContainerCgroupDirs } from "../cgroups/container.js";
import type { CgroupLayout } from "../cgroups/layout.js";

/**
 * The init's cgroup in each hierarchy as CRIU's `--cgroup-root` names it:
 * `CONTROLLERS:/path` for a v1 hierarchy (`cpu,cpuacct:/…`,
 * `name=systemd:/…`), `/path` for the unified one (CRIU names it by no
 * controller, so it takes the default root). `dirs` are directories in
 * `layout`'s mounts; one in none of them is left out.
 */
export function cgroupRoots(layout: CgroupLayout, dirs: ContainerCgroupDirs): string[] {
  const out: string[] = [];
  for (const dir of [dirs.v2, ...dirs.v1]) {
    if (!dir) continue;
    const h = layout.hierarchies.find(
      (x) => dir === x.mountPoint || dir.startsWith(`${x.mountPoint}/`),
    );
    if (!h) continue;
    const path = posix.join(h.mountRoot, dir.slice(h.mountPoint.length) || "/");
    if (h.version === 2) out.push(path);
    else if (h.controllers.length > 0) out.push(`${h.controllers.join(",")}:${path}`);
  }
  return out;
}

/** A root's hierarchy: its controllers, "" for the unified one. */
function keyOf(root: string): string {
  return root.startsWith("/") ? "" : root.slice(0, root.indexOf(":"));
}

/** A root's path. */
function pathOf(root: string): string {
  return root.startsWith("/") ? root : root.slice(root.indexOf(":") + 1);
}

/**
 * `--cgroup-root` arguments moving the dumped roots (the manifest's) to the
 * restoring container's (`now`), for the hierarchies where they differ; or
 * why that cannot be done: criu 4.2 matches the dumped root as a string
 * prefix, so a new root that extends the dumped one (`lxt.payload.c` →
 * `lxt.payload.c2`) is matched again after its rewrite and the subtree is
 * made under a garbled name (seen here: "Can't move … into memory/…: No
 * such file or directory").
 */
export function cgroupRootArgs(
  dumped: readonly string[],
  now: readonly string[],
): { args: string[] } | { refusal: string } {
  const args: string[] = [];
  for (const root of now) {
    const was = dumped.find((d) => keyOf(d) === keyOf(root));
    if (!was || pathOf(was) === pathOf(root)) continue;
    if (pathOf(root).startsWith(pathOf(was)))
      return {
        refusal: `its cgroup would be ${pathOf(root)}, whose path begins with the dumped ${pathOf(was)}: criu matches it again once moved and makes the subtree under a garbled name; restore it under a name that does not begin with the dumped one`,
      };
    args.push("--cgroup-root", root);
  }
  return { args };
}

/**
 * A restore's command line with its `--cgroup-root` arguments made again
 * (a start that moves into a systemd scope of its own learns the container's
 * cgroups only then); the restore is refused as `cgroupRootArgs` refuses.
 */
export function withCgroupRoots(
  restore: readonly string[],
  dumped: readonly string[],
  now: readonly string[],
): { args: string[] } | { refusal: string } {
  const moved = cgroupRootArgs(dumped, now);
  if ("refusal" in moved) return moved;
  const out: string[] = [];
  for (let i = 0; i < restore.length; i++) {
    if (restore[i] === "--cgroup-root") i++;
    else out.push(restore[i] as string);
  }
  return { args: [...out, ...moved.args] };
}

/** Whether any of the container's cgroup dirs has a cgroup beneath it (one the container made). */
export function hasSubtree(dirs: ContainerCgroupDirs): boolean {
  return [dirs.v2, ...dirs.v1].some((dir) => {
    if (!dir) return false;
    try {
      return readdirSync(dir, { withFileTypes: true }).some((e) => e.isDirectory());
    } catch {
      return false;
    }
  });
}
