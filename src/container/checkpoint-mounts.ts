/**
 * What a checkpoint names to CRIU as outside the container, read from a
 * running container's plan and its init's mount table (docs/checkpoint.md):
 * binds of host files, and the monitor's ptys (the console and ttys). Pure.
 */
import type { CheckpointManifest } from "./checkpoint-images.js";
import type { RuntimePlan } from "./runtime-cgroups.js";

/**
 * Mounts of a plan whose source is a host path (binds, not in-root; a
 * device node bound from the host where mknod is refused, as in a user
 * namespace) and that the init's mount table really has: CRIU sees them as
 * external and needs each named at dump and restore.
 */
export function externalMounts(
  plan: RuntimePlan,
  mountinfo: string,
): CheckpointManifest["externalMounts"] {
  const mounted = new Set(mountinfo.split("\n").map((l) => l.split(" ")[4]));
  const out = new Map<string, string>();
  for (const f of plan.records.get("mount") ?? []) {
    const [src, target, , flags = "0", , , opts = "%"] = f;
    const bind = (Number(flags) & 4096) !== 0;
    if (!bind || !src?.startsWith("/") || !target || opts.split(",").includes("src-in-root"))
      continue;
    out.set(target, src);
  }
  for (const f of plan.records.get("mknod") ?? []) {
    const [target, , , , host] = f;
    if (target && host?.startsWith("/")) out.set(target, host);
  }
  return [...out]
    .filter(([target]) => mounted.has(target))
    .map(([target, source]) => ({ target, source }));
}

/**
 * A device number as stat(2) gives it (glibc's makedev): CRIU keys an
 * external tty by the slave's `st_rdev` and its devpts's `st_dev`, so a
 * minor of 256 or more (pts 256 on, a devpts mounted after many others)
 * spills into the bits above the major.
 */
export function makedev(major: number, minor: number): number {
  return (minor & 0xff) + (major & 0xfff) * 0x100 + Math.floor(minor / 0x100) * 0x100000;
}

/**
 * The monitor's ptys as the init's mount namespace binds them (console =
 * index 0, `tty` records 1..): each bind's devpts entry `/N` is the slave
 * /dev/pts/N, keyed `RDEV:DEV` in hex as CRIU names an external tty.
 */
export function ptyKeys(plan: RuntimePlan, mountinfo: string): CheckpointManifest["ttys"] {
  const targets = [
    ...(plan.records.get("console") ?? []).map((f) => f[0]),
    ...(plan.records.get("tty") ?? []).map((f) => f[0]),
  ];
  const hasConsole = plan.records.has("console");
  const out: CheckpointManifest["ttys"] = [];
  const lines = mountinfo.split("\n").map((l) => l.split(" "));
  targets.forEach((target, i) => {
    const m = lines.find((f) => f[4] === target && f.includes("devpts"));
    const pts = m ? /^\/(\d+)$/.exec(m[3] ?? "") : null;
    if (!m || !pts || !target) return;
    const [maj = "0", min = "0"] = (m[2] ?? "0:0").split(":");
    // The slave is major 136, minor N; the devpts instance an anonymous 0:M.
    const rdev = makedev(136, Number(pts[1]));
    const dev = makedev(Number(maj), Number(min));
    out.push({
      index: hasConsole ? i : i + 1,
      target,
      key: `${rdev.toString(16)}:${dev.toString(16)}`,
    });
  });
  return out;
}
