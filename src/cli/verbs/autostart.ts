import type { Command } from "@commander-js/extra-typings";
import type { AutostartAction } from "../../container/autostart.js";
import { LxtError } from "../../core/errors.js";
import { collect, lxcpathOption, parseIntArg } from "../common.js";
import { cliCaller, cliContext } from "../context.js";
import { reportError, writeOut } from "../output.js";

export function register(program: Command): void {
  program
    .command("autostart")
    .description(
      "start, stop, kill or reboot the containers with lxc.start.auto = 1, in lxc.start.order, as lxc-autostart",
    )
    .addOption(lxcpathOption())
    .option("-r, --reboot", "reboot (a clean stop, then a start) the running ones")
    .option("-s, --shutdown", "stop the running ones cleanly (SIGKILL after -t seconds)")
    .option("-k, --kill", "kill the running ones (SIGKILL)")
    .option("-L, --list", "print what would be acted on (and the delays), do nothing")
    .option(
      "-t, --timeout <seconds>",
      "seconds a shutdown or reboot waits before SIGKILL (-1: forever)",
      parseIntArg("timeout"),
      60,
    )
    .option(
      "-g, --groups <groups>",
      "comma-separated groups, in order (repeatable; an empty item is the containers without lxc.group, the default)",
      collect,
      [] as string[],
    )
    .option("-a, --all", "ignore lxc.group: every autostarted container")
    .option("-A, --ignore-auto", "ignore lxc.start.auto (with -a: every container)")
    .action(async (opts) => {
      const { parseGroupArgs, runAutostart } = await import("../../container/autostart.js");
      const actions = (["reboot", "shutdown", "kill"] as const).filter((a) => opts[a]);
      if (actions.length > 1) {
        throw new LxtError(
          "usage",
          `autostart: choose one of -r, -s, -k (got ${actions.join(", ")})`,
        );
      }
      const action: AutostartAction = actions[0] ?? "start";
      const ctx = cliContext(opts);
      const result = await runAutostart(ctx, {
        action,
        list: !!opts.list,
        timeout: opts.timeout,
        caller: cliCaller(),
        selection: {
          all: !!opts.all,
          ignoreAuto: !!opts.ignoreAuto,
          groups: parseGroupArgs(opts.groups),
        },
        onEvent: (e) => {
          if (e.kind === "listed") {
            writeOut(e.delay === undefined ? `${e.name}\n` : `${e.name} ${e.delay}\n`);
          } else if (e.kind === "failed") {
            const err = e.error;
            reportError(err instanceof LxtError ? err.wrap(`autostart ${e.name}`) : err);
          }
        },
      });
      // lxc-autostart: 1 when every attempt failed, 2 when some did.
      if (result.failed > 0) process.exitCode = result.failed === result.attempted ? 1 : 2;
    });
}
