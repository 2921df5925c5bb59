/**
 * What a checkpoint directory holds and how CRIU is told to write and read
 * it: lxt's manifest beside CRIU's images, `criu dump`'s and `criu
 * restore`'s arguments (pure), and the logs whose errors a failure names.
 * The dump is container/checkpoint.ts, the restore container/restore.ts.
 */

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import type { CheckpointVeth } from "./checkpoint-net.js";
import { type CriuStatus, criuProblem, probeCriu } from "./criu.js";
import { readText } from "./criu-lazy.js";

/** The file lxt writes beside CRIU's images: what was dumped, for the restore. */
export const MANIFEST = "lxt-checkpoint.json";
export const DUMP_LOG = "dump.log";
export const RESTORE_LOG = "restore.log";
export const PIDFILE = "restore.pid";

/** What a checkpoint directory says about the container it holds. */
export interface CheckpointManifest {
  version: 1;
  name: string;
  /** The criu that dumped it (`4.1.1`). */
  criu: string;
  /** The monitor's ptys by index (0 the console), each as CRIU keys an external tty: `RDEV:DEV` in hex. */
  ttys: { index: number; target: string; key: string }[];
  /** Mounts whose source is outside the container (binds of host files): where, and of what. */
  externalMounts: { target: string; source: string }[];
  dumpMs: number;
  /**
   * CRIU's `--network-lock` at dump, which the restore must repeat: with
   * `nftables` the dumped ruleset holds CRIU's lock table, which only a
   * restore with the same method deletes. Absent: `skip` (no NIC).
   */
  networkLock?: NetworkLock;
  /** The veths dumped with the container's network namespace (absent: none). */
  veths?: CheckpointVeth[];
  /**
   * The id map the container ran in (`u:0:HOSTID:RANGE,g:...`), absent for
   * a privileged one: criu restores the user namespace with the dumped map,
   * so a restore must give the container that map (a live move's target
   * adopts it: container/migrate.ts).
   */
  idmap?: string;
  /**
   * The init's cgroup in each hierarchy (`checkpoint-cgroups.ts`), dumped
   * with the subtree beneath it (`--manage-cgroups=soft`). Absent (a
   * checkpoint of an older lxt): the cgroups were not dumped (`ignore`).
   */
  cgroupRoots?: string[];
}

/** How CRIU keeps traffic off the container's sockets while they are dumped and restored. */
export type NetworkLock = "skip" | "nftables";

/** The key CRIU gives an external mount at TARGET (no `/`, `[` or `]` allowed in it). */
function mountKey(target: string): string {
  return `lxt${target.replaceAll("/", "_")}`;
}

/**
 * Filesystems systemd mounts in a privileged container (`dev-hugepages.mount`,
 * `sys-fs-fuse-connections.mount`) that CRIU dumps only when told to mount
 * them afresh at restore (else: "mnt: FS mnt ./dev/hugepages dev 0x3c0 root /
 * unsupported"); a file open on one still fails the dump.
 */
const AUTO_FS = "hugetlbfs,fusectl";

/** `criu dump`'s arguments. Pure. */
export function dumpArgs(o: {
  /** Whether CRIU dumps the cgroup subtree (`soft`) or leaves cgroups alone (`ignore`). */
  manageCgroups?: boolean;
  pid: number;
  dir: string;
  leaveRunning: boolean;
  verbose: boolean;
  ttys: CheckpointManifest["ttys"];
  externalMounts: CheckpointManifest["externalMounts"];
  networkLock?: NetworkLock;
  /** Post-copy: criu serves the memory on the connection it gets as fd 4 and says on fd 3 when it does. */
  lazy?: boolean;
}): string[] {
  const a = ["dump", "-t", String(o.pid), "-D", o.dir, "-o", DUMP_LOG, o.verbose ? "-v4" : "-v2"];
  a.push("--network-lock", o.networkLock ?? "skip", "--tcp-established", "--file-locks");
  // The container's own cgroups are lxt's, made fresh beneath the restorer's
  // (native/src/restore.c); the subtree its init made goes with the images.
  a.push(`--manage-cgroups=${o.manageCgroups ? "soft" : "ignore"}`, "--enable-fs", AUTO_FS);
  for (const { target } of o.externalMounts)
    a.push("--external", `mnt[${target}]:${mountKey(target)}`);
  // The monitor's ptys: their binds and their slaves are outside the container.
  for (const t of o.ttys)
    a.push("--external", `mnt[${t.target}]:${mountKey(t.target)}`, "--external", `tty[${t.key}]`);
  if (o.leaveRunning) a.push("--leave-running");
  if (o.lazy) a.push("--lazy-pages", "--ps-socket", "4", "--status-fd", "3");
  return a;
}

/**
 * `criu restore`'s command line for the monitor's `criu-restore` record:
 * `{tty:K}` and `{tty-pts:K}` are the monitor's new pty K (restore.c). Pure.
 */
export function restoreArgs(o: {
  criu: string;
  dir: string;
  rootfs: string;
  verbose: boolean;
  manifest: CheckpointManifest;
  /** Post-copy: the memory comes from `criu lazy-pages` running on `dir` (criu-lazy.ts). */
  lazy?: boolean;
}): string[] {
  const a = [o.criu, "restore", "-D", o.dir, "-o", RESTORE_LOG, o.verbose ? "-v4" : "-v2"];
  if (o.lazy) a.push("--lazy-pages");
  a.push("--root", o.rootfs, "--restore-detached", "--restore-sibling");
  a.push("--pidfile", join(o.dir, PIDFILE));
  a.push("--network-lock", o.manifest.networkLock ?? "skip", "--tcp-established", "--file-locks");
  a.push(`--manage-cgroups=${o.manifest.cgroupRoots ? "soft" : "ignore"}`, "--enable-fs", AUTO_FS);
  for (const { target, source } of o.manifest.externalMounts)
    a.push("--external", `mnt[${mountKey(target)}]:${source}`);
  for (const t of o.manifest.ttys) {
    a.push("--external", `mnt[${mountKey(t.target)}]:{tty-pts:${t.index}}`);
    a.push("--inherit-fd", `fd[{tty:${t.index}}]:tty[${t.key}]`);
  }
  return a;
}

/** Errors CRIU logs on every run here and survives: its own fd limit, probes for iptables tools. */
const NOISE = /RLIMIT_NOFILE|tables(-legacy)?-save|-V failed/;

/**
 * A CRIU log's `Error` lines for the message: the first (where a restored
 * task's own failure is, before criu's summary of it) and the last two.
 */
export function criuLogError(log: string): string {
  const all = log
    .split("\n")
    .filter((l) => /\bError\b|\berror\b/.test(l) && !NOISE.test(l))
    .map((l) => l.replace(/^\(\s*[\d.]+\)\s*/, "").trim());
  const errs = all.length > 3 ? [all[0], "…", ...all.slice(-2)] : all;
  return errs.length > 0 ? errs.join("; ") : "no error in its log";
}

/** CRIU's log NAME in checkpoint directory `dir`, or "" when there is none. */
export function readLog(dir: string, name: string): string {
  return readText(join(dir, name));
}

/** CRIU as `verb NAME` needs it, or an error saying what is wrong with it here. */
export async function requireCriu(ctx: Context, verb: string, name: string): Promise<CriuStatus> {
  const s = await probeCriu(ctx.host.run);
  const problem = criuProblem(s);
  if (problem) throw new LxtError("host", `${verb} ${name}: ${problem}`);
  return s;
}

/** Reads and checks a checkpoint directory's manifest. */
export function readManifest(dir: string, name: string): CheckpointManifest {
  let m: CheckpointManifest;
  try {
    m = JSON.parse(readFileSync(join(dir, MANIFEST), "utf8")) as CheckpointManifest;
  } catch (err) {
    throw new LxtError(
      "not-found",
      `restore ${name}: ${dir} holds no lxt checkpoint (${MANIFEST} missing or unreadable)`,
      err,
    );
  }
  if (
    m.version !== 1 ||
    !Array.isArray(m.externalMounts) ||
    (m.networkLock !== undefined && m.networkLock !== "skip" && m.networkLock !== "nftables") ||
    (m.veths !== undefined && !Array.isArray(m.veths))
  )
    throw new LxtError(
      "usage",
      `restore ${name}: ${join(dir, MANIFEST)}: not a version 1 manifest`,
    );
  return m;
}

/** Names of the files in a checkpoint directory (for `-v` reports and tests). */
export function checkpointFiles(dir: string): string[] {
  return readdirSync(dir).sort();
}
