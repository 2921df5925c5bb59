import type { Command } from "@commander-js/extra-typings";
import { LxtError } from "../../core/errors.js";
import { lxcpathOption, nameOption, parseIntArg, target } from "../common.js";
import { writeOutBytes } from "../output.js";

/** Parses `-e`: a letter meaning Ctrl+letter, or `^X`. */
export function escapeByte(spec: string): number {
  const letter = spec.startsWith("^") ? spec.slice(1) : spec;
  if (!/^[a-zA-Z]$/.test(letter))
    throw new LxtError("usage", `console: bad escape "${spec}" (a letter, e.g. a for Ctrl+a)`);
  return letter.toLowerCase().charCodeAt(0) - 96;
}

export function register(program: Command): void {
  program
    .command("console")
    .description("attach this terminal to a container's console or tty (detach: Ctrl+a q)")
    .addOption(nameOption())
    .addOption(lxcpathOption())
    .option("-t, --tty <n>", "tty number (0: the console)", parseIntArg("tty"), 0)
    .option("-e, --escape <char>", "escape character, as Ctrl+char", "a")
    .option(
      "--log",
      "print the console's recent output and exit: the ring buffer (lxc.console.buffer.size) of a running container, else the console log file's end",
    )
    .option("--clear", "with --log: empty the ring buffer after printing it")
    .argument("[name]")
    .action(async (name, opts) => {
      if (opts.log || opts.clear) {
        if (!opts.log) throw new LxtError("usage", "console: --clear goes with --log");
        const { readConsoleLog } = await import("../../container/console.js");
        const { ctx, paths } = target(opts, name);
        const log = await readConsoleLog(ctx, paths, { clear: opts.clear === true });
        writeOutBytes(log.data);
        return;
      }
      const { openConsole } = await import("../../container/console.js");
      const esc = escapeByte(opts.escape);
      const { ctx, paths } = target(opts, name);
      const sock = await openConsole(ctx, paths, opts.tty);
      const letter = String.fromCharCode(esc + 96);
      process.stderr.write(
        `\nConnected to tty ${opts.tty}\nType <Ctrl+${letter} q> to exit the console, <Ctrl+${letter} Ctrl+${letter}> to enter Ctrl+${letter} itself\n\n`,
      );
      const stdin = process.stdin;
      const raw = stdin.isTTY === true;
      if (raw) stdin.setRawMode(true);
      let pendingEscape = false;
      const done = new Promise<void>((resolve) => {
        const finish = () => {
          if (raw) stdin.setRawMode(false);
          stdin.destroy();
          sock.destroy();
          resolve();
        };
        stdin.on("data", (chunk: Buffer) => {
          const out: number[] = [];
          for (const b of chunk) {
            if (pendingEscape) {
              pendingEscape = false;
              if (b === 0x71 /* q */) return finish();
              out.push(b);
            } else if (b === esc) {
              pendingEscape = true;
            } else {
              out.push(b);
            }
          }
          if (out.length > 0) sock.write(Buffer.from(out));
        });
        stdin.on("end", finish);
        sock.on("data", (chunk) => process.stdout.write(chunk));
        sock.on("close", finish);
      });
      await done;
    });
}
