/**
 * A daemon's attach helper, spawned once and kept: `lxt-shim attach-server
 * SOCKET` (docs/helper-protocol.md, _Attach server_). Each attach is a
 * connection to its socket carrying `lxt-shim attach`'s arguments; the
 * server forks and the fork runs the attach as the exec'd helper would, so
 * a warm daemon's exec pays no spawn from Node and no exec of the helper.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { dirname } from "node:path";

/** Which of the command's stdin, stdout and stderr come as connections (else /dev/null). */
export type AttachStreams = readonly [boolean, boolean, boolean];

/** One attach through the server: its control channel and its stream connections. */
export interface AttachConnection {
  /** Records to the helper (docs/helper-protocol.md); from it, its failure line and `exit CODE`. */
  readonly control: Socket;
  /** The command's stdin, stdout, stderr (undefined where /dev/null). */
  readonly streams: readonly [Socket | undefined, Socket | undefined, Socket | undefined];
}

/** The request line and arguments of one attach (`attach TOKEN LEN STREAMS`, NUL-ended args). */
export function attachRequest(
  token: string,
  args: readonly string[],
  streams: AttachStreams,
): Buffer {
  const body = Buffer.from(args.map((a) => `${a}\0`).join(""), "utf8");
  const which = [0, 1, 2].filter((k) => streams[k]).join("") || "-";
  return Buffer.concat([Buffer.from(`attach ${token} ${body.length} ${which}\n`), body]);
}

/** The `exit CODE` line the server ends a control channel with, or undefined. */
export function parseExitLine(line: string): number | undefined {
  const m = /^exit (\d{1,3})$/.exec(line);
  return m ? Number(m[1]) : undefined;
}

/**
 * What an attach's control channel says, as its bytes come: the lines
 * before the first `exit CODE` (a failure), then that code; what follows
 * (the reaper's repeat) is not read.
 */
export class ControlReader {
  private readonly said: string[] = [];
  private pending = "";
  /** The exit code, once its line has come. */
  code?: number;

  /** Takes a chunk; returns the exit code when this chunk completed its line. */
  push(chunk: string): number | undefined {
    if (this.code !== undefined) return undefined;
    const lines = (this.pending + chunk).split("\n");
    this.pending = lines.pop() ?? "";
    for (const line of lines) {
      this.code = parseExitLine(line);
      if (this.code !== undefined) return this.code;
      if (line) this.said.push(line);
    }
    return undefined;
  }

  /** The lines before the exit line (and an unfinished one), joined; empty when none. */
  failure(): string {
    return [...this.said, this.pending].filter(Boolean).join("\n");
  }
}

export class AttachServer {
  private child?: ChildProcess;
  private listening = false;
  private starting?: Promise<void>;
  private seq = 0;

  constructor(
    private readonly helper: () => string,
    readonly socketPath: string,
  ) {}

  /**
   * Spawns the server unless it runs, and resolves once it listens (rejects
   * with what it said when it could not). It dies with this process.
   */
  start(): Promise<void> {
    if (this.listening) return Promise.resolve();
    this.starting ??= new Promise<void>((resolve, reject) => {
      mkdirSync(dirname(this.socketPath), { recursive: true, mode: 0o755 });
      const child = spawn(this.helper(), ["attach-server", this.socketPath], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      this.child = child;
      let said = "";
      child.stderr?.on("data", (b: Buffer) => {
        said += b.toString();
      });
      child.stdout?.once("data", () => {
        this.listening = true;
        resolve();
      });
      const gone = (why: string) => {
        this.listening = false;
        this.starting = undefined;
        if (this.child === child) this.child = undefined;
        reject(new Error(`attach server: ${said.trim() || why}`));
      };
      child.once("error", (e) => gone(e.message));
      child.once("exit", (code, sig) => gone(`exited (${sig ?? code})`));
      child.unref();
      for (const s of [child.stdout, child.stderr]) (s as Socket | null)?.unref();
    });
    return this.starting;
  }

  /**
   * One attach with `args` (`lxt-shim attach`'s, `--control-fd 3` among
   * them), or undefined when the server is not listening (it is started
   * for next time; the caller spawns `lxt-shim attach` itself).
   */
  open(args: readonly string[], streams: AttachStreams): AttachConnection | undefined {
    if (!this.listening) {
      this.start().catch(() => {});
      return undefined;
    }
    const token = String(++this.seq);
    const control = connect(this.socketPath);
    control.write(attachRequest(token, args, streams));
    const conns = streams.map((want, k) => {
      if (!want) return undefined;
      const s = connect(this.socketPath);
      s.write(`stream ${token} ${k}\n`);
      return s;
    });
    return { control, streams: [conns[0], conns[1], conns[2]] };
  }

  /** Ends the server (its running attaches keep going until their channels end) and removes its socket. */
  stop(): void {
    this.child?.kill("SIGKILL");
    rmSync(this.socketPath, { force: true });
  }
}
