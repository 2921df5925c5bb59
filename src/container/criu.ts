/**
 * CRIU, the checkpoint/restore tool under `lxt checkpoint` and `lxt restore`:
 * finding it, telling whether it works on this kernel, and what it lacks.
 * Pure where it can be (the parsers, the verdict); the probe runs `criu`
 * through the context's command runner. docs/checkpoint.md.
 */

import type { CommandRunner } from "../host/runner.js";
import type { CheckItem } from "./checkconfig.js";

/** The oldest CRIU that runs on kernels from 6.13 (the `[vvar_vclock]` mapping). */
export const CRIU_MIN: readonly [number, number] = [4, 1];

/** What `criu --version`, `criu check` and its feature checks said. */
export interface CriuStatus {
  /** Whether a `criu` ran at all. */
  found: boolean;
  /** `4.1.1`, from `Version: 4.1.1`. */
  version?: string;
  /** `criu check` passed ("Looks good."). */
  checkOk: boolean;
  /** `criu check`'s complaint (its last lines) when it did not pass. */
  checkError?: string;
  /** Memory change tracking (soft-dirty): what `pre-dump` and iterative pre-copy need. */
  dirtyTracking: boolean;
  /** userfaultfd for `--lazy-pages` (post-copy). */
  lazyPages: boolean;
}

/** `major.minor.patch` of `criu --version`'s `Version:` line, or undefined. */
export function parseCriuVersion(text: string): string | undefined {
  return /^Version:\s*(\d+\.\d+(?:\.\d+)?)/m.exec(text)?.[1];
}

/**
 * The oldest CRIU that dumps TCP and UDP sockets on kernels from 6.16, where
 * SO_PASSCRED and SO_PASSSEC are AF_UNIX's only: 4.1 asks every socket and
 * fails ("sockets: Can't get 1:16 opt: Operation not supported").
 */
export const CRIU_INET_MIN: readonly [number, number] = [4, 2];

/** Whether VERSION is at least WANT (default CRIU_MIN). */
export function criuNewEnough(
  version: string | undefined,
  want: readonly [number, number] = CRIU_MIN,
): boolean {
  if (!version) return false;
  const [maj = 0, min = 0] = version.split(".").map(Number);
  return maj > want[0] || (maj === want[0] && min >= want[1]);
}

/** Why this CRIU is not the one unprivileged restores were shown to work with (4.2); undefined when it is. */
export function criuUsernsProblem(version: string | undefined): string | undefined {
  if (criuNewEnough(version, CRIU_INET_MIN)) return undefined;
  return `criu ${version ?? "(unknown version)"}: unprivileged containers (a user namespace) are checkpointed with criu ${CRIU_INET_MIN.join(".")} or later (scripts/criu.sh installs it)`;
}

/** Why this CRIU cannot checkpoint a container with NICs (its sockets); undefined when it can. */
export function criuInetProblem(version: string | undefined): string | undefined {
  if (criuNewEnough(version, CRIU_INET_MIN)) return undefined;
  return `criu ${version ?? "(unknown version)"} dumps no TCP or UDP socket on kernels from 6.16 ("sockets: Can't get 1:16 opt: Operation not supported"); containers with NICs need criu ${CRIU_INET_MIN.join(".")} (scripts/criu.sh installs it)`;
}

/** Whether this CRIU can checkpoint and restore here: found, new enough, `criu check` passed. */
export function criuUsable(s: CriuStatus): boolean {
  return s.found && criuNewEnough(s.version) && s.checkOk;
}

/** Why CRIU cannot be used here, for an error or a report; undefined when it can. */
export function criuProblem(s: CriuStatus): string | undefined {
  if (!s.found) return "criu is not installed (scripts/criu.sh builds and installs it)";
  if (!criuNewEnough(s.version))
    return `criu ${s.version ?? "(unknown version)"} is older than ${CRIU_MIN.join(".")}, which kernels from 6.13 need ("vdso: Unexpected rt vDSO area bounds"); scripts/criu.sh installs 4.1.1`;
  if (!s.checkOk)
    return `\`criu check\` fails on this kernel: ${s.checkError ?? "no reason given"}`;
  return undefined;
}

function message(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.replace(/^criu [^:]*: /, "");
}

/** Asks the host's `criu` (on the runner's PATH) what it is and what it can do. */
export async function probeCriu(run: CommandRunner): Promise<CriuStatus> {
  let version: string | undefined;
  try {
    version = parseCriuVersion(await run.run("criu", ["--version"]));
  } catch {
    return { found: false, checkOk: false, dirtyTracking: false, lazyPages: false };
  }
  const ok = async (args: string[]): Promise<true | string> => {
    try {
      await run.run("criu", args);
      return true;
    } catch (err) {
      return message(err);
    }
  };
  const [check, dirty, lazy] = await Promise.all([
    ok(["check"]),
    ok(["check", "--feature", "mem_dirty_track"]),
    ok(["check", "--feature", "uffd-noncoop"]),
  ]);
  return {
    found: true,
    version,
    checkOk: check === true,
    ...(check === true ? {} : { checkError: check }),
    dirtyTracking: dirty === true,
    lazyPages: lazy === true,
  };
}

/**
 * The pipe criu's page server sizes when it serves lazy pages: its
 * `PIPE_MAX_SIZE` (819 pages, 3,354,624 bytes) in `pipe_read_dest_init`,
 * which the kernel rounds up to a power of two pages (4 MiB) and refuses
 * above `fs.pipe-max-size` to a process without CAP_SYS_RESOURCE.
 */
export const CRIU_LAZY_PIPE_BYTES = 4 * 1024 * 1024;

/**
 * Why criu's page server cannot serve lazy pages (post-copy) here, or
 * undefined when it can. criu 4.2.1 ignores the failed F_SETPIPE_SZ, leaves
 * its sink unopened and fails on the first page request (docs/migrate.md).
 * `pipeMaxSize`: /proc/sys/fs/pipe-max-size; `capSysResource`: whether the
 * process that runs criu has CAP_SYS_RESOURCE. Pure.
 */
export function lazyServerProblem(
  pipeMaxSize: number | undefined,
  capSysResource: boolean,
): string | undefined {
  if (capSysResource) return undefined;
  if (pipeMaxSize !== undefined && pipeMaxSize >= CRIU_LAZY_PIPE_BYTES) return undefined;
  return `fs.pipe-max-size is ${pipeMaxSize ?? "unreadable"} and criu runs without CAP_SYS_RESOURCE: its page server cannot size its ${CRIU_LAZY_PIPE_BYTES}-byte pipe and fails on the first page request ("page-pipe: splice: -1: Bad file descriptor"); scripts/setup.sh sets fs.pipe-max-size = ${CRIU_LAZY_PIPE_BYTES}`;
}

/** checkconfig's line for criu's lazy-page server (`problem` from `lazyServerProblem`). */
export function lazyServerItem(problem: string | undefined): CheckItem {
  return {
    section: "checkpoint",
    name: "lazy pages: page server",
    status: problem ? "missing" : "enabled",
    detail:
      problem ??
      "criu's page server can serve lazy pages (its pipe fits fs.pipe-max-size or it has CAP_SYS_RESOURCE)",
  };
}

/** checkconfig's `checkpoint` section. */
export function criuItems(s: CriuStatus): CheckItem[] {
  const section = "checkpoint";
  const problem = criuProblem(s);
  const out: CheckItem[] = [
    {
      section,
      name: "criu",
      status: s.found && criuNewEnough(s.version) ? "enabled" : "missing",
      detail: s.found
        ? `version ${s.version ?? "unknown"}${criuNewEnough(s.version) ? "" : ` (needs ${CRIU_MIN.join(".")})`}`
        : "not installed (scripts/criu.sh)",
    },
  ];
  if (!s.found) return out;
  out.push({
    section,
    name: "criu check",
    status: s.checkOk ? "enabled" : "missing",
    detail: s.checkOk ? "Looks good" : (problem ?? "failed"),
  });
  const inet = criuInetProblem(s.version);
  out.push({
    section,
    name: "criu: containers with NICs",
    status: inet ? "missing" : "enabled",
    detail: inet ?? "TCP/UDP sockets dumped; established TCP connections kept",
  });
  out.push({
    section,
    name: "pre-dump (soft-dirty)",
    status: s.dirtyTracking ? "enabled" : "missing",
    detail: s.dirtyTracking
      ? "memory change tracking available"
      : "no soft-dirty memory tracking in this kernel: pre-dump and iterative pre-copy are refused",
  });
  out.push({
    section,
    name: "lazy pages (userfaultfd)",
    status: s.lazyPages ? "enabled" : "missing",
    detail: s.lazyPages ? "post-copy restore possible" : "no userfaultfd for lazy pages",
  });
  return out;
}
