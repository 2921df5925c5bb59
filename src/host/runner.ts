import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { finished, PassThrough, Readable } from "node:stream";
import type { Env } from "../core/context.js";
import { LxtError } from "../core/errors.js";

/** The one door storage drivers use to run host commands (`btrfs`, `cp`, ...). */
export interface CommandRunner {
  /** Runs `cmd args` (no shell); resolves with stdout, rejects with an LxtError naming the command and its stderr. */
  run(cmd: string, args: readonly string[]): Promise<string>;
  /**
   * Runs `cmd args` with `input` (when given) as its stdin and returns its
   * stdout as a stream that ends only once the command exited 0: a non-zero
   * exit makes it error (an LxtError with the stderr, as `run`'s), and so
   * does an `input` that errors or closes before its end (the command is
   * killed then). Destroying the stream kills the command. Only the runners
   * of commands that move data (`btrfs`/`zfs` send and receive) need it.
   */
  pipe?(cmd: string, args: readonly string[], input?: Readable): Readable;
}

/** The LxtError for `cmd args` that failed (`err`) with `stderr`. */
function commandError(cmd: string, args: readonly string[], err: Error, stderr: string): LxtError {
  const e = err as Error & { code?: unknown };
  if (e.code === "ENOENT" || (/failed to execute/.test(stderr) && e.code === 127)) {
    return new LxtError("host", `${cmd}: not installed`, err);
  }
  const lines = stderr.trim().split("\n");
  const full = lines.find((l) => /No space left on device/.test(l));
  const last = lines.slice(-3);
  const why = [...(full && !last.includes(full) ? [full] : []), ...last].join("; ") || e.message;
  return new LxtError("system", `${cmd} ${args.join(" ")}: ${why}`, err);
}

/** The stderr kept of a piped command (its last words are the ones that say why). */
const STDERR_KEEP = 64 * 1024;

const SETPRIV = "/usr/bin/setpriv";
let hasSetpriv: boolean | undefined;
/** Commands that move a rootfs's data (the only ones worth the extra exec). */
const DATA_MOVERS = new Set(["cp", "tar", "unshare", "btrfs", "zfs"]);

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
          (err, stdout, stderr) =>
            err ? reject(commandError(cmd, args, err, stderr)) : resolve(stdout),
        );
      });
    },
    pipe(cmd, args, input) {
      const [file, argv] = diesWithParent(cmd, args);
      const child = spawn(file, argv, {
        env: childEnv,
        stdio: [input ? "pipe" : "ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr?.setEncoding("utf8").on("data", (s: string) => {
        stderr = (stderr + s).slice(-STDERR_KEEP);
      });
      let cut: Error | undefined;
      const out = new PassThrough({
        destroy(err, cb) {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
          cb(err);
        },
      });
      child.stdout?.pipe(out, { end: false });
      if (input && child.stdin) {
        // A command that stops reading (and exits) says why by its status, not by EPIPE.
        child.stdin.on("error", () => undefined);
        finished(input, (err) => {
          if (!err || child.exitCode !== null || child.signalCode !== null) return;
          cut = err;
          child.kill("SIGKILL");
        });
        input.pipe(child.stdin);
      }
      child.on("error", (err) => out.destroy(commandError(cmd, args, err, stderr)));
      child.on("close", (code, signal) => {
        if (code === 0 && !cut) out.end();
        else if (cut) {
          out.destroy(
            new LxtError(
              "system",
              `${cmd} ${args.join(" ")}: its input was cut: ${cut.message}`,
              cut,
            ),
          );
        } else {
          const err = Object.assign(
            new Error(signal ? `killed by ${signal}` : `exit status ${code}`),
            { code },
          );
          out.destroy(commandError(cmd, args, err, stderr));
        }
      });
      return out;
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

  /** Records the command, reads `input` away and streams the reply (an Error makes the stream error). */
  pipe(cmd: string, args: readonly string[], input?: Readable): Readable {
    const argv = [cmd, ...args];
    this.calls.push(argv);
    input?.resume();
    const r = this.reply(argv);
    if (r instanceof Error)
      return new Readable({
        read() {
          this.destroy(r);
        },
      });
    return Readable.from(r === "" ? [] : [Buffer.from(r)]);
  }
}
