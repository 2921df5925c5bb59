import type { Command } from "@commander-js/extra-typings";
import { collect, lxcpathOption, nameOption, targetPaths } from "../common.js";
import { phase } from "../phases.js";

export function register(program: Command): void {
  program
    .command("start")
    .description("start a container (in the background unless -F)")
    .addOption(nameOption())
    .addOption(lxcpathOption())
    .option("-d, --daemon", "run in the background (the default)")
    .option("-F, --foreground", "run in the foreground, the console on this terminal")
    .option(
      "-s, --define <key=value>",
      "set a config key for this start only (repeatable)",
      collect,
      [] as string[],
    )
    .argument("[name]")
    .action(async (name, opts) => {
      const { startContainer } = await import("../../container/start.js");
      phase("verb loaded");
      const paths = targetPaths(opts, name);
      const started = await startContainer(paths, {
        foreground: !!opts.foreground && !opts.daemon,
        defines: opts.define ?? [],
      });
      for (const w of started.warnings) process.stderr.write(`lxt: warning: ${w}\n`);
      if (started.exited) process.exitCode = await started.exited;
    });
}
