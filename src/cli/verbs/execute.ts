import type { Command } from "@commander-js/extra-typings";
import {
  collect,
  lxcpathOption,
  nameOption,
  parseIntArg,
  startOptions,
  targetAndCommand,
} from "../common.js";

export function register(program: Command): void {
  program
    .command("execute")
    .description("run one command as PID 1's only child in a fresh container, then tear it down")
    .addOption(nameOption())
    .addOption(lxcpathOption())
    .option("-u, --uid <uid>", "user id to run as", parseIntArg("uid"))
    .option("-g, --gid <gid>", "group id to run as", parseIntArg("gid"))
    .option(
      "-s, --define <key=value>",
      "set a config key for this run only (repeatable)",
      collect,
      [] as string[],
    )
    .passThroughOptions()
    .argument("[command...]", "after --: the command")
    .action(async (args, opts) => {
      const { executeContainer } = await import("../../container/execute.js");
      const { paths, argv } = targetAndCommand(opts, args);
      const run = await executeContainer(paths, {
        argv,
        uid: opts.uid,
        gid: opts.gid,
        defines: opts.define ?? [],
        start: startOptions(),
      });
      for (const w of run.warnings) process.stderr.write(`lxt: warning: ${w}\n`);
      process.exitCode = await (run.exited ?? 0);
    });
}
