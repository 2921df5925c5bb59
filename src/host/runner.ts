import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import type { Env } from "../core/context.js";
import { LxtError } from "../core/errors.js";

/** The one door storage drivers use to run host commands (`btrfs`, `cp`, ...). */
export interface CommandRunner {
  /** Runs `cmd args` (no shell); resolves with stdout, rejects with an LxtError naming the command and its stderr. */
  run(cmd: string, args: readonly string[]): Promise<string>;
}

const SETPRIV = "/usr/bin/setpriv";
let hasSetpriv: boolean | undefined;
/** Commands that move a rootfs's data (the only ones worth the extra exec). */
const DATA_MOVERS = new Set(["cp", "tar", "unshare", "btrfs"]);

/**
 * `cmd args` made to die with this process (`setpriv --pdeathsig KILL`,
 * prctl(2) PR_SET_PDEATHSIG): a CLI killed mid-copy leaves no `cp` or `tar`
 * writing into a directory the next command removes.
 */
export function diesWithParent(cmd: string, args: readonly string[]): [string, string[]] {
  if (!DATA_MOVERS.has(cmd)) return [cmd, [...args]];
  hasSetpriv ??= existsSync(SETPRIV);
  return hasSetpriv ? [SETPRIV, ["--pdeathsig", "KILL", "--", cmd, ...args]] : [cmd, [...args]];
}

/**
 * Runs commands with execFile: no shell, so arguments are never re-parsed.
 * They run in `env` (the front-end's environment) with `LC_ALL=C`, so their
 * messages can be matched.
 */
export function commandRunner(env: Env): CommandRunner {
  const childEnv = { ...env, LC_ALL: "C" };
  return {
    run(cmd, args) {
      const [file, argv] = diesWithParent(cmd, args);
      return new Promise((resolve, reject) => {
        execFile(
          file,
          argv,
          { encoding: "utf8", maxBuffer: 16 * 1024 * 1024, env: childEnv },
          (err, stdout, stderr) => {
            if (!err) return resolve(stdout);
            const e = err as NodeJS.ErrnoException & { code?: unknown };
            if (
              e.code === "ENOENT" ||
              (/failed to execute/.test(stderr) && (err as { code?: unknown }).code === 127)
            ) {
              return reject(new LxtError("host", `${cmd}: not installed`, err));
            }
            const lines = stderr.trim().split("\n");
            const full = lines.find((l) => /No space left on device/.test(l));
            const last = lines.slice(-3);
            const why =
              [...(full && !last.includes(full) ? [full] : []), ...last].join("; ") || e.message;
            reject(new LxtError("system", `${cmd} ${args.join(" ")}: ${why}`, err));
          },
        );
      });
    },
  };
}

/** A test double: records every command and answers from `reply` (default: empty stdout). */
export class RecordingRunner implements CommandRunner {
  readonly calls: string[][] = [];
  constructor(private readonly reply: (argv: readonly string[]) => string | Error = () => "") {}

  async run(cmd: string, args: readonly string[]): Promise<string> {
    const argv = [cmd, ...args];
    this.calls.push(argv);
    const r = this.reply(argv);
    if (r instanceof Error) throw r;
    return r;
  }
}
